"""Training throughput of a network for one input/compile setting.

One warm-up pass, then one timed pass over 16,384 random images; prints images/s.
Run each setting in its own process, several times: this machine is noisy.

    python benchmarks/throughput.py --batch-size 256 --mode numpy|tfdata|steps|jit [--network reference|strided|m3]
    python benchmarks/throughput.py --batch-size 64 --network m3 --dtype-policy mixed_bfloat16
"""

import argparse
import os
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from _data import machine  # noqa: E402

from skdigits.model import build_digit_cnn  # noqa: E402

N_IMAGES = 16_384
NETWORKS = {
    "reference": {},
    "strided": {"downsampling": "strided", "filters": (32, 64), "dense_units": (128,), "dropout": 0.4},
    "m3": {"downsampling": "none", "filters": (32, 64, 96, 128, 160), "dense_units": (), "dropout": 0.0},
}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--mode", choices=["numpy", "tfdata", "steps", "jit"], default="numpy")
    parser.add_argument("--network", choices=sorted(NETWORKS), default="reference",
                        help="reference: the notebook's (default and 0.2 accurate presets); strided: the 0.1 accurate; "
                             "m3: the M3-style network (downsampling='none')")
    parser.add_argument("--dtype-policy", default="float32",
                        help="build_digit_cnn's dtype_policy (default float32), checked there: for example mixed_bfloat16")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    X = rng.random((N_IMAGES, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, N_IMAGES)
    compile_options = {"steps": {"steps_per_execution": 16}, "jit": {"jit_compile": True}}.get(args.mode, {})
    model = build_digit_cnn((28, 28, 1), 10, **NETWORKS[args.network], dtype_policy=args.dtype_policy)
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"], **compile_options)

    def data():
        if args.mode == "tfdata":
            return {"x": tf.data.Dataset.from_tensor_slices((X, y)).shuffle(N_IMAGES).batch(args.batch_size).prefetch(2)}
        return {"x": X, "y": y, "batch_size": args.batch_size}

    model.fit(**data(), epochs=1, verbose=0)
    started = time.perf_counter()
    model.fit(**data(), epochs=1, verbose=0)
    rate = N_IMAGES / (time.perf_counter() - started)
    print(f"{args.network} network, batch {args.batch_size} {args.mode} {args.dtype_policy}: {rate:.0f} images/s "
          f"on {machine()}")


if __name__ == "__main__":
    main()
