"""Loaders for the Kaggle CSV files, MNIST IDX files and the shipped sample."""

import bz2
import contextlib
import gzip
import io
import lzma
import os
import zipfile
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow

from .preprocessing import N_PIXELS, PIXEL_COLUMNS, check_pixels

__all__ = [
    "ImageTooLargeError", "load_idx", "load_images", "load_kaggle_test", "load_kaggle_train", "load_sample", "read_image",
]


def load_kaggle_train(path) -> tuple[np.ndarray, np.ndarray]:
    """Load a Kaggle "Digit Recognizer" training file (``label,pixel0..pixel783``).

    Parameters
    ----------
    path : str or path-like
        CSV file, plain or gzip/zip/bz2/xz compressed (detected from
        its first bytes, whatever the extension).

    Returns
    -------
    X : ndarray of shape (n_samples, 784), dtype uint8
        Pixel intensities, one image per row (float32 if the file holds
        fractional intensities).
    y : ndarray of shape (n_samples,), dtype int64
        Digit labels 0..9.

    Raises
    ------
    FileNotFoundError
        If `path` does not exist.
    ValueError
        If the file is not a readable CSV, has no rows, its header is not
        ``label,pixel0..pixel783``, or a cell is not a valid pixel or label;
        the message names the problem and the fix.

    Examples
    --------
    >>> import numpy as np, pandas as pd, tempfile, os
    >>> from skdigits.datasets import load_kaggle_train
    >>> frame = pd.DataFrame(np.zeros((2, 785), dtype=int),
    ...                      columns=["label"] + [f"pixel{i}" for i in range(784)])
    >>> path = os.path.join(tempfile.mkdtemp(), "train.csv")
    >>> frame.to_csv(path, index=False)
    >>> X, y = load_kaggle_train(path)
    >>> X.shape, y.shape
    ((2, 784), (2,))
    """
    frame = _read_csv(path)
    if "label" not in frame.columns:
        raise ValueError(
            f"{path} has no 'label' column, expected the Kaggle training format "
            "label,pixel0..pixel783; for test.csv use load_kaggle_test."
        )
    y = _check_labels(frame.pop("label"), path)
    return _pixels(frame, path), y


def load_kaggle_test(path) -> np.ndarray:
    """Load a Kaggle "Digit Recognizer" test file (``pixel0..pixel783``).

    Parameters
    ----------
    path : str or path-like
        CSV file, plain or gzip/zip/bz2/xz compressed (detected from
        its first bytes, whatever the extension).

    Returns
    -------
    X : ndarray of shape (n_samples, 784), dtype uint8
        Pixel intensities, one image per row (float32 if the file holds
        fractional intensities).

    Raises
    ------
    FileNotFoundError
        If `path` does not exist.
    ValueError
        If the file is not a readable CSV, has no rows, its header is not
        ``pixel0..pixel783`` (a ``label`` column included), or a cell is not
        a valid pixel; the message names the problem and the fix.

    Examples
    --------
    >>> import numpy as np, pandas as pd, tempfile, os
    >>> from skdigits.datasets import load_kaggle_test
    >>> frame = pd.DataFrame(np.zeros((3, 784), dtype=int),
    ...                      columns=[f"pixel{i}" for i in range(784)])
    >>> path = os.path.join(tempfile.mkdtemp(), "test.csv")
    >>> frame.to_csv(path, index=False)
    >>> load_kaggle_test(path).shape
    (3, 784)
    """
    frame = _read_csv(path)
    if "label" in frame.columns:
        raise ValueError(
            f"{path} has a 'label' column, expected only pixel0..pixel783 in a test file; "
            "for labelled data use load_kaggle_train."
        )
    return _pixels(frame, path)


