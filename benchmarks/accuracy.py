"""Fit a preset or an ensemble on the first 50,000 shared MNIST images, report on the last 10,000.

With --select, train on the first 32,000 and validate on images 42,000-50,000
instead: the split for choosing settings, inside the first 50,000 and so
disjoint from the reported one.

Prints one JSON line: fit wall time, validation accuracy, the confusion pairs
that remain (true -> predicted: count), prediction time and peak RSS; for an
ensemble also each member's accuracy.

    python benchmarks/accuracy.py reference|default|accurate|ensemble [--select] [--set cnn__epochs=12 ...]
    python benchmarks/accuracy.py ensemble --members 3 --n-jobs 2 --save-model ensemble.skdigits

One member of an ensemble at a time (a vote of members fitted in separate
runs, by benchmarks/ensemble_size.py, is the ensemble's vote):

    python benchmarks/accuracy.py ensemble --seed 1 --member 2 --save-probs results/members/x_s1_m2.npz
"""

import argparse
import collections
import json
import time
from pathlib import Path

from _data import load_selection_split, load_split, machine, peak_rss_mb

import skdigits
from skdigits import make_digit_pipeline, make_ensemble
from skdigits.augment import images_per_epoch
from skdigits.ensemble import member_scores
from skdigits.pipeline import PRESETS
from skdigits.presets import parse_overrides


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", nargs="?", default="default", choices=[*PRESETS, "ensemble"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", nargs="*", default=[], metavar="STEP__PARAM=VALUE", help="override pipeline parameters")
    parser.add_argument("--n-train", type=int, default=50_000, help="train on this many first images (default 50,000)")
    parser.add_argument("--members", type=int, default=None, help="ensemble members (default: make_ensemble's)")
    parser.add_argument("--max-samples", type=float, default=None,
                        help="share of the images each member sees (bagging; default: make_ensemble's)")
    parser.add_argument("--member-preset", nargs="+", default=None,
                        help="presets of the ensemble members, assigned in turn (default: make_ensemble's)")
    parser.add_argument("--n-jobs", type=int, default=None, help="members fitted at once")
    parser.add_argument("--member", type=int, default=None,
                        help="fit only this member of the ensemble (its seed and bag as in the whole ensemble)")
    parser.add_argument("--save-probs", default=None,
                        help="also save the validation probabilities, labels and this run's figures here (.npz)")
    parser.add_argument("--save-model", default=None, help="also save the fitted model here (.skdigits or .joblib)")
    parser.add_argument(
        "--select", action="store_true",
        help="model-selection split: train on the first 32,000, validate on images 42,000-50,000 "
        "(never the last 10,000 that results are reported on)",
    )
    args = parser.parse_args()
    if args.member is not None and args.model != "ensemble":
        parser.error(f"--member picks one member of an ensemble, but the model is {args.model!r}: "
                     "use `accuracy.py ensemble --member I`, or drop --member.")

    overrides = parse_overrides(args.set)
    X_train, y_train, X_val, y_val = load_selection_split() if args.select else load_split(n_train=args.n_train)
    if args.model == "ensemble":
        given = {"n_members": args.members, "preset": args.member_preset, "max_samples": args.max_samples}
        options = {key: value for key, value in given.items() if value is not None}  # else make_ensemble's defaults
        model = make_ensemble(n_jobs=args.n_jobs, random_state=args.seed, verbose=2, **options, **overrides)
        if args.member is not None:
            model = model.estimators[args.member][1]
    else:
        model = make_digit_pipeline(preset=args.model, random_state=args.seed, verbose=2, **overrides)

    started = time.perf_counter()
    model.fit(X_train, y_train)
    fit_seconds = time.perf_counter() - started
    started = time.perf_counter()
    probabilities = model.predict_proba(X_val)  # every model here votes softly: predict is its argmax
    predict_seconds = time.perf_counter() - started
    predicted = model.classes_[probabilities.argmax(axis=1)]

    if args.save_model:
        skdigits.save(model, args.save_model)
    images = images_seen(model)
    result = {
        "name": f"skdigits {args.model}", "model": args.model, "split": "select" if args.select else "report", "overrides": args.set,
        "n_train": len(X_train), "n_val": len(X_val), "fit_s": round(fit_seconds, 1),
        "images": images, "images_per_s": round(images / fit_seconds), "val_accuracy": float((predicted == y_val).mean()),
        "errors": int((predicted != y_val).sum()), "confusions": confusion_pairs(y_val, predicted),
        "predict_10k_s": round(predict_seconds, 2), "peak_rss_mb": round(peak_rss_mb()),
        "machine": machine(),
    }
    if args.member is not None:
        result["member"] = args.member
    if args.save_probs:
        save_probabilities(args.save_probs, probabilities, model.classes_, y_val, result)
    if args.model == "ensemble" and args.member is None:
        scores = member_scores(model, X_val, y_val)
        result["members"] = len(model.estimators_)
        result["member_accuracies"] = scores["accuracy"].round(5).tolist()
        result["member_disagreement"] = scores.drop(columns="accuracy").round(5).to_numpy().tolist()
    print(json.dumps(result))


def save_probabilities(path, probabilities, classes, y_val, result):
    """Keep what a vote needs, with the figures of the run that made it, in one .npz file."""
    import numpy as np

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, probabilities=probabilities.astype(np.float32), classes=classes, y=y_val,
                        result=json.dumps({key: value for key, value in result.items() if key != "confusions"}))


def images_seen(model):
    """Training images over all epochs and members, copies included (what the fit cost)."""
    total = 0
    for pipe in getattr(model, "estimators_", [model]):
        network = pipe._final_estimator
        # rows the network got (bagged, with static copies), times the per-epoch copies it drew itself
        total += images_per_epoch(network.X_shape_[0], network.augmentation_) * network.epochs
    return total


def confusion_pairs(y_true, y_pred, top=8):
    """The most frequent mistakes as ``{"true->predicted": count}``, most frequent first."""
    counts = collections.Counter(f"{t}->{p}" for t, p in zip(y_true, y_pred) if t != p)
    return dict(counts.most_common(top))


if __name__ == "__main__":
    main()
