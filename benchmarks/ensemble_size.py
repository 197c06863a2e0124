"""How soft-voting accuracy grows with the number of members, from ensembles already fitted.

Pools the members of saved ensembles (`accuracy.py ensemble --save-model E.skdigits`, all
fitted on the same split), then scores the mean probability of every subset of k members,
for k = 1 .. all, on that split's validation images: mean, min and max over the subsets.
Costs one prediction per member, no training.

    python benchmarks/ensemble_size.py ens_seed1.skdigits ens_seed2.skdigits [--select]
"""

import argparse
import itertools
import json

import numpy as np

from _data import load_selection_split, load_split, machine

import skdigits


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", help="saved ensembles (.skdigits), fitted on the same split")
    parser.add_argument("--select", action="store_true", help="the models were fitted on the selection split")
    args = parser.parse_args()
    _, _, X_val, y_val = load_selection_split() if args.select else load_split(n_train=50_000)
    probabilities = []
    for path in args.models:
        ensemble = skdigits.load(path)
        probabilities += [member.predict_proba(X_val) for member in ensemble.estimators_]
        classes = ensemble.classes_
    probabilities = np.stack(probabilities)
    for k in range(1, len(probabilities) + 1):
        accuracies = [
            float((classes[probabilities[list(subset)].mean(axis=0).argmax(axis=1)] == y_val).mean())
            for subset in itertools.combinations(range(len(probabilities)), k)
        ]
        print(json.dumps({
            "members": k, "subsets": len(accuracies), "mean": round(float(np.mean(accuracies)), 5),
            "min": min(accuracies), "max": max(accuracies), "split": "select" if args.select else "report",
            "machine": machine(),
        }))


if __name__ == "__main__":
    main()