def load_idx(images_path, labels_path=None):
    """Load MNIST images (and labels) from IDX files, gzip-compressed or not.

    Parameters
    ----------
    images_path : str or path-like
        IDX3 file of images, e.g. ``train-images-idx3-ubyte.gz``.
    labels_path : str or path-like, optional
        IDX1 file of labels, e.g. ``train-labels-idx1-ubyte.gz``.

    Returns
    -------
    X : ndarray of shape (n_samples, 784), dtype uint8
        Pixel intensities, one image per row.
    y : ndarray of shape (n_samples,), dtype int64
        Labels; returned only when `labels_path` is given.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from skdigits.datasets import load_idx
    >>> path = os.path.join(tempfile.mkdtemp(), "images-idx3-ubyte")
    >>> header = np.array([0x803, 2, 28, 28], dtype=">i4").tobytes()
    >>> _ = open(path, "wb").write(header + bytes(2 * 784))
    >>> load_idx(path).shape
    (2, 784)
    """
    images = _read_idx(images_path)
    if images.ndim != 3:
        raise ValueError(f"{images_path} holds an array of shape {images.shape}, expected images (n, rows, cols).")
    X = images.reshape(len(images), -1)
    if labels_path is None:
        return X
    y = _read_idx(labels_path).astype(np.int64)
    if y.shape != (len(X),):
        raise ValueError(
            f"{labels_path} holds {y.shape} labels for {len(X)} images in {images_path}; "
            "pass the labels file that belongs to the images file."
        )
    return X, y


def load_sample() -> tuple[np.ndarray, np.ndarray]:
    """Load the small MNIST sample shipped with skdigits.

    5,000 images from the MNIST training set (see ``skdigits/data/MNIST-NOTICE.txt``
    for attribution and licence), enough to try the package without a download.

    Returns
    -------
    X : ndarray of shape (5000, 784), dtype uint8
        Pixel intensities, one image per row.
    y : ndarray of shape (5000,), dtype int64
        Digit labels 0..9.

    Examples
    --------
    >>> from skdigits.datasets import load_sample
    >>> X, y = load_sample()
    >>> X.shape, sorted(set(y.tolist())) == list(range(10))
    ((5000, 784), True)
    """
    with resources.files("skdigits").joinpath("data/mnist_sample.npz").open("rb") as handle:
        data = np.load(handle)
        return data["X"], data["y"].astype(np.int64)


MAX_IMAGE_PIXELS = 64_000_000
"""Largest picture load_images decodes, in pixels: a phone photo is 12-50 million;
a small PNG that claims gigapixels (a decompression bomb) is refused before decoding."""


def load_images(images, *, invert=None, threshold=0.2) -> np.ndarray:
    """Load pictures of handwritten digits as MNIST rows (white ink on black, centred).

    Each picture, a file (PNG, JPEG, BMP and whatever else Pillow reads) or
    an array, goes through
    [`normalize_digit`][skdigits.normalization.normalize_digit]: dark ink on
    light paper is inverted, colour becomes grey (on a transparent background
    the opaque pixels are the ink), margins and faint noise are dropped, the
    digit's bounding box is scaled to 20x20 and its centre of mass is put at
    the centre of a 28x28 field, as in MNIST. The rows go straight into a
    fitted pipeline's ``predict``.

    Parameters
    ----------
    images : iterable of str, path-like or array-like
        Image files or pixel arrays (grey, RGB or RGBA), any size.
    invert : bool or None, default=None
        Whether the ink is darker than the background; None decides per
        picture from its border.
    threshold : float, default=0.2
        Intensities below this share of the ink's strength count as background.

    Returns
    -------
    X : ndarray of shape (n_images, 784), dtype uint8

    Raises
    ------
    FileNotFoundError
        If a file does not exist.
    ValueError
        If a file is not an image Pillow can read, would decode to more than
        [`MAX_IMAGE_PIXELS`][skdigits.datasets.MAX_IMAGE_PIXELS] pixels, or holds no ink; the message names
        the file.

    Examples
    --------
    >>> import numpy as np, os, tempfile
    >>> from PIL import Image
    >>> from skdigits.datasets import load_images
    >>> page = np.full((120, 90, 3), 240, dtype=np.uint8)   # light paper, RGB
    >>> page[20:100, 40:50] = (30, 30, 90)                  # a dark blue "1"
    >>> path = os.path.join(tempfile.mkdtemp(), "one.png")
    >>> Image.fromarray(page).save(path)
    >>> X = load_images([path, page])
    >>> X.shape, X.dtype, bool((X[0] == X[1]).all())
    ((2, 784), dtype('uint8'), True)
    """
    from .normalization import normalize_digit

    rows = []
    for image in images:
        name = str(image) if isinstance(image, (str, Path)) else "image"
        pixels = read_image(image) if isinstance(image, (str, Path)) else image
        try:
            rows.append(normalize_digit(pixels, invert=invert, threshold=threshold).reshape(-1))
        except ValueError as error:
            raise type(error)(f"{name}: {error}") from None  # a BlankImageError stays one
    if not rows:
        raise ValueError("no images given; pass image files or pixel arrays.")
    return np.stack(rows)


