"""Train a skdigits pipeline on the first 42,000 shared MNIST images, report on the last 10,000.

With --select, train on the first 32,000 and validate on images 42,000-50,000
instead: the split for choosing settings, disjoint from the reported one.

Prints one JSON line: fit wall time, images/s, validation accuracy, peak RSS.

    python benchmarks/accuracy.py [--preset default] [--set cnn__epochs=12 ...]
"""

import argparse
import json
import time

import joblib

from _data import load_selection_split, load_split, parse_overrides, peak_rss_mb

from skdigits import make_digit_pipeline


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="default")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", nargs="*", default=[], metavar="STEP__PARAM=VALUE", help="override pipeline parameters")
    parser.add_argument("--save-model", default=None, help="also save the fitted pipeline here (joblib)")
    parser.add_argument(
        "--select", action="store_true",
        help="model-selection split: train on the first 32,000, validate on images 42,000-50,000 "
        "(never the last 10,000 that results are reported on)",
    )
    args = parser.parse_args()

    overrides = parse_overrides(args.set)
    X_train, y_train, X_val, y_val = load_selection_split() if args.select else load_split()
    pipe = make_digit_pipeline(preset=args.preset, random_state=args.seed, verbose=2, **overrides)

    started = time.perf_counter()
    pipe.fit(X_train, y_train)
    fit_seconds = time.perf_counter() - started
    started = time.perf_counter()
    accuracy = pipe.score(X_val, y_val)
    predict_seconds = time.perf_counter() - started

    if args.save_model:
        joblib.dump(pipe, args.save_model)
    params = pipe.get_params()
    per_epoch = len(X_train) * (params["augment__n_copies"] + params["augment__keep_original"])
    images = per_epoch * params["cnn__epochs"]
    print(json.dumps({"name": f"skdigits preset={args.preset}", "overrides": args.set, "fit_s": round(fit_seconds, 1),
                      "images": images, "images_per_s": round(images / fit_seconds), "val_accuracy": accuracy,
                      "predict_10k_s": round(predict_seconds, 2), "peak_rss_mb": round(peak_rss_mb())}))


if __name__ == "__main__":
    main()
