"""Screen training recipes on a GPU: the `accurate` recipe re-written in plain JAX.

skdigits itself runs on TensorFlow, which a lent GPU machine may not have; this script
needs only JAX, NumPy and SciPy. It trains the seeds of each candidate one after the other,
or ``--together N`` at a time (one program vectorised over the seeds), each epoch one
compiled loop, and prints each seed's errors on
the selection split (fit on the first 32,000 images, score images 42,000-50,000) or, with
``--report``, the reported split. Run several processes side by side to fill a GPU
(``XLA_PYTHON_CLIENT_PREALLOCATE=false``). It is a proxy: choose candidates with it, then
confirm them with ``benchmarks/seeds.py`` on the package itself.

What it copies from the package (``skdigits/presets.py`` is read for the preset's values,
``skdigits/preprocessing.py`` for ``deskew``): ``build_digit_cnn`` (Conv-ReLU-BN twice, then
2x2 max pooling or, with ``downsampling=strided``, a 5x5 stride-2 Conv-ReLU-BN, or with
``downsampling=none`` nothing (the M3-style network), and dropout per block; dense ReLU layers
with dropout; Glorot-uniform kernels, BN epsilon 1e-3), deskewed
images (``deskew=True``, at fit and predict time), Keras' Adam (epsilon 1e-7),
``WarmupCosineSchedule`` over optimiser steps, fresh copies per epoch drawn by
``transform_images``' geometry (rotation, zoom per axis, shift; bilinear, zero fill) next to
the originals, the weight average warmed up as ``min(decay, (1+t)/(10+t))``, BatchNorm
statistics measured exactly on 2,048 training images at the end, and bagging (each member on
its own random ``max_samples`` share). What differs: random streams, the final partial batch
of an epoch (dropped here), and floating-point order; it scores without the preset's shift
test-time augmentation (``tta_shift``), which needs no training and is measured on saved
models by ``benchmarks/tta.py``.

    python benchmarks/jax_proxy.py ACC B128=batch_size=128 --seeds 0 1 2 3 4 5 6 7 --results proxy.jsonl
    python benchmarks/jax_proxy.py S15=downsampling=strided,epochs=15 D15=deskew=True,epochs=15 --probs p.npz
    python benchmarks/jax_proxy.py ACC --report --seeds 0 1 2 --probs probs.npz

Candidates are ``NAME=key=value,key=value`` with the keys of ``RECIPE_KEYS``, overriding
the `accurate` preset (a bare name, ``ACC``, is the preset as it is); a value that is not
a Python literal is taken as a string (``downsampling=strided``).
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
               "label_smoothing", "rotation", "zoom", "shift", "keep_original", "n_copies", "max_samples",
               "downsampling", "deskew")


def preset_recipe(name="accurate"):
    """The preset's values under this script's keys, read from skdigits/presets.py without importing skdigits."""
    preset = runpy.run_path(str(HERE.parent / "skdigits" / "presets.py"))["PRESETS"][name]
    recipe = {key.split("__", 1)[1]: value for key, value in preset.items() if key.split("__", 1)[1] in RECIPE_KEYS}
    recipe.setdefault("label_smoothing", 0.0)
    recipe.setdefault("ema_decay", None)
    recipe.setdefault("max_samples", 1.0)
    recipe.setdefault("downsampling", "maxpool")
    recipe.setdefault("deskew", False)
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
        try:
            recipe[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            recipe[key] = value
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


def package_deskew():
    """skdigits.preprocessing.deskew, taken from its source (importing skdigits imports TensorFlow)."""
    from scipy import ndimage

    source = (HERE.parent / "skdigits" / "preprocessing.py").read_text()
    function = next(node for node in ast.parse(source).body if isinstance(node, ast.FunctionDef) and node.name == "deskew")
    namespace = {"np": np, "ndimage": ndimage}
    exec(compile(ast.Module([function], []), "preprocessing.py", "exec"), namespace)
    return namespace["deskew"]


# ---------------------------------------------------------------- the network


def glorot(key, shape, fan_in, fan_out):
    limit = math.sqrt(6 / (fan_in + fan_out))
    return jax.random.uniform(key, shape, jnp.float32, -limit, limit)


def conv_layer(key, size, channels, n_filters):
    return {"w": glorot(key, (size, size, channels, n_filters), size * size * channels, size * size * n_filters),
            "b": jnp.zeros(n_filters), "gamma": jnp.ones(n_filters), "beta": jnp.zeros(n_filters)}


def init_params(key, filters, dense_units, downsampling, n_classes=10):
    """Per block: two 3x3 convolutions, then (strided) a 5x5 stride-2 one; then the dense layers.
    With ``downsampling="none"`` (the M3-style network of An et al. 2020) a block only shrinks
    the image by its two unpadded convolutions."""
    params = {"conv": [], "dense": []}
    channels, side = 1, 28
    for n_filters in filters:
        block = []
        for _ in range(2):
            key, sub = jax.random.split(key)
            block.append(conv_layer(sub, 3, channels, n_filters))
            channels, side = n_filters, side - 2
        if downsampling == "strided":
            key, sub = jax.random.split(key)
            block.append(conv_layer(sub, 5, channels, n_filters))
        params["conv"].append(block)
        side = {"strided": (side + 1) // 2, "maxpool": side // 2, "none": side}[downsampling]
    width = channels * side * side
    for units in (*dense_units, n_classes):
        key, sub = jax.random.split(key)
        params["dense"].append({"w": glorot(sub, (width, units), width, units), "b": jnp.zeros(units)})
        width = units
    return params


def forward(params, images, *, stats=None, dropout=0.0, key=None, pool=True):
    """Logits. `stats` None: BN normalises with the batch's statistics (training) and the
    statistics are returned too; else with `stats` (prediction). `pool`: 2x2 max pooling after
    a block of two convolutions (False for ``downsampling="none"``)."""
    x = images[..., None]
    measured = []
    for block in params["conv"]:
        for index, layer in enumerate(block):
            strided = index == 2
            x = jax.lax.conv_general_dilated(x, layer["w"], (2, 2) if strided else (1, 1), "SAME" if strided else "VALID",
                                             dimension_numbers=("NHWC", "HWIO", "NHWC"))
            x = jax.nn.relu(x + layer["b"])
            mean, var = (x.mean((0, 1, 2)), x.var((0, 1, 2))) if stats is None else stats[len(measured)]
            measured.append((mean, var))
            x = (x - mean) * jax.lax.rsqrt(var + 1e-3) * layer["gamma"] + layer["beta"]
        if len(block) == 2 and pool:
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


def make_epoch(recipe, n_steps):
    """One epoch of every seed, compiled: per step, augment the batch, Adam under the schedule,
    update the average; vectorised over the seeds' states, orders and bags."""
    keep_original = bool(recipe["keep_original"])
    pool = recipe["downsampling"] != "none"
    hyper = {k: jnp.float32(recipe[k] or 0.0) for k in ("dropout", "learning_rate", "warmup", "ema_decay",
                                                          "label_smoothing", "rotation", "zoom", "shift")}

    def loss_fn(params, images, labels, key):
        logits, _ = forward(params, images, dropout=hyper["dropout"], key=key, pool=pool)
        targets = jax.nn.one_hot(labels, 10) * (1 - hyper["label_smoothing"]) + hyper["label_smoothing"] / 10
        return -(targets * jax.nn.log_softmax(logits)).sum(-1).mean()

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

    seeds_step = jax.vmap(step, in_axes=(0, 0, 0, None, None))

    @jax.jit
    def epoch(state, orders, rows, X, y):
        """`orders`: (seeds, steps, batch) -> the states after the epoch."""
        state, _ = jax.lax.scan(lambda s, batch: (seeds_step(s, batch, rows, X, y), None), state, orders.swapaxes(0, 1))
        return state

    return epoch


