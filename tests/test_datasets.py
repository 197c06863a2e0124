import numpy as np
import pandas as pd
import pytest

from skdigits.datasets import load_idx, load_kaggle_test, load_kaggle_train, load_sample
from skdigits.preprocessing import PIXEL_COLUMNS


def test_load_sample_is_real_balanced_mnist():
    X, y = load_sample()
    assert X.shape == (5000, 784) and X.dtype == np.uint8
    assert y.shape == (5000,) and y.dtype == np.int64
    assert np.bincount(y).min() > 400
    assert X.max() == 255 and 0.1 < (X > 0).mean() < 0.3  # strokes on a black background


def test_load_kaggle_train_and_test_round_trip(kaggle_files, sample):
    train, test = kaggle_files
    X, y = load_kaggle_train(train)
    np.testing.assert_array_equal(X, sample[0][:100])
    np.testing.assert_array_equal(y, sample[1][:100])
    np.testing.assert_array_equal(load_kaggle_test(test), sample[0][100:130])


def test_load_idx_reads_shared_mnist(mnist_dir):
    X, y = load_idx(mnist_dir / "train-images-idx3-ubyte.gz", mnist_dir / "train-labels-idx1-ubyte.gz")
    assert X.shape == (60000, 784) and y.shape == (60000,)
    np.testing.assert_array_equal(X[:5000], load_sample()[0])


def test_load_idx_rejects_a_non_idx_file(tmp_path):
    path = tmp_path / "images.idx"
    path.write_bytes(b"hello world")
    with pytest.raises(ValueError, match="is not an unsigned-byte IDX file"):
        load_idx(path)


def test_load_idx_rejects_truncated_file(tmp_path):
    path = tmp_path / "images.idx"
    path.write_bytes(np.array([0x803, 2, 28, 28], dtype=">i4").tobytes() + bytes(100))
    with pytest.raises(ValueError, match=r"holds 100 bytes of data, expected 1568 .*truncated"):
        load_idx(path)


def test_fractional_intensities_are_kept_as_float32(tmp_path):
    path = tmp_path / "test.csv"
    pd.DataFrame(np.full((2, 784), 12.5), columns=PIXEL_COLUMNS).to_csv(path, index=False)
    X = load_kaggle_test(path)
    assert X.dtype == np.float32 and X[0, 0] == 12.5
