"""The convolutional network, its learning-rate annealer and the sklearn classifier."""

import contextlib
import hashlib
import inspect
import json
import math
import numbers
import os
import random
import warnings
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from scikeras.wrappers import KerasClassifier
from scipy.sparse import issparse
from scipy.special import softmax
from sklearn.utils import ClassifierTags, check_random_state
from sklearn.utils._param_validation import Interval, Options, StrOptions, validate_params
from sklearn.utils.validation import _num_samples

from .augment import fresh_copies_dataset, images_per_epoch, shifted_copies
from .preprocessing import check_targets

__all__ = [
    "DigitCNNClassifier",
    "LearningRateAnnealer",
    "WarmupCosineSchedule",
    "build_digit_cnn",
    "recalibrate_batchnorm",
    "share_cores_with_other_workers",
]

_MIN_BATCH_SIZE = 16  # the smallest batch min_steps may shrink a fit to


class _PositiveInts(Options):
    """A tuple or list of positive ints, at least `min_length` long.

    An ``Options`` subclass only so that sklearn's parameter validation accepts it.
    """

    def __init__(self, min_length):
        super().__init__(tuple, set())
        self.min_length = min_length

    def is_satisfied_by(self, val):
        return (
            isinstance(val, (tuple, list))
            and len(val) >= self.min_length
            and all(isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 1 for v in val)
        )

    def __str__(self):
        return f"a tuple of at least {self.min_length} positive int(s)"


#: The network's parameters: checked by build_digit_cnn and DigitCNNClassifier.fit alike.
_ARCHITECTURE_CONSTRAINTS = {
    "filters": [_PositiveInts(min_length=1)],
    "dense_units": [_PositiveInts(min_length=0)],
    "dropout": [Interval(numbers.Real, 0, 1, closed="left")],
    "bn_momentum": [Interval(numbers.Real, 0, 1, closed="both")],
    "downsampling": [StrOptions({"maxpool", "strided", "none"})],
    "dtype_policy": [StrOptions({"float32", "mixed_bfloat16", "mixed_float16"})],
}


def share_cores_with_other_workers():
    """Size TensorFlow's thread pools to this process's share of the cores.

    joblib's loky workers set ``OMP_NUM_THREADS`` to ``cpu_count // n_jobs`` and
    dask's worker processes set it to 1, but TensorFlow ignores it and starts a
    thread per core in every worker, so parallel folds or trials would fight
    for the cores. skdigits calls this when it is imported: the number of
    threads comes from ``SKDIGITS_TF_THREADS`` or else ``OMP_NUM_THREADS``;
    with neither set TensorFlow keeps its default (all cores). TensorFlow fixes
    its pools at its first operation, so this has no effect after that.

    Returns
    -------
    threads : int or None
        The number of intra-op threads set, or None if left to TensorFlow.

    Examples
    --------
    >>> from skdigits.model import share_cores_with_other_workers
    >>> share_cores_with_other_workers() in (None, 1, 2)
    True
    """
    setting = os.environ.get("SKDIGITS_TF_THREADS") or os.environ.get("OMP_NUM_THREADS")
    if not setting or not setting.strip().isdigit() or int(setting) < 1:
        return None
    threads = int(setting)
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:  # TensorFlow already ran in this process: its pools are fixed
        return None
    return threads


share_cores_with_other_workers()


class LearningRateAnnealer(keras.callbacks.Callback):
    """Set the learning rate to ``initial_learning_rate * decay**epoch``.

    A named class rather than a ``LearningRateScheduler(lambda ...)``, so
    estimators holding it can be cloned and pickled.

    Parameters
    ----------
    initial_learning_rate : float, default=1e-3
        Learning rate of the first epoch.
    decay : float, default=0.9
        Factor applied to the learning rate after every epoch; 1.0 keeps
        it constant.

    Examples
    --------
    >>> from skdigits import LearningRateAnnealer
    >>> annealer = LearningRateAnnealer(initial_learning_rate=1e-3, decay=0.9)
    >>> round(annealer.learning_rate(2), 6)
    0.00081
    """

    def __init__(self, initial_learning_rate=1e-3, decay=0.9):
        super().__init__()
        self.initial_learning_rate = initial_learning_rate
        self.decay = decay

    def learning_rate(self, epoch):
        """Learning rate for a 0-based `epoch`."""
        return self.initial_learning_rate * self.decay**epoch

    def on_epoch_begin(self, epoch, logs=None):
        self.model.optimizer.learning_rate = self.learning_rate(epoch)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(self.learning_rate(epoch))