@partial(jax.jit, static_argnums=(1, 2, 3))
def epoch_orders(keys, n_images, n_steps, batch_size):
    order = jax.vmap(lambda key: jax.random.permutation(key, n_images)[: n_steps * batch_size])(keys)
    return order.reshape(len(keys), n_steps, batch_size)


@partial(jax.jit, static_argnames="pool")
def bn_statistics(params, X_train, rows, calibration_key, pool=True):
    """Per seed: the BatchNorm statistics measured on 2,048 of its training rows under its `params`."""

    def one(params, rows, key):
        return forward(params, X_train[rows[jax.random.permutation(key, len(rows))[:2048]]], pool=pool)[1]

    return jax.vmap(one)(params, rows, calibration_key)


@partial(jax.jit, static_argnames="pool")
def predict_proba(params, stats, X_val, pool=True):
    """Per seed: the softmax on `X_val` under its `params` and BatchNorm `stats`."""
    def one(params, stats):
        return jax.nn.softmax(forward(params, X_val, stats=stats, pool=pool)[0])

    return jax.vmap(one)(params, stats)


def fit_shape(recipe, n_train):
    """(rows kept by bagging, images per epoch, optimiser steps per epoch): an epoch's last
    partial batch is dropped."""
    n_kept = max(1, round(recipe["max_samples"] * n_train))
    n_images = (int(recipe["keep_original"]) + recipe["n_copies"]) * n_kept
    return n_kept, n_images, n_images // recipe["batch_size"]


