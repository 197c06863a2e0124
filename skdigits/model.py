"""The convolutional network, its learning-rate annealer and the sklearn classifier."""

import contextlib
import math
import os
import random
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from scikeras.wrappers import KerasClassifier
from sklearn.utils import ClassifierTags, check_random_state
from sklearn.utils.validation import _num_samples

from .preprocessing import check_targets

__all__ = ["DigitCNNClassifier", "LearningRateAnnealer", "build_digit_cnn", "share_cores_with_other_workers"]


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


def build_digit_cnn(
    input_shape,
    n_classes,
    *,
    filters=(16, 32),
    dense_units=(512, 1024),
    dropout=0.25,
    bn_momentum=0.99,
    downsampling="maxpool",
):
    """Build the reference notebook's network, or its strided variant (uncompiled).

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
    downsampling : {"maxpool", "strided"}, default="maxpool"
        "maxpool": 2x2 max pooling, as in the reference notebook.
        "strided": a learned 5x5 convolution with stride 2 and batch
        normalisation, as in the strongest Kaggle kernels.

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
    x = inputs
    if len(input_shape) == 1:
        side = math.isqrt(input_shape[0])
        x = keras.layers.Reshape((side, side, 1))(x)
    if downsampling not in ("maxpool", "strided"):
        raise ValueError(f"downsampling={downsampling!r} is unknown; expected 'maxpool' or 'strided'.")
    for n_filters in filters:
        for _ in range(2):
            x = _conv_bn(x, n_filters, 3, bn_momentum)
        if downsampling == "maxpool":
            x = keras.layers.MaxPool2D(strides=2)(x)
        else:
            x = _conv_bn(x, n_filters, 5, bn_momentum, strides=2, padding="same")
        x = keras.layers.Dropout(dropout)(x)
    x = keras.layers.Flatten()(x)
    for units in dense_units:
        x = keras.layers.Dense(units, activation="relu")(x)
        x = keras.layers.Dropout(dropout)(x)
    outputs = keras.layers.Dense(n_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="digit_cnn")


def _conv_bn(x, n_filters, kernel_size, bn_momentum, **conv_kwargs):
    x = keras.layers.Conv2D(n_filters, kernel_size, activation="relu", **conv_kwargs)(x)
    return keras.layers.BatchNormalization(momentum=bn_momentum)(x)


class DigitCNNClassifier(KerasClassifier):
    """The reference notebook's CNN as a scikit-learn classifier.

    A :class:`scikeras.wrappers.KerasClassifier` whose network is built by
    :func:`build_digit_cnn`, trained with Adam and a
    :class:`LearningRateAnnealer`. It fixes two scikeras 0.13 traps: the
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
        Momentum of the batch-normalisation moving statistics used at
        prediction time. With few training steps (small data, large
        batches, few epochs) 0.99 leaves them far from the trained values;
        0.9 catches up in a few dozen steps.
    downsampling : {"maxpool", "strided"}, default="maxpool"
        How each block halves the image: max pooling (the notebook) or a
        5x5 convolution with stride 2 (see :func:`build_digit_cnn`).
    learning_rate : float, default=1e-3
        Learning rate of the first epoch.
    lr_decay : float, default=0.9
        The learning rate is multiplied by this factor after every epoch.
    epochs : int, default=20
        Number of passes over the training data.
    batch_size : int, default=64
        Training batch size.
    predict_batch_size : int, default=1024
        Batch size for ``predict`` and ``predict_proba``.
    verbose : int, default=0
        Keras' progress output during ``fit``: 0 silent, 1 progress bar,
        2 one line per epoch. Prediction is always silent.
    checkpoint_dir : str, path-like or None, default=None
        If set, ``fit`` saves the training state (weights, optimizer, epoch)
        in ``checkpoint_dir/backup`` after every epoch with Keras'
        ``BackupAndRestore``, and the best weights so far (lowest ``val_loss``,
        or ``loss`` without validation data) in
        ``checkpoint_dir/best.weights.h5``. A fit that was interrupted
        resumes from its last finished epoch when run again with the same
        folder and data; the backup is deleted once a fit completes.
    random_state : int, RandomState instance or None, default=None
        Seed for weight initialisation, dropout and shuffling. With an int,
        two fits on the same CPU give the same predictions.
    **kwargs
        Any other :class:`scikeras.wrappers.KerasClassifier` parameter
        (``callbacks``, ``optimizer``, ``optimizer__beta_1``, ``fit__...``,
        ``validation_split``, ``warm_start`` ...).

    Attributes
    ----------
    model_ : keras.Model
        The trained network.
    history_ : dict of list
        Loss, accuracy and learning rate per epoch.
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

    def __init__(
        self,
        model=None,
        *,
        filters=(16, 32),
        dense_units=(512, 1024),
        dropout=0.25,
        bn_momentum=0.99,
        downsampling="maxpool",
        learning_rate=1e-3,
        lr_decay=0.9,
        epochs=20,
        batch_size=64,
        predict_batch_size=1024,
        verbose=0,
        checkpoint_dir=None,
        optimizer="adam",
        loss="sparse_categorical_crossentropy",
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
        self.learning_rate = learning_rate
        self.lr_decay = lr_decay
        self.predict_batch_size = predict_batch_size
        self.checkpoint_dir = checkpoint_dir

    def fit(self, X, y, sample_weight=None, **kwargs):
        """Train the network on images `X` and labels `y`; returns self."""
        check_targets(y, n_samples=_num_samples(X))
        return super().fit(X, y, sample_weight=sample_weight, **kwargs)

    def _keras_build_fn(self, meta, compile_kwargs):
        model = build_digit_cnn(
            meta["X_shape_"][1:],
            meta["n_classes_"],
            filters=self.filters,
            dense_units=self.dense_units,
            dropout=self.dropout,
            bn_momentum=self.bn_momentum,
            downsampling=self.downsampling,
        )
        compile_kwargs["metrics"] = list(compile_kwargs["metrics"] or [])
        model.compile(**compile_kwargs)
        return model

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
        annealer = LearningRateAnnealer(self.learning_rate, self.lr_decay)
        checkpoints = self._checkpoint_callbacks(validated="validation_data" in kwargs or bool(self.validation_split))
        self._fit_callbacks = [*constructor_callbacks, annealer, *checkpoints, *fit_time]
        try:
            with _seeded(self.random_state):
                super()._fit_keras_model(X, y, sample_weight, warm_start, epochs, initial_epoch, **kwargs)
        finally:
            self._fit_callbacks = constructor_callbacks
        self.history_ = dict(self.history_)

    def _checkpoint_callbacks(self, validated):
        if self.checkpoint_dir is None:
            return []
        folder = Path(self.checkpoint_dir)
        # built now so that a restored backup brings back the optimizer state too
        self.model_.optimizer.build(self.model_.trainable_variables)
        return [
            keras.callbacks.BackupAndRestore(folder / "backup"),
            keras.callbacks.ModelCheckpoint(
                folder / "best.weights.h5",
                monitor="val_loss" if validated else "loss",
                save_best_only=True,
                save_weights_only=True,
            ),
        ]

    def _predict_raw(self, X, **kwargs):
        kwargs.setdefault("batch_size", self.predict_batch_size)
        kwargs.setdefault("verbose", 0)
        return super()._predict_raw(X, **kwargs)

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


def _as_callback_list(callbacks):
    if callbacks is None:
        return []
    if isinstance(callbacks, keras.callbacks.Callback):
        return [callbacks]
    if isinstance(callbacks, dict):
        return list(callbacks.values())
    return list(callbacks)

