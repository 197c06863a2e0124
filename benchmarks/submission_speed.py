"""Time make_submission on a Kaggle-sized test.csv (28,000 rows), CSV parsing included.

    python benchmarks/submission_speed.py --model model.joblib
"""

import argparse
import json
import tempfile
import time
from pathlib import Path

import pandas as pd
from _data import load_mnist, peak_rss_mb

import skdigits
from skdigits import make_submission
from skdigits.preprocessing import PIXEL_COLUMNS


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="fitted pipeline (.skdigits, or .joblib you wrote)")
    args = parser.parse_args()

    X, _ = load_mnist()
    pipe = skdigits.load(args.model, allow_pickle=True)
    with tempfile.TemporaryDirectory() as folder:
        test = Path(folder) / "test.csv"
        pd.DataFrame(X[-28_000:], columns=PIXEL_COLUMNS).to_csv(test, index=False)
        make_submission(pipe, X[:1000], Path(folder) / "warm-up.csv")  # builds the predict function
        times = []
        for _ in range(3):
            started = time.perf_counter()
            make_submission(pipe, test, Path(folder) / "submission.csv")
            times.append(time.perf_counter() - started)
    print(json.dumps({"name": "make_submission, 28,000-row test.csv", "best_s": round(min(times), 2),
                      "times_s": [round(t, 2) for t in times], "peak_rss_mb": round(peak_rss_mb())}))


if __name__ == "__main__":
    main()
