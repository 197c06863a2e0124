"""Soft-voting ensembles of digit pipelines."""

import numpy as np
from sklearn.ensemble import VotingClassifier
from sklearn.utils import check_random_state

from .pipeline import make_digit_pipeline

__all__ = ["make_ensemble"]


def make_ensemble(n_members=4, *, preset="accurate", n_jobs=None, random_state=None, **params):
    """Make an unfitted soft-voting ensemble of digit pipelines.

    Each member is a :func:`~skdigits.make_digit_pipeline` with the same
    settings and its own seed, so it starts from other weights and trains on
    other augmented copies and batch orders. The ensemble is sklearn's
    :class:`~sklearn.ensemble.VotingClassifier` with ``voting="soft"``: it
    predicts the class with the highest mean probability, and ``fit``,
    ``predict``, ``score``, ``cross_val_score``, ``clone``, joblib and
    :func:`skdigits.save` all work on it as on one pipeline.

    Parameters
    ----------
    n_members : int, default=4
        Number of pipelines.
    preset : str, default="accurate"
        Preset of every member, see :func:`~skdigits.make_digit_pipeline`.
    n_jobs : int or None, default=None
        Members fitted at once, in separate processes (joblib). Each worker
        gives TensorFlow its share of the cores (see
        :func:`~skdigits.model.share_cores_with_other_workers`). None means 1.
    random_state : int, RandomState instance or None, default=None
        Draws the members' seeds; an int makes the whole ensemble
        reproducible.
    **params
        Settings of every member, as for :func:`~skdigits.make_digit_pipeline`
        (``epochs=8``, ``augment__rotation=12``).

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
    if not isinstance(n_members, (int, np.integer)) or isinstance(n_members, bool) or n_members < 1:
        raise ValueError(f"n_members={n_members!r} is not a positive integer; pass the number of pipelines, e.g. 4.")
    seeds = check_random_state(random_state).randint(np.iinfo(np.int32).max, size=n_members)
    members = [
        (f"member{index}", make_digit_pipeline(preset=preset, random_state=int(seed), **params))
        for index, seed in enumerate(seeds)
    ]
    return VotingClassifier(members, voting="soft", n_jobs=n_jobs)
