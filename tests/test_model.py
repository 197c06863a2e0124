import pickle
import subprocess
import sys
import warnings

import joblib
import keras
import numpy as np
import pytest
from scikeras.wrappers import KerasClassifier
from sklearn.base import clone, is_classifier
from sklearn.exceptions import NotFittedError

import skdigits
from skdigits import DigitCNNClassifier, LearningRateAnnealer, WarmupCosineSchedule
from skdigits.model import build_digit_cnn

from .conftest import TINY, InterruptAfter


class EpochCounter(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.epochs = []

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append(epoch)


class InterruptFirstBatch(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        raise KeyboardInterrupt  # before the first epoch's backup


@pytest.fixture(scope="module")
def images(small):
    X, y, X_test, y_test = small
    return X.reshape(-1, 28, 28, 1) / np.float32(255), y, X_test.reshape(-1, 28, 28, 1) / np.float32(255)


def test_default_network_is_the_reference_notebooks():
    model = build_digit_cnn((28, 28, 1), 10)
    kinds = [type(layer).__name__ for layer in model.layers[1:]]
    assert kinds == (["Conv2D", "BatchNormalization"] * 2 + ["MaxPooling2D", "Dropout"]) * 2 + [
        "Flatten", "Dense", "Dropout", "Dense", "Dropout", "Dense"]
    assert [layer.filters for layer in model.layers if hasattr(layer, "filters")] == [16, 16, 32, 32]
    assert [layer.units for layer in model.layers if hasattr(layer, "units")] == [512, 1024, 10]
    assert model.count_params() == 814_970


def test_build_accepts_flat_rows():
    assert build_digit_cnn((784,), 10).output_shape == (None, 10)


def test_is_classifier_despite_scikeras_tag_bug():
    assert not is_classifier(KerasClassifier())  # the upstream bug this class works around
    assert is_classifier(DigitCNNClassifier())


def test_annealer_sets_learning_rate_per_epoch(images):
    X, y, _ = images
    clf = DigitCNNClassifier(**{**TINY, "epochs": 3}, learning_rate=2e-3, lr_decay=0.5, random_state=0).fit(X, y)
    np.testing.assert_allclose(clf.history_["learning_rate"], [2e-3, 1e-3, 5e-4])
    assert float(clf.model_.optimizer.learning_rate) == pytest.approx(5e-4)


def test_fit_time_callbacks_run_alongside_constructor_callbacks(images):
    X, y, _ = images
    at_init, at_fit = EpochCounter(), EpochCounter()
    clf = DigitCNNClassifier(**{**TINY, "epochs": 2}, callbacks=[at_init], random_state=0)
    clf.fit(X, y, callbacks=[at_fit])
    assert at_init.epochs == [0, 1]
    assert at_fit.epochs == [0, 1]
    assert "learning_rate" in clf.history_  # the annealer ran too


def test_fit_time_callbacks_are_not_kept_for_the_next_fit(images):
    X, y, _ = images
    at_fit = EpochCounter()
    clf = DigitCNNClassifier(**TINY, random_state=0).fit(X, y, callbacks=[at_fit])
    clf.fit(X, y)
    assert at_fit.epochs == [0]


def test_parameters_are_tunable_and_change_the_network(images):
    X, y, _ = images
    clf = DigitCNNClassifier(**TINY).set_params(filters=(3, 5), dense_units=(7,), dropout=0.1, bn_momentum=0.8)
    clf.fit(X, y)
    assert [layer.filters for layer in clf.model_.layers if hasattr(layer, "filters")] == [3, 3, 5, 5]
    assert [layer.rate for layer in clf.model_.layers if hasattr(layer, "rate")] == [0.1] * 3
    assert {layer.momentum for layer in clf.model_.layers if hasattr(layer, "momentum")} == {0.8}


def test_clone_keeps_parameters_and_drops_state(images):
    X, y, _ = images
    clf = DigitCNNClassifier(**TINY, random_state=1, optimizer__beta_1=0.8).fit(X, y)
    copy = clone(clf)
    assert copy.get_params()["filters"] == (4,) and copy.get_params()["optimizer__beta_1"] == 0.8
    assert not hasattr(copy, "model_")


def test_same_random_state_gives_identical_predictions(images):
    X, y, X_test = images
    first = DigitCNNClassifier(**TINY, random_state=7).fit(X, y).predict_proba(X_test)
    second = DigitCNNClassifier(**TINY, random_state=7).fit(X, y).predict_proba(X_test)
    np.testing.assert_array_equal(first, second)


def test_joblib_round_trip_gives_identical_probabilities(images, tmp_path):
    X, y, X_test = images
    clf = DigitCNNClassifier(**TINY, random_state=0).fit(X, y)
    joblib.dump(clf, tmp_path / "clf.joblib")
    loaded = joblib.load(tmp_path / "clf.joblib")
    np.testing.assert_array_equal(loaded.predict_proba(X_test), clf.predict_proba(X_test))
    np.testing.assert_array_equal(loaded.classes_, clf.classes_)


def test_warm_start_refit_keeps_classes_and_saves(images, tmp_path):
    X, y, X_test = images
    clf = DigitCNNClassifier(**TINY, random_state=0).fit(X, y)
    weights = clf.model_.get_weights()
    clf.set_params(warm_start=True).fit(X, y)
    assert any(not np.array_equal(a, b) for a, b in zip(weights, clf.model_.get_weights()))  # trained on
    np.testing.assert_array_equal(clf.classes_, np.arange(10))
    skdigits.save(clf, tmp_path / "clf.skdigits")
    loaded = skdigits.load(tmp_path / "clf.skdigits")
    np.testing.assert_array_equal(loaded.classes_, clf.classes_)
    np.testing.assert_array_equal(loaded.predict(X_test), clf.predict(X_test))


def test_predict_before_fit_raises_not_fitted():
    with pytest.raises(NotFittedError, match="needs to be fit before"):
        DigitCNNClassifier().predict(np.zeros((1, 28, 28, 1)))


def test_annealer_is_picklable_and_clonable():
    annealer = LearningRateAnnealer(1e-2, 0.5)
    clf = clone(DigitCNNClassifier(callbacks=[annealer]))
    assert clf.callbacks[0].decay == 0.5
    assert joblib.load(_dump(annealer)).learning_rate(1) == pytest.approx(5e-3)


def _dump(obj):
    import io

    buffer = io.BytesIO()
    joblib.dump(obj, buffer)
    buffer.seek(0)
    return buffer


def test_seeded_fit_leaves_tf_op_determinism_off():
    # scikeras' seeding context set TF_DETERMINISTIC_OPS before asking TF whether
    # determinism was on, so it stayed on for good (slower ops, and unseeded random
    # ops raised "Random ops require a seed"). Only a fresh interpreter shows it.
    script = (
        "import numpy as np\n"
        "from tensorflow.python.framework import config\n"
        "from skdigits import DigitCNNClassifier\n"
        "X = np.random.rand(256, 28, 28, 1).astype('float32'); y = np.arange(256) % 10\n"
        f"params = {TINY!r}\n"
        "DigitCNNClassifier(**params, random_state=0).fit(X, y)\n"
        "print(config.is_op_determinism_enabled())\n"
        "DigitCNNClassifier(**params).fit(X, y)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "False"


def test_fit_leaves_global_random_state_alone(images):
    X, y, _ = images
    np.random.seed(5)
    expected = np.random.rand()
    np.random.seed(5)
    DigitCNNClassifier(**TINY, random_state=0).fit(X, y)
    assert np.random.rand() == expected


def test_checkpoint_dir_resumes_an_interrupted_fit(images, tmp_path):
    X, y, _ = images
    clf = DigitCNNClassifier(**{**TINY, "epochs": 4}, checkpoint_dir=tmp_path, random_state=0)
    with pytest.raises(KeyboardInterrupt):
        clf.fit(X, y, callbacks=[InterruptAfter(epoch=1)])
    assert (tmp_path / "backup").is_dir() and (tmp_path / "best.weights.h5").is_file()

    counter = EpochCounter()
    clf.fit(X, y, callbacks=[counter])
    assert counter.epochs == [2, 3]  # epochs 0 and 1 were restored, not repeated
    assert clf.history_["learning_rate"] == pytest.approx([clf.learning_rate * clf.lr_decay**e for e in (2, 3)])
    assert not (tmp_path / "backup").exists()  # deleted once the fit completed


@pytest.mark.parametrize("change", ["images", "labels", "settings"])
def test_a_backup_left_by_another_fit_is_refused(images, tmp_path, change):
    X, y, _ = images
    clf = DigitCNNClassifier(**{**TINY, "epochs": 3}, checkpoint_dir=tmp_path, random_state=0)
    with pytest.raises(KeyboardInterrupt):
        clf.fit(X, y, callbacks=[InterruptAfter(epoch=0)])
    if change == "images":
        X = X[::-1]
    elif change == "labels":
        y = (y + 1) % 10
    else:
        clf.set_params(learning_rate=clf.learning_rate / 2)
    message = (rf"checkpoint_dir='{tmp_path}' holds the backup of another fit \(other training images, labels or "
               rf"settings\), which this fit would resume from\. Give each fit a checkpoint_dir of its own .* or delete "
               rf"'{tmp_path / 'backup'}' to start this fit from scratch")
    with pytest.raises(ValueError, match=message):
        clf.fit(X, y)
    clf.set_params(verbose=0, callbacks=None, tta_shift=1)  # settings that do not shape training may change
    if change == "settings":
        clf.set_params(learning_rate=clf.learning_rate * 2)
        clf.fit(images[0], images[1])  # the interrupted fit, resumed
        assert not (tmp_path / "backup").exists()


def test_a_fit_stopped_in_its_first_epoch_leaves_nothing_to_refuse(images, tmp_path):
    X, y, _ = images
    clf = DigitCNNClassifier(**{**TINY, "epochs": 2}, checkpoint_dir=tmp_path, random_state=0)
    with pytest.raises(KeyboardInterrupt):
        clf.fit(X, y, callbacks=[InterruptFirstBatch()])
    assert [file.name for file in (tmp_path / "backup").iterdir()] == ["fit.sha256"]

    counter = EpochCounter()
    clf.fit(X[::-1], y[::-1], callbacks=[counter])  # another fit: trains from the start
    assert counter.epochs == [0, 1]


def test_checkpoint_dir_keeps_the_best_weights(images, tmp_path):
    X, y, _ = images
    clf = DigitCNNClassifier(**{**TINY, "epochs": 2}, checkpoint_dir=tmp_path, random_state=0).fit(X, y)
    best = build_digit_cnn((28, 28, 1), 10, filters=TINY["filters"], dense_units=TINY["dense_units"])
    best.load_weights(tmp_path / "best.weights.h5")
    assert len(best.get_weights()) == len(clf.model_.get_weights())


def test_strided_downsampling_replaces_pooling_with_learned_convolutions():
    model = build_digit_cnn((28, 28, 1), 10, filters=(32, 64), dense_units=(128,), downsampling="strided")
    layers = [type(layer).__name__ for layer in model.layers]
    assert "MaxPooling2D" not in layers and layers.count("Conv2D") == 6
    assert model.get_layer(index=layers.index("Flatten")).output.shape[1:] == (4 * 4 * 64,)


def test_unknown_downsampling_is_refused(images):
    X, y, _ = images
    message = r"The 'downsampling' parameter of DigitCNNClassifier must be a str among .*Got 'avg'"
    with pytest.raises(ValueError, match=message):
        DigitCNNClassifier(**TINY, downsampling="avg").fit(X, y)


def test_warmup_cosine_schedule_at_start_end_of_warmup_and_last_step():
    schedule = WarmupCosineSchedule(peak_learning_rate=2e-3, warmup=0.1, alpha=0.01)
    n_steps = 200  # 20 warm-up steps
    assert schedule.learning_rate(0, n_steps) == pytest.approx(2e-3 / 20)
    assert schedule.learning_rate(19, n_steps) == pytest.approx(2e-3)
    assert schedule.learning_rate(109, n_steps) == pytest.approx(2e-3 * (0.01 + 0.99 * 0.5), rel=1e-3)  # halfway down
    assert schedule.learning_rate(199, n_steps) == pytest.approx(2e-5)
    rates = [schedule.learning_rate(step, n_steps) for step in range(n_steps)]
    assert np.all(np.diff(rates[:20]) > 0) and np.all(np.diff(rates[19:]) <= 0)


def test_cosine_schedule_runs_over_the_steps_of_the_fit(images):
    X, y, _ = images

    class StepRates(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.rates = []

        def on_train_batch_end(self, batch, logs=None):
            self.rates.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))

    recorder = StepRates()
    clf = DigitCNNClassifier(**{**TINY, "epochs": 2, "batch_size": 100}, lr_schedule="cosine", learning_rate=1e-3,
                             warmup=0.25, random_state=0)
    clf.fit(X, y, callbacks=[recorder])
    assert len(recorder.rates) == 12  # 600 images / 100 x 2 epochs
    np.testing.assert_allclose(recorder.rates[:3], [1e-3 / 3, 2e-3 / 3, 1e-3])
    assert recorder.rates[-1] == pytest.approx(0.0, abs=1e-9)
    assert clf.history_["learning_rate"][-1] == pytest.approx(0.0, abs=1e-9)


def test_schedule_is_picklable_and_clonable():
    schedule = WarmupCosineSchedule(peak_learning_rate=1e-3, warmup=0.2)
    restored = pickle.loads(pickle.dumps(schedule))
    assert restored.learning_rate(5, 50) == schedule.learning_rate(5, 50)
    clf = clone(DigitCNNClassifier(lr_schedule="cosine", warmup=0.2, ema_decay=0.99))
    assert clf.get_params()["warmup"] == 0.2 and clf.get_params()["ema_decay"] == 0.99


def test_min_steps_shrinks_the_batch_for_small_data(images):
    X, y, _ = images  # 600 images
    clf = DigitCNNClassifier(**{**TINY, "batch_size": 256, "epochs": 2, "min_steps": 60}, random_state=0).fit(X, y)
    assert clf.batch_size_ == 20  # 600 x 2 / 60
    assert clf.get_params()["batch_size"] == 256  # the parameter is left as given


def test_too_short_fit_warns_with_step_count_and_fix(images):
    X, y, _ = images
    with pytest.warns(UserWarning, match=r"trains for only 38 optimiser steps \(600 images per epoch, epochs=1, "
                                         r"batch size 16\), fewer than min_steps=100.*Raise epochs \(epochs=3"):
        DigitCNNClassifier(**{**TINY, "min_steps": 100}, random_state=0).fit(X, y)


class WeightRecorder(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.weights = [[v.numpy().copy() for v in self.model.trainable_variables]]

    def on_train_batch_end(self, batch, logs=None):
        self.weights.append([v.numpy().copy() for v in self.model.trainable_variables])


def test_ema_predicts_with_the_averaged_weights(images):
    X, y, _ = images
    recorder = WeightRecorder()
    clf = DigitCNNClassifier(**{**TINY, "epochs": 2, "batch_size": 50}, ema_decay=0.95, random_state=0)
    clf.fit(X, y, callbacks=[recorder])
    average = recorder.weights[0]
    for step, weights in enumerate(recorder.weights[1:], start=1):
        decay = min(0.95, (1 + step) / (10 + step))
        average = [decay * a + (1 - decay) * w for a, w in zip(average, weights)]
    predicting = [v.numpy() for v in clf.model_.trainable_variables]
    for weight, expected in zip(predicting, average):
        np.testing.assert_allclose(weight, expected, rtol=1e-4, atol=1e-6)
    assert any(not np.allclose(w, r, atol=1e-4) for w, r in zip(predicting, recorder.weights[-1]))


def test_a_resumed_fit_resumes_the_weight_average(images, tmp_path):
    X, y, _ = images  # 600 images, 6 steps per epoch
    clf = DigitCNNClassifier(**{**TINY, "epochs": 4, "batch_size": 100}, ema_decay=0.95, checkpoint_dir=tmp_path,
                             random_state=0)
    interrupted, resumed = WeightRecorder(), WeightRecorder()
    with pytest.raises(KeyboardInterrupt):
        clf.fit(X, y, callbacks=[interrupted, InterruptAfter(epoch=1)])
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # the saved average was found and matches the backup
        clf.fit(X, y, callbacks=[resumed])

    assert len(interrupted.weights) - 1 == len(resumed.weights) - 1 == 12  # epochs 0-1, then 2-3
    for restored, saved in zip(resumed.weights[0], interrupted.weights[-1]):
        np.testing.assert_allclose(restored, saved)
    average = interrupted.weights[0]
    for step, weights in enumerate(interrupted.weights[1:] + resumed.weights[1:], start=1):
        decay = min(0.95, (1 + step) / (10 + step))
        average = [decay * a + (1 - decay) * w for a, w in zip(average, weights)]
    for weight, expected in zip(clf.model_.trainable_variables, average):
        np.testing.assert_allclose(weight.numpy(), expected, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("lost, consequence", [
    ("weight_average.npz", "the weight average restarts from the restored weights"),
    ("random_state.npz", "dropout draws other masks than an uninterrupted fit would"),
])
def test_a_resumed_fit_without_its_saved_state_warns(images, tmp_path, lost, consequence):
    X, y, _ = images
    clf = DigitCNNClassifier(**{**TINY, "epochs": 3}, ema_decay=0.95, checkpoint_dir=tmp_path, random_state=0)
    with pytest.raises(KeyboardInterrupt):
        clf.fit(X, y, callbacks=[InterruptAfter(epoch=0)])
    (tmp_path / "backup" / lost).unlink()
    with pytest.warns(UserWarning, match=rf"resumes after epoch 1 from its backup, but .*{lost} holds nothing, "
                                         rf"so {consequence}\. Delete .*backup to fit from the start"):
        clf.fit(X, y)


def test_partial_fit_with_a_checkpoint_and_an_average_does_not_warn(images, tmp_path):
    X, y, _ = images
    clf = DigitCNNClassifier(**TINY, ema_decay=0.95, checkpoint_dir=tmp_path, random_state=0)
    clf.partial_fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # a second epoch, not a resumed fit
        clf.partial_fit(X, y)
    assert clf.current_epoch == 2


def test_batchnorm_statistics_belong_to_the_predicting_weights(images):
    X, y, _ = images
    clf = DigitCNNClassifier(**{**TINY, "epochs": 2, "batch_size": 50}, ema_decay=0.95, random_state=0).fit(X, y)
    model = clf.model_
    first_bn = next(layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization))
    inputs = keras.Model(model.input, first_bn.input)(X, training=False).numpy().astype(np.float64)  # all 600 images
    np.testing.assert_allclose(first_bn.moving_mean.numpy(), inputs.mean(axis=(0, 1, 2)), rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(first_bn.moving_variance.numpy(), inputs.var(axis=(0, 1, 2)), rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"dropout": 2}, r"The 'dropout' parameter of DigitCNNClassifier must be a float in the range \[0.0, 1.0\)"),
        ({"filters": (16, 0)}, r"The 'filters' parameter of DigitCNNClassifier must be a tuple of at least 1 positive"),
        ({"lr_schedule": "step"}, r"The 'lr_schedule' parameter of DigitCNNClassifier must be a str among"),
        ({"min_steps": -1}, r"The 'min_steps' parameter of DigitCNNClassifier must be an int in the range \[0, inf\)"),
        ({"dtype_policy": "float16"}, r"'dtype_policy' parameter of DigitCNNClassifier must be a str among.*float16"),
    ],
)
def test_parameters_are_checked_before_training(images, params, message):
    X, y, _ = images
    with pytest.raises(ValueError, match=message):
        DigitCNNClassifier(**{**TINY, **params}).fit(X, y)


def test_build_digit_cnn_checks_its_parameters():
    with pytest.raises(ValueError, match=r"The 'downsampling' parameter of build_digit_cnn must be a str among"):
        build_digit_cnn((28, 28, 1), 10, downsampling="avg")


def test_architecture_defaults_are_the_builders():
    import inspect

    builder = inspect.signature(build_digit_cnn).parameters
    params = DigitCNNClassifier().get_params()
    for name in ("filters", "dense_units", "dropout", "bn_momentum", "downsampling", "dtype_policy"):
        assert params[name] == builder[name].default


def test_tta_shift_averages_the_image_and_four_shifted_copies(images):
    X, y, X_new = images
    clf = DigitCNNClassifier(**TINY, random_state=0).fit(X, y)
    network = clf.model_
    plain = network.predict(X_new, verbose=0)
    copies = [np.roll(X_new, shift, axis=axis) for shift in (1, -1) for axis in (1, 2)]
    for copy, (axis, edge) in zip(copies, [(1, 0), (2, 0), (1, -1), (2, -1)]):
        np.moveaxis(copy, axis, 0)[edge] = 0  # zeros, not wrapped pixels, fill in
    expected = (plain + sum(network.predict(copy, verbose=0) for copy in copies)) / 5

    np.testing.assert_allclose(clf.predict_proba(X_new), plain, rtol=1e-5, atol=1e-6)  # off by default
    clf.set_params(tta_shift=1)  # on a fitted model, no refit
    np.testing.assert_allclose(clf.predict_proba(X_new), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(clf.predict(X_new), clf.classes_[expected.argmax(axis=1)])
    assert not np.allclose(expected, plain, atol=1e-3)
    assert clf.predict_proba(X_new[:1]).shape == (1, 10)


def test_predict_proba_of_one_image_is_two_dimensional(images):
    # regression: scikeras 0.13 returned shape (10,) for one image, which broke soft voting and reports
    X, y, X_new = images
    clf = DigitCNNClassifier(**TINY, random_state=0).fit(X, y)
    assert clf.predict_proba(X_new[:1]).shape == (1, 10)
    assert clf.predict(X_new[:1]).shape == (1,)


def _separable_images(n=300):
    """Class k lights up row block k: a set any network fits to a near-zero sparse cross-entropy."""
    y = np.arange(n) % 10
    X = np.random.default_rng(0).random((n, 28, 28, 1), dtype=np.float32) * 0.1
    for k in range(10):
        X[y == k, 2 * k + 4 : 2 * k + 6] = 1.0
    return X, y


def test_label_smoothing_trains_on_smoothed_one_hot_targets():
    X, y = _separable_images()
    params = {**TINY, "epochs": 15, "batch_size": 32, "learning_rate": 1e-2, "random_state": 0}
    plain = DigitCNNClassifier(**params).fit(X, y)
    smoothed = DigitCNNClassifier(**params, label_smoothing=0.1).fit(X, y)
    assert plain.history_["loss"][-1] < 0.3
    # the smoothed target (0.91 for the class, 0.01 elsewhere) has entropy 0.500: no model gets below it
    assert smoothed.history_["loss"][-1] > 0.5
    assert smoothed.model_.loss.get_config()["label_smoothing"] == 0.1
    assert smoothed.score(X, y) == 1.0 and smoothed.predict_proba(X[:5]).shape == (5, 10)
    assert pickle.loads(pickle.dumps(smoothed)).predict(X[:20]).tolist() == smoothed.predict(X[:20]).tolist()


@pytest.mark.parametrize("name", ["label_smoothing", "mixup"])
def test_one_hot_training_with_another_loss_is_refused(name):
    X, y = _separable_images(40)
    with pytest.raises(ValueError, match=rf"{name}=0.1 trains on one-hot targets .* but loss='mse' was given too; "
                                         rf"keep the default loss, or set {name}=0"):
        DigitCNNClassifier(**TINY, **{name: 0.1}, loss="mse").fit(X, y)


def test_mixup_trains_on_blended_targets_and_predicts_whole_images(monkeypatch):
    import skdigits.model as model_module

    X, y = _separable_images()
    mixups = []
    real = model_module.fresh_copies_dataset

    def spy(*args, **kwargs):
        mixups.append(kwargs["mixup"])
        return real(*args, **kwargs)

    monkeypatch.setattr(model_module, "fresh_copies_dataset", spy)
    params = {**TINY, "epochs": 15, "batch_size": 32, "learning_rate": 1e-2, "random_state": 0}
    plain = DigitCNNClassifier(**params).fit(X, y)
    mixed = DigitCNNClassifier(**params, mixup=1.0).fit(X, y)  # no augmentation handed over: mixup alone
    assert mixups == [1.0]  # the plain fit trained on the arrays, the mixup fit on the dataset
    assert mixed.model_.loss.get_config()["label_smoothing"] == 0
    # blended targets keep the training loss well above the plain fit's
    assert mixed.history_["loss"][-1] > 2 * plain.history_["loss"][-1]
    assert mixed.score(X, y) == 1.0
    np.testing.assert_allclose(mixed.predict_proba(X[:5]), mixed.model_.predict(X[:5], verbose=0), rtol=1e-5)
    assert pickle.loads(pickle.dumps(mixed)).predict(X[:20]).tolist() == mixed.predict(X[:20]).tolist()


def test_temperature_tempers_the_probabilities_not_the_predictions(images):
    X, y, X_new = images
    clf = DigitCNNClassifier(**TINY, random_state=0).fit(X, y)
    raw = clf.model_.predict(X_new, verbose=0)
    labels = clf.predict(X_new)
    clf.set_params(temperature=2.0)  # on a fitted model, no refit
    expected = np.exp(np.log(raw) / 2)
    np.testing.assert_allclose(clf.predict_proba(X_new), expected / expected.sum(axis=1, keepdims=True), rtol=1e-4)
    np.testing.assert_array_equal(clf.predict(X_new), labels)
    sharpened = clf.set_params(temperature=0.5).predict_proba(X_new)
    assert (sharpened.max(axis=1) >= raw.max(axis=1) - 1e-6).all() and not np.allclose(sharpened, raw, atol=1e-3)


def test_no_downsampling_builds_the_m3_style_network():
    model = build_digit_cnn((28, 28, 1), 10, filters=(32, 64, 96, 128, 160), dense_units=(), dropout=0.0,
                            downsampling="none")
    layers = [type(layer).__name__ for layer in model.layers]
    assert "MaxPooling2D" not in layers and layers.count("Conv2D") == 10
    assert model.get_layer(index=layers.index("Flatten")).output.shape[1:] == (8 * 8 * 160,)


@pytest.mark.parametrize(("filters", "downsampling", "block", "side"),
                         [((8,) * 7, "none", 7, 4), ((8,) * 3, "maxpool", 3, 4), ((8,) * 3, "strided", 3, 4)])
def test_too_many_blocks_for_the_image_are_refused(filters, downsampling, block, side):
    with pytest.raises(ValueError, match=rf"filters has {len(filters)} entries, but with downsampling='{downsampling}' "
                                         rf"block {block} gets a {side}x{side} image.*at most {block - 1} entries"):
        build_digit_cnn((28, 28, 1), 10, filters=filters, downsampling=downsampling)


def test_unpooled_network_fits_and_survives_save_and_load(images, tmp_path):
    X, y, X_test = images
    params = {**TINY, "filters": (4, 8), "dense_units": (), "dropout": 0.0, "downsampling": "none"}
    clf = DigitCNNClassifier(**params, random_state=0).fit(X, y)
    flatten = next(layer for layer in clf.model_.layers if isinstance(layer, keras.layers.Flatten))
    assert flatten.output.shape[1:] == (20 * 20 * 8,)  # 28 - 4 per block, twice
    skdigits.save(clf, tmp_path / "m3.skdigits")
    loaded = skdigits.load(tmp_path / "m3.skdigits")
    np.testing.assert_array_equal(loaded.predict_proba(X_test), clf.predict_proba(X_test))


def test_mixed_precision_computes_in_16_bits_with_float32_weights_and_softmax():
    model = build_digit_cnn((28, 28, 1), 10, filters=(4,), dense_units=(8,), dtype_policy="mixed_bfloat16")
    *hidden, softmax = [layer for layer in model.layers if layer.weights]
    assert {layer.compute_dtype for layer in hidden} == {"bfloat16"}
    assert {weight.dtype for layer in hidden for weight in layer.weights} == {"float32"}
    assert softmax.compute_dtype == "float32"


@pytest.mark.parametrize("dtype_policy", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_fits_predicts_float32_and_survives_joblib_and_save(images, tmp_path, dtype_policy):
    X, y, X_test = images
    clf = DigitCNNClassifier(**TINY, dtype_policy=dtype_policy, ema_decay=0.9, random_state=0).fit(X, y)
    proba = clf.predict_proba(X_test)
    assert proba.dtype == np.float32
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert {layer.compute_dtype for layer in clf.model_.layers if isinstance(layer, keras.layers.Conv2D)} == {
        dtype_policy.removeprefix("mixed_")}
    assert clone(clf).get_params()["dtype_policy"] == dtype_policy
    joblib.dump(clf, tmp_path / "mixed.joblib")
    np.testing.assert_array_equal(joblib.load(tmp_path / "mixed.joblib").predict_proba(X_test), proba)
    skdigits.save(clf, tmp_path / "mixed.skdigits")
    loaded = skdigits.load(tmp_path / "mixed.skdigits")
    assert loaded.dtype_policy == dtype_policy
    np.testing.assert_array_equal(loaded.predict_proba(X_test), proba)


def test_mixed_float16_scales_the_loss_and_keeps_the_schedule(images):
    X, y, _ = images
    clf = DigitCNNClassifier(**{**TINY, "epochs": 2}, dtype_policy="mixed_float16", learning_rate=1e-3, lr_decay=0.5)
    clf.fit(X, y)
    assert isinstance(clf.model_.optimizer, keras.optimizers.LossScaleOptimizer)
    np.testing.assert_allclose(clf.history_["learning_rate"], [1e-3, 5e-4], rtol=1e-6)
