"""How long `skdigits predict` takes for 1 image and for 100 image files, start-up included,
and how long `skdigits serve` takes to answer POST /predict (what the drawing page waits for).

Trains the default pipeline on the shipped sample (unless --model is given), writes 100
sample digits as dark-on-light PNG files, and times the command in fresh processes,
best of 3 each; then starts `skdigits serve` and times 50 POST /predict round trips
of one file (median and 90th percentile).

    python benchmarks/predict_images.py [--model model.skdigits]
"""

import argparse
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
from PIL import Image

from _data import command_seconds, machine

import skdigits
from skdigits.datasets import load_sample


def best_of(argv, runs=3):
    times = command_seconds(argv, runs)
    return round(min(times), 2), [round(t, 2) for t in times]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None)
    args = parser.parse_args()
    command = shutil.which("skdigits") or sys.exit("the skdigits command is not installed (make demo installs it)")
    X, y = load_sample()
    with tempfile.TemporaryDirectory() as folder:
        model = args.model or str(Path(folder) / "model.skdigits")
        if args.model is None:
            skdigits.save(skdigits.make_digit_pipeline(random_state=0).fit(X[:4000], y[:4000]), model)
        paths = []
        for index in range(4000, 4100):
            page = 255 - np.asarray(Image.fromarray(X[index].reshape(28, 28)).resize((112, 112)))
            paths.append(str(Path(folder) / f"digit{index}.png"))
            Image.fromarray(page).save(paths[-1])
        one, one_all = best_of([command, "predict", "--model", model, paths[0]])
        hundred, hundred_all = best_of([command, "predict", "--model", model, *paths])
        output = subprocess.run([command, "predict", "--model", model, "--json", *paths], capture_output=True, text=True)
        labels = [p["label"] for p in json.loads(output.stdout)["predictions"]]
        served = served_milliseconds(command, model, Path(paths[0]).read_bytes())
    print(json.dumps({
        "predict 1 image s": one, "runs": one_all, "predict 100 images s": hundred, "runs_100": hundred_all,
        "accuracy on the 100": float(np.mean(np.array(labels) == y[4000:4100])),
        "serve POST /predict ms (median, p90)": served, "machine": machine(),
    }))


def served_milliseconds(command, model, image, requests=50):
    """Median and 90th percentile of POST /predict round trips to `skdigits serve`, in ms."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([command, "serve", "--model", model, "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/predict"
    try:
        for _ in range(600):
            try:
                post(url, image)  # the first answer also builds Keras' predict function
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.2)
        times = []
        for _ in range(requests):
            started = time.perf_counter()
            post(url, image)
            times.append(1000 * (time.perf_counter() - started))
    finally:
        server.terminate()
        server.wait(timeout=60)
    return [round(float(np.median(times)), 1), round(float(np.percentile(times, 90)), 1)]


def post(url, body):
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "image/png"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)


if __name__ == "__main__":
    main()
