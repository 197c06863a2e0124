"""How soft-voting accuracy grows with the number of members, from models already fitted.

Pools the members of saved ensembles (`accuracy.py ensemble --save-model E.skdigits`) and saved
single pipelines (`accuracy.py accurate --save-model M.skdigits`), all fitted on the same split,
then scores the mean probability of every subset of k members, for k = 1 .. all, on that split's
validation images: mean, min and max over the subsets. With --pairs, also each pair's errors and
disagreement (the share of images the two label differently), to see whether members of different
recipes make better pairs than members of one recipe. With --shared, instead of the subsets: how
many images are misread by how large a share of the members, by exactly k members (and how many of
those the vote misreads), and which images most of them misread (the errors no vote of these
members can fix). With --mix K, votes of K members mixed from families of models (a family is a
file name without its trailing _SEED: DESK_3, DESK_4 -> DESK): for every count of members from
each family, the mean, min and max errors over all such subsets. Members predict with --tta-shift
(default 0, as make_ensemble's members do). With --both-views, each member averages its
probabilities over the images as it was trained (plain or deskewed) and the other view, and the
errors of each member in each view are printed first. Every run first prints each member's errors
and log loss (the mean -log of the true class's probability); --votes prints the errors of every
vote of two or more members. With --calibrate, each member's probabilities are first tempered
(softmax of log p / T) by a temperature fitted, by log loss, on the other half of the validation
images (halves by index parity), so that under- and over-confident members weigh alike in the
votes; --temper PREFIX=T instead tempers the members whose names start with PREFIX by a fixed T
(as a package would, with temperatures chosen beforehand). Models may also be given as the
members' validation probabilities (.npz files from `accuracy.py --save-probs`). Costs one
prediction per saved model (two with --both-views), no training.

    python benchmarks/ensemble_size.py ens_seed1.skdigits ens_seed2.skdigits [--select]
    python benchmarks/ensemble_size.py a_seed0.skdigits b_seed0.skdigits b_seed1.skdigits --select --pairs
    python benchmarks/ensemble_size.py ens_*.skdigits single_*.skdigits --shared
    python benchmarks/ensemble_size.py DESK_{0,1,2,3}.skdigits DRB64_{0,1,2,3}.skdigits --select --mix 4
    python benchmarks/ensemble_size.py results/members/*_s2_m*.npz --pairs --votes
"""

import argparse
import itertools
import json
import re
import sys
from pathlib import Path

import numpy as np
from _data import count_errors, load_mnist, machine, split_rows
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax

