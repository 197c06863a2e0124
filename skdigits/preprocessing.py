"""Pixel scaling and image reshaping (and deskewing) steps."""

import numbers

import numpy as np
import pandas as pd
from scipy import ndimage
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

__all__ = [
    "IMAGE_SHAPE",
    "N_PIXELS",
    "PIXEL_COLUMNS",
    "ImageReshaper",
    "PixelScaler",
    "check_pixels",
    "check_targets",
    "deskew",
]

N_PIXELS = 784
IMAGE_SHAPE = (28, 28, 1)
PIXEL_COLUMNS = [f"pixel{i}" for i in range(N_PIXELS)]


def check_pixels(X, *, n_pixels=N_PIXELS, source="X"):
    """Check that `X` holds images as rows of pixel intensities in 0..255.

    Parameters
    ----------
    X : array-like or DataFrame of shape (n_samples, n_pixels)
        Images, one per row.
    n_pixels : int or None, default=784
        Expected number of pixel columns; None accepts any number.
    source : str, default="X"
        How to name the data in error messages (a file name, for example).

    Returns
    -------
    X : ndarray of shape (n_samples, n_pixels)
        The pixels as a numeric array (no copy where none is needed).

    Raises
    ------
    ValueError
        If a column is not numeric, the column count is wrong, a value
        is NaN, infinite or outside 0..255, or the values are fractions that
        all lie in 0..1 (data already scaled by 255).

    Examples
    --------
    >>> import numpy as np
    >>> check_pixels(np.zeros((2, 784), dtype=np.uint8)).shape
    (2, 784)
    >>> check_pixels(np.full((1, 784), 300))
    Traceback (most recent call last):
    ...
    ValueError: Values above 255 in data: X has 784 values outside 0..255 (found 300 at row 0, column 0); expected pixel intensities 0..255. Clip or rescale the data before passing it.
    """
    if isinstance(X, pd.DataFrame):
        _check_columns(X, n_pixels, source)
    X = check_array(X, dtype="numeric", ensure_all_finite=False, input_name=source)
    if n_pixels is not None and X.shape[1] != n_pixels:
        raise ValueError(
            f"{source} has {X.shape[1]} columns, expected {n_pixels} pixel columns "
            f"(pixel0..pixel{n_pixels - 1}); "
            + (
                "does it still contain the 'label' column?"
                if X.shape[1] == n_pixels + 1
                else "is this 28x28 digit data?"
            )
        )
    if X.dtype.kind == "f":
        _check_finite(X, source)
    _check_range(X, source)
    if X.dtype.kind == "f":
        _check_not_prescaled(X, source)
    return X


def check_targets(y, n_samples):
    """Check that `y` holds one class label per image and at least two classes.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Class labels.
    n_samples : int
        Number of images the labels belong to.

    Raises
    ------
    ValueError
        If the lengths differ or `y` holds a single class.

    Examples
    --------
    >>> check_targets([3, 3, 3], n_samples=3)
    Traceback (most recent call last):
    ...
    ValueError: y holds 1 class (3); expected at least 2 classes to train a classifier. Check that the labels come from the right column or file.
    """
    if y is None:  # left to sklearn's validation, which says y is required
        return
    y = np.asarray(y)
    if y.ndim != 1:
        return  # sklearn's validation says y must be 1d
    if len(y) != n_samples:
        raise ValueError(
            f"X has {n_samples} images but y has {len(y)} labels; expected one label per image. "
            "Pass X and y taken from the same rows."
        )
    classes = np.unique(y)
    if len(classes) < 2:
        raise ValueError(
            f"y holds 1 class ({classes[0] if len(classes) else 'none'}); expected at least 2 classes "
            "to train a classifier. Check that the labels come from the right column or file."
        )


def _check_columns(frame, n_pixels, source):
    if "label" in frame.columns:
        raise ValueError(
            f"{source} contains a 'label' column, expected only pixel columns; "
            "pass frame.drop(columns='label') and the labels separately."
        )
    non_numeric = [
        str(name)
        for name, dtype in frame.dtypes.items()
        if not pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)
    ]
    if non_numeric:
        shown = ", ".join(non_numeric[:5]) + (" ..." if len(non_numeric) > 5 else "")
        raise ValueError(
            f"{source} has {len(non_numeric)} non-numeric column(s) ({shown}), "
            "expected numeric pixel values 0..255; check for text cells in those columns."
        )


def _check_finite(X, source):
    bad = ~np.isfinite(X)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise ValueError(
            f"{source} has {int(bad.sum())} NaN or infinite value(s) (first at row {row}, "
            f"column {col}), expected pixel intensities 0..255; fill or drop the "
            "incomplete rows first."
        )


