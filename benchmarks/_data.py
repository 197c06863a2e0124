"""The benchmark split of the shared MNIST files: first 42,000 to train, last 10,000 to validate."""

import contextlib
import os
import platform
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


def split_rows(X, y, *, select=False, n_train=42_000, n_val=10_000):
    """The benchmark splits of arrays in MNIST order: the first `n_train` to train and the last
    `n_val` to validate, or with `select` the first 32,000 and images 42,000-50,000 (disjoint
    from the last 10,000)."""
    if select:
        return X[:32_000], y[:32_000], X[42_000:50_000], y[42_000:50_000]
    return X[:n_train], y[:n_train], X[-n_val:], y[-n_val:]


def load_split(n_train=42_000, n_val=10_000):
    return split_rows(*load_mnist(), n_train=n_train, n_val=n_val)


def load_selection_split():
    """Train on the first 32,000, validate on 42,000-50,000: disjoint from load_split's validation."""
    return split_rows(*load_mnist(), select=True)


def count_errors(probabilities, classes, y):
    """How many images the most probable class misreads: rows of `probabilities` are images,
    columns follow `classes`."""
    return int((classes[probabilities.argmax(axis=1)] != y).sum())


def machine():
    """The CPU the figures come from: timings from different machines are not comparable.

    ``"AMD EPYC family 23 model 1, 1996 MHz, 2 cores, avx2"``: the family and model
    tell CPU generations apart where the model name does not.
    """
    info = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = (part.strip() for part in line.partition(":"))
            info.setdefault(key, value)
    vector = [flag for flag in ("avx512f", "avx2") if flag in info.get("flags", "").split()]
    return (f"{info.get('model name', platform.processor() or 'unknown CPU')} family {info.get('cpu family', '?')} "
            f"model {info.get('model', '?')}, {float(info.get('cpu MHz', 0)):.0f} MHz, {os.cpu_count()} cores, "
            f"{vector[0] if vector else 'no avx2'}")


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def command_seconds(argv, runs):
    """Wall time of running `argv` in a fresh process, `runs` times (start-up included)."""
    import subprocess
    import time

    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return times
