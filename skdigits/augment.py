"""Random rotation, zoom and shift of training images, as an imblearn sampler."""

import numbers

import numpy as np
from imblearn.base import BaseSampler
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import _num_samples, validate_data

from .preprocessing import check_targets

__all__ = ["AugmentingResampler", "random_affine"]

_CHUNK = 2048  # images warped at once: bounds the temporary coordinate arrays


def random_affine(images, *, rotation=10.0, zoom=0.1, shift=0.1, random_state=None):
    """Apply an independent random rotation, zoom and shift to each image.

    The ranges mean what they mean in Keras' ``ImageDataGenerator``:
    an angle in [-rotation, rotation] degrees, a zoom factor per axis in
    [1 - zoom, 1 + zoom] and a shift in [-shift, shift] times the image
    size per axis. Pixels are resampled bilinearly; pixels that come from
    outside the image are 0 (background). The work is vectorised over the
    batch: there is no loop over images.

    Parameters
    ----------
    images : ndarray of shape (n_samples, height, width) or (n_samples, height, width, channels)
        Images to transform.
    rotation : float, default=10.0
        Maximum rotation in degrees.
    zoom : float, default=0.1
        Maximum relative zoom in or out.
    shift : float, default=0.1
        Maximum shift as a fraction of the image's height and width.
    random_state : int, RandomState instance or None, default=None
        Seed for the random transformations.

    Returns
    -------
    transformed : ndarray of float32, same shape as `images`
        The transformed images.

    Examples
    --------
    >>> import numpy as np
    >>> from skdigits.augment import random_affine
    >>> images = np.zeros((3, 28, 28, 1), dtype=np.float32)
    >>> images[:, 10:18, 12:16] = 1.0
    >>> random_affine(images, random_state=0).shape
    (3, 28, 28, 1)
    >>> out = random_affine(images, rotation=0, zoom=0, shift=0)
    >>> bool(np.allclose(out, images))
    True
    """
    rng = check_random_state(random_state)
    images = np.asarray(images, dtype=np.float32)
    out = np.empty_like(images)
    for start in range(0, len(images), _CHUNK):
        batch = images[start : start + _CHUNK]
        matrices, offsets = _random_transforms(len(batch), batch.shape[1:3], rotation, zoom, shift, rng)
        out[start : start + _CHUNK] = _warp_bilinear(batch, matrices, offsets)
    return out


def _random_transforms(n, size, rotation, zoom, shift, rng):
    """Draw matrices mapping output pixel coordinates to input coordinates."""
    angle = np.deg2rad(rng.uniform(-rotation, rotation, n))
    zoom_y, zoom_x = rng.uniform(1 - zoom, 1 + zoom, (2, n))
    shift_y = rng.uniform(-shift, shift, n) * size[0]
    shift_x = rng.uniform(-shift, shift, n) * size[1]
    cos, sin = np.cos(angle), np.sin(angle)
    # rows act on (y, x): rotation then per-axis zoom, as ImageDataGenerator composes them
    matrices = np.stack(
        [np.stack([cos * zoom_y, sin * zoom_x], -1), np.stack([-sin * zoom_y, cos * zoom_x], -1)], 1
    )
    offsets = np.stack([shift_y, shift_x], -1)
    return matrices.astype(np.float32), offsets.astype(np.float32)


