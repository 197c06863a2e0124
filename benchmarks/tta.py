"""Does test-time augmentation help? Accuracy of a fitted pipeline on the selection split
(images 42,000-50,000) when its probabilities are averaged over the original images and
k randomly rotated/zoomed/shifted copies, for a few k and transformation ranges.

    python benchmarks/accuracy.py accurate --select --save-model /tmp/select.joblib
    python benchmarks/tta.py /tmp/select.joblib
"""

import argparse
import json

import joblib
import numpy as np

from _data import load_selection_split

from skdigits.augment import random_affine


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="a joblib file from accuracy.py --select --save-model")
    args = parser.parse_args()
    pipe = joblib.load(args.model)
    _, _, X_val, y_val = load_selection_split()
    images = pipe[:2].transform(X_val)  # scaled and reshaped, as the network sees them
    network = pipe[-1]
    plain = network.predict_proba(images)
    results = {"plain": accuracy(plain, network, y_val)}
    for scale in (0.5, 1.0):
        for copies in (2, 4, 8):
            rng = np.random.default_rng(0)
            total = plain.copy()
            for _ in range(copies):
                moved = random_affine(images, rotation=10 * scale, zoom=0.1 * scale, shift=0.1 * scale,
                                      random_state=np.random.RandomState(rng.integers(2**31)))
                total += network.predict_proba(moved)
            results[f"ranges x{scale}, {copies} copies"] = accuracy(total, network, y_val)
    print(json.dumps(results))


def accuracy(proba, network, y):
    return float((network.classes_[proba.argmax(axis=1)] == y).mean())


if __name__ == "__main__":
    main()
