"""scikit-learn's estimator checks on every skdigits step."""

import keras
from sklearn.utils.estimator_checks import parametrize_with_checks

from skdigits import AugmentingResampler, DigitCNNClassifier, ImageReshaper, PixelScaler
from skdigits.ensemble import RandomSubsampler


class DenseStandIn(DigitCNNClassifier):
    """DigitCNNClassifier with a small dense network instead of the CNN.

    The checks train on tabular data with 1 to 30 features, which no image
    network can take; everything else (parameters, validation, the schedule,
    min_steps, BatchNorm recalibration, tags, pickling) is DigitCNNClassifier's.
    """

    def _keras_build_fn(self, meta, compile_kwargs):
        inputs = keras.Input(shape=meta["X_shape_"][1:])
        hidden = keras.layers.BatchNormalization()(keras.layers.Dense(8, activation="relu")(inputs))
        model = keras.Model(inputs, keras.layers.Dense(meta["n_classes_"], activation="softmax")(hidden))
        model.compile(**compile_kwargs)
        return model


# These checks draw X from uniform(0, 1): fractional values all within 0..1,
# which PixelScaler rejects on purpose as pixels already divided by 255.
_PRESCALED = "fits on uniform(0, 1) data, which PixelScaler rejects as already scaled"
EXPECTED_FAILED = {
    "PixelScaler": dict.fromkeys(["check_fit_score_takes_y", "check_dtype_object", "check_estimators_nan_inf"], _PRESCALED),
    "DenseStandIn": {
        "check_mixin_order": "scikeras' KerasClassifier puts ClassifierMixin after BaseEstimator (the tag trap "
        "DigitCNNClassifier works around); the order is scikeras'",
        "check_estimator_tags_renamed": "scikeras defines _more_tags for old scikit-learn versions next to the "
        "__sklearn_tags__ that DigitCNNClassifier sets",
        "check_n_features_in_after_fitting": "scikeras checks the feature count at predict time itself, with its "
        "own message instead of scikit-learn's",
        "check_supervised_y_2d": "scikeras reads a column-vector y as one output without the DataConversionWarning "
        "scikit-learn estimators give",
        "check_sample_weight_equivalence_on_dense_data": "mini-batch training is stochastic: a weight of 2 is not "
        "the same as a repeated row, as for any SGD-trained model",
        "check_class_weight_classifiers": "two epochs of a tiny network on the check's small data stay below its "
        "0.87 balanced accuracy bar",
    },
}


# configured for the checks' small random data: any column count, no fixed image size
@parametrize_with_checks(
    [
        PixelScaler(n_pixels=None),
        ImageReshaper(image_shape=(1, -1, 1)),
        AugmentingResampler(random_state=0),
        RandomSubsampler(random_state=0),
        DenseStandIn(epochs=2, batch_size=32, min_steps=100, learning_rate=1e-2, lr_decay=1.0, random_state=0),
    ],
    expected_failed_checks=lambda estimator: EXPECTED_FAILED.get(type(estimator).__name__, {}),
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
