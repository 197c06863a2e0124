"""Quick fits on small data: held-out accuracy of short fits on the shipped sample.

Fits make_digit_pipeline (the default preset, seed 0) on the first N sample
images for E epochs and scores the last 1,000; prints the batch size min_steps
chose, the optimiser steps, whether fit warned, and the accuracy. The tests hold
the issue's targets (test_pipeline.py); this prints the figures.

    python benchmarks/quick_fits.py [--set step__param=value ...]
"""

import argparse
import json
import math
import warnings

from skdigits import make_digit_pipeline
from skdigits.datasets import load_sample
from skdigits.presets import parse_overrides

RUNS = [(1000, 1), (1000, 3), (3000, 1), (3000, 3)]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", nargs="*", default=[], metavar="STEP__PARAM=VALUE")
    args = parser.parse_args()
    X, y = load_sample()
    for n_images, epochs in RUNS:
        pipe = make_digit_pipeline(random_state=0, epochs=epochs, **parse_overrides(args.set))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            pipe.fit(X[:n_images], y[:n_images])
        network = pipe._final_estimator
        steps = epochs * math.ceil(network.X_shape_[0] / network.batch_size_)
        warned = any("optimiser steps" in str(warning.message) for warning in caught)
        print(json.dumps({"n_images": n_images, "epochs": epochs, "batch_size": network.batch_size_, "steps": steps,
                          "warned": warned, "held_out_accuracy": pipe.score(X[4000:], y[4000:]), "overrides": args.set}))


if __name__ == "__main__":
    main()
