"""scikit-learn compatible handwritten digit recognition with a Keras CNN."""

import os

# Keras 3 must use TensorFlow; set before keras is first imported.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from .augment import AugmentingResampler  # noqa: E402
from .ensemble import make_ensemble  # noqa: E402
from .model import DigitCNNClassifier, LearningRateAnnealer, WarmupCosineSchedule  # noqa: E402
from .persistence import load, save  # noqa: E402
from .pipeline import make_digit_pipeline  # noqa: E402
from .preprocessing import ImageReshaper, PixelScaler  # noqa: E402
from .submission import make_submission  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "AugmentingResampler",
    "DigitCNNClassifier",
    "ImageReshaper",
    "LearningRateAnnealer",
    "WarmupCosineSchedule",
    "PixelScaler",
    "make_digit_pipeline",
    "make_ensemble",
    "load",
    "make_submission",
    "save",
    "__version__",
]