class WarmupCosineSchedule(keras.callbacks.Callback):
    """Warm the learning rate up linearly, then decay it along a cosine, per optimiser step.

    Defined over the steps of the whole fit (epochs x batches per epoch, read
    from Keras at the start of training), so a fit of 40 steps and one of
    4,000 both warm up and then anneal to `alpha` times the peak, whatever the
    data size, batch size or number of epochs. A named class (no lambda), so
    estimators holding it can be cloned and pickled.

    Parameters
    ----------
    peak_learning_rate : float, default=3e-3
        Learning rate at the end of the warm-up.
    warmup : float, default=0.1
        Share of the steps spent warming up, from ``peak_learning_rate / n_warmup_steps``.
    alpha : float, default=0.0
        Learning rate of the last step, as a fraction of `peak_learning_rate`.

    Examples
    --------
    >>> from skdigits import WarmupCosineSchedule
    >>> schedule = WarmupCosineSchedule(peak_learning_rate=1e-3, warmup=0.1)
    >>> [round(schedule.learning_rate(step, 100), 6) for step in (0, 9, 99)]
    [0.0001, 0.001, 0.0]
    """

    def __init__(self, peak_learning_rate=3e-3, warmup=0.1, alpha=0.0):
        super().__init__()
        self.peak_learning_rate = peak_learning_rate
        self.warmup = warmup
        self.alpha = alpha

    def learning_rate(self, step, n_steps):
        """Learning rate of 0-based optimiser `step` out of `n_steps`."""
        n_warmup = max(1, round(self.warmup * n_steps)) if self.warmup > 0 else 0
        if step < n_warmup:
            return self.peak_learning_rate * (step + 1) / n_warmup
        progress = min(1.0, (step + 1 - n_warmup) / max(1, n_steps - n_warmup))
        low = self.alpha * self.peak_learning_rate
        return low + (self.peak_learning_rate - low) * 0.5 * (1 + math.cos(math.pi * progress))

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        steps_per_epoch = self.params["steps"]
        step = self._epoch * steps_per_epoch + batch
        self.model.optimizer.learning_rate = self.learning_rate(step, self.params["epochs"] * steps_per_epoch)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))