import skdigits


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", help="saved ensembles or pipelines (.skdigits) or members' probabilities "
                        "(.npz from accuracy.py --save-probs), fitted on the same split")
    parser.add_argument("--select", action="store_true", help="the models were fitted on the selection split")
    parser.add_argument("--pairs", action="store_true", help="also print every pair's errors and disagreement")
    parser.add_argument("--shared", action="store_true", help="print the errors the members share instead of the subsets")
    parser.add_argument("--mix", type=int, metavar="K", help="print votes of K members by family instead of the subsets")
    parser.add_argument("--votes", action="store_true", help="also print the errors of every vote of two or more members")
    parser.add_argument("--tta-shift", type=int, default=0, help="the members' shift TTA (default 0)")
    tempering = parser.add_mutually_exclusive_group()
    tempering.add_argument("--calibrate", action="store_true",
                           help="temper each member by a temperature fitted on the other half of the images first")
    tempering.add_argument("--temper", nargs="+", default=[], metavar="PREFIX=T",
                           help="temper the members whose names start with PREFIX by the fixed temperature T")
    parser.add_argument("--both-views", action="store_true",
                        help="each member averages its own view (plain or deskewed) and the other one")
    args = parser.parse_args()
    X, y = load_mnist()
    _, _, val_rows, _ = split_rows(np.arange(len(y)), y, select=args.select, n_train=50_000)  # rows in the MNIST files
    X_val, y_val = X[val_rows], y[val_rows]
    names, probabilities, classes = [], [], None
    for path in args.models:
        member_names, member_probabilities, classes = read_members(path, X_val, y_val, args)
        names += member_names
        probabilities += member_probabilities
    probabilities = np.stack(probabilities)
    split = "select" if args.select else "report"
    true_class = np.searchsorted(classes, y_val)
    temperatures = [None] * len(names)
    if args.calibrate:
        calibrated = [temper_cross_fitted(member, true_class) for member in probabilities]
        probabilities = np.stack([tempered for tempered, _ in calibrated])
        temperatures = [[round(t, 3) for t in fitted] for _, fitted in calibrated]
    for prefix, temperature in (item.split("=") for item in args.temper):
        matching = [i for i, name in enumerate(names) if name.startswith(prefix)]
        if not matching:
            sys.exit(f"--temper {prefix}={temperature}: no member's name starts with {prefix!r}; the members are {names}.")
        for i in matching:
            probabilities[i] = temper(probabilities[i], float(temperature))
            temperatures[i] = float(temperature)

    def errors(subset):
        return count_errors(probabilities[list(subset)].mean(axis=0), classes, y_val)

    for name, member, temperature in zip(names, probabilities, temperatures):
        log_loss = -log_probabilities(member[np.arange(len(y_val)), true_class]).mean()
        print(json.dumps({"member": name, "errors": count_errors(member, classes, y_val),
                          "log_loss": round(float(log_loss), 5), "split": split,
                          **({} if temperature is None else {"temperatures": temperature})}))
    if args.votes:
        for k in range(2, len(names) + 1):
            for subset in itertools.combinations(range(len(names)), k):
                print(json.dumps({"vote": [names[i] for i in subset], "errors": errors(subset), "split": split}))

    if args.pairs:
        labels = probabilities.argmax(axis=2)
        for a, b in itertools.combinations(range(len(names)), 2):
            print(json.dumps({"pair": [names[a], names[b]], "errors": [errors([a]), errors([b])],
                              "pair_errors": errors([a, b]), "disagreement": round(float((labels[a] != labels[b]).mean()), 5),
                              "split": split}))
    if args.shared:
        print_shared_errors(probabilities, classes, y_val, split, rows=val_rows)
        return
    if args.mix:
        print_mixes(args.mix, names, errors, split)
        return
    for k in range(1, len(probabilities) + 1):
        accuracies = [1 - errors(subset) / len(y_val) for subset in itertools.combinations(range(len(probabilities)), k)]
        print(json.dumps({
            "members": k, "subsets": len(accuracies), "mean": round(float(np.mean(accuracies)), 5),
            "min": round(min(accuracies), 5), "max": round(max(accuracies), 5), "split": split, "machine": machine(),
        }))


def temper_cross_fitted(probabilities, true_class):
    """`probabilities` tempered on each half of the images (by index parity) by the temperature
    that minimises the other half's log loss, and the two temperatures."""
    halves = [np.arange(len(probabilities)) % 2 == parity for parity in (0, 1)]
    tempered, temperatures = np.empty_like(probabilities), []
    for fit_half, apply_half in (halves, halves[::-1]):
        fitted = minimize_scalar(tempered_log_loss, args=(log_probabilities(probabilities[fit_half]), true_class[fit_half]),
                                 bounds=(-3, 3), method="bounded")
        temperatures.append(float(np.exp(fitted.x)))
        tempered[apply_half] = temper(probabilities[apply_half], temperatures[-1])
    return tempered, temperatures


def temper(probabilities, temperature):
    """softmax(log p / T): sharper below T = 1, flatter above."""
    return softmax(log_probabilities(probabilities) / temperature, axis=1)


def log_probabilities(probabilities):
    return np.log(np.clip(probabilities, 1e-12, None))


def tempered_log_loss(log_temperature, logs, true_class):
    return float(-log_softmax(logs / np.exp(log_temperature), axis=1)[np.arange(len(logs)), true_class].mean())


