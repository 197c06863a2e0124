"""Optuna hyperparameter studies of the digit pipeline."""

import functools
import numbers
import os
import socket
import time
import warnings
from pathlib import Path

import numpy as np
import optuna
from joblib import Parallel, delayed, effective_n_jobs
import sqlalchemy
from optuna.storages import JournalStorage, RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.storages.journal import JournalFileBackend
from optuna.study import MaxTrialsCallback
from optuna.trial import TrialState
from optuna_integration import TFKerasPruningCallback
from sklearn.base import clone
from sklearn.model_selection import check_cv
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

from .pipeline import PRESETS, _own_checkpoint_dir, fit_with_validation, make_digit_pipeline

__all__ = [
    "DEFAULT_STORAGE",
    "best_pipeline",
    "database_storage",
    "default_pruner",
    "default_search_space",
    "make_storage",
    "tune",
]

DEFAULT_STORAGE = "skdigits-study.journal"
"""Journal file used when ``tune`` is given no storage: a plain append-only log
next to the user's work, safe for several processes and after a crash."""
DEFAULT_STUDY_NAME = "skdigits"

#: Network shapes the default search space chooses from, by name.
FILTERS = {"16-32": (16, 32), "24-48": (24, 48), "32-64": (32, 64)}
DENSE_UNITS = {"256": (256,), "512": (512,), "512-1024": (512, 1024)}

_FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


def default_search_space(trial, *, fixed=()):
    """Suggest the parameters of one trial: network, optimiser, schedule and augmentation.

    The schedule's parameters are those of the default preset's warm-up and
    cosine decay (``warmup``); for the ``reference`` preset's per-epoch
    annealer, pass a `search_space` of your own that suggests ``lr_decay``.

    Parameters
    ----------
    trial : optuna.Trial
        The trial to suggest values for.
    fixed : collection of str, default=()
        Parameters not to search (``tune`` passes the names in its `params`).

    Returns
    -------
    params : dict
        Keyword arguments of [`make_digit_pipeline`][skdigits.pipeline.make_digit_pipeline].

    Examples
    --------
    >>> import optuna
    >>> from skdigits.tuning import default_search_space
    >>> trial = optuna.create_study().ask()
    >>> sorted(default_search_space(trial, fixed={"epochs"}))[:4]
    ['augment__rotation', 'augment__shift', 'augment__zoom', 'batch_size']
    """
    suggest = {
        "filters": lambda: FILTERS[trial.suggest_categorical("filters", list(FILTERS))],
        "dense_units": lambda: DENSE_UNITS[trial.suggest_categorical("dense_units", list(DENSE_UNITS))],
        "dropout": lambda: trial.suggest_float("dropout", 0.1, 0.5),
        "learning_rate": lambda: trial.suggest_float("learning_rate", 3e-4, 1e-2, log=True),
        "warmup": lambda: trial.suggest_float("warmup", 0.0, 0.3),
        "batch_size": lambda: trial.suggest_categorical("batch_size", [64, 128, 256]),
        "epochs": lambda: trial.suggest_int("epochs", 2, 8),
        "augment__rotation": lambda: trial.suggest_float("augment__rotation", 0.0, 20.0),
        "augment__zoom": lambda: trial.suggest_float("augment__zoom", 0.0, 0.2),
        "augment__shift": lambda: trial.suggest_float("augment__shift", 0.0, 0.2),
    }
    return {name: suggestion() for name, suggestion in suggest.items() if name not in fixed}


def default_pruner():
    """Successive halving from the first epoch: each rung keeps the best third.

    Trials report their held-out accuracy after epochs 1, 2, 3...; after
    epoch 1 a trial continues only if it is in the best third of the trials
    that reached that epoch, after epoch 3 likewise, and so on.

    Returns
    -------
    pruner : optuna.pruners.SuccessiveHalvingPruner

    Examples
    --------
    >>> from skdigits.tuning import default_pruner
    >>> type(default_pruner()).__name__
    'SuccessiveHalvingPruner'
    """
    return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)


