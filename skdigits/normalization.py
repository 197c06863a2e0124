"""Turn any picture of a digit into an MNIST-style 28x28 image."""

import numbers

import numpy as np
from PIL import Image
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import Interval

__all__ = ["BlankImageError", "MNISTNormalizer", "normalize_digit"]

_BOX = 20  # MNIST fits each digit's bounding box into 20x20 pixels ...
_SIDE = 28  # ... inside a 28x28 field, centred by its centre of mass


class BlankImageError(ValueError):
    """A picture with no digit in it: no pixels, or no ink darker (or lighter) than its background."""


def normalize_digit(image, *, invert=None, threshold=0.2):
    """Normalise one picture of a digit the way MNIST was made.

    Resizing a photo to 28x28 is not enough: MNIST digits are white ink on
    black, their bounding box is scaled to fit 20x20 pixels (keeping the
    aspect ratio), and they sit in a 28x28 field with their centre of mass
    at the centre. This does all of that.

    Parameters
    ----------
    image : array-like of shape (height, width), (height, width, 3) or (height, width, 4)
        Grey, RGB or RGBA pixels, 0..255 (or 0..1 floats), any size. With
        an alpha channel that varies, the opaque pixels are the ink (a
        drawing exported from a canvas); otherwise colours become grey.
    invert : bool or None, default=None
        Whether the ink is darker than the background. None decides from
        the image's border: a light border means dark ink, which is
        inverted.
    threshold : float, default=0.2
        After the background is removed, intensities below this share of
        the ink's strength count as background (paper texture, noise).

    Returns
    -------
    digit : ndarray of shape (28, 28), dtype uint8
        White ink (up to 255) on black (0).

    Raises
    ------
    BlankImageError
        If the image has no pixels or holds no ink (a ``ValueError``).
    ValueError
        If the image has an unusable shape.

    Examples
    --------
    >>> import numpy as np
    >>> from skdigits.normalization import normalize_digit
    >>> page = np.full((200, 120), 255, dtype=np.uint8)   # white paper
    >>> page[30:170, 50:62] = 0                           # a black stroke: a "1"
    >>> digit = normalize_digit(page)
    >>> digit.shape, digit.dtype, int(digit[14, 14]) > 128, int(digit[0, 0])
    ((28, 28), dtype('uint8'), True, 0)
    """
    ink = _ink(np.asarray(image), invert, threshold)
    rows, cols = np.nonzero(ink)
    if len(rows) == 0:
        raise BlankImageError(
            "the image holds no ink: it is blank, or the digit is as light as the background; "
            "check the image, or pass invert=True/False if the automatic choice was wrong."
        )
    box = ink[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    scale = _BOX / max(box.shape)
    size = (max(1, round(box.shape[1] * scale)), max(1, round(box.shape[0] * scale)))  # (width, height)
    resized = Image.fromarray((box * 255).astype(np.uint8)).resize(size, Image.Resampling.LANCZOS)
    digit = np.asarray(resized, dtype=np.float64)
    field = np.zeros((_SIDE, _SIDE))
    top, left = (_SIDE - digit.shape[0]) // 2, (_SIDE - digit.shape[1]) // 2
    field[top : top + digit.shape[0], left : left + digit.shape[1]] = digit
    return _centre_of_mass_to_centre(field).clip(0, 255).round().astype(np.uint8)


def _ink(pixels, invert, threshold):
    """Ink strength in 0..1 per pixel, background 0."""
    if not (pixels.ndim == 2 or (pixels.ndim == 3 and pixels.shape[2] in (3, 4))):
        raise ValueError(
            f"an image of shape {pixels.shape} is not a picture; expected (height, width) grey pixels, or "
            "(height, width, 3) RGB or (height, width, 4) RGBA."
        )
    if pixels.size == 0:
        raise BlankImageError("the image is empty (0 pixels); expected a picture of one digit.")
    scale = 255.0 if pixels.dtype.kind in "ui" or pixels.max() > 1 else 1.0
    if pixels.ndim == 2:
        grey = pixels.astype(np.float64) / scale
    elif pixels.shape[2] == 4 and np.ptp(pixels[..., 3]) > 0:  # strokes on a transparent background
        return _clean(pixels[..., 3].astype(np.float64) / scale, threshold)
    else:
        grey = pixels[..., :3].astype(np.float64) / scale @ np.array([0.299, 0.587, 0.114])
    if invert is None:
        invert = np.median(_border(grey)) > 0.5
    return _clean(1 - grey if invert else grey, threshold)


def _border(pixels):
    """The pixels of the outermost rows and columns."""
    return np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])


def _clean(ink, threshold):
    """Subtract the background level, stretch the ink to 0..1 and zero what is below `threshold`."""
    ink = np.clip(ink - np.median(_border(ink)), 0, None)
    peak = ink.max()
    if peak <= 0:
        return ink
    ink = ink / peak
    return np.where(ink < threshold, 0.0, ink)


def _centre_of_mass_to_centre(field):
    """Shift by whole pixels so the centre of mass is at the field's centre, keeping the digit inside."""
    rows, cols = np.mgrid[: field.shape[0], : field.shape[1]]
    total = field.sum()
    # MNIST's digits have their centre of mass at (14, 14), measured on the sample
    shift_y = round(field.shape[0] / 2 - (field * rows).sum() / total)
    shift_x = round(field.shape[1] / 2 - (field * cols).sum() / total)
    ink_rows, ink_cols = np.nonzero(field)
    shift_y = int(np.clip(shift_y, -ink_rows.min(), field.shape[0] - 1 - ink_rows.max()))
    shift_x = int(np.clip(shift_x, -ink_cols.min(), field.shape[1] - 1 - ink_cols.max()))
    return np.roll(field, (shift_y, shift_x), axis=(0, 1))


class MNISTNormalizer(TransformerMixin, BaseEstimator):
    """Normalise pictures of digits into MNIST rows, in front of a digit pipeline.

    Each picture goes through [`normalize_digit`][skdigits.normalization.normalize_digit] (white ink on black,
    bounding box scaled to 20x20, centre of mass at the centre of 28x28) and
    comes out as a row of 784 pixels, 0..255, which is what
    [`make_digit_pipeline`][skdigits.pipeline.make_digit_pipeline] takes.
    Stateless: ``fit`` only checks the parameters.

    Parameters
    ----------
    invert : bool or None, default=None
        Whether the ink is darker than the background; None decides per
        picture from its border.
    threshold : float, default=0.2
        Intensities below this share of the ink's strength count as background.

    Examples
    --------
    >>> import numpy as np
    >>> from skdigits.normalization import MNISTNormalizer
    >>> photos = np.full((2, 64, 48), 230, dtype=np.uint8)   # light paper ...
    >>> photos[:, 10:50, 20:26] = 20                          # ... with a dark stroke
    >>> MNISTNormalizer().fit_transform(photos).shape
    (2, 784)
    """

    _parameter_constraints = {
        "invert": ["boolean", None],
        "threshold": [Interval(numbers.Real, 0, 1, closed="left")],
    }

    def __init__(self, *, invert=None, threshold=0.2):
        self.invert = invert
        self.threshold = threshold

    def fit(self, X, y=None):
        """Check the parameters; the normaliser learns nothing. Returns self."""
        self._validate_params()
        self.is_fitted_ = True
        return self

    def transform(self, X):
        """Normalise each picture in `X` (an array of pictures, or a list of any sizes) to a row of 784 pixels."""
        return np.stack(
            [normalize_digit(image, invert=self.invert, threshold=self.threshold).reshape(-1) for image in X]
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        return tags
