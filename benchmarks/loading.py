"""Time the Kaggle CSV loaders on a Kaggle-sized train.csv (42,000 rows, ~73 MB).

Writes the first 42,000 shared MNIST images as train.csv (and the next 28,000
as test.csv) into a temporary folder, then times the loaders.

    python benchmarks/loading.py
"""

import tempfile
import time
from pathlib import Path

import pandas as pd
from _data import load_mnist

from skdigits.datasets import load_kaggle_test, load_kaggle_train
from skdigits.preprocessing import PIXEL_COLUMNS


def write_kaggle_files(folder):
    X, y = load_mnist()
    train = pd.DataFrame(X[:42_000], columns=PIXEL_COLUMNS)
    train.insert(0, "label", y[:42_000])
    train.to_csv(folder / "train.csv", index=False)
    pd.DataFrame(X[-28_000:], columns=PIXEL_COLUMNS).to_csv(folder / "test.csv", index=False)
    return folder / "train.csv", folder / "test.csv"


def best_of(function, repeat=3):
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return min(times)


def main():
    with tempfile.TemporaryDirectory() as folder:
        train, test = write_kaggle_files(Path(folder))
        size = train.stat().st_size / 1e6
        print(f"train.csv: {size:.0f} MB, load_kaggle_train best of 3: {best_of(lambda: load_kaggle_train(train)):.2f} s")
        print(f"test.csv: {test.stat().st_size / 1e6:.0f} MB, load_kaggle_test best of 3: {best_of(lambda: load_kaggle_test(test)):.2f} s")


if __name__ == "__main__":
    main()