class ImageTooLargeError(ValueError):
    """An image that would decode to more pixels than allowed (a decompression bomb, or a huge scan)."""


def read_image(source, *, max_pixels=MAX_IMAGE_PIXELS) -> np.ndarray:
    """Decode one image with Pillow: (height, width) grey, (..., 3) RGB or (..., 4) with transparency.

    Refuses images over `max_pixels` from their header, before decoding
    them, and names the file in every error.

    Parameters
    ----------
    source : str, path-like or binary file object
        An image file, or its bytes in a file object (``io.BytesIO``).
    max_pixels : int, default=MAX_IMAGE_PIXELS
        Largest width x height decoded.

    Returns
    -------
    pixels : ndarray, dtype uint8

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ImageTooLargeError
        If the image has more than `max_pixels` pixels (a ``ValueError``).
    ValueError
        If Pillow cannot read it.

    Examples
    --------
    >>> import numpy as np, os, tempfile
    >>> from PIL import Image
    >>> from skdigits.datasets import read_image
    >>> path = os.path.join(tempfile.mkdtemp(), "blank.bmp")
    >>> Image.fromarray(np.zeros((5, 7), dtype=np.uint8)).save(path)
    >>> read_image(path).shape
    (5, 7)
    """
    from PIL import Image, UnidentifiedImageError

    if isinstance(source, (str, os.PathLike)):
        name = source = Path(source)
        if not source.is_file():
            raise FileNotFoundError(f"{source} does not exist; check the path to the image.")
    else:
        name = getattr(source, "name", "the image")
    try:
        with Image.open(source) as image:
            if image.width * image.height > max_pixels:
                raise ImageTooLargeError(_too_many_pixels(name, f"is {image.width}x{image.height} pixels", max_pixels))
            if "A" in image.getbands() or "transparency" in image.info:
                image = image.convert("RGBA")
            else:
                image = image.convert("L" if len(image.getbands()) == 1 else "RGB")
            return np.asarray(image)
    except Image.DecompressionBombError:  # Pillow's own limit, checked when the header is read
        raise ImageTooLargeError(_too_many_pixels(name, "has far more pixels", max_pixels)) from None
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise ValueError(f"{name} is not an image skdigits can read ({type(error).__name__}: {error}).") from None


def _too_many_pixels(name, size, max_pixels):
    return (
        f"{name} {size}, more than the {max_pixels:,} skdigits decodes (a decompression bomb, or a huge "
        "scan); crop or shrink it first."
    )


#: Leading bytes of the compressed formats pandas can read, so that a
#: compressed file is read whatever its extension.
_MAGIC_NUMBERS = {
    b"\x1f\x8b": "gzip",
    b"PK\x03\x04": "zip",
    b"BZh": "bz2",
    b"\xfd7zXZ\x00": "xz",
}


# what pandas, pyarrow and the decompressors raise on a file that is not a CSV
_UNREADABLE = (pyarrow.ArrowInvalid, UnicodeDecodeError, ValueError, EOFError, OSError, zipfile.BadZipFile, lzma.LZMAError)


def _read_csv(path):
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist; check the path to the CSV file.")
    if path.stat().st_size == 0:
        raise ValueError(f"{path} is empty; expected a header line and one row per image.")
    try:
        frame = pd.read_csv(_decompressed(path), engine="pyarrow")
    except _UNREADABLE as error:
        if isinstance(error, _UnpackLimitError):
            raise
        raise ValueError(
            f"{path} could not be read as CSV ({str(error).splitlines()[0]}); "
            "expected a comma-separated Kaggle digits file (plain, gzip, zip, bz2 or xz)."
        ) from None
    if frame.empty:
        raise ValueError(f"{path} has no data rows; expected a header line and one row per image.")
    return frame


class _UnpackLimitError(ValueError):
    """A compressed file would unpack to far more than any real digits CSV."""


