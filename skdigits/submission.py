"""Kaggle submission files."""

from pathlib import Path

import numpy as np
import pandas as pd

from ._io import atomic_path
from .datasets import load_kaggle_test
from .preprocessing import N_PIXELS, check_pixels

__all__ = ["make_submission"]

_BATCH = 8192  # rows predicted at once, so memory stays flat on big test sets


def make_submission(estimator, test, path="submission.csv") -> pd.DataFrame:
    """Predict the test images and write a Kaggle ``ImageId,Label`` file.

    Parameters
    ----------
    estimator : fitted estimator
        Anything with ``predict`` that takes rows of 784 pixels, such as a
        fitted `make_digit_pipeline`.
    test : str, path-like, ndarray or DataFrame
        The Kaggle ``test.csv`` (or its path), pixel columns only.
    path : str or path-like, default="submission.csv"
        Where to write the submission. It is written to a temporary file
        and renamed, so an interrupted run never leaves a partial file.

    Returns
    -------
    submission : DataFrame
        Columns ``ImageId`` (starting at 1) and ``Label``.

    Examples
    --------
    >>> import numpy as np, os, tempfile
    >>> from sklearn.dummy import DummyClassifier
    >>> from skdigits import make_submission
    >>> model = DummyClassifier().fit(np.zeros((2, 784)), [3, 3])
    >>> out = os.path.join(tempfile.mkdtemp(), "submission.csv")
    >>> make_submission(model, np.zeros((2, 784)), out)
       ImageId  Label
    0        1      3
    1        2      3
    """
    if isinstance(test, (str, Path)):
        X = load_kaggle_test(test)
    else:
        X = check_pixels(test, n_pixels=N_PIXELS, source="test")
    if len(X) == 0:
        raise ValueError("test has no images, expected at least one row of 784 pixels.")
    labels = np.concatenate([estimator.predict(X[start : start + _BATCH]) for start in range(0, len(X), _BATCH)])
    submission = pd.DataFrame({"ImageId": np.arange(1, len(X) + 1), "Label": labels.astype(np.int64)})
    with atomic_path(path) as tmp:
        submission.to_csv(tmp, index=False)
    return submission
