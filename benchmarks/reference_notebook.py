"""A faithful Keras 3 port of the reference notebook's training loop (the baseline).

Its network, Adam with the 1e-3 * 0.9**epoch annealer, batch 64, 500 steps x 20
epochs of freshly augmented images (rotation 10, zoom 0.1, shift 0.1, as
ImageDataGenerator), on the benchmark split. Keras 3 has no ImageDataGenerator,
so augmentation runs as Keras random-transform layers on each batch in tf.data.

    python benchmarks/reference_notebook.py [--epochs 20] [--steps 500]
"""

import argparse
import json
import os
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from _data import load_split, peak_rss_mb  # noqa: E402

from skdigits.model import build_digit_cnn  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    keras.utils.set_random_seed(args.seed)
    X_train, y_train, X_val, y_val = load_split()
    X_train = X_train.reshape(-1, 28, 28, 1).astype("float32") / 255
    X_val = X_val.reshape(-1, 28, 28, 1).astype("float32") / 255

    augment = keras.Sequential(
        [
            keras.layers.RandomRotation(10 / 360, fill_mode="nearest"),
            keras.layers.RandomZoom((-0.1, 0.1), fill_mode="nearest"),
            keras.layers.RandomTranslation(0.1, 0.1, fill_mode="nearest"),
        ]
    )
    batches = (
        tf.data.Dataset.from_tensor_slices((X_train, y_train))
        .shuffle(len(X_train), seed=args.seed)
        .repeat()
        .batch(64)
        .map(lambda x, y: (augment(x, training=True), y), num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )
    model = build_digit_cnn((28, 28, 1), 10)
    model.compile(optimizer=keras.optimizers.Adam(1e-4), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    annealer = keras.callbacks.LearningRateScheduler(lambda epoch: 1e-3 * 0.9**epoch)

    started = time.perf_counter()
    model.fit(batches, steps_per_epoch=args.steps, epochs=args.epochs, callbacks=[annealer], verbose=2)
    fit_seconds = time.perf_counter() - started
    accuracy = float(np.mean(model.predict(X_val, batch_size=1024, verbose=0).argmax(1) == y_val))
    images = args.steps * 64 * args.epochs
    print(json.dumps({"name": "reference notebook (fresh augmentation per batch)", "fit_s": round(fit_seconds, 1),
                      "images": images, "images_per_s": round(images / fit_seconds), "val_accuracy": accuracy,
                      "peak_rss_mb": round(peak_rss_mb())}))


if __name__ == "__main__":
    main()
