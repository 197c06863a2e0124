"""Random rotation, zoom and shift of training images, as an imblearn sampler."""

import math
import numbers

import keras
import numpy as np
import tensorflow as tf
from imblearn.base import BaseSampler
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import _num_samples, validate_data

from .preprocessing import check_targets

__all__ = [
    "AugmentingResampler",
    "fresh_copies_dataset",
    "images_per_epoch",
    "random_affine",
    "shifted_copies",
    "transform_images",
]

_CHUNK = 4096  # images warped at once by random_affine: bounds the memory of one call


def transform_images(images, angle, zoom_y, zoom_x, shift_y, shift_x):
    """Rotate, zoom and shift each image about its centre.

    The one implementation of the augmentation's geometry: static copies
    ([`random_affine`][skdigits.augment.random_affine]) and fresh per-epoch copies
    (``AugmentingResampler(per_epoch=True)``) both call it. The composition
    is the one of Keras' ``ImageDataGenerator``: rotation, then zoom per axis,
    then shift. Pixels are resampled bilinearly and pixels from outside the
    image are 0 (background).

    Parameters
    ----------
    images : array-like of shape (n_samples, height, width, channels)
        Images to transform (NumPy or a TensorFlow tensor).
    angle : array-like of shape (n_samples,)
        Counter-clockwise rotation of each image, in degrees.
    zoom_y, zoom_x : array-like of shape (n_samples,)
        Scale factors at which the image is sampled: above 1 the digit
        shrinks, below 1 it grows.
    shift_y, shift_x : array-like of shape (n_samples,)
        Shift as a fraction of the height and width; positive values move
        the digit up and left.

    Returns
    -------
    transformed : tensor of float32, same shape as `images`

    Examples
    --------
    >>> import numpy as np
    >>> from skdigits.augment import transform_images
    >>> images = np.zeros((1, 28, 28, 1), dtype=np.float32)
    >>> images[0, 4:24, 13:15] = 1.0                 # a vertical bar
    >>> turned = np.asarray(transform_images(images, [90.0], [1.0], [1.0], [0.0], [0.0]))
    >>> bool(turned[0, 13:15, 4:24].min() > 0.99)   # now horizontal
    True
    """
    ops = keras.ops
    images = ops.convert_to_tensor(images, "float32")
    angle, zoom_y, zoom_x, shift_y, shift_x = (
        ops.convert_to_tensor(value, "float32") for value in (angle, zoom_y, zoom_x, shift_y, shift_x)
    )
    height, width = images.shape[1], images.shape[2]
    center_y, center_x = (height - 1) / 2, (width - 1) / 2
    radians = angle * (np.pi / 180)
    cos, sin = ops.cos(radians), ops.sin(radians)
    # maps an output pixel's offset from the centre (dy, dx) to the input pixel it reads
    yy, yx = cos * zoom_y, sin * zoom_x
    xy, xx = -sin * zoom_y, cos * zoom_x
    source_y0 = center_y + shift_y * height - yy * center_y - yx * center_x
    source_x0 = center_x + shift_x * width - xy * center_y - xx * center_x
    zeros = ops.zeros_like(angle)
    # Keras' rows are [a0, a1, a2, b0, b1, b2, c0, c1] acting on (x, y) = (column, row)
    transform = ops.stack([xx, xy, source_x0, yx, yy, source_y0, zeros, zeros], axis=1)
    return ops.image.affine_transform(
        images, transform, interpolation="bilinear", fill_mode="constant", fill_value=0, data_format="channels_last"
    )


def _draw_transforms(uniform, rotation, zoom, shift):
    """Draw (angle, zoom_y, zoom_x, shift_y, shift_x) with ``uniform(low, high)``, which
    returns one value per image: NumPy for static copies, stateless TensorFlow per epoch."""
    return (
        uniform(-rotation, rotation),
        uniform(1 - zoom, 1 + zoom),
        uniform(1 - zoom, 1 + zoom),
        uniform(-shift, shift),
        uniform(-shift, shift),
    )