def make_storage(storage=None):
    """Turn ``tune``'s `storage` argument into an Optuna storage.

    Parameters
    ----------
    storage : None, str, path-like or optuna.storages.BaseStorage, default=None
        None: the journal file [`DEFAULT_STORAGE`][skdigits.tuning.DEFAULT_STORAGE] in the working
        directory. A database URL (``postgresql://...``, ``mysql://...``,
        ``sqlite:///...``): [`database_storage`][skdigits.tuning.database_storage], an ``RDBStorage`` with a
        heartbeat, so the trial of a killed worker is marked failed after two
        minutes and retried (up to twice). Any other string or path: a journal file at that path. A
        storage object is returned as it is.

    Returns
    -------
    storage : optuna.storages.BaseStorage

    Examples
    --------
    >>> import os, tempfile
    >>> from skdigits.tuning import make_storage
    >>> type(make_storage(os.path.join(tempfile.mkdtemp(), "study.journal"))).__name__
    'JournalStorage'
    """
    if isinstance(storage, optuna.storages.BaseStorage):
        return storage
    if isinstance(storage, str) and "://" in storage:
        return database_storage(storage)
    path = Path(DEFAULT_STORAGE if storage is None else storage)
    path.parent.mkdir(parents=True, exist_ok=True)
    return JournalStorage(JournalFileBackend(str(path)))


def database_storage(url, *, heartbeat_interval=60, grace_period=120, max_retry=2):
    """An Optuna ``RDBStorage`` for `url` whose killed workers' trials are retried.

    Every running trial writes a heartbeat; a trial silent for `grace_period`
    seconds (its worker was killed) is marked failed and queued again with the
    same parameters, up to `max_retry` times. Several workers may call this at
    once on an empty database: the race to create the tables is retried.

    Parameters
    ----------
    url : str
        SQLAlchemy URL, e.g. ``postgresql+psycopg2://user:password@host/db``.
    heartbeat_interval : int, default=60
        Seconds between heartbeats of a running trial.
    grace_period : int, default=120
        Seconds without a heartbeat after which a trial counts as dead.
    max_retry : int, default=2
        How many times a dead trial is queued again.

    Returns
    -------
    storage : optuna.storages.RDBStorage

    Examples
    --------
    >>> import os, tempfile
    >>> from skdigits.tuning import database_storage
    >>> path = os.path.join(tempfile.mkdtemp(), "study.db")
    >>> database_storage(f"sqlite:///{path}").heartbeat_interval
    60
    """
    for attempt in range(5):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return RDBStorage(
                    url,
                    heartbeat_interval=heartbeat_interval,
                    grace_period=grace_period,
                    heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=max_retry),
                )
        except sqlalchemy.exc.IntegrityError:  # another worker created the tables at the same moment
            if attempt == 4:
                raise
            time.sleep(0.2 * (attempt + 1))


