"""Does test-time augmentation help? Accuracy of a fitted model on the selection split
(images 42,000-50,000) when its probabilities are averaged over the original images and
copies: shifted by whole pixels (shift TTA), or randomly rotated/zoomed/shifted.

    python benchmarks/accuracy.py accurate --select --save-model /tmp/select.skdigits
    python benchmarks/tta.py /tmp/select.skdigits
"""

import argparse
import json

import numpy as np

from _data import load_selection_split

import skdigits
from skdigits.augment import random_affine, transform_images
from skdigits.pipeline import sampler_index

SHIFTS = {
    "1 px, 4 directions": [(0, 1), (0, -1), (1, 0), (-1, 0)],
    "1 px, 8 directions": [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)],
    "1-2 px, 8 copies": [(0, 1), (0, -1), (1, 0), (-1, 0), (0, 2), (0, -2), (2, 0), (-2, 0)],
}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="a fitted pipeline from accuracy.py --select --save-model")
    args = parser.parse_args()
    pipe = skdigits.load(args.model, allow_pickle=True)  # a file this benchmark wrote
    _, _, X_val, y_val = load_selection_split()
    images = pipe[: sampler_index(pipe)].transform(X_val)  # as the network sees them
    network = pipe[-1]
    plain = network.predict_proba(images)
    results = {"plain": errors(plain, network, y_val)}
    for name, offsets in SHIFTS.items():
        total = plain.copy()
        for dy, dx in offsets:
            n = len(images)
            moved = transform_images(images, np.zeros(n), np.ones(n), np.ones(n), np.full(n, dy / 28), np.full(n, dx / 28))
            total += network.predict_proba(np.asarray(moved))
        results[f"shift {name}"] = errors(total, network, y_val)
    for scale in (0.5, 1.0):
        for copies in (4, 8):
            rng = np.random.default_rng(0)
            total = plain.copy()
            for _ in range(copies):
                moved = random_affine(images, rotation=10 * scale, zoom=0.1 * scale, shift=0.1 * scale,
                                      random_state=np.random.RandomState(rng.integers(2**31)))
                total += network.predict_proba(moved)
            results[f"random affine x{scale}, {copies} copies"] = errors(total, network, y_val)
    print(json.dumps({"model": args.model, "errors_of_8000": results}))


def errors(proba, network, y):
    return int((network.classes_[proba.argmax(axis=1)] != y).sum())


if __name__ == "__main__":
    main()
