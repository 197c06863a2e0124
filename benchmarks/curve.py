"""Validation accuracy after every epoch of one pipeline fit (for choosing schedules).

Trains make_digit_pipeline(**overrides) on the first 42,000 shared MNIST images
and prints (epoch, fit seconds so far, accuracy on the last 10,000) after each
epoch; evaluation time is excluded from the fit time. Ends with a JSON line.

    python benchmarks/curve.py batch_size=256 learning_rate=3e-3 lr_decay=0.6 epochs=4
"""

import json
import sys
import time

import keras
import numpy as np
from _data import load_split

from skdigits import make_digit_pipeline
from skdigits.presets import parse_overrides


class ValidationCurve(keras.callbacks.Callback):
    def __init__(self, images, labels):
        super().__init__()
        self.images, self.labels = images, labels
        self.points = []

    def on_train_begin(self, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        paused = time.perf_counter()
        predicted = self.model.predict(self.images, batch_size=1024, verbose=0).argmax(1)
        self.points.append((epoch, round(paused - self.started, 1), float(np.mean(predicted == self.labels))))
        self.started += time.perf_counter() - paused
        print(self.points[-1], flush=True)


def main():
    overrides = parse_overrides(sys.argv[1:])
    X, y, X_val, y_val = load_split()
    curve = ValidationCurve(X_val.reshape(-1, 28, 28, 1) / np.float32(255), y_val)
    pipe = make_digit_pipeline(random_state=0, **overrides)
    started = time.perf_counter()
    pipe.fit(X, y, cnn__callbacks=[curve])
    wall = round(time.perf_counter() - started, 1)
    print(json.dumps({"overrides": sys.argv[1:], "wall_s_with_evaluation": wall, "curve": curve.points}))


if __name__ == "__main__":
    main()