@validate_params(
    {
        "X": ["array-like"],
        "y": ["array-like"],
        "n_trials": [None, Interval(numbers.Integral, 1, None, closed="left")],
        "timeout": [None, Interval(numbers.Real, 0, None, closed="neither")],
        "storage": [None, str, os.PathLike, optuna.storages.BaseStorage],
        "study_name": [None, str],
        "search_space": [None, callable],
        "cv": ["cv_object"],
        "n_jobs": [None, Interval(numbers.Integral, None, -1, closed="right"), Interval(numbers.Integral, 1, None, closed="left")],
        "random_state": [None, numbers.Integral],
        "preset": [StrOptions(set(PRESETS))],
        "params": [None, dict],
        "validation_fraction": [Interval(numbers.Real, 0, 1, closed="neither")],
        "pruner": [None, optuna.pruners.BasePruner],
        "show_progress_bar": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def tune(
    X,
    y,
    *,
    n_trials=None,
    timeout=None,
    storage=None,
    study_name=None,
    search_space=None,
    cv=None,
    n_jobs=1,
    random_state=None,
    preset="default",
    params=None,
    validation_fraction=0.2,
    pruner=None,
    show_progress_bar=False,
):
    """Search the pipeline's hyperparameters with Optuna; return the study.

    Each trial builds ``make_digit_pipeline(**search_space(trial), **params)``
    and scores it by accuracy. Without `cv`, it trains on a stratified split of
    ``1 - validation_fraction`` of the data and reports the held-out accuracy
    after every epoch (steps 1, 2, ...), so the pruner stops hopeless trials
    early. With `cv`,
    the score is the mean over the folds, reported after each fold.

    The study lives in `storage` and is created or continued under
    `study_name`: trials already there count towards `n_trials`, so running
    ``tune`` again after an interruption continues the study, and several
    processes (or machines, with a database URL) running the same call share
    the work.

    Parameters
    ----------
    X : array-like of shape (n_samples, 784)
        Images as rows of pixel intensities 0..255.
    y : array-like of shape (n_samples,)
        Labels.
    n_trials : int or None, default=None
        Number of finished (complete or pruned) trials the study should hold.
        Each process stops once the study reaches it, so parallel processes
        may overshoot by the trials they are running. None: no limit.
    timeout : float or None, default=None
        Stop starting new trials after this many seconds.
    storage : None, str, path-like or optuna.storages.BaseStorage, default=None
        Where the study is kept; see [`make_storage`][skdigits.tuning.make_storage]. None writes the
        journal file ``skdigits-study.journal`` in the working directory.
    study_name : str or None, default=None
        Name of the study in the storage; None means ``"skdigits"``.
    search_space : callable or None, default=None
        ``search_space(trial) -> dict`` of ``make_digit_pipeline`` keyword
        arguments; None means [`default_search_space`][skdigits.tuning.default_search_space] over the
        parameters not fixed by `params`.
    cv : int, cross-validation generator or None, default=None
        Cross-validate each trial instead of using one held-out split.
    n_jobs : int or None, default=1
        Number of worker processes running trials against the same study,
        counted as joblib does (``-1``: one per core, ``-2``: all but one;
        None: 1). Each gets its share of the cores.
    random_state : int or None, default=None
        Seeds the sampler, the held-out split and every trial's pipeline.
    preset : str, default="default"
        The ``make_digit_pipeline`` preset each trial starts from.
    params : dict or None, default=None
        Fixed ``make_digit_pipeline`` arguments; they override the search
        space's suggestions for the same parameter. ``checkpoint_dir=DIR``
        gives each trial a folder of its own, ``DIR/trial<number>``.
    validation_fraction : float, default=0.2
        Share of the data held out when `cv` is None.
    pruner : optuna.pruners.BasePruner or None, default=None
        None: [`default_pruner`][skdigits.tuning.default_pruner], successive halving from the first epoch.
    show_progress_bar : bool, default=False
        Optuna's progress bar (only with ``n_jobs=1``).

    Returns
    -------
    study : optuna.Study
        The study, with every trial's pipeline parameters in
        ``trial.user_attrs["pipeline_params"]``.

    Examples
    --------
    >>> import optuna, os, tempfile
    >>> from skdigits.datasets import load_sample
    >>> from skdigits.tuning import tune, best_pipeline
    >>> optuna.logging.set_verbosity(optuna.logging.WARNING)
    >>> X, y = load_sample()
    >>> space = lambda trial: {"dropout": trial.suggest_float("dropout", 0.1, 0.5)}
    >>> study = tune(X[:300], y[:300], n_trials=2, search_space=space, random_state=0,
    ...              params={"filters": (4,), "dense_units": (8,), "epochs": 1},
    ...              storage=os.path.join(tempfile.mkdtemp(), "study.journal"))
    >>> len(study.trials)
    2
    >>> best_pipeline(study).get_params()["cnn__filters"]
    (4,)
    """
    study_name = DEFAULT_STUDY_NAME if study_name is None else study_name
    storage = make_storage(storage)
    pruner = default_pruner() if pruner is None else pruner
    study = optuna.create_study(
        storage=storage, study_name=study_name, direction="maximize", pruner=pruner, load_if_exists=True
    )
    params = dict(params or {})
    if search_space is None:
        search_space = functools.partial(default_search_space, fixed=frozenset(params))
    objective = _Objective(X, y, search_space, params, cv, validation_fraction, random_state, preset)
    n_workers = effective_n_jobs(n_jobs)
    if n_workers == 1:
        _optimize(storage, study_name, pruner, objective, n_trials, timeout, random_state, show_progress_bar)
    else:
        seeds = [None if random_state is None else random_state + worker for worker in range(n_workers)]
        Parallel(n_jobs=n_workers)(
            delayed(_optimize)(storage, study_name, pruner, objective, n_trials, timeout, seed, False) for seed in seeds
        )
    return optuna.load_study(study_name=study_name, storage=storage, pruner=pruner)


def best_pipeline(study, *, random_state=None):
    """The unfitted pipeline of the study's best trial.

    Parameters
    ----------
    study : optuna.Study
        A study made by [`tune`][skdigits.tuning.tune].
    random_state : int or None, default=None
        Seed of the new pipeline; None reuses the seed the trial ran with.

    Returns
    -------
    pipeline : imblearn.pipeline.Pipeline
        ``make_digit_pipeline`` with the best trial's parameters, not fitted.

    Examples
    --------
    See [`tune`][skdigits.tuning.tune].
    """
    trial = study.best_trial
    params = {name: _as_tuple(value) for name, value in trial.user_attrs["pipeline_params"].items()}
    seed = trial.user_attrs.get("random_state") if random_state is None else random_state
    return make_digit_pipeline(preset=trial.user_attrs.get("preset", "default"), random_state=seed, **params)


def _optimize(storage, study_name, pruner, objective, n_trials, timeout, seed, show_progress_bar):
    sampler = optuna.samplers.TPESampler(seed=seed)
    study = optuna.load_study(study_name=study_name, storage=storage, sampler=sampler, pruner=pruner)
    callbacks = []
    remaining = None
    if n_trials is not None:
        remaining = n_trials - len(study.get_trials(deepcopy=False, states=_FINISHED))
        if remaining <= 0:
            return
        callbacks.append(MaxTrialsCallback(n_trials, states=_FINISHED))
    study.optimize(
        objective, n_trials=remaining, timeout=timeout, callbacks=callbacks, show_progress_bar=show_progress_bar
    )


class _Objective:
    """Score one trial's pipeline; a picklable object so worker processes can run it."""

    def __init__(self, X, y, search_space, params, cv, validation_fraction, random_state, preset):
        self.X, self.y = np.asarray(X), np.asarray(y)
        self.search_space = search_space
        self.params = params
        self.cv = cv
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.preset = preset

    def __call__(self, trial):
        params = {**self.search_space(trial), **self.params}
        trial.set_user_attr("pipeline_params", {name: _as_list(value) for name, value in params.items()})
        trial.set_user_attr("random_state", self.random_state)
        trial.set_user_attr("preset", self.preset)
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        pipe = make_digit_pipeline(preset=self.preset, random_state=self.random_state, **params)
        _own_checkpoint_dir(pipe, f"trial{trial.number}")  # a pruned trial leaves its backup behind
        if self.cv is None:
            return self._holdout_score(pipe, trial)
        return self._cv_score(pipe, trial)

    def _holdout_score(self, pipe, trial):
        # the pruning callback holds the trial, so it goes to fit, never into parameters clone() copies
        pruning = _EpochPruningCallback(trial, "val_accuracy")
        fit_with_validation(
            pipe, self.X, self.y, validation_fraction=self.validation_fraction, random_state=self.random_state,
            cnn__callbacks=[pruning],
        )
        return float(pipe[-1].history_["val_accuracy"][-1])

    def _cv_score(self, pipe, trial):
        scores = []
        splitter = check_cv(self.cv, self.y, classifier=True)
        for fold, (train, test) in enumerate(splitter.split(self.X, self.y)):
            scores.append(clone(pipe).fit(self.X[train], self.y[train]).score(self.X[test], self.y[test]))
            trial.report(float(np.mean(scores)), step=fold + 1)  # folds count from 1, like epochs
            if trial.should_prune():
                raise optuna.TrialPruned(f"mean accuracy {np.mean(scores):.4f} after fold {fold + 1}")
        return float(np.mean(scores))


class _EpochPruningCallback(TFKerasPruningCallback):
    """optuna-integration's Keras pruning callback, counting epochs from 1.

    Keras numbers epochs from 0, and successive halving's first rung is step 1,
    so with 0-based steps no trial could be stopped before its second epoch.
    """

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch + 1, logs)


def _as_list(value):
    return [_as_list(item) for item in value] if isinstance(value, (tuple, list)) else value


def _as_tuple(value):
    return tuple(_as_tuple(item) for item in value) if isinstance(value, list) else value
