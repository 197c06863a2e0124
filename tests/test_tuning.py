import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import optuna
import pytest
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from skdigits import make_digit_pipeline
from skdigits.tuning import DEFAULT_STORAGE, best_pipeline, database_storage, default_search_space, make_storage, tune

from .conftest import TINY

WORKER = Path(__file__).with_name("tune_worker.py")
POSTGRES_URL = os.environ.get("SKDIGITS_TEST_POSTGRES_URL")
# skipped on a developer's machine without a server; in CI (CI=true) a missing server is a failure
needs_postgres = pytest.mark.skipif(
    not POSTGRES_URL and os.environ.get("CI", "").lower() != "true",
    reason="no PostgreSQL server: set SKDIGITS_TEST_POSTGRES_URL (bash .ci/postgres starts one and prints it)",
)
FIXED = {**TINY, "batch_size": 64}

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture(scope="module")
def data(small):
    X, y, _, _ = small
    return X[:400], y[:400]


def dropout_space(trial):
    return {"dropout": trial.suggest_float("dropout", 0.1, 0.5)}


def _finished(study):
    return study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED))


def test_tune_reports_every_epoch_and_best_pipeline_is_unfitted(data, tmp_path):
    study = tune(*data, n_trials=2, search_space=dropout_space, params={**FIXED, "epochs": 3}, random_state=0,
                 storage=tmp_path / "s.journal")
    assert len(_finished(study)) == 2
    assert sorted(study.best_trial.intermediate_values) == [1, 2, 3]  # epochs counted from 1
    pipe = best_pipeline(study)
    assert pipe.get_params()["cnn__dropout"] == study.best_params["dropout"]
    assert pipe.get_params()["cnn__filters"] == FIXED["filters"] and pipe.get_params()["cnn__random_state"] == 0
    with pytest.raises(NotFittedError):
        check_is_fitted(pipe)


def test_default_pruner_stops_a_hopeless_trial_at_its_first_rung(data, tmp_path):
    def good_then_hopeless(trial):
        return {"learning_rate": 3e-3 if trial.number == 0 else 1e-12}

    # no pruner given: the shipped default_pruner()
    study = tune(*data, n_trials=2, search_space=good_then_hopeless, params={**FIXED, "epochs": 4}, random_state=0,
                 storage=tmp_path / "s.journal")
    first, second = study.trials
    assert first.state == TrialState.COMPLETE and len(first.intermediate_values) == 4
    assert second.state == TrialState.PRUNED and len(second.intermediate_values) == 1


def test_each_trial_checkpoints_in_a_folder_of_its_own(data, tmp_path):
    # a pruned trial leaves its backup behind: in a shared folder the next trial would find it
    study = tune(*data, n_trials=2, search_space=dropout_space, pruner=optuna.pruners.ThresholdPruner(lower=1.01),
                 params={**FIXED, "epochs": 2, "checkpoint_dir": str(tmp_path / "ckpt")}, random_state=0,
                 storage=tmp_path / "s.journal")
    assert [trial.state for trial in study.trials] == [TrialState.PRUNED, TrialState.PRUNED]
    assert sorted(path.name for path in (tmp_path / "ckpt").iterdir()) == ["trial0", "trial1"]
    assert (tmp_path / "ckpt" / "trial0" / "backup").is_dir()


def test_default_search_space_builds_valid_pipelines():
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(20):
        params = default_search_space(study.ask())
        make_digit_pipeline(**params)  # raises on an unknown or misspelt parameter
    assert {"filters", "dense_units", "dropout", "learning_rate", "warmup", "batch_size", "epochs",
            "augment__rotation", "augment__zoom", "augment__shift"} <= set(params)


