"""Screen training recipes on a GPU: the `accurate` recipe re-written in plain JAX.

skdigits itself runs on TensorFlow, which a lent GPU machine may not have; this script
needs only JAX and NumPy. It trains several seeds of each candidate, one after the other,
and prints each seed's errors on the selection split (fit on the first 32,000 images,
score images 42,000-50,000) or, with ``--report``, the reported split. Run several
processes side by side to fill a GPU (``XLA_PYTHON_CLIENT_PREALLOCATE=false``).
It is a proxy: choose candidates with it, then confirm them with
``benchmarks/seeds.py`` on the package itself.

What it copies from the package (``skdigits/presets.py`` is read for the preset's values):
``build_digit_cnn`` (Conv-ReLU-BN twice, 2x2 max pooling and dropout per block, dense
ReLU layers with dropout; Glorot-uniform kernels, BN epsilon 1e-3), Keras' Adam
(epsilon 1e-7), ``WarmupCosineSchedule`` over optimiser steps, fresh copies per epoch
drawn by ``transform_images``' geometry (rotation, zoom per axis, shift; bilinear, zero
fill) next to the originals, the weight average warmed up as ``min(decay, (1+t)/(10+t))``,
BatchNorm statistics measured exactly on 2,048 training images at the end, and bagging
(each member on its own random ``max_samples`` share). What differs: random streams,
the final partial batch of an epoch (dropped here), and floating-point order; it scores
without the preset's shift test-time augmentation (``tta_shift``), which needs no training
and is measured on saved models by ``benchmarks/tta.py``.

    python benchmarks/jax_proxy.py ACC B128=batch_size=128 --seeds 0 1 2 3 4 5 6 7 --results proxy.jsonl
    python benchmarks/jax_proxy.py ACC --report --seeds 0 1 2 --probs probs.npz

Candidates are ``NAME=key=value,key=value`` with the keys of ``RECIPE_KEYS``, overriding
the `accurate` preset (a bare name, ``ACC``, is the preset as it is).
"""

import argparse
import ast
import gzip
import json
import math
import runpy
import time
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from _data import MNIST, split_rows
from seeds import parse_candidate as split_candidate

HERE = Path(__file__).resolve().parent

RECIPE_KEYS = ("filters", "dense_units", "dropout", "batch_size", "learning_rate", "warmup", "epochs", "ema_decay",
               "label_smoothing", "rotation", "zoom", "shift", "keep_original", "n_copies", "max_samples")


def preset_recipe(name="accurate"):
    """The preset's values under this script's keys, read from skdigits/presets.py without importing skdigits."""
    preset = runpy.run_path(str(HERE.parent / "skdigits" / "presets.py"))["PRESETS"][name]
    recipe = {key.split("__", 1)[1]: value for key, value in preset.items() if key.split("__", 1)[1] in RECIPE_KEYS}
    recipe.setdefault("label_smoothing", 0.0)
    recipe.setdefault("ema_decay", None)
    recipe.setdefault("max_samples", 1.0)
    if preset["cnn__lr_schedule"] != "cosine" or not preset["augment__per_epoch"]:
        raise SystemExit(f"preset {name!r} is outside the proxy: it covers the per-step cosine schedule with fresh copies")
    return recipe


def parse_candidate(text, base):
    name, overrides = split_candidate(text)
    recipe = dict(base)
    for item in overrides:
        key, _, value = item.partition("=")
        if key not in RECIPE_KEYS:
            raise SystemExit(f"unknown recipe key {key!r} in {text!r}; expected one of {', '.join(RECIPE_KEYS)}")
        recipe[key] = ast.literal_eval(value)
    return name, recipe


def read_idx(path):
    """An IDX array (skdigits.datasets.load_idx imports TensorFlow with the package, which the GPU machine lacks)."""
    with gzip.open(path, "rb") as file:
        data = file.read()
    n_dims = data[3]
    shape = np.frombuffer(data, ">i4", n_dims, 4)
    return np.frombuffer(data, np.uint8, offset=4 + 4 * n_dims).reshape(shape)


def load_split(report):
    images = read_idx(MNIST / "train-images-idx3-ubyte.gz").astype(np.float32) / 255
    labels = read_idx(MNIST / "train-labels-idx1-ubyte.gz").astype(np.int32)
    return split_rows(images, labels, select=not report, n_train=50_000)


