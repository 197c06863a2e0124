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


@FAST
@given(content=file_contents)
@example(content=b"PK\x03\x04")  # a truncated zip once escaped as zipfile.BadZipFile
@example(content=b"\xfd7zXZ\x00")
@example(content=b"\x1f\x8b")
@pytest.mark.parametrize("loader", [load_kaggle_test, load_kaggle_train, load_idx])
def test_loaders_raise_only_value_error_on_arbitrary_bytes(tmp_path, loader, content):
    path = tmp_path / "data.csv"
    path.write_bytes(content)
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


@FAST
@given(X=st.one_of(arrays, finite_or_not))
@pytest.mark.parametrize("transformer", [PixelScaler(), ImageReshaper()], ids=["scaler", "reshaper"])
def test_transformers_raise_only_value_error_on_arbitrary_arrays(transformer, X):
    try:
        Xt = transformer.fit_transform(X)
    except ValueError:
        return
    assert len(Xt) == len(X)


@FAST
@given(X=finite_or_not)
def test_check_pixels_accepts_only_valid_pixels(X):
    try:
        checked = check_pixels(X)
    except ValueError:
        return
    assert checked.shape[1] == 784 and np.all((checked >= 0) & (checked <= 255))