def test_tune_with_cv_reports_each_fold(data, tmp_path):
    study = tune(*data, n_trials=1, cv=2, search_space=dropout_space, params=FIXED, random_state=0,
                 storage=tmp_path / "s.journal")
    assert sorted(study.best_trial.intermediate_values) == [1, 2]  # folds counted from 1, like epochs


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n_jobs": 0}, r"The 'n_jobs' parameter of tune must be None, an int in the range \(-inf, -1\] or an int in the range \[1, inf\)"),
        ({"n_trials": 0}, r"The 'n_trials' parameter of tune must be None or an int in the range \[1, inf\)"),
        ({"preset": "fast"}, r"The 'preset' parameter of tune must be a str among"),
    ],
)
def test_tune_checks_its_arguments_before_any_trial(data, tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        tune(*data, storage=tmp_path / "s.journal", **kwargs)
    assert not (tmp_path / "s.journal").exists()


def test_negative_n_jobs_counts_like_joblib(data, tmp_path, monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    study = tune(*data, n_trials=1, n_jobs=-2, search_space=dropout_space, params=FIXED, random_state=0,
                 storage=tmp_path / "s.journal")
    assert len(_finished(study)) == 1  # -2 on 2 cores: one worker, which runs the trial


def test_rerunning_continues_the_study(data, tmp_path):
    kwargs = dict(search_space=dropout_space, params=FIXED, storage=tmp_path / "s.journal", study_name="resume")
    tune(*data, n_trials=2, **kwargs)
    study = tune(*data, n_trials=3, **kwargs)
    assert len(study.trials) == 3  # one more, not three more


def test_default_storage_is_a_journal_file_in_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    storage = make_storage()
    optuna.create_study(storage=storage, study_name="x")
    assert (tmp_path / DEFAULT_STORAGE).is_file()


def test_n_jobs_runs_trials_in_worker_processes(data, tmp_path):
    study = tune(*data, n_trials=4, n_jobs=2, search_space=dropout_space, params=FIXED, random_state=0,
                 storage=tmp_path / "s.journal")
    assert 4 <= len(_finished(study)) <= 5  # each worker may finish the trial it was running
    assert len({trial.user_attrs["worker"] for trial in study.trials}) == 2


def _start_workers(storage, study_name, n_trials, epochs, barrier, n_workers):
    barrier.mkdir(exist_ok=True)
    command = [sys.executable, str(WORKER), storage, study_name, str(n_trials), str(epochs), str(barrier), str(n_workers)]
    return [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(n_workers)]


def _postgres_url():
    if not POSTGRES_URL:
        pytest.fail("CI=true but SKDIGITS_TEST_POSTGRES_URL is not set: .ci/postgres could not start PostgreSQL")
    return POSTGRES_URL


def _storage_for(kind, tmp_path):
    return str(tmp_path / "study.journal") if kind == "journal" else _postgres_url()


@pytest.mark.parametrize("kind", ["journal", pytest.param("postgresql", marks=needs_postgres)])
def test_two_processes_share_one_study(tmp_path, kind):
    storage, study_name = _storage_for(kind, tmp_path), f"shared-{uuid.uuid4().hex[:8]}"
    workers = _start_workers(storage, study_name, 6, 2, tmp_path / "barrier", n_workers=2)
    for worker in workers:
        worker.communicate(timeout=300)
        assert worker.returncode == 0
    study = optuna.load_study(study_name=study_name, storage=make_storage(storage))
    assert 6 <= len(_finished(study)) <= 7
    assert len({trial.user_attrs["worker"] for trial in study.trials}) == 2  # both did part of the work


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgresql", marks=needs_postgres)])
def test_killed_workers_trial_is_failed_and_retried(tmp_path, kind, data):
    url = f"sqlite:///{tmp_path / 'study.db'}" if kind == "sqlite" else _postgres_url()
    study_name = f"heartbeat-{uuid.uuid4().hex[:8]}"
    (victim,) = _start_workers(url, study_name, 1, 500, tmp_path / "barrier", n_workers=1)
    try:
        assert victim.stdout.readline() == "trial 0\n"
        time.sleep(2)  # let it write a heartbeat mid-trial
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=30)
    finally:
        victim.kill()
    time.sleep(3)  # past the worker's grace period (2 s)
    storage = database_storage(url, heartbeat_interval=1, grace_period=2)
    study = tune(*data, n_trials=1, storage=storage, study_name=study_name, search_space=dropout_space, params=FIXED)
    killed, retry = study.trials
    assert killed.state == TrialState.FAIL
    assert retry.state == TrialState.COMPLETE and RetryHeartbeatStaleTrialCallback.retried_trial_number(retry) == 0
    assert retry.params == killed.params


def test_optuna_search_cv_tunes_the_pipeline(data):
    from optuna.distributions import FloatDistribution
    from optuna_integration import OptunaSearchCV

    search = OptunaSearchCV(
        make_digit_pipeline(**FIXED, random_state=0),
        {"cnn__dropout": FloatDistribution(0.1, 0.5), "augment__rotation": FloatDistribution(0.0, 15.0)},
        n_trials=2, cv=2, random_state=0,
    )
    search.fit(*data)
    assert set(search.best_params_) == {"cnn__dropout", "augment__rotation"}
    assert search.predict(data[0][:5]).shape == (5,)


def test_fixed_params_are_not_searched(data, tmp_path):
    study = tune(*data, n_trials=1, params={**FIXED, "epochs": 1}, random_state=0, storage=tmp_path / "s.journal")
    trial = study.trials[0]
    assert not {"epochs", "filters", "batch_size"} & set(trial.params)  # fixed, so never suggested
    assert {"dropout", "learning_rate", "augment__zoom"} <= set(trial.params)
    assert trial.user_attrs["pipeline_params"]["epochs"] == 1
