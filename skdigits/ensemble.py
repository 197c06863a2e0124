"""Soft-voting ensembles of digit pipelines, bagged and diverse."""

import numbers

import numpy as np
import pandas as pd
from imblearn.base import BaseSampler
from imblearn.pipeline import Pipeline
from sklearn.ensemble import VotingClassifier
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions, validate_params
from sklearn.utils.validation import _num_samples, check_is_fitted, validate_data

from .pipeline import PRESETS, _own_checkpoint_dir, make_digit_pipeline, sampler_index
from .preprocessing import check_targets

__all__ = ["RandomSubsampler", "make_ensemble", "member_scores"]


class RandomSubsampler(BaseSampler):
    """Keep a random share of the training images, drawn without replacement.

    The bagging step of [`make_ensemble`][skdigits.ensemble.make_ensemble]: each member's pipeline holds
    one with its own seed, so each member trains on other rows. A sampler in
    the imbalanced-learn sense, so it runs during ``fit`` only; prediction
    sees every image.

    Parameters
    ----------
    max_samples : float, default=0.9
        Share of the images kept, in (0, 1], as in
        `sklearn.ensemble.BaggingClassifier` with ``bootstrap=False``.
    random_state : int, RandomState instance or None, default=None
        Seed of the draw.

    Attributes
    ----------
    sample_indices_ : ndarray of int
        The rows kept by the last ``fit_resample``, in their original order.
    n_features_in_ : int
        Number of features seen during fitting.
    sampling_strategy_ : dict
        Required by imbalanced-learn's sampler protocol; always empty here.

    Examples
    --------
    >>> import numpy as np
    >>> from skdigits.ensemble import RandomSubsampler
    >>> X, y = np.arange(20).reshape(10, 2), np.arange(10) % 2
    >>> X_kept, y_kept = RandomSubsampler(max_samples=0.8, random_state=0).fit_resample(X, y)
    >>> X_kept.shape
    (8, 2)
    """

    _sampling_type = "bypass"
    _parameter_constraints = {
        "max_samples": [Interval(numbers.Real, 0, 1, closed="right")],
        "random_state": ["random_state"],
    }

    def __init__(self, *, max_samples=0.9, random_state=None):
        super().__init__()
        self.max_samples = max_samples
        self.random_state = random_state

    def _check_X_y(self, X, y, accept_sparse=None):
        check_targets(y, n_samples=_num_samples(X))
        X, y = validate_data(self, X, y, reset=True, allow_nd=True, dtype="numeric")
        return X, y, False

    def _fit_resample(self, X, y):
        n_kept = max(1, round(self.max_samples * len(X)))
        self.sample_indices_ = np.sort(check_random_state(self.random_state).choice(len(X), n_kept, replace=False))
        return X[self.sample_indices_], y[self.sample_indices_]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        return tags