def read_members(path, X_val, y_val, args):
    """Names, validation probabilities and classes of the members in one file: a saved model
    (predicted here) or the probabilities that accuracy.py --save-probs kept."""
    if Path(path).suffix == ".npz":
        saved = np.load(path)
        if args.both_views:
            sys.exit(f"--both-views predicts each member twice, so it needs saved models, got probabilities: {path}.")
        if not np.array_equal(saved["y"], y_val):
            sys.exit(f"{path} holds probabilities of other images than the {'selection' if args.select else 'reported'} "
                     "split's validation images: pass --select exactly for files fitted with accuracy.py --select.")
        return [Path(path).stem], [saved["probabilities"]], saved["classes"]
    model = skdigits.load(path)
    members = getattr(model, "estimators_", [model])
    for member in members:
        member.set_params(cnn__tta_shift=args.tta_shift)
    names = [Path(path).stem if len(members) == 1 else f"{Path(path).stem}[{i}]" for i in range(len(members))]
    probabilities = [
        predict_both_views(member, X_val, y_val, name) if args.both_views else member.predict_proba(X_val)
        for member, name in zip(members, names)
    ]
    return names, probabilities, model.classes_


def predict_both_views(member, X, y, name):
    """The mean of `member`'s probabilities on the images deskewed and not, whichever it was
    trained on; prints its errors in each view and in the mean."""
    own_view = member.get_params()["reshape__deskew"]
    own = member.predict_proba(X)
    member.set_params(reshape__deskew=not own_view)
    other = member.predict_proba(X)
    member.set_params(reshape__deskew=own_view)
    both = (own + other) / 2
    errors = {view: count_errors(p, member.classes_, y) for view, p in (("own", own), ("other", other), ("both", both))}
    print(json.dumps({"member": name, "deskew": bool(own_view), "errors": errors}), flush=True)
    return both


def print_mixes(k, names, errors, split):
    """Votes of `k` members by family: errors over every subset with the same count from each family."""
    family_of = [re.sub(r"_\d+(\[\d+\])?$", "", name) for name in names]
    families = sorted(set(family_of))
    indices = {family: [i for i, name in enumerate(family_of) if name == family] for family in families}
    for counts in itertools.product(range(k + 1), repeat=len(families)):
        if sum(counts) != k:
            continue
        choices = [itertools.combinations(indices[family], count) for family, count in zip(families, counts)]
        subset_errors = [errors(sum(parts, ())) for parts in itertools.product(*choices)]
        if subset_errors:
            print(json.dumps({"mix": dict(zip(families, counts)), "subsets": len(subset_errors),
                              "mean_errors": round(float(np.mean(subset_errors)), 2), "min": min(subset_errors),
                              "max": max(subset_errors), "split": split}))


def print_shared_errors(probabilities, classes, y, split, *, rows):
    """How many images more than a given share of the members misread, and the images most misread
    (by their `rows` in the MNIST training files)."""
    n_wrong = (classes[probabilities.argmax(axis=2)] != y).sum(axis=0)
    share_wrong = n_wrong / len(probabilities)
    vote = classes[probabilities.mean(axis=0).argmax(axis=1)]
    counts = {f"more than {share:.0%}": int((share_wrong > share).sum()) for share in (0, 0.1, 0.25, 0.5, 0.75, 0.9)}
    # for each number k of members that misread an image: how many images, and how many of them the vote misreads
    by_k = {k: [int((n_wrong == k).sum()), int(((n_wrong == k) & (vote != y)).sum())] for k in range(1, len(probabilities) + 1)}
    print(json.dumps({"members": len(probabilities), "vote_errors": int((vote != y).sum()), "images_misread_by": counts,
                      "all": int((share_wrong == 1).sum()), "misread_by_k_members_and_vote_errors": by_k, "split": split}))
    for index in np.argsort(-share_wrong, kind="stable")[: counts["more than 50%"]]:
        print(json.dumps({"mnist_row": int(rows[index]), "label": int(y[index]), "vote": int(vote[index]),
                          "share_wrong": round(float(share_wrong[index]), 2)}))


if __name__ == "__main__":
    main()
