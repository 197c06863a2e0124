"""The benchmark split of the shared MNIST files: first 42,000 to train, last 10,000 to validate."""

import ast
import os
import resource
import sys
from pathlib import Path

# the shared MNIST IDX files; SKDIGITS_MNIST_DIR points elsewhere
MNIST = Path(os.environ.get("SKDIGITS_MNIST_DIR", Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"))


def load_mnist():
    """All 60,000 shared MNIST training images and labels."""
    from skdigits.datasets import load_idx

    if not MNIST.is_dir():
        sys.exit(f"benchmark data not found: {MNIST} (the shared MNIST IDX files) is missing")
    return load_idx(MNIST / "train-images-idx3-ubyte.gz", MNIST / "train-labels-idx1-ubyte.gz")


def load_split(n_train=42_000, n_val=10_000):
    X, y = load_mnist()
    return X[:n_train], y[:n_train], X[-n_val:], y[-n_val:]


def load_selection_split():
    """Train on the first 32,000, validate on 42,000-50,000: disjoint from load_split's validation."""
    X, y = load_mnist()
    return X[:32_000], y[:32_000], X[42_000:50_000], y[42_000:50_000]


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def parse_overrides(items):
    """``["cnn__epochs=3", "augment__zoom=0.2"]`` -> ``{"cnn__epochs": 3, "augment__zoom": 0.2}``."""
    return {key: ast.literal_eval(value) for key, value in (item.split("=", 1) for item in items)}
