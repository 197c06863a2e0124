"""A worker process for the multi-process tuning tests (run as a script).

usage: python tune_worker.py STORAGE STUDY N_TRIALS EPOCHS BARRIER_DIR N_WORKERS

Waits until N_WORKERS workers have imported skdigits (files in BARRIER_DIR),
so that they start trials together, then runs skdigits.tuning.tune. Prints
"trial N" as each trial starts.
"""

import sys
import time
from pathlib import Path

import optuna

from skdigits.datasets import load_sample
from skdigits.tuning import database_storage, tune


def space(trial):
    print(f"trial {trial.number}", flush=True)
    return {"dropout": trial.suggest_float("dropout", 0.1, 0.5)}


def main(storage, study_name, n_trials, epochs, barrier, n_workers):
    barrier = Path(barrier)
    (barrier / f"ready-{id(barrier)}-{time.monotonic_ns()}").touch()
    while len(list(barrier.iterdir())) < int(n_workers):
        time.sleep(0.05)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if "://" in storage:  # a database: heartbeat every second, so a killed worker is noticed quickly
        storage = database_storage(storage, heartbeat_interval=1, grace_period=2)
    X, y = load_sample()
    tune(
        X[:400], y[:400], n_trials=int(n_trials), storage=storage, study_name=study_name, search_space=space,
        params={"filters": (4,), "dense_units": (8,), "epochs": int(epochs), "batch_size": 64},
    )


if __name__ == "__main__":
    main(*sys.argv[1:])
