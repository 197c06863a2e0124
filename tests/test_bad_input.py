"""Every bad input of the reliability issue: one exception type, one message.

``CASES`` is the table published in ``docs/bad-input.md``; the last test keeps
the two in step. Each case is (what the user did, a call that does it,
exception type, a fragment of the message).
"""

import bz2
import gzip
import io
import lzma
import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError

from skdigits import ImageReshaper, PixelScaler, make_digit_pipeline
from skdigits.datasets import load_kaggle_test, load_kaggle_train
from skdigits.preprocessing import PIXEL_COLUMNS

from .conftest import TINY

DOCS = Path(__file__).resolve().parents[1] / "docs" / "bad-input.md"
HEADER = ",".join(PIXEL_COLUMNS)
ROW = ",".join(["0"] * 784)


def _csv(tmp_path, text, name="data.csv"):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def _frame(n=3, **columns):
    frame = pd.DataFrame(np.zeros((n, 784), dtype=int), columns=PIXEL_COLUMNS)
    return frame.assign(**columns)


def _frame_csv(tmp_path, frame):
    return _csv(tmp_path, frame.to_csv(index=False))


def _train_csv(tmp_path, labels):
    return _frame_csv(tmp_path, _frame(len(labels)).assign(label=labels)[["label", *PIXEL_COLUMNS]])


def _fit(X, y):
    return make_digit_pipeline(**TINY, random_state=0).fit(X, y)


_X = np.tile(np.arange(784) % 256, (20, 1)).astype(np.uint8)
_Y = np.arange(20) % 10

def _gzip_bomb(tmp_path):
    """A 150 MB CSV of blank images in a gzip file of about 150 KB: 1,000 times smaller."""
    rows = (HEADER + "\n").encode() + (ROW + "\n").encode() * 96_000
    return _csv(tmp_path, gzip.compress(rows, compresslevel=1), "test.csv.gz")


