"""Compare training recipes over several seeds: run accuracy.py for each candidate and seed.

Each candidate is a name and the `--set` overrides that make it (`B128=cnn__batch_size=128`;
a bare name, `R10`, is the preset as it is). Every (candidate, seed) fit runs `accuracy.py`
in its own process, `--parallel` at a time, each with its share of the cores
(`SKDIGITS_TF_THREADS`): on 2 cores two one-thread fits train about 20 % more images per
second than one two-thread fit. Each result is appended to `--results` (JSON lines) as
soon as it finishes, and fits already there are skipped, so an interrupted study resumes.
At the end, prints one line per candidate: errors per seed, mean errors and images/s.

    python benchmarks/seeds.py R10 B128=cnn__batch_size=128 LR=cnn__learning_rate=0.002 \\
        --seeds 0 1 2 --parallel 2 --results select.jsonl
    python benchmarks/seeds.py R10 --report --results report.jsonl     # the reported split, at the end
    python benchmarks/seeds.py R10 --results select.jsonl --summary    # only print the table
"""

import argparse
import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent


def parse_candidate(text):
    """``"W=cnn__filters=(32,64),cnn__epochs=12"`` -> ``("W", ["cnn__filters=(32,64)", "cnn__epochs=12"])``.

    Overrides are separated by the commas that start a new ``name=``, so tuple values keep theirs.
    """
    name, _, overrides = text.partition("=")
    return name, [item for item in re.split(r",(?=\w+=)", overrides) if item]


def run_fit(name, overrides, seed, args, threads):
    command = [sys.executable, str(HERE / "accuracy.py"), args.preset, "--seed", str(seed)]
    command += [] if args.report else ["--select"]
    command += ["--set", *overrides] if overrides else []
    if args.save_models:
        command += ["--save-model", str(Path(args.save_models) / f"{name}_{seed}.skdigits")]
    env = {**os.environ, "SKDIGITS_TF_THREADS": str(threads)}
    finished = subprocess.run(command, env=env, cwd=HERE, capture_output=True, text=True)
    if finished.returncode:
        print(f"{name} seed {seed} failed:\n{finished.stderr[-2000:]}", file=sys.stderr)
        return None
    result = {"candidate": name, "seed": seed, **json.loads(finished.stdout.strip().splitlines()[-1])}
    with open(args.results, "a") as results:
        results.write(json.dumps(result) + "\n")
    print(f"{name} seed {seed}: {result['errors']} errors, {result['images_per_s']} images/s", flush=True)
    return result


def read_results(path):
    if not Path(path).exists():
        return []
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def summary(results, names):
    """One line per candidate: errors per seed, their mean, and the images/s range."""
    lines = []
    for name in names:
        rows = sorted((r for r in results if r["candidate"] == name), key=lambda r: r["seed"])
        if not rows:
            continue
        errors = [r["errors"] for r in rows]
        speeds = [r["images_per_s"] for r in rows]
        lines.append(
            f"{name}: errors {', '.join(map(str, errors))} (seeds {', '.join(str(r['seed']) for r in rows)}), "
            f"mean {sum(errors) / len(errors):.1f} of {rows[0]['n_val']}, accuracy {sum(r['val_accuracy'] for r in rows) / len(rows):.5f}; "
            f"{rows[0]['images']:,} images per fit, {min(speeds):,}-{max(speeds):,} images/s"
        )
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("candidates", nargs="+", metavar="NAME[=STEP__PARAM=VALUE,...]")
    parser.add_argument("--preset", default="accurate", help="preset the overrides apply to (default accurate)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--parallel", type=int, default=1, help="fits at once (default 1)")
    parser.add_argument("--report", action="store_true", help="the reported split instead of the selection split")
    parser.add_argument("--results", required=True, help="JSON-lines file the results are appended to")
    parser.add_argument("--save-models", metavar="DIR", help="also save each fitted model as DIR/NAME_SEED.skdigits")
    parser.add_argument("--summary", action="store_true", help="print the table of --results and fit nothing")
    args = parser.parse_args()

    candidates = dict(parse_candidate(text) for text in args.candidates)
    if not args.summary:
        done = {(r["candidate"], r["seed"]) for r in read_results(args.results)}
        todo = [(name, seed) for seed in args.seeds for name in candidates if (name, seed) not in done]
        threads = max(1, (os.cpu_count() or 1) // args.parallel)
        with ThreadPoolExecutor(args.parallel) as pool:
            list(pool.map(lambda job: run_fit(job[0], candidates[job[0]], job[1], args, threads), todo))
    print("\n".join(summary(read_results(args.results), candidates)))


if __name__ == "__main__":
    main()
