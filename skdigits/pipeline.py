"""The default digit pipeline and its presets."""

import difflib
import numbers

from imblearn.pipeline import Pipeline
from sklearn.base import clone
from sklearn.model_selection import train_test_split
from sklearn.utils._param_validation import StrOptions, validate_params

from .augment import AugmentingResampler
from .model import DigitCNNClassifier
from .preprocessing import ImageReshaper, PixelScaler

__all__ = ["PRESETS", "fit_with_validation", "make_digit_pipeline", "sampler_index"]

#: Step parameters of each preset; keys are ``step__param`` pipeline names.
PRESETS = {
    # The reference notebook: its network, Adam at 1e-3 * 0.9**epoch, batch 64,
    # 20 epochs of augmented images only (rotation 10 degrees, zoom 0.1, shift
    # 0.1), each image transformed anew every time it is drawn, as the
    # notebook's ImageDataGenerator does.
    "reference": {
        "augment__rotation": 10.0,
        "augment__zoom": 0.1,
        "augment__shift": 0.1,
        "augment__n_copies": 1,
        "augment__keep_original": False,
        "augment__per_epoch": True,
        "cnn__filters": (16, 32),
        "cnn__dense_units": (512, 1024),
        "cnn__dropout": 0.25,
        "cnn__bn_momentum": 0.99,
        "cnn__learning_rate": 1e-3,
        "cnn__lr_schedule": "exponential",
        "cnn__lr_decay": 0.9,
        "cnn__batch_size": 64,
        "cnn__epochs": 20,
    },
}
# Originals plus one augmented copy, batch 256, 3 epochs: 252,000 images instead
# of the notebook's 640,000. The learning rate warms up over the first 10% of the
# steps to 3e-3 and decays to 0 along a cosine: on the selection split (3 seeds)
# 59.7 errors in 8,000 against 66.7 for the former 3e-3 * 0.4**epoch
# (benchmarks/README.md). min_steps shrinks the batch for small data.
PRESETS["default"] = {
    **PRESETS["reference"],
    "augment__keep_original": True,
    "augment__per_epoch": False,  # static copies: fresh ones gained nothing at 3 epochs (benchmarks/README.md)
    "cnn__batch_size": 256,
    "cnn__learning_rate": 3e-3,
    "cnn__lr_schedule": "cosine",
    "cnn__warmup": 0.1,
    "cnn__epochs": 3,
    "cnn__bn_momentum": 0.9,
}
# The strongest Kaggle kernels' network (Conv-BN stages with 5x5 stride-2
# convolutions instead of pooling, a 128-unit dense layer, dropout 0.4) trained
# for 10 epochs at 3e-3 * 0.75**epoch on the originals plus one augmented copy:
# chosen on a selection split of the first 50,000 MNIST images. 1,000,000 images:
# 11 minutes on a fast 2-core box, 46 on a slow one (benchmarks/README.md).
PRESETS["accurate"] = {
    **PRESETS["default"],
    "cnn__downsampling": "strided",
    "cnn__filters": (32, 64),
    "cnn__dense_units": (128,),
    "cnn__dropout": 0.4,
    "cnn__lr_schedule": "exponential",
    "cnn__lr_decay": 0.75,
    "cnn__epochs": 10,
}


@validate_params(
    {"preset": [StrOptions(set(PRESETS))], "random_state": [None, numbers.Integral]},
    prefer_skip_nested_validation=True,
)
def make_digit_pipeline(*, preset="default", random_state=None, **params):
    """Make the unfitted digit pipeline: scale -> reshape -> augment -> cnn.

    Parameters
    ----------
    preset : {"default", "reference", "accurate"}, default="default"
        Named configuration of the steps, see ``skdigits.pipeline.PRESETS``:
        "default" is fast, "reference" is the reference notebook, "accurate"
        is the most accurate single model (about 11 times the default's
        fit time).
    random_state : int or None, default=None
        Seeds both the augmenting step and the network.
    **params
        Parameters of the classifier (``epochs=2``, ``batch_size=128``), or
        of any step with its name as prefix (``augment__rotation=15``).

    Returns
    -------
    pipeline : imblearn.pipeline.Pipeline
        Steps ``scale`` (:class:`PixelScaler`), ``reshape``
        (:class:`ImageReshaper`), ``augment`` (:class:`AugmentingResampler`,
        active during ``fit`` only) and ``cnn`` (:class:`DigitCNNClassifier`).

    Examples
    --------
    >>> from skdigits import make_digit_pipeline
    >>> pipe = make_digit_pipeline(epochs=2, random_state=0)
    >>> list(pipe.named_steps)
    ['scale', 'reshape', 'augment', 'cnn']
    >>> pipe.get_params()["cnn__epochs"]
    2
    """
    pipeline = Pipeline(
        [
            ("scale", PixelScaler()),
            ("reshape", ImageReshaper()),
            ("augment", AugmentingResampler(random_state=random_state)),
            ("cnn", DigitCNNClassifier(random_state=random_state)),
        ]
    )
    settings = {**PRESETS[preset], **{_qualify(name, pipeline.named_steps): value for name, value in params.items()}}
    _check_param_names(pipeline, settings)
    return pipeline.set_params(**settings)