CASES = {
    "compressed file that unpacks over 100 times its size (a compression bomb)": (
        lambda tmp: load_kaggle_test(_gzip_bomb(tmp)),
        ValueError,
        "times its size of",
    ),
    "empty file": (
        lambda tmp: load_kaggle_test(_csv(tmp, "")),
        ValueError,
        "is empty; expected a header line and one row per image",
    ),
    "header only": (
        lambda tmp: load_kaggle_test(_csv(tmp, HEADER + "\n")),
        ValueError,
        "has no data rows; expected a header line and one row per image",
    ),
    "missing header": (
        lambda tmp: load_kaggle_test(_csv(tmp, "\n".join([ROW] * 3))),
        ValueError,
        "expected pixel0..pixel783; is the header line missing?",
    ),
    "`label` missing in a train file": (
        lambda tmp: load_kaggle_train(_frame_csv(tmp, _frame())),
        ValueError,
        "has no 'label' column, expected the Kaggle training format label,pixel0..pixel783; "
        "for test.csv use load_kaggle_test",
    ),
    "`label` present in a test file": (
        lambda tmp: load_kaggle_test(_train_csv(tmp, [1, 2, 3])),
        ValueError,
        "has a 'label' column, expected only pixel0..pixel783 in a test file; for labelled data use load_kaggle_train",
    ),
    "783 pixel columns": (
        lambda tmp: load_kaggle_test(_frame_csv(tmp, _frame().drop(columns="pixel783"))),
        ValueError,
        "found 783 pixel columns, expected 784 (pixel0..pixel783); is this a 28x28 Kaggle digits file?",
    ),
    "785 pixel columns": (
        lambda tmp: load_kaggle_test(_frame_csv(tmp, _frame(pixel784=0))),
        ValueError,
        "found 785 pixel columns, expected 784 (pixel0..pixel783)",
    ),
    "785 columns passed to the pipeline": (
        lambda tmp: _fit(np.c_[_Y, _X], _Y),
        ValueError,
        "X has 785 columns, expected 784 pixel columns (pixel0..pixel783); does it still contain the 'label' column?",
    ),
    "non-numeric cells": (
        lambda tmp: load_kaggle_test(_frame_csv(tmp, _frame(pixel5=["0", "x", "0"]))),
        ValueError,
        "has 1 non-numeric column(s) (pixel5), expected numeric pixel values 0..255",
    ),
    "NaN or empty cells": (
        lambda tmp: load_kaggle_test(_csv(tmp, HEADER + "\n" + ROW[:-1] + "\n")),
        ValueError,
        "has 1 NaN or infinite value(s) (first at row 0, column 783), expected pixel intensities 0..255; "
        "fill or drop the incomplete rows first",
    ),
    "negative values": (
        lambda tmp: load_kaggle_test(_frame_csv(tmp, _frame(pixel3=[0, -1, 0]))),
        ValueError,
        "Negative values in data:",
    ),
    "values above 255": (
        lambda tmp: load_kaggle_test(_frame_csv(tmp, _frame(pixel3=[0, 256, 0]))),
        ValueError,
        "has 1 value outside 0..255 (found 256 at row 1, column 3); expected pixel intensities 0..255. "
        "Clip or rescale the data before passing it",
    ),
    "pixels already scaled to 0..1": (
        lambda tmp: _fit(_X / 255.0, _Y),
        ValueError,
        "looks already scaled to 0..1 (fractional values, maximum 1); expected raw pixel intensities 0..255. "
        "Pass X * 255, or drop the PixelScaler step",
    ),
    "labels outside 0..9": (
        lambda tmp: load_kaggle_train(_train_csv(tmp, [1, 10, 2])),
        ValueError,
        "1 label(s) outside 0..9 (first: 10 at row 1); expected digit labels 0..9",
    ),
    "labels that are not integers (file)": (
        lambda tmp: load_kaggle_train(_train_csv(tmp, [1.5, 2, 3])),
        ValueError,
        "labels must be integers 0..9, found values such as [1.5, 2.0, 3.0]",
    ),
    "labels that are not classes (fit)": (
        lambda tmp: _fit(_X, _Y + 0.5),
        ValueError,
        "Unknown label type: continuous",
    ),
    "a single class in y": (
        lambda tmp: _fit(_X, np.full(20, 3)),
        ValueError,
        "y holds 1 class (3); expected at least 2 classes to train a classifier. "
        "Check that the labels come from the right column or file",
    ),
    "duplicated column names": (
        lambda tmp: load_kaggle_test(_csv(tmp, HEADER.replace("pixel5,", "pixel4,") + "\n" + ROW + "\n")),
        ValueError,
        "duplicated column name(s) ['pixel4'], expected each of pixel0..pixel783 once; fix the header line",
    ),
    "shuffled column names": (
        lambda tmp: load_kaggle_test(_frame_csv(tmp, _frame()[PIXEL_COLUMNS[::-1]])),
        ValueError,
        "pixel columns are out of order, expected pixel0..pixel783; reorder them with frame[PIXEL_COLUMNS]",
    ),
    "a file that is not CSV": (
        lambda tmp: load_kaggle_test(_csv(tmp, bytes(range(256)) * 8)),
        ValueError,
        "could not be read as CSV",
    ),
    "a file that does not exist": (
        lambda tmp: load_kaggle_test(tmp / "nope.csv"),
        FileNotFoundError,
        "nope.csv does not exist; check the path to the CSV file",
    ),
    "X and y of different lengths": (
        lambda tmp: _fit(_X, _Y[:15]),
        ValueError,
        "X has 20 images but y has 15 labels; expected one label per image. Pass X and y taken from the same rows",
    ),
    "images of another shape to ImageReshaper": (
        lambda tmp: ImageReshaper().fit(np.zeros((2, 100), dtype=np.float32)),
        ValueError,
        "X has 100 columns, expected 28 x 28 x 1 pixels per image; pass flattened 28x28 images or set image_shape",
    ),
    "`predict` before `fit`": (
        lambda tmp: make_digit_pipeline().predict(_X),
        NotFittedError,
        "is not fitted yet",
    ),
    "`transform` before `fit`": (
        lambda tmp: PixelScaler().transform(_X),
        NotFittedError,
        "This PixelScaler instance is not fitted yet. Call 'fit' with appropriate arguments",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_input_raises_documented_error(case, tmp_path):
    call, error, message = CASES[case]
    with pytest.raises(error, match=re.escape(message)):
        call(tmp_path)


def _compress(kind, data):
    if kind == "zip":
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("test.csv", data)
        return buffer.getvalue()
    return {"gzip": gzip.compress, "bz2": bz2.compress, "xz": lzma.compress}[kind](data)


@pytest.mark.parametrize("kind", ["gzip", "zip", "bz2", "xz"])
@pytest.mark.parametrize("name", ["test.csv", "test.csv.download"])
def test_compressed_csv_is_read_whatever_its_extension(tmp_path, kind, name):
    path = _csv(tmp_path, _compress(kind, (HEADER + "\n" + ROW + "\n").encode()), name)
    assert load_kaggle_test(path).shape == (1, 784)


def _documented_rows():
    rows = {}
    for line in DOCS.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split(" | ")]
        if len(cells) == 3 and cells[1].startswith("`"):
            rows[cells[0]] = (cells[1].strip("`"), cells[2].replace("\\|", "|"))
    return rows


def test_docs_table_lists_every_case_with_its_message():
    documented = _documented_rows()
    expected = {case: (error.__name__, message) for case, (_, error, message) in CASES.items()}
    assert documented == expected, "docs/bad-input.md is out of step with tests/test_bad_input.py::CASES"
