"""How soft-voting accuracy grows with the number of members, from models already fitted.

Pools the members of saved ensembles (`accuracy.py ensemble --save-model E.skdigits`) and
saved single pipelines (`accuracy.py accurate --save-model M.skdigits`), all fitted on the
same split, then scores the mean probability of every subset of k members, for k = 1 .. all,
on that split's validation images: mean, min and max over the subsets. With --pairs, also
each pair's errors and disagreement (the share of images the two label differently), to see
whether members of different recipes make better pairs than members of one recipe.
Costs one prediction per member, no training.

    python benchmarks/ensemble_size.py ens_seed1.skdigits ens_seed2.skdigits [--select]
    python benchmarks/ensemble_size.py a_seed0.skdigits b_seed0.skdigits b_seed1.skdigits --select --pairs
"""

import argparse
import itertools
import json
from pathlib import Path

import numpy as np

from _data import load_selection_split, load_split, machine

import skdigits


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", help="saved ensembles or pipelines (.skdigits), fitted on the same split")
    parser.add_argument("--select", action="store_true", help="the models were fitted on the selection split")
    parser.add_argument("--pairs", action="store_true", help="also print every pair's errors and disagreement")
    args = parser.parse_args()
    _, _, X_val, y_val = load_selection_split() if args.select else load_split(n_train=50_000)
    names, probabilities = [], []
    for path in args.models:
        model = skdigits.load(path)
        members = getattr(model, "estimators_", [model])
        names += [Path(path).stem if len(members) == 1 else f"{Path(path).stem}[{i}]" for i in range(len(members))]
        probabilities += [member.predict_proba(X_val) for member in members]
        classes = model.classes_
    probabilities = np.stack(probabilities)
    split = "select" if args.select else "report"

    def errors(subset):
        return int((classes[probabilities[list(subset)].mean(axis=0).argmax(axis=1)] != y_val).sum())

    if args.pairs:
        labels = probabilities.argmax(axis=2)
        for a, b in itertools.combinations(range(len(names)), 2):
            print(json.dumps({"pair": [names[a], names[b]], "errors": [errors([a]), errors([b])],
                              "pair_errors": errors([a, b]), "disagreement": round(float((labels[a] != labels[b]).mean()), 5),
                              "split": split}))
    for k in range(1, len(probabilities) + 1):
        accuracies = [1 - errors(subset) / len(y_val) for subset in itertools.combinations(range(len(probabilities)), k)]
        print(json.dumps({
            "members": k, "subsets": len(accuracies), "mean": round(float(np.mean(accuracies)), 5),
            "min": round(min(accuracies), 5), "max": round(max(accuracies), 5), "split": split, "machine": machine(),
        }))


if __name__ == "__main__":
    main()
