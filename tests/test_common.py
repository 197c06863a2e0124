"""scikit-learn's estimator checks on every skdigits step."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skdigits import AugmentingResampler, ImageReshaper, PixelScaler

# These checks draw X from uniform(0, 1): fractional values all within 0..1,
# which PixelScaler rejects on purpose as pixels already divided by 255.
_PRESCALED = "fits on uniform(0, 1) data, which PixelScaler rejects as already scaled"
EXPECTED_FAILED = {
    "PixelScaler": dict.fromkeys(["check_fit_score_takes_y", "check_dtype_object", "check_estimators_nan_inf"], _PRESCALED)
}


# configured for the checks' small random data: any column count, no fixed image size
@parametrize_with_checks(
    [PixelScaler(n_pixels=None), ImageReshaper(image_shape=(1, -1, 1)), AugmentingResampler(random_state=0)],
    expected_failed_checks=lambda estimator: EXPECTED_FAILED.get(type(estimator).__name__, {}),
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
