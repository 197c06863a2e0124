"""The named configurations of the digit pipeline.

Plain data with no imports, so that the command line can list the presets
without loading TensorFlow.
"""

__all__ = ["PRESETS", "parse_overrides"]

#: Step parameters of each preset; keys are ``step__param`` pipeline names.
PRESETS = {
    # The reference notebook: its network, Adam at 1e-3 * 0.9**epoch, batch 64,
    # 20 epochs of augmented images only (rotation 10 degrees, zoom 0.1, shift
    # 0.1), each image transformed anew every time it is drawn, as the
    # notebook's ImageDataGenerator does.
    "reference": {
        "augment__rotation": 10.0,
        "augment__zoom": 0.1,
        "augment__shift": 0.1,
        "augment__n_copies": 1,
        "augment__keep_original": False,
        "augment__per_epoch": True,
        "cnn__filters": (16, 32),
        "cnn__dense_units": (512, 1024),
        "cnn__dropout": 0.25,
        "cnn__bn_momentum": 0.99,
        "cnn__learning_rate": 1e-3,
        "cnn__lr_schedule": "exponential",
        "cnn__lr_decay": 0.9,
        "cnn__batch_size": 64,
        "cnn__epochs": 20,
    },
}
# Originals plus one augmented copy, batch 256, 3 epochs: 252,000 images instead
# of the notebook's 640,000. The learning rate warms up over the first 10% of the
# steps to 3e-3 and decays to 0 along a cosine: on the selection split (3 seeds)
# 59.7 errors in 8,000 against 66.7 for the former 3e-3 * 0.4**epoch
# (benchmarks/README.md). min_steps shrinks the batch for small data.
PRESETS["default"] = {
    **PRESETS["reference"],
    "augment__keep_original": True,
    "augment__per_epoch": False,  # static copies: fresh ones gained nothing at 3 epochs (benchmarks/README.md)
    "cnn__batch_size": 256,
    "cnn__learning_rate": 3e-3,
    "cnn__lr_schedule": "cosine",
    "cnn__warmup": 0.1,
    "cnn__epochs": 3,
    "cnn__bn_momentum": 0.9,
}
# The default's network and schedule for 10 epochs at batch 64 with dropout 0.15, with the
# copies drawn anew every epoch and predictions from an exponential moving average of the
# weights (0.999 per step): 1,000,000 images for 50,000 training images. Chosen on the
# selection split over 8 seeds (37.3 errors in 8,000 against 40.1 at batch 256 and dropout
# 0.25; benchmarks/README.md, "Screening on a GPU"). On the reported split (3 seeds) 0.9963,
# 0.9960 and 0.9959, mean 0.9961, against 0.9960 for batch 256 and dropout 0.25. The strided
# network stays available: downsampling="strided". Predictions average each image and its
# copies shifted one pixel up, down, left and right (shift TTA): over 24 fitted selection-split
# models 1.5 errors in 8,000 fewer, 17 of them better (benchmarks/README.md, "Shift
# test-time augmentation").
PRESETS["accurate"] = {
    **PRESETS["default"],
    "augment__per_epoch": True,
    "cnn__batch_size": 64,
    "cnn__dropout": 0.15,
    "cnn__ema_decay": 0.999,
    "cnn__epochs": 10,
    "cnn__tta_shift": 1,
}
# `accurate` on deskewed images (ImageReshaper(deskew=True): each image sheared upright by its
# own slant, at fit and predict time), for 15 epochs instead of 10: members that read the digits
# differently, for ensembles that mix it with `accurate` (make_ensemble's default). Selection
# split, errors in 8,000: at 10 epochs, seven seeds made 39.1 alone (accurate: 42.2), and votes
# of two such and two accurate models 34.1 against 36.7 for four accurate ones; at 15 epochs,
# seeds 0-5 made 34.2 alone (10 epochs, same seeds: 39.2) and 32.0 in such votes (33.9), for
# 1.5x the images. On the reported split the ensemble scored the same either way (mean 0.99677
# against 0.99680; benchmarks/README.md, "Deskewed members").
# Its probabilities are tempered by 1.46 (softmax(log p / 1.46)): 15-epoch members of it and of
# `strided` were over-confident, and 1.46 was the median temperature that minimised their log loss
# on the selection split (benchmarks/README.md, "Mixup members in the strided slots").
PRESETS["deskewed"] = {**PRESETS["accurate"], "reshape__deskew": True, "cnn__epochs": 15, "cnn__temperature": 1.46}
# `accurate` with the strided network (downsampling="strided": a learned 5x5 stride-2 convolution
# instead of max pooling, as in the strongest Kaggle kernels), about 1.6 times the time per image
# (943-1,053 images/s per fit against 1,610-1,640 for `accurate`, two one-thread fits at a time):
# the network of make_ensemble's plain-image members, next to the deskewed ones. Selection split,
# 15 epochs, three seeds, errors in 8,000 without TTA: 31, 37, 34 alone (mean 34.0; `accurate`
# 37.5), and votes of two such and two `deskewed` models 27.6 against 28.6 with two `accurate`
# ones; on the reported split that ensemble scored a mean of 0.99687 against 0.99683, the same
# within noise (benchmarks/README.md, "Strided members"). Alone at 10 epochs it is not measured.
# Probabilities tempered by 1.46, as `deskewed`'s.
PRESETS["strided"] = {**PRESETS["accurate"], "cnn__downsampling": "strided", "cnn__temperature": 1.46}
# `strided` trained on mixup (mixup=0.2: every image and its one-hot target blended with its
# neighbour's in the batch, by a weight drawn from Beta(0.2, 0.2)), with its probabilities
# sharpened (temperature 0.59: mixup members are under-confident, twice the log loss of `strided`
# at as many errors). make_ensemble's plain-image members: on the selection split (3 seeds, 15
# epochs, errors in 8,000) 38.3 alone against `strided`'s 37.2, but tempered votes of two such and
# two `deskewed` members made 82 errors over the three seeds against 85 with `strided` ones; on the
# reported split 26, 24 and 30 errors of 10,000 (mean 0.99733) against 0.99687 with `strided` ones
# (benchmarks/README.md, "Mixup members in the strided slots").
PRESETS["mixup"] = {**PRESETS["strided"], "cnn__mixup": 0.2, "cnn__temperature": 0.59}

def parse_overrides(items):
    """Turn ``["cnn__epochs=3", "cnn__downsampling=strided"]`` into pipeline parameters.

    Values are Python literals (``3``, ``0.2``, ``(32, 64)``, ``True``,
    ``None``); anything else is kept as a string. The command line's ``--set``
    and the benchmark scripts read overrides this way.

    Parameters
    ----------
    items : iterable of str
        ``name=value`` strings.

    Returns
    -------
    params : dict

    Examples
    --------
    >>> from skdigits.presets import parse_overrides
    >>> parse_overrides(["cnn__epochs=3", "cnn__filters=(32, 64)", "cnn__downsampling=strided"])
    {'cnn__epochs': 3, 'cnn__filters': (32, 64), 'cnn__downsampling': 'strided'}
    """
    import ast

    params = {}
    for item in items:
        name, separator, value = item.partition("=")
        if not separator or not name.strip():
            raise ValueError(f"--set expects NAME=VALUE such as cnn__epochs=3 or augment__rotation=12, got {item!r}.")
        try:
            params[name.strip()] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            params[name.strip()] = value.strip()
    return params