def _check_not_prescaled(X, source):
    # Rule: fractional values that all lie in 0..1 are pixels someone already
    # divided by 255; scaling them again would feed the network near-black images.
    if X.size and X.max() <= 1.0 and np.any(np.mod(X, 1) != 0):
        raise ValueError(
            f"{source} looks already scaled to 0..1 (fractional values, maximum {X.max():g}); "
            "expected raw pixel intensities 0..255. Pass X * 255, or drop the PixelScaler step."
        )


def _check_range(X, source):
    if X.size == 0 or (X.min() >= 0 and X.max() <= 255):
        return
    bad = (X < 0) | (X > 255)
    row, col = np.argwhere(bad)[0]
    # "Negative values in data" is the phrase sklearn's checks look for
    kind = "Negative values in data" if X[row, col] < 0 else "Values above 255 in data"
    raise ValueError(
        f"{kind}: {source} has {int(bad.sum())} value{'s' if bad.sum() > 1 else ''} outside "
        f"0..255 (found {X[row, col]:g} at row {row}, column {col}); expected pixel "
        "intensities 0..255. Clip or rescale the data before passing it."
    )


class PixelScaler(TransformerMixin, BaseEstimator):
    """Scale pixel intensities from 0..255 to float32 values in 0..1.

    Parameters
    ----------
    n_pixels : int or None, default=784
        Number of pixel columns expected in `X`; None accepts any number.

    Attributes
    ----------
    n_features_in_ : int
        Number of pixel columns seen during `fit`.
    feature_names_in_ : ndarray of str
        Column names seen during `fit`, when `X` was a DataFrame.

    Examples
    --------
    >>> import numpy as np
    >>> from skdigits import PixelScaler
    >>> X = np.array([[0, 51, 255] * 4], dtype=np.uint8)
    >>> PixelScaler(n_pixels=12).fit_transform(X)[0, :3]
    array([0. , 0.2, 1. ], dtype=float32)
    """

    _parameter_constraints = {"n_pixels": [Interval(numbers.Integral, 1, None, closed="left"), None]}

    def __init__(self, *, n_pixels=N_PIXELS):
        self.n_pixels = n_pixels

    def fit(self, X, y=None):
        """Check `X` and remember its number of columns.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_pixels)
            Pixel intensities in 0..255.
        y : None
            Ignored.

        Returns
        -------
        self : PixelScaler
            The fitted scaler.
        """
        self._validate_params()
        check_pixels(X, n_pixels=self.n_pixels)
        validate_data(self, X, reset=True, dtype="numeric", ensure_all_finite=False)
        return self

    def transform(self, X):
        """Scale `X` to float32 values in 0..1.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_pixels)
            Pixel intensities in 0..255.

        Returns
        -------
        X_scaled : ndarray of shape (n_samples, n_pixels), dtype float32
            The scaled pixels.
        """
        check_is_fitted(self)
        pixels = check_pixels(X, n_pixels=None)
        if pixels.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {pixels.shape[1]} features, but PixelScaler is expecting {self.n_features_in_} "
                "features as input (one column per pixel, as during fit)"
                + ("; does it still contain the 'label' column?" if pixels.shape[1] == self.n_features_in_ + 1 else ".")
            )
        validate_data(self, X, reset=False, dtype="numeric", ensure_all_finite=False)  # feature names
        return np.divide(pixels, np.float32(255), dtype=np.float32)

    def inverse_transform(self, X):
        """Map scaled values back to 0..255 (as float32).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_pixels)
            Scaled pixels.

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_pixels), dtype float32
            Pixel intensities in 0..255.
        """
        check_is_fitted(self)
        return np.multiply(np.asarray(X), np.float32(255), dtype=np.float32)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = True
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags


class ImageReshaper(TransformerMixin, BaseEstimator):
    """Reshape rows of pixels into images, (n, 784) -> (n, 28, 28, 1), and optionally deskew them.

    Parameters
    ----------
    image_shape : tuple of int, default=(28, 28, 1)
        Shape of one image: (height, width, channels). One entry may be -1,
        inferred from the number of columns as in `numpy.reshape`.
    deskew : bool, default=False
        Also straighten each image by its own slant
        ([`deskew`][skdigits.preprocessing.deskew]), at fit and at predict
        time alike; ``inverse_transform`` does not undo it.

    Attributes
    ----------
    image_shape_ : tuple of int
        The shape of one image, with any -1 resolved.
    n_features_in_ : int
        Number of pixel columns seen during `fit`.

    Examples
    --------
    >>> import numpy as np
    >>> from skdigits import ImageReshaper
    >>> reshaper = ImageReshaper().fit(np.zeros((2, 784)))
    >>> images = reshaper.transform(np.zeros((2, 784)))
    >>> images.shape
    (2, 28, 28, 1)
    >>> reshaper.inverse_transform(images).shape
    (2, 784)
    """

    _parameter_constraints = {"image_shape": [tuple, list], "deskew": ["boolean"]}

    def __init__(self, *, image_shape=IMAGE_SHAPE, deskew=False):
        self.image_shape = image_shape
        self.deskew = deskew

    def fit(self, X, y=None):
        """Check that rows of `X` have as many values as one image.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_pixels)
            Images as rows.
        y : None
            Ignored.

        Returns
        -------
        self : ImageReshaper
            The fitted reshaper.
        """
        self._validate_params()
        X = validate_data(self, X, reset=True, dtype="numeric")
        self.image_shape_ = _resolve_image_shape(self.image_shape, X.shape[1])
        return self

    def transform(self, X):
        """Reshape rows of pixels into images.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_pixels)
            Images as rows.

        Returns
        -------
        images : ndarray of shape (n_samples, *image_shape_)
            The same values, one image per sample (deskewed with `deskew`).
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype="numeric")
        images = X.reshape(len(X), *self.image_shape_)
        return deskew(images) if self.deskew else images

    def inverse_transform(self, X):
        """Flatten images back into rows of pixels.

        Parameters
        ----------
        X : array-like of shape (n_samples, *image_shape_)
            Images.

        Returns
        -------
        X_flat : ndarray of shape (n_samples, n_pixels)
            One image per row.
        """
        check_is_fitted(self)
        X = np.asarray(X)
        if X.shape[1:] != self.image_shape_:
            raise ValueError(
                f"X has images of shape {X.shape[1:]}, expected {self.image_shape_}; "
                "pass the output of transform or set image_shape accordingly."
            )
        return X.reshape(len(X), -1)


def deskew(images):
    """Straighten each image by its own slant: shear it so that its ink has no
    row-column covariance, and move its centre of mass to the image centre.

    The classic moment-based deskewing of MNIST: for an image with centre of
    mass (r0, c0), row variance s_rr and row-column covariance s_rc, the
    output pixel (r, c) reads the input at (r + r0 - h, c + c0 - w +
    (s_rc / s_rr) (r - h)), where (h, w) is the image centre; pixels are
    interpolated bilinearly and those from outside are 0. Blank images are
    returned unchanged.

    Parameters
    ----------
    images : ndarray of shape (n_samples, height, width[, channels])
        Single-channel images, intensities >= 0.

    Returns
    -------
    deskewed : ndarray of float32, same shape as `images`

    Examples
    --------
    >>> import numpy as np
    >>> from skdigits.preprocessing import deskew
    >>> slanted = np.zeros((1, 28, 28), dtype=np.float32)
    >>> for row in range(6, 22):
    ...     slanted[0, row, 20 - row // 2] = 1.0          # a stroke leaning right
    >>> straight = deskew(slanted)
    >>> columns = np.argmax(straight[0, 8:20], axis=1)
    >>> int(columns.max() - columns.min()) <= 1         # now vertical
    True
    """
    images = np.asarray(images, dtype=np.float32)
    stack = images.reshape(images.shape[:3])
    height, width = stack.shape[1:]
    rows, cols = np.mgrid[:height, :width].astype(np.float64)
    ink = stack.sum(axis=(1, 2), dtype=np.float64)
    centre = np.array([(height - 1) / 2, (width - 1) / 2])
    out = stack.copy()
    for index in np.flatnonzero(ink > 0):
        image = stack[index]
        row0 = (rows * image).sum() / ink[index]
        col0 = (cols * image).sum() / ink[index]
        var_rows = ((rows - row0) ** 2 * image).sum() / ink[index]
        slant = ((rows - row0) * (cols - col0) * image).sum() / ink[index] / var_rows if var_rows > 0 else 0.0
        matrix = np.array([[1.0, 0.0], [slant, 1.0]])
        offset = np.array([row0, col0]) - matrix @ centre
        out[index] = ndimage.affine_transform(image, matrix, offset=offset, order=1)
    return out.reshape(images.shape)


def _resolve_image_shape(image_shape, n_features):
    shape = tuple(image_shape)
    valid = len(shape) == 3 and all(isinstance(s, numbers.Integral) and (s > 0 or s == -1) for s in shape)
    if not valid or shape.count(-1) > 1:
        raise ValueError(
            f"image_shape={image_shape!r}, expected three positive integers "
            "(height, width, channels), one of which may be -1; for example (28, 28, 1)."
        )
    known = int(np.prod([s for s in shape if s != -1]))
    if -1 in shape and n_features % known == 0:
        shape = tuple(n_features // known if s == -1 else s for s in shape)
    if int(np.prod(shape)) != n_features:
        raise ValueError(
            f"X has {n_features} columns, expected {' x '.join(map(str, image_shape))} pixels "
            "per image; pass flattened 28x28 images or set image_shape to match your data."
        )
    return tuple(int(s) for s in shape)