class _DrawEpoch(keras.callbacks.Callback):
    """Set the epoch that `fresh_copies_dataset` draws to Keras' epoch number, which
    starts past 0 in a fit that ``BackupAndRestore`` resumed."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch.assign(epoch)


class _ResumableState(keras.callbacks.Callback):
    """Training state that ``BackupAndRestore`` does not keep, saved beside its backup.

    With a `backup_dir` (the folder of ``BackupAndRestore``) the arrays of
    ``_get_state`` are saved there after every epoch, and if `resuming` (the
    folder held a backup when the fit started) the fit hands them back to
    ``_set_state`` when ``BackupAndRestore`` has moved it past epoch 0; without
    them it warns and carries on with ``_LOST``. Subclasses name the ``_FILE``.
    """

    _FILE = _LOST = None

    def __init__(self, backup_dir=None, resuming=False):
        super().__init__()
        self.backup_dir = backup_dir
        self.resuming = resuming

    def on_train_begin(self, logs=None):
        self._first_epoch = True

    def on_epoch_begin(self, epoch, logs=None):
        # a fit that starts past epoch 0 from a backup is one that BackupAndRestore resumed
        # (the backup is deleted when a fit completes, so a later warm start finds none)
        if self._first_epoch and epoch > 0 and self.resuming:
            self._restore(epoch)
        self._first_epoch = False

    def _restore(self, epoch):
        path = Path(self.backup_dir) / self._FILE
        saved = {}
        if path.is_file():
            with np.load(path) as file:
                saved = dict(file)
        if saved.get("epoch") != epoch:
            found = f"the state after epoch {int(saved['epoch'])}" if saved else "nothing"
            warnings.warn(
                f"The fit resumes after epoch {epoch} from its backup, but {path} holds {found}, so {self._LOST}. "
                f"Delete {self.backup_dir} to fit from the start.",
                UserWarning,
            )
            return
        self._set_state(saved)

    def on_epoch_end(self, epoch, logs=None):
        if self.backup_dir is None:
            return
        folder = Path(self.backup_dir)
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / f"{self._FILE}.tmp", "wb") as file:  # a file object, so numpy adds no ".npz"
            np.savez(file, epoch=epoch + 1, **self._get_state())
        os.replace(folder / f"{self._FILE}.tmp", folder / self._FILE)


class _RandomState(_ResumableState):
    """Resume the random draws of the network's layers (dropout's masks) where the
    interrupted fit left them, so that a resumed fit trains as an uninterrupted one."""

    _FILE = "random_state.npz"
    _LOST = "dropout draws other masks than an uninterrupted fit would"

    def _seed_states(self):
        weights = {id(weight) for weight in self.model.weights}  # Layer.variables adds the seed generators' states
        return [variable for variable in self.model.variables if id(variable) not in weights]

    def _get_state(self):
        return {f"seed_{index}": state.numpy() for index, state in enumerate(self._seed_states())}

    def _set_state(self, saved):
        for index, state in enumerate(self._seed_states()):
            state.assign(saved[f"seed_{index}"])


class _WeightAverage(_ResumableState):
    """Keep an exponential moving average of the trainable weights and predict with it.

    The decay warms up as ``min(decay, (1 + t) / (10 + t))`` after step t, as in
    TensorFlow's ``ExponentialMovingAverage(num_updates=...)``: Keras' optimizer
    ``use_ema`` has a fixed decay, which in a 300-step fit at 0.999 would keep
    three quarters of the random initial weights.

    With a `backup_dir` a fit that resumes from that folder's backup resumes the
    average and its step count too, instead of restarting it from the restored
    weights.
    """

    _FILE = "weight_average.npz"
    _LOST = "the weight average restarts from the restored weights"

    def __init__(self, decay, backup_dir=None, resuming=False):
        super().__init__(backup_dir, resuming)
        self.decay = decay

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self._weights = [variable.value for variable in self.model.trainable_variables]
        self.averages = [tf.Variable(weight, trainable=False) for weight in self._weights]
        self._step = 0
        self._update = tf.function(self._assign_average)

    def _get_state(self):
        return {"step": self._step, **{f"average_{index}": average.numpy() for index, average in enumerate(self.averages)}}

    def _set_state(self, saved):
        for index, average in enumerate(self.averages):
            average.assign(saved[f"average_{index}"])
        self._step = int(saved["step"])

    def _assign_average(self, decay):
        for average, weight in zip(self.averages, self._weights):
            average.assign(decay * average + (1 - decay) * weight)

    def on_train_batch_end(self, batch, logs=None):
        self._step += 1
        self._update(tf.constant(min(self.decay, (1 + self._step) / (10 + self._step)), tf.float32))

    def on_train_end(self, logs=None):
        for variable, average in zip(self.model.trainable_variables, self.averages):
            variable.assign(average)


def recalibrate_batchnorm(model, images, *, batch_size=1024):
    """Set every BatchNormalization layer's moving statistics to those of `images`.

    The statistics that prediction uses are otherwise running averages
    collected during training under weights that kept changing: after a short
    fit they lag far behind, and after weight averaging they belong to other
    weights. Here each layer's mean and variance are measured exactly, layer
    by layer in prediction mode, so that each one sees the recalibrated
    layers before it.

    Parameters
    ----------
    model : keras.Model
        A functional model, changed in place.
    images : ndarray
        Inputs to measure on (a few thousand training images suffice).
    batch_size : int, default=1024
        Images per forward pass.

    Returns
    -------
    model : keras.Model

    Examples
    --------
    >>> import keras
    >>> import numpy as np
    >>> from skdigits.model import build_digit_cnn, recalibrate_batchnorm
    >>> model = build_digit_cnn((28, 28, 1), 10, filters=(4,), dense_units=(8,))
    >>> images = np.random.default_rng(0).random((64, 28, 28, 1), dtype=np.float32)
    >>> recalibrated = recalibrate_batchnorm(model, images)
    >>> first_bn = keras.Model(model.input, model.layers[2].output)   # Conv2D -> BatchNormalization
    >>> bool(np.abs(first_bn(images, training=False).numpy().mean(axis=(0, 1, 2))).max() < 1e-3)
    True
    """
    for layer in model.layers:
        if not isinstance(layer, keras.layers.BatchNormalization):
            continue
        probe = keras.Model(model.input, layer.input)
        total, total_sq, count = 0.0, 0.0, 0
        for start in range(0, len(images), batch_size):
            features = probe(images[start : start + batch_size], training=False)
            axes = list(range(len(features.shape) - 1))
            total += tf.reduce_sum(tf.cast(features, tf.float64), axes)
            total_sq += tf.reduce_sum(tf.square(tf.cast(features, tf.float64)), axes)
            count += int(np.prod(features.shape[:-1]))
        mean = total / count
        layer.moving_mean.assign(tf.cast(mean, layer.moving_mean.dtype))
        layer.moving_variance.assign(tf.cast(tf.maximum(total_sq / count - mean**2, 0.0), layer.moving_variance.dtype))
    return model


@validate_params(
    {"input_shape": [tuple, list], "n_classes": [Interval(numbers.Integral, 2, None, closed="left")],
     **_ARCHITECTURE_CONSTRAINTS},
    prefer_skip_nested_validation=True,
)
def build_digit_cnn(
    input_shape,
    n_classes,
    *,
    filters=(16, 32),
    dense_units=(512, 1024),
    dropout=0.25,
    bn_momentum=0.99,
    downsampling="maxpool",
    dtype_policy="float32",
):
    """Build the reference notebook's network, or its strided or unpooled variant (uncompiled).

    Each entry of `filters` adds a block Conv-BN, Conv-BN with 3x3 unpadded
    convolutions, then a downsampling layer and Dropout; each entry of
    `dense_units` adds a Dense-ReLU layer followed by Dropout; a softmax
    layer ends the network.

    Parameters
    ----------
    input_shape : tuple of int
        Shape of one sample: (height, width, channels), or (n_pixels,)
        for square single-channel images given as rows.
    n_classes : int
        Number of output classes.
    filters : sequence of int, default=(16, 32)
        Filters of each convolutional block.
    dense_units : sequence of int, default=(512, 1024)
        Units of each hidden dense layer.
    dropout : float, default=0.25
        Dropout rate after each block and dense layer.
    bn_momentum : float, default=0.99
        Momentum of the batch-normalisation moving statistics (Keras'
        default). Lower values let the inference statistics catch up in
        fewer training steps.
    downsampling : {"maxpool", "strided", "none"}, default="maxpool"
        "maxpool": 2x2 max pooling, as in the reference notebook.
        "strided": a learned 5x5 convolution with stride 2 and batch
        normalisation, as in the strongest Kaggle kernels.
        "none": no downsampling layer; only the unpadded convolutions
        shrink the image, by 4 pixels per block. With
        ``filters=(32, 64, 96, 128, 160)``, ``dense_units=()`` and
        ``dropout=0.0`` this is the M3-style network of An et al. (2020),
        "An Ensemble of Simple Convolutional Neural Network Models for
        MNIST Digit Recognition": 28x28 down to 8x8, about ten times the
        computation per image of the strided network.
    dtype_policy : {"float32", "mixed_bfloat16", "mixed_float16"}, default="float32"
        Keras dtype policy of every layer but the softmax, which stays
        float32 so that the probabilities keep their precision. The mixed
        policies keep the weights in float32 and compute in 16 bits: faster
        on hardware with 16-bit matrix units (GPUs; CPUs with AMX or
        AVX512-BF16 for ``"mixed_bfloat16"``), slower elsewhere.

    Returns
    -------
    model : keras.Model
        The network, not compiled.

    Examples
    --------
    >>> from skdigits.model import build_digit_cnn
    >>> model = build_digit_cnn((28, 28, 1), 10)
    >>> model.output_shape
    (None, 10)
    """
    inputs = keras.Input(shape=tuple(input_shape))
    policy = {"dtype": dtype_policy}
    x = inputs
    if len(input_shape) == 1:
        side = math.isqrt(input_shape[0])
        x = keras.layers.Reshape((side, side, 1), **policy)(x)
    for block, n_filters in enumerate(filters, start=1):
        _check_block_fits(x.shape[1], block, len(filters), downsampling)
        for _ in range(2):
            x = _conv_bn(x, n_filters, 3, bn_momentum, policy)
        if downsampling == "maxpool":
            x = keras.layers.MaxPool2D(strides=2, **policy)(x)
        elif downsampling == "strided":
            x = _conv_bn(x, n_filters, 5, bn_momentum, policy, strides=2, padding="same")
        x = keras.layers.Dropout(dropout, **policy)(x)
    x = keras.layers.Flatten(**policy)(x)
    for units in dense_units:
        x = keras.layers.Dense(units, activation="relu", **policy)(x)
        x = keras.layers.Dropout(dropout, **policy)(x)
    outputs = keras.layers.Dense(n_classes, activation="softmax", dtype="float32")(x)
    return keras.Model(inputs, outputs, name="digit_cnn")


def _check_block_fits(side, block, n_blocks, downsampling):
    """Raise if block number `block` gets an image too small for two unpadded 3x3 convolutions."""
    if side < 5:
        raise ValueError(
            f"filters has {n_blocks} entries, but with downsampling={downsampling!r} block {block} "
            f"gets a {side}x{side} image, too small for two unpadded 3x3 convolutions; give filters "
            f"at most {block - 1} entries or use another downsampling."
        )


def _conv_bn(x, n_filters, kernel_size, bn_momentum, policy, **conv_kwargs):
    x = keras.layers.Conv2D(n_filters, kernel_size, activation="relu", **policy, **conv_kwargs)(x)
    return keras.layers.BatchNormalization(momentum=bn_momentum, **policy)(x)


#: The architecture defaults, written once: in build_digit_cnn's signature.
_ARCHITECTURE = {
    name: parameter.default
    for name, parameter in inspect.signature(build_digit_cnn).parameters.items()
    if parameter.kind is inspect.Parameter.KEYWORD_ONLY
}


_SPARSE_LOSS = "sparse_categorical_crossentropy"


class DigitCNNClassifier(KerasClassifier):
    """The reference notebook's CNN as a scikit-learn classifier.

    A `scikeras.wrappers.KerasClassifier` whose network is built by
    [`build_digit_cnn`][skdigits.model.build_digit_cnn], trained with Adam under a
    [`LearningRateAnnealer`][skdigits.model.LearningRateAnnealer] (per epoch, the notebook's) or a
    [`WarmupCosineSchedule`][skdigits.model.WarmupCosineSchedule] (per step). After training, the
    batch-normalisation statistics are measured anew on up to 2,048 training
    images ([`recalibrate_batchnorm`][skdigits.model.recalibrate_batchnorm]), so that they belong to the weights
    that predict. Its defaults are the reference notebook's network and
    training (``preset="reference"``); [`make_digit_pipeline`][skdigits.pipeline.make_digit_pipeline]'s presets
    change them. It fixes two scikeras 0.13 traps: the
    classifier tags are restored (so ``is_classifier`` is True and
    cross-validation stratifies), and callbacks passed to ``fit`` run
    alongside those given to the constructor.

    Parameters
    ----------
    filters : tuple of int, default=(16, 32)
        Filters of each convolutional block (two conv layers per block).
    dense_units : tuple of int, default=(512, 1024)
        Units of each hidden dense layer.
    dropout : float, default=0.25
        Dropout rate after each block and dense layer.
    bn_momentum : float, default=0.99
        Momentum of the batch-normalisation moving statistics during
        training (what validation data is scored with between epochs). At
        the end of ``fit`` they are measured anew, whatever the momentum.
    downsampling : {"maxpool", "strided", "none"}, default="maxpool"
        How each block halves the image: max pooling (the notebook) or a
        5x5 convolution with stride 2; or "none", no halving, for the
        M3-style network (see [`build_digit_cnn`][skdigits.model.build_digit_cnn]).
    dtype_policy : {"float32", "mixed_bfloat16", "mixed_float16"}, default="float32"
        Keras mixed precision: the mixed policies compute in 16 bits and
        keep the weights and the probabilities in float32. Faster where the
        hardware has 16-bit matrix units (GPUs; CPUs with AMX, where
        ``"mixed_bfloat16"`` trained the M3-style network 1.4-1.65 times as fast
        and the strided preset as accurately but no faster;
        ``benchmarks/README.md``), slower elsewhere. ``"mixed_float16"``
        scales the loss (Keras' ``LossScaleOptimizer``).
    learning_rate : float, default=1e-3
        Learning rate of the first epoch ("exponential"), or the peak
        learning rate ("cosine").
    lr_schedule : {"exponential", "cosine"}, default="exponential"
        "exponential": ``learning_rate * lr_decay**epoch``, the notebook's
        annealer. "cosine": linear warm-up over the first `warmup` share of
        the optimiser steps, then cosine decay to 0 at the last step.
    lr_decay : float, default=0.9
        With "exponential", the factor applied after every epoch.
    warmup : float, default=0.1
        With "cosine", the share of the steps spent warming up.
    ema_decay : float or None, default=None
        If set (e.g. 0.999), predict with an exponential moving average of
        the weights, updated after every step with this decay (warmed up as
        ``min(ema_decay, (1 + t) / (10 + t))``, so short fits work too).
    label_smoothing : float, default=0.0
        If above 0, train on one-hot targets smoothed by this much (Keras'
        ``CategoricalCrossentropy(label_smoothing=...)``) instead of the
        sparse cross-entropy; the labels ``fit`` takes do not change. Only
        with the default `loss`.
    mixup : float, default=0.0
        If above 0, train on mixup (Zhang et al. 2018): each training image
        and its one-hot target are blended with those of its neighbour in
        the shuffled batch, by a weight drawn from Beta(mixup, mixup) per
        image (see [`fresh_copies_dataset`][skdigits.augment.fresh_copies_dataset]);
        0.2 in the ``"mixup"`` preset. Prediction sees whole images. Only
        with the default `loss`.
    epochs : int, default=20
        Number of passes over the training data.
    batch_size : int, default=64
        Training batch size; smaller when `min_steps` asks for it.
    min_steps : int, default=300
        Fewest optimiser steps a fit should take. When ``epochs`` passes at
        `batch_size` would take fewer, the batch size shrinks (down to 16)
        until they do; if even that is not enough, ``fit`` warns that the
        model is unlikely to be trained. 0 turns both off.
    predict_batch_size : int, default=1024
        Batch size for ``predict`` and ``predict_proba``.
    temperature : float, default=1.0
        ``predict_proba`` returns the network's probabilities tempered as
        ``softmax(log(p) / temperature)``: above 1 less confident, below 1
        more; ``predict`` is the same whatever it is. The presets set it so
        that soft votes weigh members by how sure they really are (chosen by
        log loss on the selection split). It can be set on a fitted model.
    tta_shift : int, default=0
        Shift test-time augmentation: if above 0, ``predict``,
        ``predict_proba`` and ``score`` average the probabilities of each
        image and of four copies moved this many pixels up, down, left and
        right ([`shifted_copies`][skdigits.augment.shifted_copies]), at five
        times the prediction cost. Training and the validation scores
        during ``fit`` do not use it; it can be set on a fitted model.
    verbose : int, default=0
        Keras' progress output during ``fit``: 0 silent, 1 progress bar,
        2 one line per epoch. Prediction is always silent.
    checkpoint_dir : str, path-like or None, default=None
        If set, ``fit`` saves the training state (weights, optimizer, epoch
        and the `ema_decay` weight average) in ``checkpoint_dir/backup``
        after every epoch with Keras' ``BackupAndRestore``, and the best
        weights so far (lowest ``val_loss``, or ``loss`` without validation
        data) in ``checkpoint_dir/best.weights.h5``. A fit that was
        interrupted resumes from its last finished epoch when run again with
        the same folder and data, and per-epoch augmentation draws the
        shuffles and transformations of the epochs it has not trained on
        yet; the backup is deleted once a fit completes. A fit on other
        images, labels or training settings refuses a backup it finds there
        (``ValueError``): give each fit its own folder.
    random_state : int, RandomState instance or None, default=None
        Seed for weight initialisation, dropout and shuffling. With an int,
        two fits on the same CPU give the same predictions.
    **kwargs
        Any other `scikeras.wrappers.KerasClassifier` parameter
        (``callbacks``, ``optimizer``, ``optimizer__beta_1``, ``fit__...``,
        ``validation_split``, ``warm_start`` ...).

    Attributes
    ----------
    model_ : keras.Model
        The trained network.
    history_ : dict of list
        Loss, accuracy and learning rate per epoch (under the raw weights,
        not the averaged ones, with `ema_decay`).
    batch_size_ : int
        The training batch size used (see `min_steps`).
    augmentation_ : dict or None
        The per-epoch augmentation handed over by
        ``AugmentingResampler(per_epoch=True)``, or None.
    classes_ : ndarray
        The class labels.
    n_features_in_ : int
        Size of the first feature dimension seen during `fit`.

    Examples
    --------
    >>> import numpy as np
    >>> from skdigits import DigitCNNClassifier
    >>> X = np.random.default_rng(0).random((40, 28, 28, 1), dtype=np.float32)
    >>> y = np.arange(40) % 10
    >>> clf = DigitCNNClassifier(filters=(4,), dense_units=(8,), epochs=1, random_state=0)
    >>> clf.fit(X, y).predict(X[:3]).shape
    (3,)
    """

    _parameter_constraints = {
        **_ARCHITECTURE_CONSTRAINTS,
        "learning_rate": [Interval(numbers.Real, 0, None, closed="neither")],
        "lr_schedule": [StrOptions({"exponential", "cosine"})],
        "lr_decay": [Interval(numbers.Real, 0, None, closed="neither")],
        "warmup": [Interval(numbers.Real, 0, 1, closed="left")],
        "ema_decay": [None, Interval(numbers.Real, 0, 1, closed="neither")],
        "label_smoothing": [Interval(numbers.Real, 0, 1, closed="left")],
        "mixup": [Interval(numbers.Real, 0, None, closed="left")],
        "epochs": [Interval(numbers.Integral, 1, None, closed="left")],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "min_steps": [Interval(numbers.Integral, 0, None, closed="left")],
        "predict_batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "temperature": [Interval(numbers.Real, 0, None, closed="neither")],
        "tta_shift": [Interval(numbers.Integral, 0, None, closed="left")],
        "verbose": ["verbose"],
        "checkpoint_dir": [None, str, os.PathLike],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        model=None,
        *,
        filters=_ARCHITECTURE["filters"],
        dense_units=_ARCHITECTURE["dense_units"],
        dropout=_ARCHITECTURE["dropout"],
        bn_momentum=_ARCHITECTURE["bn_momentum"],
        downsampling=_ARCHITECTURE["downsampling"],
        dtype_policy=_ARCHITECTURE["dtype_policy"],
        learning_rate=1e-3,
        lr_schedule="exponential",
        lr_decay=0.9,
        warmup=0.1,
        ema_decay=None,
        label_smoothing=0.0,
        mixup=0.0,
        epochs=20,
        batch_size=64,
        min_steps=300,
        predict_batch_size=1024,
        temperature=1.0,
        tta_shift=0,
        verbose=0,
        checkpoint_dir=None,
        optimizer="adam",
        loss=_SPARSE_LOSS,
        metrics=("accuracy",),
        random_state=None,
        **kwargs,
    ):
        super().__init__(
            model=model,
            optimizer=optimizer,
            loss=loss,
            metrics=metrics,
            epochs=epochs,
            batch_size=batch_size,
            verbose=verbose,
            random_state=random_state,
            **kwargs,
        )
        self.filters = filters
        self.dense_units = dense_units
        self.dropout = dropout
        self.bn_momentum = bn_momentum
        self.downsampling = downsampling
        self.dtype_policy = dtype_policy
        self.learning_rate = learning_rate
        self.lr_schedule = lr_schedule
        self.lr_decay = lr_decay
        self.warmup = warmup
        self.ema_decay = ema_decay
        self.label_smoothing = label_smoothing
        self.mixup = mixup
        self.min_steps = min_steps
        self.predict_batch_size = predict_batch_size
        self.temperature = temperature
        self.tta_shift = tta_shift
        self.checkpoint_dir = checkpoint_dir

    def fit(self, X, y, sample_weight=None, **kwargs):
        """Train the network on images `X` and labels `y`; returns self."""
        self._validate_params()
        if issparse(X):
            raise TypeError(
                f"{type(self).__name__} does not accept sparse input (got {type(X).__name__}); images are dense: "
                "pass X.toarray()."
            )
        check_targets(y, n_samples=_num_samples(X))
        for name in ("label_smoothing", "mixup"):
            if getattr(self, name) and self.loss != _SPARSE_LOSS:
                raise ValueError(
                    f"{name}={getattr(self, name)} trains on one-hot targets with a categorical cross-entropy, "
                    f"but loss={self.loss!r} was given too; keep the default loss, or set {name}=0."
                )
        # set by AugmentingResampler(per_epoch=True); lost when scikeras validates X
        self.augmentation_ = getattr(X, "augmentation", None)
        super().fit(X, y, sample_weight=sample_weight, **kwargs)
        # scikeras 0.13's KerasClassifier.fit clears classes_, and a warm start, which keeps
        # the fitted label encoder, never sets it again
        self.classes_ = self.target_encoder_.classes_
        return self

    def _keras_build_fn(self, meta, compile_kwargs):
        model = build_digit_cnn(
            meta["X_shape_"][1:],
            meta["n_classes_"],
            filters=self.filters,
            dense_units=self.dense_units,
            dropout=self.dropout,
            bn_momentum=self.bn_momentum,
            downsampling=self.downsampling,
            dtype_policy=self.dtype_policy,
        )
        if self.dtype_policy == "mixed_float16":  # compile's auto_scale_loss reads the model's policy, not its layers'
            compile_kwargs["optimizer"] = keras.optimizers.LossScaleOptimizer(compile_kwargs["optimizer"])
        compile_kwargs["metrics"] = list(compile_kwargs["metrics"] or [])
        if self._one_hot_targets:
            compile_kwargs["loss"] = keras.losses.CategoricalCrossentropy(label_smoothing=self.label_smoothing)
        model.compile(**compile_kwargs)
        return model

    @property
    def target_encoder(self):
        """scikeras' label encoder; one-hot when `label_smoothing` or `mixup` asks for the categorical loss."""
        encoder = super().target_encoder
        if self._one_hot_targets:
            encoder.set_params(loss="categorical_crossentropy")
        return encoder

    @property
    def _one_hot_targets(self):
        return bool(self.label_smoothing or self.mixup)

    # scikeras seeds through a context that sets TF_DETERMINISTIC_OPS before asking
    # TensorFlow whether determinism was on, so it leaves op determinism enabled for
    # the rest of the process, and every later unseeded fit fails. Hiding the seed
    # from scikeras and seeding in _seeded() instead avoids that.
    @property
    def _random_state(self):
        return None

    @_random_state.setter
    def _random_state(self, value):
        pass

    def _build_keras_model(self):
        with _seeded(self.random_state):
            return super()._build_keras_model()

    def _fit_keras_model(self, X, y, sample_weight, warm_start, epochs, initial_epoch, **kwargs):
        # scikeras 0.13 drops `callbacks` given to fit; run them after the constructor's
        fit_time = _as_callback_list(kwargs.pop("callbacks", None))
        constructor_callbacks = self._fit_callbacks
        augmentation = self._dataset_augmentation()
        self.batch_size_ = self._batch_size_for(images_per_epoch(len(X), augmentation), epochs)
        images = X
        backup_dir = None if self.checkpoint_dir is None else Path(self.checkpoint_dir) / "backup"
        resuming = backup_dir is not None and self._claim_backup(backup_dir, X, y, sample_weight)
        draw_epoch = []
        if augmentation is None:
            kwargs["batch_size"] = self.batch_size_
        else:  # the dataset batches and shuffles
            epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
            X = fresh_copies_dataset(
                X, y, sample_weight, augmentation, batch_size=self.batch_size_, epoch=epoch, mixup=self.mixup
            )
            y = sample_weight = None
            kwargs.update(batch_size=None, shuffle=False)
            draw_epoch = [_DrawEpoch(epoch)]
        validated = "validation_data" in kwargs or bool(self.validation_split)
        checkpoints = [] if backup_dir is None else self._checkpoint_callbacks(backup_dir, resuming, validated)
        averaging = [] if self.ema_decay is None else [_WeightAverage(self.ema_decay, backup_dir, resuming)]
        self._fit_callbacks = [*constructor_callbacks, *draw_epoch, self._schedule(), *checkpoints, *averaging, *fit_time]
        try:
            with _seeded(self.random_state):
                super()._fit_keras_model(X, y, sample_weight, warm_start, epochs, initial_epoch, **kwargs)
        finally:
            self._fit_callbacks = constructor_callbacks
        subset = check_random_state(self.random_state).permutation(len(images))[:2048]
        recalibrate_batchnorm(self.model_, images[np.sort(subset)], batch_size=self.predict_batch_size)
        self.history_ = dict(self.history_)

    def _dataset_augmentation(self):
        """The per-epoch augmentation the training dataset applies: the one handed over, or
        with `mixup` but none handed over, the images as they are (mixup acts in the dataset)."""
        augmentation = getattr(self, "augmentation_", None)
        if augmentation is None and self.mixup:
            seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
            augmentation = {"rotation": 0.0, "zoom": 0.0, "shift": 0.0, "n_copies": 0, "keep_original": True, "seed": seed}
        return augmentation

    def _schedule(self):
        if self.lr_schedule == "cosine":
            return WarmupCosineSchedule(self.learning_rate, warmup=self.warmup)
        return LearningRateAnnealer(self.learning_rate, self.lr_decay)

    def _batch_size_for(self, n_images, epochs):
        """The batch size that gives at least `min_steps` steps, and a warning if none can."""
        batch_size = self.batch_size
        if self.min_steps:
            batch_size = min(batch_size, max(_MIN_BATCH_SIZE, n_images * epochs // self.min_steps))
        n_steps = epochs * math.ceil(n_images / batch_size)
        if n_steps < self.min_steps:
            warnings.warn(
                f"{type(self).__name__} trains for only {n_steps} optimiser steps ({n_images} images per epoch, "
                f"epochs={epochs}, batch size {batch_size}), fewer than min_steps={self.min_steps}, so it may be "
                f"undertrained. Raise epochs (epochs={math.ceil(epochs * self.min_steps / n_steps)} "
                f"would do), train on more images, or set min_steps=0 to silence this warning.",
                UserWarning,
                stacklevel=7,  # the caller of DigitCNNClassifier.fit
            )
        return batch_size

    def _claim_backup(self, backup_dir, X, y, sample_weight):
        """Refuse a backup that another fit (other images, labels or settings) left in the folder,
        which ``BackupAndRestore`` would otherwise resume from; mark the folder as this fit's.
        Returns whether the folder already held a backup (of this fit) to resume from: a fit
        stopped before its first epoch ended left only the mark, so nothing to resume."""
        digest = hashlib.sha256()
        for array in (X, y, sample_weight):
            digest.update(b"-" if array is None else memoryview(np.ascontiguousarray(array)).cast("B"))
        digest.update(json.dumps([self._fit_settings(), getattr(self, "augmentation_", None)], default=str).encode())
        path = backup_dir / _FIT_FINGERPRINT
        resuming = backup_dir.is_dir() and any(file.name != _FIT_FINGERPRINT for file in backup_dir.iterdir())
        if resuming and path.is_file() and path.read_text() != digest.hexdigest():
            raise ValueError(
                f"checkpoint_dir={str(self.checkpoint_dir)!r} holds the backup of another fit (other training images, "
                f"labels or settings), which this fit would resume from. Give each fit a checkpoint_dir of its own "
                f"(make_ensemble and tune make one per member and trial), or delete {str(backup_dir)!r} to start this "
                f"fit from scratch."
            )
        backup_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(digest.hexdigest())
        return resuming

    def _fit_settings(self):
        """The parameters that shape training, as plain values (objects by their type's name)."""
        settings = {}
        for name, value in self.get_params().items():
            if name not in _NOT_TRAINING_SETTINGS:
                plain = value is None or isinstance(value, (bool, numbers.Number, str, tuple, list, dict))
                settings[name] = value if plain else type(value).__name__
        return settings

    def _checkpoint_callbacks(self, backup_dir, resuming, validated):
        # built now so that a restored backup brings back the optimizer state too
        self.model_.optimizer.build(self.model_.trainable_variables)
        return [
            keras.callbacks.BackupAndRestore(backup_dir),  # _RandomState and _WeightAverage add what it leaves out
            keras.callbacks.ModelCheckpoint(
                backup_dir.parent / "best.weights.h5",
                monitor="val_loss" if validated else "loss",
                save_best_only=True,
                save_weights_only=True,
            ),
            _RandomState(backup_dir, resuming),
        ]

    def predict_proba(self, X, **kwargs):
        """Class probabilities, tempered by `temperature`, of shape (n_samples, n_classes) even for one image."""
        # scikeras 0.13 squeezes the probabilities of a single image to shape (n_classes,)
        proba = super().predict_proba(X, **kwargs).reshape(_num_samples(X), -1)
        if self.temperature == 1:
            return proba
        # only here: predict's argmax is the same whatever the temperature
        return softmax(np.log(np.clip(proba, 1e-12, None)) / self.temperature, axis=1)

    def _predict_raw(self, X, **kwargs):
        kwargs.setdefault("batch_size", self.predict_batch_size)
        kwargs.setdefault("verbose", 0)
        probabilities = super()._predict_raw(X, **kwargs)  # validates X
        if not self.tta_shift:
            return probabilities
        offsets = [(0, self.tta_shift), (0, -self.tta_shift), (self.tta_shift, 0), (-self.tta_shift, 0)]
        for copy in shifted_copies(self.feature_encoder_.transform(np.asarray(X, dtype=np.float32)), offsets):
            probabilities = probabilities + self.model_.predict(copy, **kwargs)
        return probabilities / (len(offsets) + 1)

    def __sklearn_tags__(self):
        # scikeras puts ClassifierMixin after BaseEstimator in the MRO, so its
        # tags never apply; without them sklearn would not stratify CV folds.
        tags = super().__sklearn_tags__()
        tags.estimator_type = "classifier"
        tags.classifier_tags = ClassifierTags()
        tags.target_tags.required = True
        tags.non_deterministic = True
        return tags


@contextlib.contextmanager
def _seeded(random_state):
    """Seed Keras (Python, NumPy and TensorFlow) from `random_state`, then restore
    the global Python and NumPy generators so fitting does not reseed user code."""
    if isinstance(random_state, (int, np.integer)):
        seed = int(random_state)
    else:
        seed = int(check_random_state(random_state).randint(np.iinfo(np.int32).max))
    python_state, numpy_state = random.getstate(), np.random.get_state()
    keras.utils.set_random_seed(seed)
    try:
        yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)


_FIT_FINGERPRINT = "fit.sha256"  # in the backup folder: which fit wrote the backup
_NOT_TRAINING_SETTINGS = {"callbacks", "verbose", "checkpoint_dir", "predict_batch_size", "tta_shift", "temperature"}


def _as_callback_list(callbacks):
    if callbacks is None:
        return []
    if isinstance(callbacks, keras.callbacks.Callback):
        return [callbacks]
    if isinstance(callbacks, dict):
        return list(callbacks.values())
    return list(callbacks)

