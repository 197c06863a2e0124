"""Fit time of the default pipeline against the reference notebook's loop, in one run.

Runs, each in its own process so neither warms the other, on the same split
(first 42,000 shared MNIST images; validation on the last 10,000):
(a) reference_notebook.py, a faithful port of the notebook's training loop;
(b) accuracy.py with make_digit_pipeline() defaults;
(c) submission_speed.py: make_submission on a 28,000-row test.csv with (b)'s model.
Prints fit wall time, images/s, peak RSS and validation accuracy of each, then
the ratio baseline_time / skdigits_time.

    python benchmarks/speed.py
"""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run(script, *args):
    result = subprocess.run([sys.executable, script, *args], cwd=HERE, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"{script} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main():
    with tempfile.TemporaryDirectory() as folder:
        model = str(Path(folder) / "model.joblib")
        baseline = run("reference_notebook.py")
        skdigits = run("accuracy.py", "default", "--n-train", "42000", "--save-model", model)
        submission = run("submission_speed.py", "--model", model)
    print(f"{'run':52} {'fit s':>7} {'images/s':>9} {'val acc':>8} {'peak RSS MB':>12}")
    for row in (baseline, skdigits):
        print(f"{row['name']:52} {row['fit_s']:7.1f} {row['images_per_s']:9d} {row['val_accuracy']:8.4f} {row['peak_rss_mb']:12d}")
    print(f"ratio baseline_time / skdigits_time: {baseline['fit_s'] / skdigits['fit_s']:.2f}")
    print(f"accuracy difference (skdigits - baseline): {100 * (skdigits['val_accuracy'] - baseline['val_accuracy']):+.2f} pp")
    print(f"{submission['name']}: best of 3 {submission['best_s']:.2f} s (all: {submission['times_s']}), "
          f"peak RSS {submission['peak_rss_mb']} MB")


if __name__ == "__main__":
    main()
