"""The default digit pipeline and its presets."""

import difflib
import numbers
import os

from imblearn.pipeline import Pipeline
from sklearn.base import clone
from sklearn.model_selection import train_test_split
from sklearn.utils._param_validation import StrOptions, validate_params

from .augment import AugmentingResampler
from .model import DigitCNNClassifier
from .presets import PRESETS
from .preprocessing import ImageReshaper, PixelScaler

__all__ = ["PRESETS", "fit_with_validation", "make_digit_pipeline", "sampler_index"]

@validate_params(
    {"preset": [StrOptions(set(PRESETS))], "random_state": [None, numbers.Integral]},
    prefer_skip_nested_validation=True,
)
def make_digit_pipeline(*, preset="default", random_state=None, **params):
    """Make the unfitted digit pipeline: scale -> reshape -> augment -> cnn.

    Parameters
    ----------
    preset : {"default", "reference", "accurate", "deskewed", "strided", "mixup"}, default="default"
        Named configuration of the steps, see ``skdigits.pipeline.PRESETS``:
        "default" is fast, "reference" is the reference notebook, "accurate"
        is the most accurate single model (about four times the default's
        training images and fit time), "deskewed" is "accurate" on deskewed
        images for 15 epochs instead of 10, "strided" is "accurate" with
        the strided network (about 1.6 times the time per image), and
        "mixup" is "strided" trained on mixup: "mixup" and "deskewed" are
        the two halves of `make_ensemble`'s members.
    random_state : int or None, default=None
        Seeds both the augmenting step and the network.
    **params
        Parameters of the classifier (``epochs=2``, ``batch_size=128``), or
        of any step with its name as prefix (``augment__rotation=15``).

    Returns
    -------
    pipeline : imblearn.pipeline.Pipeline
        Steps ``scale`` ([`PixelScaler`][skdigits.preprocessing.PixelScaler]), ``reshape``
        ([`ImageReshaper`][skdigits.preprocessing.ImageReshaper]), ``augment`` ([`AugmentingResampler`][skdigits.augment.AugmentingResampler],
        active during ``fit`` only) and ``cnn`` ([`DigitCNNClassifier`][skdigits.model.DigitCNNClassifier]).

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
        A pipeline from [`make_digit_pipeline`][skdigits.pipeline.make_digit_pipeline] (unfitted).
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


def _own_checkpoint_dir(pipeline, name):
    """Move the network's ``checkpoint_dir``, if set, to its subfolder `name`; returns `pipeline`.

    For fits that share one setting but must not share a backup, which each
    would resume from: ensemble members, Optuna trials.
    """
    folder = pipeline.get_params()["cnn__checkpoint_dir"]
    if folder is not None:
        pipeline.set_params(cnn__checkpoint_dir=os.path.join(folder, name))
    return pipeline


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
