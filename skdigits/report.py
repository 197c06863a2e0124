"""An evaluation report of a fitted model: an HTML page and its PNG plots."""

import base64
import html
from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score, classification_report

from ._io import atomic_path
from .augment import AugmentingResampler
from .preprocessing import N_PIXELS, check_pixels

__all__ = ["evaluate", "write_report"]


def evaluate(estimator, X, y):
    """Accuracy, per-class report and confusion matrix of `estimator` on labelled images.

    Parameters
    ----------
    estimator : fitted classifier or pipeline
        Anything with ``predict_proba`` and ``classes_``, such as a fitted
        [`make_digit_pipeline`][skdigits.pipeline.make_digit_pipeline].
    X : array-like of shape (n_samples, 784)
        Images, pixel intensities 0..255.
    y : array-like of shape (n_samples,)
        True labels.

    Returns
    -------
    result : dict
        ``accuracy``, ``report`` (scikit-learn's ``classification_report``
        as text), ``per_class`` (the same as a dict), ``y_pred`` and
        ``proba``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.dummy import DummyClassifier
    >>> from skdigits.report import evaluate
    >>> model = DummyClassifier(strategy="most_frequent").fit(np.zeros((4, 784)), [1, 1, 1, 2])
    >>> evaluate(model, np.zeros((2, 784)), [1, 2])["accuracy"]
    0.5
    """
    return _evaluate_checked(estimator, check_pixels(X, n_pixels=N_PIXELS), y)


def _evaluate_checked(estimator, X, y):
    y = np.asarray(y)
    proba = np.asarray(estimator.predict_proba(X))
    y_pred = np.asarray(estimator.classes_)[proba.argmax(axis=1)]
    return {
        "accuracy": float(accuracy_score(y, y_pred)),
        "report": classification_report(y, y_pred, digits=4, zero_division=0),
        "per_class": classification_report(y, y_pred, output_dict=True, zero_division=0),
        "y_pred": y_pred,
        "proba": proba,
    }


def write_report(estimator, X, y, folder):
    """Write ``index.html`` and PNG plots that explain `estimator`'s results on (X, y).

    The folder gets ``learning_curves.png`` (when the classifier kept a
    training history), ``confusion_matrix.png``, ``misclassified.png``,
    ``augmentation.png`` and ``index.html``, a self-contained page with the
    same images embedded. Each file is written to a temporary name and renamed.

    Parameters
    ----------
    estimator : fitted pipeline or classifier
        Typically a fitted [`make_digit_pipeline`][skdigits.pipeline.make_digit_pipeline].
    X : array-like of shape (n_samples, 784)
        Labelled images to evaluate on, pixel intensities 0..255.
    y : array-like of shape (n_samples,)
        Their labels.
    folder : str or path-like
        Output folder, created if needed.

    Returns
    -------
    files : list of Path
        The files written, ``index.html`` last.

    Examples
    --------
    >>> import os, tempfile
    >>> from skdigits import make_digit_pipeline
    >>> from skdigits.datasets import load_sample
    >>> from skdigits.report import write_report
    >>> X, y = load_sample()
    >>> pipe = make_digit_pipeline(filters=(4,), dense_units=(8,), epochs=1, random_state=0).fit(X[:300], y[:300])
    >>> [f.name for f in write_report(pipe, X[300:400], y[300:400], tempfile.mkdtemp())]  # doctest: +NORMALIZE_WHITESPACE
    ['learning_curves.png', 'confusion_matrix.png', 'misclassified.png', 'augmentation.png', 'index.html']
    """
    from .plotting import plot_augmentation, plot_confusion_matrix, plot_learning_curves, plot_misclassified

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    X = check_pixels(X, n_pixels=N_PIXELS)
    result = _evaluate_checked(estimator, X, y)
    figures = {}
    history = getattr(_classifier(estimator), "history_", None)
    if history:
        figures["learning_curves"] = ("Learning curves", plot_learning_curves(history))
    figures["confusion_matrix"] = ("Confusion matrix", plot_confusion_matrix(y, result["y_pred"]))
    figures["misclassified"] = (
        "Most confident mistakes",
        plot_misclassified(X, y, result["proba"], estimator.classes_),
    )
    figures["augmentation"] = ("What the augmenting step does", plot_augmentation(X, **_augmentation_ranges(estimator)))
    files, sections = [], []
    for name, (title, figure) in figures.items():
        path = folder / f"{name}.png"
        with atomic_path(path) as tmp:
            figure.savefig(tmp, format="png", dpi=110)
        files.append(path)
        encoded = base64.b64encode(path.read_bytes()).decode()
        sections.append(f'<h2>{title}</h2>\n<img src="data:image/png;base64,{encoded}" alt="{title}">')
    page = _PAGE.format(
        accuracy=result["accuracy"], n=len(X), report=html.escape(result["report"]), sections="\n".join(sections)
    )
    with atomic_path(folder / "index.html") as tmp:
        tmp.write_text(page, encoding="utf-8")
    files.append(folder / "index.html")
    return files


def _first_pipeline(estimator):
    """The estimator itself, or for an ensemble (make_ensemble) its first member."""
    return estimator.estimators_[0] if hasattr(estimator, "estimators_") else estimator


def _classifier(estimator):
    estimator = _first_pipeline(estimator)
    return estimator._final_estimator if hasattr(estimator, "steps") else estimator


def _augmentation_ranges(estimator):
    steps = [step for _, step in getattr(_first_pipeline(estimator), "steps", [])]
    augmenter = next((step for step in steps if isinstance(step, AugmentingResampler)), None)
    if augmenter is None:
        return {}
    return {"rotation": augmenter.rotation, "zoom": augmenter.zoom, "shift": augmenter.shift}


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>skdigits report</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em}}
img{{max-width:100%}} pre{{background:#f6f6f6;padding:1em}}</style></head>
<body>
<h1>skdigits report</h1>
<p>Accuracy <b>{accuracy:.4f}</b> on {n} labelled images.</p>
<h2>Per-class precision and recall</h2>
<pre>{report}</pre>
{sections}
</body></html>
"""
