"""Cross-validation in parallel: joblib worker processes and a Dask cluster."""

import distributed
import joblib
import numpy as np
import pytest
from sklearn.model_selection import StratifiedKFold, cross_val_score

from skdigits import make_digit_pipeline

from .conftest import TINY


def _tensorflow_threads():
    import tensorflow as tf

    import skdigits  # noqa: F401  (sizes TensorFlow's pools on import)

    return tf.config.threading.get_intra_op_parallelism_threads()


def test_joblib_workers_give_tensorflow_their_share_of_the_cores():
    n_jobs = 2
    expected = max(joblib.cpu_count() // n_jobs, 1)
    threads = joblib.Parallel(n_jobs=n_jobs)(joblib.delayed(_tensorflow_threads)() for _ in range(2))
    assert threads == [expected, expected]


def test_cross_val_score_in_two_processes_matches_one(small):
    X, y, _, _ = small
    pipe = make_digit_pipeline(**TINY, random_state=0)
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    serial = cross_val_score(pipe, X, y, cv=cv, n_jobs=1)
    parallel = cross_val_score(pipe, X, y, cv=cv, n_jobs=2)
    # same seeds, other thread count: float sums may round differently, never by much
    np.testing.assert_allclose(parallel, serial, atol=0.05)


def test_cross_val_score_on_a_dask_cluster(small):
    X, y, _, _ = small
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client, joblib.parallel_backend("dask"):
            scores = cross_val_score(make_digit_pipeline(**TINY, random_state=0), X, y, cv=2, n_jobs=-1)
            threads = client.run(_tensorflow_threads)
    assert scores.shape == (2,) and np.all(scores > 0.1)
    assert sorted(threads.values()) == [1, 1]  # dask sets OMP_NUM_THREADS=1 in its worker processes
