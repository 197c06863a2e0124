import gzip
import shutil

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
    np.testing.assert_array_equal(X, sample[0][:50])
    np.testing.assert_array_equal(y, sample[1][:50])
    np.testing.assert_array_equal(load_kaggle_test(test), sample[0][50:80])


def test_load_kaggle_accepts_gzip(kaggle_files, tmp_path):
    train, _ = kaggle_files
    with open(train, "rb") as source, gzip.open(tmp_path / "train.csv.gz", "wb") as target:
        shutil.copyfileobj(source, target)
    X, y = load_kaggle_train(tmp_path / "train.csv.gz")
    assert X.shape == (50, 784)


def _write(tmp_path, frame, name="data.csv"):
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def _pixels(n=3, n_columns=784):
    return pd.DataFrame(np.zeros((n, n_columns), dtype=int), columns=[f"pixel{i}" for i in range(n_columns)])


def test_train_file_without_label_column(tmp_path):
    with pytest.raises(ValueError, match="has no 'label' column, expected the Kaggle training format.*use load_kaggle_test"):
        load_kaggle_train(_write(tmp_path, _pixels()))


def test_test_file_with_label_column(tmp_path):
    frame = _pixels().assign(label=1)
    with pytest.raises(ValueError, match="has a 'label' column, expected only pixel0..pixel783 in a test file"):
        load_kaggle_test(_write(tmp_path, frame))


@pytest.mark.parametrize("n_columns", [783, 785])
def test_wrong_number_of_pixel_columns(tmp_path, n_columns):
    with pytest.raises(ValueError, match=rf"found {n_columns} pixel columns, expected 784 \(pixel0..pixel783\)"):
        load_kaggle_test(_write(tmp_path, _pixels(n_columns=n_columns)))


def test_shuffled_columns(tmp_path):
    frame = _pixels()[list(reversed(PIXEL_COLUMNS))]
    with pytest.raises(ValueError, match="pixel columns are out of order"):
        load_kaggle_test(_write(tmp_path, frame))


def test_missing_header(tmp_path):
    path = tmp_path / "test.csv"
    path.write_text("\n".join([",".join(["0"] * 784)] * 3))
    with pytest.raises(ValueError, match="unexpected column names .* is the header line missing"):
        load_kaggle_test(path)


def test_non_numeric_cells(tmp_path):
    frame = _pixels()
    frame["pixel5"] = frame["pixel5"].astype(object)
    frame.loc[1, "pixel5"] = "x"
    with pytest.raises(ValueError, match=r"non-numeric column\(s\) \(pixel5\)"):
        load_kaggle_test(_write(tmp_path, frame))


def test_empty_cells(tmp_path):
    frame = _pixels().astype(float)
    frame.loc[2, "pixel9"] = np.nan
    with pytest.raises(ValueError, match=r"NaN or infinite value\(s\) \(first at row 2, column 9\)"):
        load_kaggle_test(_write(tmp_path, frame))


def test_values_out_of_range(tmp_path):
    frame = _pixels()
    frame.loc[0, "pixel1"] = 256
    with pytest.raises(ValueError, match=r"test.csv has 1 value outside 0..255 \(found 256 at row 0, column 1\)"):
        load_kaggle_test(_write(tmp_path, frame, "test.csv"))


def test_labels_outside_0_9(tmp_path):
    frame = _pixels()
    frame.insert(0, "label", [1, 10, 2])
    with pytest.raises(ValueError, match=r"1 label\(s\) outside 0..9 \(first: 10 at row 1\)"):
        load_kaggle_train(_write(tmp_path, frame))


def test_header_only_file(tmp_path):
    path = tmp_path / "test.csv"
    path.write_text(",".join(PIXEL_COLUMNS) + "\n")
    with pytest.raises(ValueError, match="has no data rows; expected a header line and one row per image"):
        load_kaggle_test(path)


def test_empty_file(tmp_path):
    path = tmp_path / "test.csv"
    path.write_bytes(b"")
    with pytest.raises(ValueError, match="could not be read as CSV .*expected a comma-separated Kaggle digits file"):
        load_kaggle_test(path)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.csv does not exist"):
        load_kaggle_test(tmp_path / "nope.csv")


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
