"""scikit-learn compatible handwritten digit recognition with a Keras CNN.

The public names are imported on first use (PEP 562), so that ``import
skdigits`` and the command line's ``--help`` do not load TensorFlow.
"""

import importlib
import importlib.metadata
import os

# Keras 3 must use TensorFlow; set before keras is first imported.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

try:
    __version__ = importlib.metadata.version("skdigits")
except importlib.metadata.PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

#: Public name -> the module that defines it.
_EXPORTS = {
    "AugmentingResampler": ".augment",
    "DigitCNNClassifier": ".model",
    "ImageReshaper": ".preprocessing",
    "LearningRateAnnealer": ".model",
    "MNISTNormalizer": ".normalization",
    "PixelScaler": ".preprocessing",
    "WarmupCosineSchedule": ".model",
    "load": ".persistence",
    "make_digit_pipeline": ".pipeline",
    "make_ensemble": ".ensemble",
    "make_submission": ".submission",
    "save": ".persistence",
}

__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'skdigits' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__():
    return sorted({*globals(), *__all__})