#: A real Kaggle train.csv packs 9x (gzip) to 12x (xz, bz2); refuse files that would
#: unpack to more than this many times their size (and over _MIN_UNPACK_LIMIT).
MAX_COMPRESSION_RATIO = 100
_MIN_UNPACK_LIMIT = 64 * 2**20
_OPENERS = {"gzip": gzip.open, "bz2": bz2.open, "xz": lzma.open}


def _decompressed(path):
    """The file's bytes (a path if it is not compressed), unpacked at most to the ratio limit."""
    kind = _sniff_compression(path)
    if kind is None:
        return path
    limit = max(_MIN_UNPACK_LIMIT, MAX_COMPRESSION_RATIO * path.stat().st_size)
    with contextlib.ExitStack() as stack:
        if kind == "zip":
            archive = stack.enter_context(zipfile.ZipFile(path))
            names = archive.namelist()
            if len(names) != 1:
                raise ValueError(f"the zip archive holds {len(names)} files, expected exactly one CSV")
            stream = stack.enter_context(archive.open(names[0]))
        else:
            stream = stack.enter_context(_OPENERS[kind](path, "rb"))
        data = stream.read(limit + 1)
    if len(data) > limit:
        raise _UnpackLimitError(
            f"{path} unpacks to more than {limit:,} bytes, over {MAX_COMPRESSION_RATIO} times its size of "
            f"{path.stat().st_size:,} bytes; a real digits CSV packs about 10 times. Refusing to unpack it: "
            "check where the file came from, or unpack it yourself and pass the CSV."
        )
    return io.BytesIO(data)


def _sniff_compression(path):
    with open(path, "rb") as handle:
        head = handle.read(6)
    return next((kind for magic, kind in _MAGIC_NUMBERS.items() if head.startswith(magic)), None)


def _pixels(frame, path):
    names = [str(name) for name in frame.columns]
    if names != PIXEL_COLUMNS:
        raise ValueError(f"{path}: {_describe_column_mismatch(names)}")
    X = check_pixels(frame, n_pixels=N_PIXELS, source=str(path))
    # whole intensities (the Kaggle files) fit uint8; keep fractional ones exact
    return X.astype(np.uint8) if np.all(np.mod(X, 1) == 0) else X.astype(np.float32)


def _describe_column_mismatch(names):
    if len(names) != N_PIXELS:
        return (
            f"found {len(names)} pixel columns, expected {N_PIXELS} (pixel0..pixel783); "
            "is this a 28x28 Kaggle digits file?"
        )
    if sorted(names) == sorted(PIXEL_COLUMNS):
        return "pixel columns are out of order, expected pixel0..pixel783; reorder them with frame[PIXEL_COLUMNS]."
    # pandas renames a repeated "pixel4" to "pixel4.1"
    duplicated = sorted({name.rpartition(".")[0] for name in names} & set(PIXEL_COLUMNS))
    if duplicated:
        return f"duplicated column name(s) {duplicated[:3]}, expected each of pixel0..pixel783 once; fix the header line."
    unexpected = [name for name in names if name not in PIXEL_COLUMNS][:3]
    return f"unexpected column names {unexpected}, expected pixel0..pixel783; is the header line missing?"


def _check_labels(labels, path):
    values = labels.to_numpy()
    if values.dtype.kind not in "iu" and not (values.dtype.kind == "f" and np.all(np.mod(values, 1) == 0)):
        raise ValueError(f"{path}: labels must be integers 0..9, found values such as {values[:3].tolist()}.")
    bad = (values < 0) | (values > 9)
    if bad.any():
        raise ValueError(
            f"{path}: {int(bad.sum())} label(s) outside 0..9 (first: {values[bad][0]} at row "
            f"{int(np.argmax(bad))}); expected digit labels 0..9."
        )
    return values.astype(np.int64)


def _read_idx(path):
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        data = handle.read()
    if len(data) < 4 or data[:2] != b"\x00\x00" or data[2] != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file (bad magic number); expected an MNIST IDX file.")
    ndim = data[3]
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    offset = 4 + 4 * ndim
    if len(data) - offset != int(np.prod(shape)):
        raise ValueError(f"{path} holds {len(data) - offset} bytes of data, expected {int(np.prod(shape))} for shape {shape}; is it truncated?")
    return np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(shape)
