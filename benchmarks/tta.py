"""Does test-time augmentation help? Errors of fitted models when their probabilities are
averaged over the original images and copies shifted by whole pixels (shift TTA), or, with
--affine, randomly rotated/zoomed/shifted copies.

Every model (a saved pipeline, or each member of a saved ensemble) is scored plain and with
each kind of TTA on the same images, so the comparison is paired: one line per model, then
per kind of TTA the mean change in errors and how many models gained, lost or tied. Each
ensemble's soft vote is scored plain and with TTA too, and so is the vote of all the single
pipelines together and, as ensembles of four, of up to 2,000 of their 4-subsets (mean errors).

    python benchmarks/accuracy.py accurate --select --save-model /tmp/select.skdigits
    python benchmarks/tta.py /tmp/select*.skdigits                  # selection split
    python benchmarks/tta.py ens_0.skdigits ens_1.skdigits --report  # reported split, at the end
"""

import argparse
import itertools
import json
from pathlib import Path

import numpy as np

from _data import count_errors, load_selection_split, load_split, machine

import skdigits
from skdigits.augment import random_affine, shifted_copies
from skdigits.pipeline import sampler_index

SHIPPED = "shift 1 px, 4 directions"  # DigitCNNClassifier(tta_shift=1), measured through the package
SHIFTS = {
    "shift 1 px, 8 directions": [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)],
    "shift 1-2 px, 8 copies": [(0, 1), (0, -1), (1, 0), (-1, 0), (0, 2), (0, -2), (2, 0), (-2, 0)],
}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", help="fitted pipelines or ensembles (.skdigits), all on the same split")
    parser.add_argument("--report", action="store_true", help="the models were fitted on the reported split")
    parser.add_argument("--affine", action="store_true", help="also random affine TTA (4 and 8 copies, half and full ranges)")
    args = parser.parse_args()
    _, _, X_val, y_val = load_split(n_train=50_000) if args.report else load_selection_split()
    split = "report" if args.report else "select"
    rows, votes, singles = [], [], []
    for path in args.models:
        model = skdigits.load(path, allow_pickle=True)  # files these benchmarks wrote
        members = getattr(model, "estimators_", [model])
        member_probabilities = []
        for index, member in enumerate(members):
            name = Path(path).stem if len(members) == 1 else f"{Path(path).stem}[{index}]"
            probabilities = tta_probabilities(member, X_val, affine=args.affine)
            member_probabilities.append(probabilities)
            row = {kind: count_errors(p, member[-1].classes_, y_val) for kind, p in probabilities.items()}
            rows.append(row)
            print(json.dumps({"model": name, "errors": row, "split": split}), flush=True)
        if len(members) > 1:
            votes.append(vote_errors(member_probabilities, model.classes_, y_val))
            print(json.dumps({"ensemble": Path(path).stem, "errors": votes[-1], "split": split}), flush=True)
        else:
            singles += member_probabilities
    if len(singles) > 1:
        print(json.dumps({"ensemble": f"all {len(singles)} single pipelines", "split": split,
                          "errors": vote_errors(singles, model.classes_, y_val)}))
    if len(singles) >= 4:
        subsets = list(itertools.combinations(range(len(singles)), 4))
        subsets = [subsets[i] for i in np.random.default_rng(0).permutation(len(subsets))[:2000]]
        subset_errors = [vote_errors([singles[i] for i in subset], model.classes_, y_val) for subset in subsets]
        print(json.dumps({"ensemble": f"{len(subsets)} 4-subsets of the single pipelines", "split": split,
                          "mean_errors": {kind: round(float(np.mean([e[kind] for e in subset_errors])), 2)
                                          for kind in subset_errors[0]}}))
    for label, table in (("models", rows), ("ensembles", votes)):
        if table:
            print(json.dumps({"summary": label, "n": len(table), **paired_summary(table), "split": split,
                              "of": len(y_val), "machine": machine()}))


def tta_probabilities(pipeline, X, *, affine=False):
    """Mean probabilities of `pipeline`'s network over the images and their copies, per kind of TTA."""
    images = pipeline[: sampler_index(pipeline)].transform(X)  # as the network sees them
    network = pipeline[-1].set_params(tta_shift=0)  # plain, whatever the model was saved with
    plain = network.predict_proba(images)
    probabilities = {"plain": plain, SHIPPED: network.set_params(tta_shift=1).predict_proba(images)}
    network.set_params(tta_shift=0)
    for kind, offsets in SHIFTS.items():
        total = plain + sum(network.predict_proba(moved) for moved in shifted_copies(images, offsets))
        probabilities[kind] = total / (len(offsets) + 1)
    if affine:
        for scale in (0.5, 1.0):
            for copies in (4, 8):
                rng = np.random.default_rng(0)
                total = plain.copy()
                for _ in range(copies):
                    moved = random_affine(images, rotation=10 * scale, zoom=0.1 * scale, shift=0.1 * scale,
                                          random_state=np.random.RandomState(rng.integers(2**31)))
                    total += network.predict_proba(moved)
                probabilities[f"random affine x{scale}, {copies} copies"] = total / (copies + 1)
    return probabilities


def vote_errors(member_probabilities, classes, y):
    """Errors of the members' soft vote, per kind of TTA."""
    return {kind: count_errors(np.mean([p[kind] for p in member_probabilities], axis=0), classes, y)
            for kind in member_probabilities[0]}


def paired_summary(table):
    """Per kind of TTA: mean errors, mean change against plain, and models gained / lost / tied."""
    plain = np.array([row["plain"] for row in table])
    summary = {}
    for kind in table[0]:
        errors = np.array([row[kind] for row in table])
        change = errors - plain
        summary[kind] = {"mean": round(float(errors.mean()), 2), "change": round(float(change.mean()), 2),
                         "sd_change": round(float(change.std(ddof=1)), 2) if len(change) > 1 else None,
                         "better": int((change < 0).sum()), "worse": int((change > 0).sum()), "same": int((change == 0).sum())}
    return summary


if __name__ == "__main__":
    main()