def fit_predict(seeds, recipe, X, y, X_val, log=print):
    """Train one member per seed under `recipe`, all together; their probabilities on `X_val`
    (seeds, n_val, 10) and the images each saw."""
    n_kept, n_images, steps_per_epoch = fit_shape(recipe, len(X))
    epoch = make_epoch(recipe, steps_per_epoch * recipe["epochs"])
    keys = jnp.stack([jax.random.split(jax.random.PRNGKey(seed), 5) for seed in seeds])
    init_key, bag_key, order_key, train_key, calibration_key = (keys[:, i] for i in range(5))
    rows = jax.vmap(lambda key: jnp.sort(jax.random.permutation(key, len(X))[:n_kept]))(bag_key)
    init = partial(init_params, filters=recipe["filters"], dense_units=recipe["dense_units"],
                   downsampling=recipe["downsampling"])
    params = jax.vmap(init)(init_key)
    zeros = jax.tree.map(jnp.zeros_like, params)
    state = (params, zeros, zeros, params, jnp.zeros(len(seeds), jnp.float32), train_key)
    started = time.perf_counter()
    for index in range(recipe["epochs"]):
        epoch_keys = jax.vmap(lambda key, index=index: jax.random.fold_in(key, index))(order_key)
        state = epoch(state, epoch_orders(epoch_keys, n_images, steps_per_epoch, recipe["batch_size"]), rows, X, y)
        if index == 1:
            state[4].block_until_ready()
            rate = 2 * steps_per_epoch * recipe["batch_size"] * len(seeds) / (time.perf_counter() - started)
            log(f"  {len(seeds)} seeds: {rate:,.0f} images/s over the first two epochs (compilation included)")
    weights = state[3] if recipe["ema_decay"] else state[0]
    images_seen = steps_per_epoch * recipe["epochs"] * recipe["batch_size"]
    pool = recipe["downsampling"] != "none"
    stats = bn_statistics(weights, X, rows, calibration_key, pool=pool)
    # in slices of 2,000: all 8,000 at once ran out of GPU memory beside three other processes
    proba = [predict_proba(weights, stats, X_val[start : start + 2000], pool=pool) for start in range(0, len(X_val), 2000)]
    return np.concatenate([np.asarray(p) for p in proba], axis=1), images_seen


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
    parser.add_argument("--precision", default="highest", choices=("highest", "tensorfloat32"),
                        help="matrix products and convolutions in full float32 (default) or TF32 on a GPU (faster)")
    parser.add_argument("--together", type=int, default=1,
                        help="train this many seeds at once, vectorised (fills a GPU; slower on a CPU)")
    args = parser.parse_args()
    jax.config.update("jax_default_matmul_precision", args.precision)
    X, y, X_val, y_val = load_split(args.report)
    X, y = X[: args.limit], y[: args.limit]
    base = preset_recipe()
    print(f"device {jax.devices()[0].device_kind}, precision {args.precision}, "
          f"split {'report' if args.report else 'select'}, n_val {len(y_val)}, "
          f"seeds {args.seeds}, base {base}", flush=True)
    all_probs = {}
    stop_at = time.perf_counter() + args.deadline
    y_fit, images = jnp.asarray(y), {}  # images: (fit, score) arrays by `deskew`, made once per run
    for text in args.candidates:
        name, recipe = parse_candidate(text, base)
        deskewed = bool(recipe["deskew"])
        if deskewed not in images:
            deskew = package_deskew() if deskewed else np.asarray
            images[deskewed] = jnp.asarray(deskew(X)), jnp.asarray(deskew(X_val))
        X_fit, X_score = images[deskewed]
        started, probas, seeds = time.perf_counter(), [], []
        for first in range(0, len(args.seeds), args.together):
            if time.perf_counter() > stop_at:
                break
            chunk = args.seeds[first : first + args.together]
            proba, images_seen = fit_predict(chunk, recipe, X_fit, y_fit, X_score,
                                        log=lambda text, name=name: print(f"{name}{text}", flush=True))
            for seed, p in zip(chunk, proba):
                print(f"{name} seed {seed}: {count_errors(p, y_val)} errors", flush=True)
            probas.extend(proba)
            seeds.extend(chunk)
            all_probs[name] = np.stack(probas).astype(np.float16)
            if args.probs:  # after every chunk, so that a run stopped early keeps what it trained
                np.savez_compressed(args.probs.with_suffix(".part.npz"), y_val=y_val, **all_probs)
                args.probs.with_suffix(".part.npz").replace(args.probs)
        if not probas:
            print(f"deadline: {name} not run", flush=True)
            continue
        proba = np.stack(probas)
        errors = [count_errors(p, y_val) for p in proba]
        line = {"name": name, "recipe": {k: recipe[k] for k in RECIPE_KEYS}, "split": "report" if args.report else "select",
                "seeds": seeds, "errors": errors, "mean_errors": round(float(np.mean(errors)), 2),
                "sd": round(float(np.std(errors, ddof=1)), 2) if len(errors) > 1 else None,
                "all_seeds_soft_vote_errors": count_errors(proba.mean(0), y_val),
                "images_per_fit": images_seen, "seconds": round(time.perf_counter() - started, 1),
                "precision": args.precision,
                "device": jax.devices()[0].device_kind}
        print(json.dumps(line), flush=True)
        if args.results:
            with args.results.open("a") as file:
                file.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main()