# ---------------------------------------------------------------- the network


def glorot(key, shape, fan_in, fan_out):
    limit = math.sqrt(6 / (fan_in + fan_out))
    return jax.random.uniform(key, shape, jnp.float32, -limit, limit)


def init_params(key, filters, dense_units, n_classes=10):
    params = {"conv": [], "dense": []}
    channels, side = 1, 28
    for n_filters in filters:
        for _ in range(2):
            key, sub = jax.random.split(key)
            shape = (3, 3, channels, n_filters)
            params["conv"].append({
                "w": glorot(sub, shape, 9 * channels, 9 * n_filters), "b": jnp.zeros(n_filters),
                "gamma": jnp.ones(n_filters), "beta": jnp.zeros(n_filters),
            })
            channels, side = n_filters, side - 2
        side //= 2
    width = channels * side * side
    for units in (*dense_units, n_classes):
        key, sub = jax.random.split(key)
        params["dense"].append({"w": glorot(sub, (width, units), width, units), "b": jnp.zeros(units)})
        width = units
    return params


def forward(params, images, *, stats=None, dropout=0.0, key=None):
    """Logits. `stats` None: BN normalises with the batch's statistics (training) and the
    statistics are returned too; else with `stats` (prediction)."""
    x = images[..., None]
    measured = []
    conv = params["conv"]
    for index, layer in enumerate(conv):
        x = jax.lax.conv_general_dilated(x, layer["w"], (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"))
        x = jax.nn.relu(x + layer["b"])
        if stats is None:
            mean, var = x.mean((0, 1, 2)), x.var((0, 1, 2))
            measured.append((mean, var))
        else:
            mean, var = stats[index]
        x = (x - mean) * jax.lax.rsqrt(var + 1e-3) * layer["gamma"] + layer["beta"]
        if index % 2 == 1:
            x = jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
            x, key = _dropout(x, dropout, key)
    x = x.reshape(len(x), -1)
    for layer in params["dense"][:-1]:
        x = jax.nn.relu(x @ layer["w"] + layer["b"])
        x, key = _dropout(x, dropout, key)
    logits = x @ params["dense"][-1]["w"] + params["dense"][-1]["b"]
    return logits, measured


def _dropout(x, rate, key):
    if key is None:
        return x, key
    key, sub = jax.random.split(key)
    keep = jax.random.bernoulli(sub, 1 - rate, x.shape)
    return jnp.where(keep, x / (1 - rate), 0.0), key


# ---------------------------------------------------------------- augmentation (transform_images' geometry)


def warp(image, angle, zoom_y, zoom_x, shift_y, shift_x):
    side = image.shape[0]
    centre = (side - 1) / 2
    radians = angle * (np.pi / 180)
    cos, sin = jnp.cos(radians), jnp.sin(radians)
    yy, yx, xy, xx = cos * zoom_y, sin * zoom_x, -sin * zoom_y, cos * zoom_x
    source_y0 = centre + shift_y * side - yy * centre - yx * centre
    source_x0 = centre + shift_x * side - xy * centre - xx * centre
    rows, cols = jnp.meshgrid(jnp.arange(side, dtype=jnp.float32), jnp.arange(side, dtype=jnp.float32), indexing="ij")
    source_y = yx * cols + yy * rows + source_y0
    source_x = xx * cols + xy * rows + source_x0
    y0, x0 = jnp.floor(source_y), jnp.floor(source_x)
    out = jnp.zeros_like(image)
    for dy in (0, 1):
        for dx in (0, 1):
            yi, xi = y0 + dy, x0 + dx
            weight = (1 - jnp.abs(source_y - yi)) * (1 - jnp.abs(source_x - xi))
            inside = (yi >= 0) & (yi < side) & (xi >= 0) & (xi < side)
            value = image[jnp.clip(yi, 0, side - 1).astype(jnp.int32), jnp.clip(xi, 0, side - 1).astype(jnp.int32)]
            out = out + jnp.where(inside, weight * value, 0.0)
    return out


def augment(key, images, rotation, zoom, shift):
    n = len(images)
    keys = jax.random.split(key, 5)
    draw = lambda k, low, high: jax.random.uniform(k, (n,), jnp.float32, low, high)  # noqa: E731
    params = (draw(keys[0], -rotation, rotation), draw(keys[1], 1 - zoom, 1 + zoom), draw(keys[2], 1 - zoom, 1 + zoom),
              draw(keys[3], -shift, shift), draw(keys[4], -shift, shift))
    return jax.vmap(warp)(images, *params)


# ---------------------------------------------------------------- training


def learning_rate(step, n_steps, peak, warmup):
    n_warmup = jnp.maximum(1, jnp.round(warmup * n_steps))
    progress = jnp.minimum(1.0, (step + 1 - n_warmup) / jnp.maximum(1, n_steps - n_warmup))
    return jnp.where(step < n_warmup, peak * (step + 1) / n_warmup, peak * 0.5 * (1 + jnp.cos(jnp.pi * progress)))


def make_step(recipe, n_steps):
    """One optimiser step, jitted: augment the batch, Adam under the schedule, update the average."""
    keep_original = bool(recipe["keep_original"])
    hyper = {k: jnp.float32(recipe[k] or 0.0) for k in ("dropout", "learning_rate", "warmup", "ema_decay",
                                                          "label_smoothing", "rotation", "zoom", "shift")}

    def loss_fn(params, images, labels, key):
        logits, _ = forward(params, images, dropout=hyper["dropout"], key=key)
        targets = jax.nn.one_hot(labels, 10) * (1 - hyper["label_smoothing"]) + hyper["label_smoothing"] / 10
        return -(targets * jax.nn.log_softmax(logits)).sum(-1).mean()

    @jax.jit
    def step(state, order_batch, rows, X, y):
        params, adam_m, adam_v, average, t, key = state
        key, aug_key, drop_key = jax.random.split(key, 3)
        source = rows[order_batch % len(rows)]
        images = X[source]
        augmented = augment(aug_key, images, hyper["rotation"], hyper["zoom"], hyper["shift"])
        is_copy = (order_batch >= len(rows)) if keep_original else jnp.ones(len(order_batch), bool)
        images = jnp.where(is_copy[:, None, None], augmented, images)
        grads = jax.grad(loss_fn)(params, images, y[source], drop_key)
        lr = learning_rate(t, n_steps, hyper["learning_rate"], hyper["warmup"])
        t1 = t + 1.0
        adam_m = jax.tree.map(lambda m, g: m + (g - m) * 0.1, adam_m, grads)
        adam_v = jax.tree.map(lambda v, g: v + (g * g - v) * 0.001, adam_v, grads)
        alpha = lr * jnp.sqrt(1 - 0.999**t1) / (1 - 0.9**t1)
        params = jax.tree.map(lambda p, m, v: p - m * alpha / (jnp.sqrt(v) + 1e-7), params, adam_m, adam_v)
        decay = jnp.minimum(hyper["ema_decay"], (1 + t1) / (10 + t1))
        average = jax.tree.map(lambda a, p: decay * a + (1 - decay) * p, average, params)
        return params, adam_m, adam_v, average, t1, key

    return step


@partial(jax.jit, static_argnums=(1, 2, 3))
def epoch_order(key, n_images, n_steps, batch_size):
    return jax.random.permutation(key, n_images)[: n_steps * batch_size].reshape(n_steps, batch_size)


@jax.jit
def predict_proba(params, X_train, rows, calibration_key, X_val):
    """BN statistics measured on 2,048 training rows under `params`, then the softmax on `X_val`."""
    subset = rows[jax.random.permutation(calibration_key, len(rows))[:2048]]
    _, stats = forward(params, X_train[subset])
    logits, _ = forward(params, X_val, stats=stats)
    return jax.nn.softmax(logits)


def fit_shape(recipe, n_train):
    """(rows kept by bagging, images per epoch, optimiser steps per epoch): an epoch's last
    partial batch is dropped."""
    n_kept = max(1, round(recipe["max_samples"] * n_train))
    n_images = (int(recipe["keep_original"]) + recipe["n_copies"]) * n_kept
    return n_kept, n_images, n_images // recipe["batch_size"]


def fit_predict(seed, recipe, step, X, y, X_val):
    """Train one member under `recipe` from `seed`; its probabilities on `X_val` and the images it saw."""
    init_key, bag_key, order_key, train_key, calibration_key = jax.random.split(jax.random.PRNGKey(seed), 5)
    n_kept, n_images, steps_per_epoch = fit_shape(recipe, len(X))
    rows = jnp.sort(jax.random.permutation(bag_key, len(X))[:n_kept])
    params = init_params(init_key, recipe["filters"], recipe["dense_units"])
    zeros = jax.tree.map(jnp.zeros_like, params)
    state = (params, zeros, zeros, params, jnp.float32(0), train_key)
    for epoch in range(recipe["epochs"]):
        order = epoch_order(jax.random.fold_in(order_key, epoch), n_images, steps_per_epoch, recipe["batch_size"])
        for batch in order:
            state = step(state, batch, rows, X, y)
    weights = state[3] if recipe["ema_decay"] else state[0]
    images_seen = steps_per_epoch * recipe["epochs"] * recipe["batch_size"]
    return np.asarray(predict_proba(weights, X, rows, calibration_key, X_val)), images_seen


def run_candidate(recipe, seeds, X, y, X_val, stop_at, on_fit):
    """Fit the seeds in turn, none started after `stop_at` (perf_counter seconds); `on_fit(seed, proba)` after each."""
    step = make_step(recipe, fit_shape(recipe, len(X))[2] * recipe["epochs"])
    started, fits = time.perf_counter(), []
    for seed in seeds:
        if time.perf_counter() > stop_at:
            break
        fits.append(fit_predict(seed, recipe, step, X, y, X_val))
        on_fit(seed, fits[-1][0])
    return [proba for proba, _ in fits], time.perf_counter() - started, fits[0][1] if fits else 0


def count_errors(proba, y):
    return int((proba.argmax(-1) != y).sum())


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("candidates", nargs="+", help="NAME or NAME=key=value,key=value")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds of every candidate (default 0 1 2)")
    parser.add_argument("--report", action="store_true", help="reported split instead of the selection split")
    parser.add_argument("--results", type=Path, help="append one JSON line per candidate here")
    parser.add_argument("--probs", type=Path, help="save every seed's validation probabilities (float16) here")
    parser.add_argument("--limit", type=int, help="train on only this many images (a smoke test)")
    parser.add_argument("--deadline", type=float, default=float("inf"), help="start no fit after this many seconds")
    args = parser.parse_args()
    jax.config.update("jax_default_matmul_precision", "highest")
    X, y, X_val, y_val = load_split(args.report)
    X, y = X[: args.limit], y[: args.limit]
    X, y, X_val = jnp.asarray(X), jnp.asarray(y), jnp.asarray(X_val)
    base = preset_recipe()
    seeds = args.seeds
    print(f"device {jax.devices()[0].device_kind}, split {'report' if args.report else 'select'}, n_val {len(y_val)}, "
          f"seeds {seeds}, base {base}", flush=True)
    all_probs = {}
    stop_at = time.perf_counter() + args.deadline
    for text in args.candidates:
        name, recipe = parse_candidate(text, base)

        def report_fit(seed, proba, name=name):
            print(f"{name} seed {seed}: {count_errors(proba, y_val)} errors", flush=True)

        probas, seconds, images = run_candidate(recipe, seeds, X, y, X_val, stop_at, report_fit)
        if not probas:
            print(f"deadline: {name} not run", flush=True)
            continue
        proba = np.stack(probas)
        errors = [count_errors(p, y_val) for p in proba]
        line = {"name": name, "recipe": {k: recipe[k] for k in RECIPE_KEYS}, "split": "report" if args.report else "select",
                "seeds": seeds[: len(errors)], "errors": errors, "mean_errors": round(float(np.mean(errors)), 2),
                "sd": round(float(np.std(errors, ddof=1)), 2) if len(errors) > 1 else None,
                "all_seeds_soft_vote_errors": count_errors(proba.mean(0), y_val),
                "images_per_fit": images, "seconds": round(seconds, 1), "device": jax.devices()[0].device_kind}
        print(json.dumps(line), flush=True)
        if args.results:
            with args.results.open("a") as file:
                file.write(json.dumps(line) + "\n")
        all_probs[name] = proba.astype(np.float16)
        if args.probs:
            np.savez_compressed(args.probs, y_val=y_val, **all_probs)


if __name__ == "__main__":
    main()
