"""Plots of a digit classifier: learning curves, confusion matrix, mistakes, augmentation.

Every function draws on a new Matplotlib figure (or on `ax` where given) and
returns the figure, so it works in notebooks and in scripts with the Agg
backend alike.
"""

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from sklearn.metrics import ConfusionMatrixDisplay

from .augment import random_affine

__all__ = ["plot_augmentation", "plot_confusion_matrix", "plot_learning_curves", "plot_misclassified"]


def _figure(**kwargs):
    """A figure outside pyplot: no backend is chosen or switched, and nothing needs closing."""
    return Figure(layout="constrained", **kwargs)


def _as_images(X):
    return np.asarray(X, dtype=np.float32).reshape(len(X), 28, 28)


def plot_learning_curves(history):
    """Loss and accuracy per epoch, for training and (when present) validation.

    Parameters
    ----------
    history : dict of list
        ``DigitCNNClassifier.history_`` (or a Keras ``History.history``):
        ``loss`` and ``accuracy``, optionally ``val_loss`` and ``val_accuracy``.

    Returns
    -------
    figure : matplotlib.figure.Figure

    Examples
    --------
    >>> from skdigits.plotting import plot_learning_curves
    >>> fig = plot_learning_curves({"loss": [0.5, 0.2], "accuracy": [0.8, 0.9]})
    >>> [ax.get_title() for ax in fig.axes]
    ['loss', 'accuracy']
    """
    if not history or "loss" not in history:
        raise ValueError("history has no 'loss' entry; expected the history_ of a fitted DigitCNNClassifier.")
    figure = _figure(figsize=(9, 3.5))
    axes = figure.subplots(1, 2)
    for ax, metric in zip(axes, ("loss", "accuracy")):
        for prefix, label in (("", "train"), ("val_", "validation")):
            values = history.get(prefix + metric)
            if values:
                ax.plot(np.arange(1, len(values) + 1), values, marker="o", label=label)
        ax.set(title=metric, xlabel="epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend()
    return figure


def plot_confusion_matrix(y_true, y_pred, *, ax=None):
    """The confusion matrix of predictions, with scikit-learn's ``ConfusionMatrixDisplay``.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
        True and predicted labels.
    ax : matplotlib Axes, optional
        Where to draw; a new figure by default.

    Returns
    -------
    figure : matplotlib.figure.Figure

    Examples
    --------
    >>> from skdigits.plotting import plot_confusion_matrix
    >>> fig = plot_confusion_matrix([0, 1, 1], [0, 1, 0])
    >>> fig.axes[0].get_title()
    'confusion matrix (3 images, accuracy 0.6667)'
    """
    if ax is None:
        ax = _figure(figsize=(6, 5.5)).subplots()
    ConfusionMatrixDisplay.from_predictions(y_true, y_pred, ax=ax, colorbar=False, cmap="Blues")
    accuracy = float(np.mean(np.asarray(y_true) == np.asarray(y_pred)))
    ax.set_title(f"confusion matrix ({len(y_true)} images, accuracy {accuracy:.4f})")
    return ax.figure


def plot_misclassified(X, y_true, proba, classes, *, n_images=24, n_columns=8):
    """The most confidently misclassified digits, with true and predicted labels.

    Parameters
    ----------
    X : array-like of shape (n_samples, 784)
        The images, pixel intensities 0..255 (or 0..1).
    y_true : array-like of shape (n_samples,)
        True labels.
    proba : ndarray of shape (n_samples, n_classes)
        Predicted class probabilities (``predict_proba``).
    classes : array-like of shape (n_classes,)
        The labels of `proba`'s columns (``classes_``).
    n_images : int, default=24
        At most this many digits, most confident mistakes first.
    n_columns : int, default=8
        Digits per row.

    Returns
    -------
    figure : matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from skdigits.plotting import plot_misclassified
    >>> fig = plot_misclassified(np.zeros((2, 784)), [3, 5], np.array([[0.9, 0.1], [0.2, 0.8]]), [3, 5])
    >>> fig.axes[0].get_title()
    'no mistakes among 2 images'
    """
    y_true, proba, classes = np.asarray(y_true), np.asarray(proba), np.asarray(classes)
    predicted = classes[proba.argmax(axis=1)]
    wrong = np.flatnonzero(predicted != y_true)
    order = wrong[np.argsort(-proba[wrong].max(axis=1), kind="stable")][:n_images]
    n_rows = max(1, -(-len(order) // n_columns))
    figure = _figure(figsize=(1.3 * n_columns, 1.6 * n_rows + 0.4))
    axes = figure.subplots(n_rows, n_columns, squeeze=False)
    images = _as_images(np.asarray(X)[order]) if len(order) else []
    for ax in axes.flat:
        ax.axis("off")
    for ax, index, image in zip(axes.flat, order, images):
        ax.imshow(image, cmap="gray_r")
        ax.set_title(f"true {y_true[index]}\npred {predicted[index]} ({proba[index].max():.0%})", fontsize=8, color="firebrick")
    if not len(order):
        axes.flat[0].set_title(f"no mistakes among {len(y_true)} images")
    figure.suptitle(f"most confident mistakes: {len(order)} of {len(wrong)} misclassified")
    return figure


def plot_augmentation(X, *, rotation=10.0, zoom=0.1, shift=0.1, n_digits=6, n_variants=5, random_state=0):
    """A few digits and randomly rotated, zoomed and shifted variants of each.

    Uses the same transformation as [`AugmentingResampler`][skdigits.augment.AugmentingResampler].

    Parameters
    ----------
    X : array-like of shape (n_samples, 784)
        Images; the first `n_digits` are shown.
    rotation, zoom, shift : float
        The augmentation ranges (see [`AugmentingResampler`][skdigits.augment.AugmentingResampler]).
    n_digits : int, default=6
        Rows: one digit each, the original on the left.
    n_variants : int, default=5
        Augmented variants per digit.
    random_state : int, default=0
        Seed of the transformations.

    Returns
    -------
    figure : matplotlib.figure.Figure

    Examples
    --------
    >>> from skdigits.datasets import load_sample
    >>> from skdigits.plotting import plot_augmentation
    >>> fig = plot_augmentation(load_sample()[0], n_digits=2, n_variants=3)
    >>> len(fig.axes)
    8
    """
    originals = _as_images(np.asarray(X)[:n_digits])[..., None]
    rng = np.random.RandomState(random_state)
    variants = [
        random_affine(originals, rotation=rotation, zoom=zoom, shift=shift, random_state=rng)[..., 0]
        for _ in range(n_variants)
    ]
    figure = _figure(figsize=(1.2 * (n_variants + 1), 1.2 * len(originals) + 0.4))
    axes = figure.subplots(len(originals), n_variants + 1, squeeze=False)
    for row, original in enumerate(originals[..., 0]):
        for column, image in enumerate([original, *(variant[row] for variant in variants)]):
            ax = axes[row, column]
            ax.imshow(image, cmap="gray_r")
            ax.axis("off")
            if row == 0:
                ax.set_title("original" if column == 0 else f"augmented {column}", fontsize=8)
    figure.suptitle(f"augmentation: rotation ±{rotation:g}°, zoom ±{zoom:g}, shift ±{shift:g}")
    return figure
