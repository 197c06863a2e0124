"""Model selection at scale: cross-validation speed-up with n_jobs, and what pruning saves.

    python benchmarks/model_selection.py cv        # cross_val_score, n_jobs=1 vs 2
    python benchmarks/model_selection.py pruning   # tune() with and without pruning

``cv``: ``cross_val_score(make_digit_pipeline(random_state=0), X, y, cv=4)`` on
the first 16,000 shared MNIST images, each setting in its own process so none
warms another (the worker pool is started before the clock, as loky reuses it
for later calls; starting it costs a few seconds of TensorFlow imports). It
first measures the machine's own ceiling: float32 matrix products in one
process alone, then in two processes at once: n_jobs=1; n_jobs=2 with skdigits' thread share (each loky
worker gives TensorFlow cpu_count // 2 threads); n_jobs=2 with every worker
forced to all cores (SKDIGITS_TF_THREADS=<cpu count>, what TensorFlow does
on its own). Prints wall time, fold scores and the speed-up.

``pruning``: two studies of the same size and sampler seed on the first 6,000
images (80 % fit, 20 % held out), the default search space and the default
pruner (successive halving) against ``NopPruner``. Prints the epochs each
study trained, the saving, and the best held-out accuracy of each.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _data import load_mnist

HERE = Path(__file__).resolve().parent
N_CV, N_TUNE, N_TRIALS, FOLDS = 16_000, 6_000, 12, 4


def _start_worker():
    import skdigits  # noqa: F401  (TensorFlow and its thread pools come up once per worker)


def cv_run(n_jobs):
    from joblib import Parallel, delayed
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    from skdigits import make_digit_pipeline

    X, y = load_mnist()
    if n_jobs > 1:  # time the folds, not the one-off start of the worker pool (loky reuses it)
        Parallel(n_jobs=n_jobs)(delayed(_start_worker)() for _ in range(n_jobs))
    folds = StratifiedKFold(FOLDS, shuffle=True, random_state=0)
    started = time.perf_counter()
    scores = cross_val_score(make_digit_pipeline(random_state=0), X[:N_CV], y[:N_CV], cv=folds, n_jobs=n_jobs)
    return {"wall_s": time.perf_counter() - started, "scores": [round(float(s), 4) for s in scores]}


def pruning_run(pruned):
    import optuna

    from skdigits.tuning import tune

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    X, y = load_mnist()
    pruner = None if pruned else optuna.pruners.NopPruner()
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        study = tune(X[:N_TUNE], y[:N_TUNE], n_trials=N_TRIALS, random_state=0, pruner=pruner,
                     storage=Path(folder) / "study.journal")
        wall = time.perf_counter() - started
        return _study_figures(study, wall)


def _study_figures(study, wall):
    return {
        "wall_s": wall,
        "epochs": sum(len(trial.intermediate_values) for trial in study.trials),
        "planned_epochs": sum(trial.user_attrs["pipeline_params"]["epochs"] for trial in study.trials),
        "pruned": sum(trial.state.name == "PRUNED" for trial in study.trials),
        "best": study.best_value,
        "best_trial": study.best_trial.number,
    }


def in_subprocess(task, *args, env=None):
    command = [sys.executable, __file__, "--child", task, *map(str, args)]
    result = subprocess.run(command, cwd=HERE, capture_output=True, text=True, env={**os.environ, **(env or {})})
    if result.returncode != 0:
        sys.exit(f"{task} {args} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def matmul_gflops(seconds=3.0):
    """float32 1024x1024 matrix products on one thread, for `seconds`."""
    import numpy as np
    from threadpoolctl import threadpool_limits

    a = np.random.default_rng(0).random((1024, 1024), dtype=np.float32)
    with threadpool_limits(1):
        a @ a
        count, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            a @ a
            count += 1
    return 2 * 1024**3 * count / (time.perf_counter() - started) / 1e9


def report_parallel_capacity():
    """How much two single-threaded processes get done together, against one alone."""
    alone = in_subprocess("matmul", 0)["gflops"]
    command = [sys.executable, __file__, "--child", "matmul", "0"]
    pair = [subprocess.Popen(command, cwd=HERE, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    together = [json.loads(p.communicate()[0].strip().splitlines()[-1])["gflops"] for p in pair]
    print(f"machine: one thread alone {alone:.0f} GFLOP/s; two processes at once {together[0]:.0f} + "
          f"{together[1]:.0f} GFLOP/s = {sum(together) / alone:.2f}x one alone (the ceiling of any n_jobs=2 speed-up)")


def report_cv():
    cores = os.cpu_count()
    report_parallel_capacity()
    rows = [
        ("n_jobs=1", in_subprocess("cv", 1)),
        ("n_jobs=2, threads shared (default)", in_subprocess("cv", 2)),
        (f"n_jobs=2, {cores} TF threads per worker", in_subprocess("cv", 2, env={"SKDIGITS_TF_THREADS": str(cores)})),
    ]
    print(f"cross_val_score, {FOLDS} folds of the first {N_CV} images, default pipeline, {cores} cores")
    for name, row in rows:
        speedup = rows[0][1]["wall_s"] / row["wall_s"]
        print(f"  {name:38} {row['wall_s']:7.1f} s  speed-up {speedup:4.2f}  scores {row['scores']}")


def report_pruning():
    rows = [("pruned (default pruner)", in_subprocess("pruning", 1)), ("unpruned (NopPruner)", in_subprocess("pruning", 0))]
    print(f"tune(): {N_TRIALS} trials, default search space, first {N_TUNE} images (20 % held out), seed 0")
    for name, row in rows:
        print(f"  {name:24} epochs {row['epochs']:3d} of {row['planned_epochs']:3d} planned, {row['pruned']:2d} pruned, "
              f"{row['wall_s']:6.0f} s, best {row['best']:.4f} (trial {row['best_trial']})")
    saving = 1 - rows[0][1]["epochs"] / rows[1][1]["epochs"]
    print(f"  epochs saved by pruning: {100 * saving:.0f} %; best accuracy difference "
          f"{100 * (rows[0][1]['best'] - rows[1][1]['best']):+.2f} pp")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("what", nargs="?", choices=["cv", "pruning", "all"], default="all")
    args = parser.parse_args()
    if args.child:
        task, value = args.child[0], int(args.child[1])
        run = {"cv": cv_run, "pruning": lambda pruned: pruning_run(bool(pruned)), "matmul": lambda _: {"gflops": matmul_gflops()}}
        print(json.dumps(run[task](value)))
        return
    if args.what in ("cv", "all"):
        report_cv()
    if args.what in ("pruning", "all"):
        report_pruning()


if __name__ == "__main__":
    main()
