import os
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest

from skdigits.datasets import load_sample
from skdigits.preprocessing import PIXEL_COLUMNS

# the shared MNIST IDX files; SKDIGITS_MNIST_DIR points elsewhere
MNIST = Path(os.environ.get("SKDIGITS_MNIST_DIR", Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"))

#: A network small enough to fit in about a second; the tests check behaviour, not accuracy.
TINY = {"filters": (4,), "dense_units": (16,), "epochs": 1, "batch_size": 128, "min_steps": 0}


class InterruptAfter(keras.callbacks.Callback):
    """Raise KeyboardInterrupt at the end of an epoch, as Ctrl-C would."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt


@pytest.fixture(scope="session")
def sample():
    return load_sample()


@pytest.fixture(scope="session")
def small(sample):
    """600 sample images, 60 per class, and 200 more to predict."""
    X, y = sample
    order = np.argsort(y[:2000], kind="stable")
    train = np.concatenate([order[y[order] == digit][:60] for digit in range(10)])
    return X[train], y[train], X[3000:3200], y[3000:3200]


@pytest.fixture(scope="session")
def sample_model(sample):
    """The default pipeline fitted on the first 4,000 sample images (about 0.96 on the rest)."""
    from skdigits import make_digit_pipeline

    X, y = sample
    return make_digit_pipeline(random_state=0).fit(X[:4000], y[:4000])


@pytest.fixture
def kaggle_files(tmp_path, sample):
    """A small Kaggle-format train.csv (100 rows) and test.csv (30 rows)."""
    X, y = sample
    train = pd.DataFrame(X[:100], columns=PIXEL_COLUMNS)
    train.insert(0, "label", y[:100])
    train.to_csv(tmp_path / "train.csv", index=False)
    pd.DataFrame(X[100:130], columns=PIXEL_COLUMNS).to_csv(tmp_path / "test.csv", index=False)
    return tmp_path / "train.csv", tmp_path / "test.csv"


@pytest.fixture(scope="session")
def mnist_dir():
    if not (MNIST / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"shared MNIST IDX files not found in {MNIST}")
    return MNIST


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", help="also run the tests marked slow (minutes each)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow: pass --run-slow to run it")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