def random_affine(images, *, rotation=10.0, zoom=0.1, shift=0.1, random_state=None):
    """Apply an independent random rotation, zoom and shift to each image.

    The ranges mean what they mean in Keras' ``ImageDataGenerator``:
    an angle in [-rotation, rotation] degrees, a zoom factor per axis in
    [1 - zoom, 1 + zoom] and a shift in [-shift, shift] times the image
    size per axis (see [`transform_images`][skdigits.augment.transform_images]).

    Parameters
    ----------
    images : ndarray of shape (n_samples, height, width[, channels]) or (n_samples, side * side)
        Images to transform; rows of a square image's pixels are warped as that image.
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
    stacked = _as_image_stack(images)
    out = np.empty_like(stacked)
    for start in range(0, len(stacked), _CHUNK):
        batch = stacked[start : start + _CHUNK]
        params = _draw_transforms(lambda low, high: rng.uniform(low, high, len(batch)), rotation, zoom, shift)
        out[start : start + _CHUNK] = keras.ops.convert_to_numpy(transform_images(batch, *params))
    return out.reshape(images.shape)


def shifted_copies(images, offsets):
    """Yield one copy of the images per offset, moved by whole pixels; zeros fill in.

    What shift test-time augmentation averages over
    (``DigitCNNClassifier(tta_shift=1)``). The copies are made by
    [`transform_images`][skdigits.augment.transform_images], the augmentation's one
    geometry, and are exact: whole-pixel shifts need no interpolation.

    Parameters
    ----------
    images : ndarray of shape (n_samples, height, width[, channels]) or (n_samples, side * side)
        Images to copy; rows of a square image's pixels are moved as that image.
    offsets : iterable of (int, int)
        Pixels to move each copy by, (down, right); negative values move up or left.

    Yields
    ------
    copy : ndarray of float32, same shape as `images`

    Examples
    --------
    >>> import numpy as np
    >>> from skdigits.augment import shifted_copies
    >>> image = np.zeros((1, 5, 5), dtype=np.float32)
    >>> image[0, 2, 2] = 1.0
    >>> down, left = shifted_copies(image, [(1, 0), (0, -2)])
    >>> np.argwhere(down[0]).tolist(), np.argwhere(left[0]).tolist()
    ([[3, 2]], [[2, 0]])
    """
    images = np.asarray(images, dtype=np.float32)
    stacked = _as_image_stack(images)
    for down, right in offsets:
        moved = [_shift(stacked[start : start + _CHUNK], down, right) for start in range(0, len(stacked), _CHUNK)]
        yield np.concatenate(moved).reshape(images.shape) if moved else images.copy()


def _shift(images, down, right):
    """`images` (n, h, w, c) moved by whole pixels, with transform_images' fractions of the
    size that are positive towards the top left."""
    n, height, width = images.shape[:3]
    zeros, ones = np.zeros(n), np.ones(n)
    moved = transform_images(images, zeros, ones, ones, np.full(n, -down / height), np.full(n, -right / width))
    return keras.ops.convert_to_numpy(moved)


def _as_image_stack(images):
    """(n, h, w, c) view of images given as (n, h, w, c), (n, h, w) or square rows (n, side * side)."""
    if images.ndim == 4:
        return images
    if images.ndim == 3:
        return images[..., None]
    side = math.isqrt(images.shape[1])
    if images.ndim != 2 or side * side != images.shape[1]:
        raise ValueError(
            f"images of shape {images.shape} are not images; expected (n, height, width[, channels]) "
            f"or rows of square images (n, side * side), such as (n, 784)."
        )
    return images.reshape(len(images), side, side, 1)


def images_per_epoch(n_images, augmentation):
    """Images the network trains on per epoch: `n_images`, or with per-epoch copies
    ``keep_original`` times the originals plus ``n_copies`` fresh copies of each.

    Examples
    --------
    >>> from skdigits.augment import images_per_epoch
    >>> images_per_epoch(1000, None), images_per_epoch(1000, {"keep_original": True, "n_copies": 2})
    (1000, 3000)
    """
    if augmentation is None:
        return n_images
    return n_images * (int(augmentation["keep_original"]) + augmentation["n_copies"])


_MIXUP_STREAM = 7919  # folded into a batch's seed for its mixup draws, apart from its transformations


def _mix_with_neighbours(images, targets, alpha, seed):
    """Mixup with the previous image of the batch (the first image's partner is the last):
    image ``i`` becomes ``lam_i * images[i] + (1 - lam_i) * images[i - 1]``, its target
    likewise (as float32), with ``lam_i`` drawn from Beta(alpha, alpha) by the stateless `seed`."""
    g1, g2 = (
        tf.random.stateless_gamma(tf.shape(targets)[:1], gamma_seed, alpha=alpha)
        for gamma_seed in tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    )
    lam = g1 / (g1 + g2)
    images = lam[:, None, None, None] * images + (1 - lam[:, None, None, None]) * tf.roll(images, 1, 0)
    targets = tf.cast(targets, tf.float32)
    return images, lam[:, None] * targets + (1 - lam[:, None]) * tf.roll(targets, 1, 0)


def fresh_copies_dataset(X, y, sample_weight, augmentation, *, batch_size, epoch=0, mixup=0.0):
    """A ``tf.data`` pipeline that augments anew every time an image is drawn.

    Each epoch holds ``keep_original`` times the images as they are plus
    ``n_copies`` copies transformed with new random parameters, shuffled
    together, so the network never sees the same transformed copy twice. The
    draws are stateless, seeded from ``augmentation["seed"]`` and the epoch
    number: epoch ``e`` is always the same shuffle and transformations, and
    each epoch's differ, so a fit is reproducible and a fit resumed at epoch
    ``e`` trains on the images an uninterrupted one would have.

    Parameters
    ----------
    X : ndarray of shape (n_samples, height, width[, channels]) or (n_samples, side * side)
        Training images; batches come in the same shape.
    y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
        Targets as the network expects them.
    sample_weight : ndarray of shape (n_samples,) or None
        Per-image weights.
    augmentation : dict
        ``rotation``, ``zoom``, ``shift``, ``n_copies``, ``keep_original``
        and ``seed``, as handed over by ``AugmentingResampler(per_epoch=True)``.
    batch_size : int
        Images per batch.
    epoch : int or tf.Variable, default=0
        The epoch to draw. A ``tf.Variable`` is read at the start of every
        pass over the dataset, so assigning it between passes draws another
        epoch; [`DigitCNNClassifier`][skdigits.model.DigitCNNClassifier]
        assigns Keras' epoch number at the start of each epoch.
    mixup : float, default=0.0
        If above 0, mixup (Zhang et al. 2018): every image of a batch,
        original or copy, becomes ``lam * image + (1 - lam) * partner`` and
        its target ``lam * target + (1 - lam) * partner's``, where the
        partner is the image before it in the shuffled batch and ``lam`` is
        drawn from Beta(mixup, mixup) per image. `y` must then be one-hot.

    Returns
    -------
    dataset : tf.data.Dataset
        Batches of (images, targets[, sample_weight]).

    Examples
    --------
    >>> import numpy as np
    >>> import tensorflow as tf
    >>> from skdigits.augment import fresh_copies_dataset
    >>> X, y = np.zeros((10, 28, 28, 1), np.float32), np.arange(10)
    >>> spec = dict(rotation=10.0, zoom=0.1, shift=0.1, n_copies=1, keep_original=True, seed=0)
    >>> sum(len(batch[1]) for batch in fresh_copies_dataset(X, y, None, spec, batch_size=8))
    20
    >>> epoch = tf.Variable(0)
    >>> dataset = fresh_copies_dataset(X, y, None, spec, batch_size=20, epoch=epoch)
    >>> first = next(iter(dataset))[1].numpy()
    >>> _ = epoch.assign(1)
    >>> bool((next(iter(dataset))[1].numpy() == first).all())  # another shuffle
    False
    """
    n_images = len(X)
    n_originals = n_images * int(augmentation["keep_original"])
    epoch_size = images_per_epoch(n_images, augmentation)
    seed = int(augmentation["seed"])
    sample_shape = X.shape[1:]
    images = tf.convert_to_tensor(_as_image_stack(np.asarray(X, np.float32)))
    targets = tf.convert_to_tensor(y)
    weights = None if sample_weight is None else tf.convert_to_tensor(sample_weight, tf.float32)
    ranges = (augmentation["rotation"], augmentation["zoom"], augmentation["shift"])

    def load(index, batch_seed):
        rows = index % n_images
        batch = tf.gather(images, rows)
        seeds = tf.random.experimental.stateless_split(batch_seed, 5)
        draws = iter(range(5))

        def uniform(low, high):
            return tf.random.stateless_uniform(tf.shape(rows), seeds[next(draws)], low, high)

        if n_originals < epoch_size:  # some copies to transform
            augmented = transform_images(batch, *_draw_transforms(uniform, *ranges))
            batch = tf.where(tf.reshape(index >= n_originals, [-1, 1, 1, 1]), augmented, batch)
        labels = tf.gather(targets, rows)
        if mixup:
            mix_seed = tf.random.experimental.stateless_fold_in(batch_seed, _MIXUP_STREAM)
            batch, labels = _mix_with_neighbours(batch, labels, mixup, mix_seed)
        data = (tf.reshape(batch, [-1, *sample_shape]), labels)
        return data if weights is None else (*data, tf.gather(weights, rows))

    n_batches = math.ceil(epoch_size / batch_size)

    def epoch_batches(_):
        # read when a pass starts, so the variable's value at that moment picks the epoch
        epoch_seed = tf.random.experimental.stateless_fold_in(tf.constant([seed, 0], tf.int64), tf.cast(epoch, tf.int64))
        shuffle_seed, transform_seed = tf.unstack(tf.random.experimental.stateless_split(epoch_seed, 2))
        order = tf.random.experimental.stateless_shuffle(tf.range(epoch_size, dtype=tf.int64), shuffle_seed)
        batch_seeds = tf.random.experimental.stateless_split(transform_seed, n_batches)
        return tf.data.Dataset.zip(
            tf.data.Dataset.from_tensor_slices(order).batch(batch_size), tf.data.Dataset.from_tensor_slices(batch_seeds)
        )

    return (
        tf.data.Dataset.from_tensors(0)
        .flat_map(epoch_batches)
        .map(load, num_parallel_calls=tf.data.AUTOTUNE)
        .apply(tf.data.experimental.assert_cardinality(n_batches))  # for Keras' progress bar and step count
        .prefetch(tf.data.AUTOTUNE)
    )


class _ImagesToAugment(np.ndarray):
    """Training images with the per-epoch augmentation the classifier should apply."""

    def __array_finalize__(self, source):
        self.augmentation = getattr(source, "augmentation", None)


class AugmentingResampler(BaseSampler):
    """Add randomly rotated, zoomed and shifted copies of the training images.

    A sampler in the imbalanced-learn sense: inside an
    `imblearn.pipeline.Pipeline` it runs during ``fit`` only, so
    ``predict``, ``score`` and validation data see the original images.

    With ``per_epoch=False`` it returns the copies themselves, drawn once per
    ``fit_resample``: with an int `random_state` every fit draws the same
    copies, with None or a ``RandomState`` each fit draws new ones. With
    ``per_epoch=True`` it returns the images unchanged, marked with its
    ranges, and [`DigitCNNClassifier`][skdigits.model.DigitCNNClassifier] draws the copies anew
    for every epoch (see [`fresh_copies_dataset`][skdigits.augment.fresh_copies_dataset]); the epoch size is the
    same as with static copies. Both use [`transform_images`][skdigits.augment.transform_images].

    Parameters
    ----------
    rotation : float, default=10.0
        Maximum rotation in degrees.
    zoom : float, default=0.1
        Maximum relative zoom in or out, per axis.
    shift : float, default=0.1
        Maximum shift as a fraction of the image height and width.
    n_copies : int, default=1
        Number of augmented copies of each image (per fit, or per epoch).
    keep_original : bool, default=True
        Whether the original images are trained on too.
    per_epoch : bool, default=False
        Draw the copies anew for every epoch inside the classifier instead of
        once here. Needs a [`DigitCNNClassifier`][skdigits.model.DigitCNNClassifier] as the next
        step.
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
    >>> X_res, _ = AugmentingResampler(per_epoch=True, random_state=0).fit_resample(X, y)
    >>> X_res.shape, X_res.augmentation["n_copies"]
    ((10, 28, 28, 1), 1)
    """

    _sampling_type = "bypass"
    _parameter_constraints = {
        "rotation": [Interval(numbers.Real, 0, 180, closed="both")],
        "zoom": [Interval(numbers.Real, 0, 1, closed="left")],
        "shift": [Interval(numbers.Real, 0, 1, closed="both")],
        "n_copies": [Interval(numbers.Integral, 0, None, closed="left")],
        "keep_original": ["boolean"],
        "per_epoch": ["boolean"],
        "random_state": ["random_state"],
    }

    def __init__(
        self, *, rotation=10.0, zoom=0.1, shift=0.1, n_copies=1, keep_original=True, per_epoch=False, random_state=None
    ):
        super().__init__()
        self.rotation = rotation
        self.zoom = zoom
        self.shift = shift
        self.n_copies = n_copies
        self.keep_original = keep_original
        self.per_epoch = per_epoch
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
        if self.per_epoch:
            marked = X.view(_ImagesToAugment)
            marked.augmentation = {
                "rotation": float(self.rotation), "zoom": float(self.zoom), "shift": float(self.shift),
                "n_copies": int(self.n_copies), "keep_original": bool(self.keep_original),
                "seed": int(rng.randint(np.iinfo(np.int32).max)),
            }
            return marked, y
        copies = [X] if self.keep_original else []
        for _ in range(self.n_copies):
            augmented = random_affine(X, rotation=self.rotation, zoom=self.zoom, shift=self.shift, random_state=rng)
            copies.append(augmented)
        n_sets = len(copies)
        return np.concatenate(copies), np.tile(y, n_sets)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        tags.non_deterministic = False
        return tags
