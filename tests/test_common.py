"""scikit-learn's estimator checks on every skdigits step."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skdigits import AugmentingResampler, ImageReshaper, PixelScaler


# configured for the checks' small random data: any column count, no fixed image size
@parametrize_with_checks([PixelScaler(n_pixels=None), ImageReshaper(image_shape=(1, -1, 1)), AugmentingResampler(random_state=0)])
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