@validate_params(
    {
        "n_members": [Interval(numbers.Integral, 1, None, closed="left")],
        "preset": [StrOptions(set(PRESETS)), list, tuple],
        "max_samples": [Interval(numbers.Real, 0, 1, closed="right")],
        "n_jobs": [None, numbers.Integral],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_ensemble(
    n_members=4, *, preset=("mixup", "deskewed"), epochs=15, max_samples=0.9, n_jobs=None, random_state=None,
    **params,
):
    """Make an unfitted soft-voting ensemble of bagged digit pipelines.

    Each member is a [`make_digit_pipeline`][skdigits.pipeline.make_digit_pipeline] with its own seed
    (other initial weights, augmented copies and batch order) and, unless
    ``max_samples=1.0``, a [`RandomSubsampler`][skdigits.ensemble.RandomSubsampler] step that trains it on
    its own random share of the images (bagging). The ensemble is sklearn's
    `sklearn.ensemble.VotingClassifier` with ``voting="soft"``: it
    predicts the class with the highest mean probability, and ``fit``,
    ``predict``, ``score``, ``cross_val_score``, ``clone``, joblib and
    [`skdigits.save`][skdigits.persistence.save] all work on it as on one pipeline.
    [`member_scores`][skdigits.ensemble.member_scores] shows how much the members disagree.

    Parameters
    ----------
    n_members : int, default=4
        Number of pipelines.
    preset : str or sequence of str, default=("mixup", "deskewed")
        Preset of the members, see [`make_digit_pipeline`][skdigits.pipeline.make_digit_pipeline];
        a sequence is assigned in turn. The default alternates members with
        the strided network trained on mixup (``"mixup"``) and members with
        the max-pooling network that read deskewed images (``"deskewed"``),
        which make fewer of the same mistakes; each preset tempers its
        probabilities (``temperature``) so that the soft vote weighs them
        by how sure they really are. ``"accurate"`` makes every member the
        same recipe.
    epochs : int or None, default=15
        Epochs of every member. Chosen on the selection split, where votes
        of 15-epoch members made fewer errors than votes of the single-model
        presets' 10-epoch ones (on the reported split, the same;
        ``benchmarks/README.md``, "Fifteen-epoch members"). None keeps each
        preset's own (`accurate` 10, `reference` 20).
    max_samples : float, default=0.9
        Share of the training images each member sees, drawn without
        replacement; 1.0 turns bagging off. Over 8 seeds on the selection
        split, votes with and without bagging made as many errors
        (``benchmarks/README.md``, "How to spend 6 million images").
    n_jobs : int or None, default=None
        Members fitted at once, in separate processes (joblib). Each worker
        gives TensorFlow its share of the cores (see
        [`share_cores_with_other_workers`][skdigits.model.share_cores_with_other_workers]). None means 1.
    random_state : int, RandomState instance or None, default=None
        Draws the members' seeds; an int makes the whole ensemble
        reproducible.
    **params
        Settings of every member, as for [`make_digit_pipeline`][skdigits.pipeline.make_digit_pipeline]
        (``epochs=8``, ``augment__rotation=12``). Members predict without
        shift test-time augmentation (``tta_shift=0``) unless given
        ``tta_shift=1``: it helps a single model, not a vote of four
        (``benchmarks/README.md``), and costs five predictions per member.
        ``checkpoint_dir=DIR`` gives each member a folder of its own,
        ``DIR/member0``, ``DIR/member1``, ...: fitting again after an
        interruption resumes the member that was training (members that had
        finished train again).

    Returns
    -------
    ensemble : sklearn.ensemble.VotingClassifier
        Members named ``member0``, ``member1``, ...

    Examples
    --------
    >>> from skdigits import make_ensemble
    >>> from skdigits.datasets import load_sample
    >>> X, y = load_sample()
    >>> ensemble = make_ensemble(2, preset="default", filters=(4,), dense_units=(8,), epochs=1, random_state=0)
    >>> [name for name, _ in ensemble.estimators]
    ['member0', 'member1']
    >>> ensemble.fit(X[:300], y[:300]).predict_proba(X[:2]).shape
    (2, 10)
    """
    presets = [preset] if isinstance(preset, str) else list(preset)
    seeds = check_random_state(random_state).randint(np.iinfo(np.int32).max, size=int(n_members))
    params = {"tta_shift": 0, **({} if epochs is None else {"epochs": epochs}), **params}
    members = [
        (f"member{index}", _member(presets[index % len(presets)], int(seed), max_samples, params))
        for index, seed in enumerate(seeds)
    ]
    for name, member in members:
        _own_checkpoint_dir(member, name)
    return VotingClassifier(members, voting="soft", n_jobs=n_jobs)


def _member(preset, seed, max_samples, params):
    pipeline = make_digit_pipeline(preset=preset, random_state=seed, **params)
    if max_samples == 1.0:
        return pipeline
    steps = list(pipeline.steps)
    steps.insert(sampler_index(pipeline), ("bag", RandomSubsampler(max_samples=max_samples, random_state=seed)))
    return Pipeline(steps)


def member_scores(ensemble, X, y):
    """Each member's accuracy and how often each pair of members disagrees.

    Members that make the same mistakes cannot correct each other: the
    disagreement is the share of images two members label differently.

    Parameters
    ----------
    ensemble : sklearn.ensemble.VotingClassifier
        A fitted ensemble, for example from [`make_ensemble`][skdigits.ensemble.make_ensemble].
    X : array-like of shape (n_samples, 784)
        Images.
    y : array-like of shape (n_samples,)
        Their labels.

    Returns
    -------
    scores : pandas.DataFrame
        One row per member: ``accuracy``, then one disagreement column per
        member (0 on the diagonal).

    Examples
    --------
    >>> from skdigits import make_ensemble
    >>> from skdigits.ensemble import member_scores
    >>> from skdigits.datasets import load_sample
    >>> X, y = load_sample()
    >>> ensemble = make_ensemble(2, preset="default", filters=(4,), dense_units=(8,), epochs=1, random_state=0)
    >>> list(member_scores(ensemble.fit(X[:300], y[:300]), X[300:400], y[300:400]).columns)
    ['accuracy', 'member0', 'member1']
    """
    check_is_fitted(ensemble)
    names = [name for name, _ in ensemble.estimators]
    # the members were fitted on the ensemble's encoded labels
    predictions = np.array([ensemble.classes_[member.predict(X)] for member in ensemble.estimators_])
    disagreement = (predictions[:, None, :] != predictions[None, :, :]).mean(axis=2)
    scores = pd.DataFrame(disagreement, index=names, columns=names)
    scores.insert(0, "accuracy", (predictions == np.asarray(y)).mean(axis=1))
    return scores