def _qualify(name, step_names):
    """Prefix a bare classifier parameter with ``cnn__``; keep step-qualified names."""
    return name if name.partition("__")[0] in step_names and "__" in name else f"cnn__{name}"


def _check_param_names(pipeline, settings):
    known = pipeline.get_params()
    for name in settings:
        step, _, param = name.partition("__")
        if name in known or (step == "cnn" and "__" in param):  # routed scikeras parameters
            continue
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" Did you mean {close[0].removeprefix('cnn__')!r}?" if close else ""
        raise ValueError(
            f"make_digit_pipeline got an unknown parameter {name.removeprefix('cnn__')!r}; "
            f"expected a DigitCNNClassifier parameter or a step parameter such as "
            f"'augment__rotation'.{hint}"
        )


def fit_with_validation(pipeline, X, y, *, validation_fraction=0.1, random_state=None, **fit_params):
    """Fit `pipeline` on part of (X, y) and let Keras score the rest after every epoch.

    A stratified `validation_fraction` of the images is held out; the
    network reports ``val_loss`` and ``val_accuracy`` per epoch (in
    ``history_``, and to callbacks such as Optuna's pruning callback).
    The held-out images go through the pipeline's preprocessing steps but
    never through augmentation.

    Parameters
    ----------
    pipeline : imblearn.pipeline.Pipeline
        A pipeline from :func:`make_digit_pipeline` (unfitted).
    X : array-like of shape (n_samples, 784)
        Images, pixel intensities 0..255.
    y : array-like of shape (n_samples,)
        Labels.
    validation_fraction : float, default=0.1
        Share of the images held out.
    random_state : int or None, default=None
        Seed of the split.
    **fit_params
        Passed to ``pipeline.fit`` (``cnn__callbacks=[...]``).

    Returns
    -------
    pipeline : imblearn.pipeline.Pipeline
        The fitted pipeline.

    Examples
    --------
    >>> from skdigits import make_digit_pipeline
    >>> from skdigits.datasets import load_sample
    >>> from skdigits.pipeline import fit_with_validation
    >>> X, y = load_sample()
    >>> pipe = make_digit_pipeline(filters=(4,), dense_units=(8,), epochs=2, random_state=0)
    >>> sorted(fit_with_validation(pipe, X[:300], y[:300], random_state=0)[-1].history_)
    ['accuracy', 'learning_rate', 'loss', 'val_accuracy', 'val_loss']
    """
    X_train, X_val, y_train, y_val = train_test_split(
        X, y, test_size=validation_fraction, stratify=y, random_state=random_state
    )
    # the steps before the first sampler, fitted on the training part only
    preprocess = clone(pipeline[: sampler_index(pipeline)]).fit(X_train)
    validation = (preprocess.transform(X_val), _encode_like_the_network(pipeline._final_estimator, y_train, y_val))
    final_step = pipeline.steps[-1][0]
    return pipeline.fit(X_train, y_train, **{f"{final_step}__validation_data": validation, **fit_params})


def sampler_index(pipeline):
    """Position of the pipeline's first sampler (a step with ``fit_resample``), else of its last step.

    The steps before it transform every image the same way at fit and at
    predict time; from it on, steps run at fit time only or are the model.
    Found by role, as imbalanced-learn's Pipeline finds samplers, so that a
    user's own step names work.

    Examples
    --------
    >>> from skdigits import make_digit_pipeline
    >>> from skdigits.pipeline import sampler_index
    >>> sampler_index(make_digit_pipeline())
    2
    """
    for index, (_, step) in enumerate(pipeline.steps[:-1]):
        if hasattr(step, "fit_resample"):
            return index
    return len(pipeline.steps) - 1


def _encode_like_the_network(classifier, y_train, y_val):
    """`y_val` encoded as the scikeras classifier will encode labels when it is fitted on `y_train`."""
    classifier = clone(classifier)
    classifier.classes_ = None  # as KerasClassifier.fit starts: its target_encoder reads it
    return classifier.target_encoder.fit(y_train).transform(y_val)
