"""Property-based tests: arbitrary bytes and arrays raise only documented errors."""

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from skdigits import ImageReshaper, PixelScaler
from skdigits.datasets import load_idx, load_kaggle_test, load_kaggle_train
from skdigits.preprocessing import PIXEL_COLUMNS, check_pixels

HEADER = ",".join(PIXEL_COLUMNS).encode()
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# arbitrary bytes, and bytes that start like a Kaggle file so the parser goes further
file_contents = st.one_of(
    st.binary(max_size=4000),
    st.binary(max_size=4000).map(lambda tail: HEADER + b"\n" + tail),
    st.lists(st.sampled_from([b"0", b"255", b"-1", b"1e3", b"nan", b"", b"x", b"0.5"]), min_size=784, max_size=784).map(
        lambda cells: HEADER + b"\n" + b",".join(cells) + b"\n"
    ),
)

_ROW = b",".join([b"0"] * 783 + [b"255"])
#: One valid file per loader: the property tests must load these, not merely survive them.
VALID_FILES = {
    "load_kaggle_test": HEADER + b"\n" + _ROW + b"\n",
    "load_kaggle_train": b"label," + HEADER + b"\n3," + _ROW + b"\n",
    "load_idx": np.array([0x803, 2, 28, 28], dtype=">i4").tobytes() + bytes(range(256)) * 6 + bytes(32),
}


@FAST
@given(content=file_contents)
@example(content=b"PK\x03\x04")  # a truncated zip once escaped as zipfile.BadZipFile
@example(content=b"\xfd7zXZ\x00")
@example(content=b"\x1f\x8b")
@example(content=VALID_FILES["load_kaggle_test"])
@example(content=VALID_FILES["load_kaggle_train"])
@example(content=VALID_FILES["load_idx"])
@pytest.mark.parametrize("loader", [load_kaggle_test, load_kaggle_train, load_idx])
def test_loaders_raise_only_value_error_on_arbitrary_bytes(tmp_path, loader, content):
    path = tmp_path / "data.csv"
    path.write_bytes(content)
    if content == VALID_FILES[loader.__name__]:
        result = loader(path)  # must succeed: a loader that refused everything would pass the rest
    else:
        try:
            result = loader(path)
        except ValueError:
            return
    X = result[0] if isinstance(result, tuple) else result
    assert X.ndim == 2 and X.dtype in (np.uint8, np.float32)


arrays = hnp.arrays(
    dtype=st.sampled_from([np.uint8, np.int64, np.float32, np.float64, np.bool_]),
    shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=800),
)
finite_or_not = hnp.arrays(
    dtype=st.sampled_from([np.float32, np.float64]),
    shape=st.tuples(st.integers(0, 3), st.sampled_from([783, 784, 785])),
    elements=st.floats(allow_nan=True, allow_infinity=True, width=32),
)


#: Valid pixels, which the property tests below must accept.
VALID_PIXELS = np.tile(np.arange(784) % 256, (3, 1)).astype(np.float32)


@FAST
@given(X=st.one_of(arrays, finite_or_not))
@example(X=VALID_PIXELS)
@example(X=VALID_PIXELS.astype(np.uint8))
@pytest.mark.parametrize("transformer", [PixelScaler(), ImageReshaper()], ids=["scaler", "reshaper"])
def test_transformers_raise_only_value_error_on_arbitrary_arrays(transformer, X):
    if X.shape == VALID_PIXELS.shape and np.array_equal(X, VALID_PIXELS):
        Xt = transformer.fit_transform(X)  # must succeed
    else:
        try:
            Xt = transformer.fit_transform(X)
        except ValueError:
            return
    assert len(Xt) == len(X)


@FAST
@given(X=finite_or_not)
@example(X=VALID_PIXELS)
def test_check_pixels_accepts_only_valid_pixels(X):
    if X.shape == VALID_PIXELS.shape and np.array_equal(X, VALID_PIXELS):
        checked = check_pixels(X)  # must succeed
    else:
        try:
            checked = check_pixels(X)
        except ValueError:
            return
    assert checked.shape[1] == 784 and np.all((checked >= 0) & (checked <= 255))