def _warp_bilinear(images, matrices, offsets):
    n, height, width = images.shape[:3]
    channels = images.shape[3:]
    center = np.array([(height - 1) / 2, (width - 1) / 2], dtype=np.float32)
    grid = np.stack(np.mgrid[0:height, 0:width], -1).reshape(-1, 2).astype(np.float32) - center
    # (n, 1) x (1, pixels) products: several times faster than einsum here
    shifted = center + offsets
    source_y = matrices[:, 0, :1] * grid[:, 0] + matrices[:, 0, 1:] * grid[:, 1] + shifted[:, :1]
    source_x = matrices[:, 1, :1] * grid[:, 0] + matrices[:, 1, 1:] * grid[:, 1] + shifted[:, 1:]
    # one pixel of zero padding turns every out-of-image read into background
    padded = np.pad(images, [(0, 0), (1, 1), (1, 1)] + [(0, 0)] * len(channels))
    flat = padded.reshape(n * (height + 2) * (width + 2), *channels)
    floor_y, floor_x = np.floor(source_y), np.floor(source_x)
    fy, fx = source_y - floor_y, source_x - floor_x
    y0 = np.clip(floor_y.astype(np.intp) + 1, 0, height + 1)
    x0 = np.clip(floor_x.astype(np.intp) + 1, 0, width + 1)
    y1 = np.clip(y0 + 1, 0, height + 1)
    x1 = np.clip(x0 + 1, 0, width + 1)
    base = (np.arange(n) * (height + 2) * (width + 2))[:, None]
    weights = ((1 - fy) * (1 - fx), (1 - fy) * fx, fy * (1 - fx), fy * fx)
    corners = ((y0, x0), (y0, x1), (y1, x0), (y1, x1))
    result = np.zeros((n, height * width, *channels), dtype=np.float32)
    for weight, (yy, xx) in zip(weights, corners):
        # reads clipped to the padding ring are zero, so clipping never leaks image pixels
        outside = (yy == 0) | (yy == height + 1) | (xx == 0) | (xx == width + 1)
        weight = np.where(outside, 0.0, weight).reshape(n, -1, *([1] * len(channels)))
        result += weight * flat[base + yy * (width + 2) + xx]
    return result.reshape(images.shape)


class AugmentingResampler(BaseSampler):
    """Add randomly rotated, zoomed and shifted copies of the training images.

    A sampler in the imbalanced-learn sense: inside an
    :class:`imblearn.pipeline.Pipeline` it runs during ``fit`` only, so
    ``predict``, ``score`` and validation folds see the original images.
    Each call to ``fit_resample`` draws new transformations.

    Parameters
    ----------
    rotation : float, default=10.0
        Maximum rotation in degrees.
    zoom : float, default=0.1
        Maximum relative zoom in or out, per axis.
    shift : float, default=0.1
        Maximum shift as a fraction of the image height and width.
    n_copies : int, default=1
        Number of augmented copies of each image to add.
    keep_original : bool, default=True
        Whether the original images are kept in the resampled data.
    random_state : int, RandomState instance or None, default=None
        Seed for the random transformations.

    Attributes
    ----------
    n_features_in_ : int
        Number of features (first image dimension) seen during fitting.
    sampling_strategy_ : dict
        Required by imbalanced-learn's sampler protocol; always empty here.

    Examples
    --------
    >>> import numpy as np
    >>> from skdigits import AugmentingResampler
    >>> X = np.random.default_rng(0).random((10, 28, 28, 1), dtype=np.float32)
    >>> y = np.arange(10) % 2
    >>> X_res, y_res = AugmentingResampler(n_copies=2, random_state=0).fit_resample(X, y)
    >>> X_res.shape, y_res.shape
    ((30, 28, 28, 1), (30,))
    """

    _sampling_type = "bypass"
    _parameter_constraints = {
        "rotation": [Interval(numbers.Real, 0, 180, closed="both")],
        "zoom": [Interval(numbers.Real, 0, 1, closed="left")],
        "shift": [Interval(numbers.Real, 0, 1, closed="both")],
        "n_copies": [Interval(numbers.Integral, 0, None, closed="left")],
        "keep_original": ["boolean"],
        "random_state": ["random_state"],
    }

    def __init__(self, *, rotation=10.0, zoom=0.1, shift=0.1, n_copies=1, keep_original=True, random_state=None):
        super().__init__()
        self.rotation = rotation
        self.zoom = zoom
        self.shift = shift
        self.n_copies = n_copies
        self.keep_original = keep_original
        self.random_state = random_state

    def _check_X_y(self, X, y, accept_sparse=None):
        check_targets(y, n_samples=_num_samples(X))
        X, y = validate_data(self, X, y, reset=True, allow_nd=True, dtype=np.float32)
        if self.n_copies == 0 and not self.keep_original:
            raise ValueError(
                "n_copies=0 with keep_original=False would return no images; "
                "set n_copies >= 1 or keep_original=True."
            )
        return X, y, False

    def _fit_resample(self, X, y):
        rng = check_random_state(self.random_state)
        images = X if X.ndim >= 3 else X[:, :, None]
        copies = [X] if self.keep_original else []
        for _ in range(self.n_copies):
            augmented = random_affine(images, rotation=self.rotation, zoom=self.zoom, shift=self.shift, random_state=rng)
            copies.append(augmented.reshape(X.shape))
        n_sets = len(copies)
        return np.concatenate(copies), np.tile(y, n_sets)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        tags.non_deterministic = False
        return tags
