import joblib
import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin, clone, is_classifier
from sklearn.model_selection import GridSearchCV, StratifiedKFold, check_cv, cross_val_score, cross_validate

from skdigits import make_digit_pipeline
from skdigits.pipeline import PRESETS

from .conftest import TINY, InterruptAfter


class RecordingClassifier(ClassifierMixin, BaseEstimator):
    """Predicts the majority class and records every X it is given."""

    def fit(self, X, y):
        self.fit_X_ = X
        self.classes_, counts = np.unique(y, return_counts=True)
        self.seen_ = []
        return self

    def predict(self, X):
        self.seen_.append(X)
        return np.full(len(X), self.classes_[0])


def test_pipeline_has_the_named_steps():
    pipe = make_digit_pipeline()
    assert list(pipe.named_steps) == ["scale", "reshape", "augment", "cnn"]


def test_pipeline_is_a_classifier_so_cv_stratifies(small):
    X, y = small[0], small[1]
    pipe = make_digit_pipeline()
    assert is_classifier(pipe)
    assert isinstance(check_cv(5, y, classifier=is_classifier(pipe)), StratifiedKFold)


def test_cross_val_score_uses_stratified_folds(small):
    X, y = small[0], small[1]  # sorted by class: plain KFold would leave classes out of folds
    result = cross_validate(make_digit_pipeline(**TINY, random_state=0), X, y, cv=5, return_indices=True)
    for test_index in result["indices"]["test"]:
        assert np.bincount(y[test_index], minlength=10).tolist() == [12] * 10
    assert np.all((0 <= result["test_score"]) & (result["test_score"] <= 1))


def test_random_state_seeds_augmentation_and_network():
    pipe = make_digit_pipeline(random_state=42)
    assert pipe.get_params()["augment__random_state"] == 42
    assert pipe.get_params()["cnn__random_state"] == 42


def test_keyword_arguments_set_classifier_or_step_parameters():
    pipe = make_digit_pipeline(epochs=2, batch_size=32, augment__rotation=15.0, optimizer__beta_1=0.8)
    params = pipe.get_params()
    assert (params["cnn__epochs"], params["cnn__batch_size"], params["augment__rotation"]) == (2, 32, 15.0)
    assert params["cnn__optimizer__beta_1"] == 0.8


def test_unknown_parameter_error_suggests_the_fix():
    with pytest.raises(ValueError, match="unknown parameter 'epoch'.*Did you mean 'epochs'"):
        make_digit_pipeline(epoch=2)


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"The 'preset' parameter of make_digit_pipeline must be a str among .*'accurate'.*Got 'fast'"):
        make_digit_pipeline(preset="fast")


def test_reference_preset_is_the_notebooks_configuration():
    params = make_digit_pipeline(preset="reference").get_params()
    expected = {"cnn__filters": (16, 32), "cnn__dense_units": (512, 1024), "cnn__dropout": 0.25,
                "cnn__learning_rate": 1e-3, "cnn__lr_schedule": "exponential", "cnn__lr_decay": 0.9,
                "cnn__batch_size": 64, "augment__rotation": 10.0, "augment__zoom": 0.1, "augment__shift": 0.1,
                "augment__per_epoch": True, "augment__keep_original": False}
    assert {key: params[key] for key in expected} == expected
    assert set(PRESETS) >= {"default", "reference"}


def test_clone_and_nested_params_round_trip():
    pipe = make_digit_pipeline(epochs=3, random_state=0)
    copy = clone(pipe)
    assert copy.get_params()["cnn__epochs"] == 3
    copy.set_params(cnn__dropout=0.4, augment__zoom=0.2)
    assert copy.named_steps["cnn"].dropout == 0.4 and copy.named_steps["augment"].zoom == 0.2
    assert pipe.get_params()["cnn__dropout"] == 0.25


def test_grid_search_over_network_and_augmentation(small):
    X, y = small[0], small[1]
    grid = GridSearchCV(
        make_digit_pipeline(**TINY, random_state=0),
        {"cnn__dropout": [0.0, 0.3], "augment__rotation": [5.0]},
        cv=2,
    ).fit(X, y)
    assert len(grid.cv_results_["params"]) == 2
    assert grid.best_estimator_.predict(X[:5]).shape == (5,)


def test_joblib_round_trip_of_fitted_pipeline(small, tmp_path):
    X, y, X_test, _ = small
    pipe = make_digit_pipeline(**TINY, random_state=0).fit(X, y)
    joblib.dump(pipe, tmp_path / "model.joblib")
    loaded = joblib.load(tmp_path / "model.joblib")
    np.testing.assert_array_equal(loaded.predict_proba(X_test), pipe.predict_proba(X_test))


def test_augmentation_runs_during_fit_only(small):
    X, y, X_test, y_test = small
    pipe = make_digit_pipeline(random_state=0).set_params(cnn=RecordingClassifier())
    pipe.fit(X, y)
    seen_at_fit = pipe.named_steps["cnn"].fit_X_
    originals = X.reshape(-1, 28, 28, 1) / np.float32(255)
    assert seen_at_fit.shape == (2 * len(X), 28, 28, 1)
    np.testing.assert_allclose(seen_at_fit[: len(X)], originals)
    assert not np.allclose(seen_at_fit[len(X) :], originals)

    pipe.predict(X_test)
    pipe.score(X_test, y_test)
    for seen in pipe.named_steps["cnn"].seen_:
        np.testing.assert_allclose(seen, X_test.reshape(-1, 28, 28, 1) / np.float32(255))


def test_validation_folds_see_original_images(small):
    X, y = small[0], small[1]
    recorder = RecordingClassifier()
    pipe = make_digit_pipeline(random_state=0).set_params(cnn=recorder)
    result = cross_validate(pipe, X, y, cv=3, return_estimator=True, return_indices=True)
    for estimator, test_index in zip(result["estimator"], result["indices"]["test"]):
        (seen,) = estimator.named_steps["cnn"].seen_
        np.testing.assert_allclose(seen, X[test_index].reshape(-1, 28, 28, 1) / np.float32(255))
        assert len(estimator.named_steps["cnn"].fit_X_) == 2 * (len(X) - len(test_index))


def test_cross_val_score_with_epochs_keyword(small):
    X, y = small[0], small[1]
    scores = cross_val_score(make_digit_pipeline(**TINY, random_state=0), X, y, cv=2)
    assert scores.shape == (2,)


def test_default_pipeline_learns_the_shipped_sample(sample, sample_model):
    # regression: with BN momentum 0.99 the default's few training steps left the
    # prediction-time statistics untrained, and held-out accuracy was 0.14
    X, y = sample  # sample_model is make_digit_pipeline(random_state=0) fitted on X[:4000]
    assert sample_model.score(X[4000:], y[4000:]) > 0.95


@pytest.mark.parametrize(
    "n_images, params",
    [(3000, {"epochs": 1}), (1000, {})],
    ids=["epochs=1 on 3,000 images", "defaults on 1,000 images"],
)
def test_quick_fits_on_small_data_learn(sample, n_images, params):
    # regression: one epoch of 3,000 images scored 0.52, and 1,000 images 0.12
    X, y = sample
    pipe = make_digit_pipeline(random_state=0, **params).fit(X[:n_images], y[:n_images])
    assert pipe.score(X[4000:], y[4000:]) >= 0.85


def test_a_fit_too_short_to_trust_warns_and_still_learns(sample):
    X, y = sample
    pipe = make_digit_pipeline(epochs=1, random_state=0)
    with pytest.warns(UserWarning, match=r"trains for only \d+ optimiser steps.*Raise epochs"):
        pipe.fit(X[:1000], y[:1000])
    assert pipe.score(X[4000:], y[4000:]) >= 0.5


def test_two_seeded_fits_give_identical_predictions(small):
    X, y, X_new, _ = small
    first = make_digit_pipeline(**TINY, random_state=3).fit(X, y).predict_proba(X_new)
    second = make_digit_pipeline(**TINY, random_state=3).fit(X, y).predict_proba(X_new)
    np.testing.assert_array_equal(first, second)  # augmentation and network both seeded


def test_accurate_preset_trains_longer_on_fresh_copies_with_averaged_weights(small):
    X, y, X_new, _ = small
    params = make_digit_pipeline(preset="accurate").get_params()
    assert params["augment__per_epoch"] and params["augment__keep_original"] and params["augment__n_copies"] == 1
    assert params["cnn__ema_decay"] == 0.999 and params["cnn__lr_schedule"] == "cosine" and params["cnn__epochs"] == 10
    assert params["cnn__batch_size"] == 64 and params["cnn__dropout"] == 0.15 and params["cnn__tta_shift"] == 1
    pipe = make_digit_pipeline(preset="accurate", epochs=1, min_steps=0, random_state=0).fit(X, y)
    assert pipe[-1].augmentation_["n_copies"] == 1
    assert pipe.predict(X_new).shape == (200,)


def test_deskewed_preset_is_accurate_on_deskewed_images_for_more_epochs(small):
    from skdigits.preprocessing import deskew

    X, y, X_new, _ = small
    accurate = make_digit_pipeline(preset="accurate").get_params()
    deskewed = make_digit_pipeline(preset="deskewed").get_params()
    assert deskewed["reshape__deskew"] and not accurate["reshape__deskew"]
    assert (deskewed["cnn__epochs"], accurate["cnn__epochs"]) == (15, 10)
    assert (deskewed["cnn__temperature"], accurate["cnn__temperature"]) == (1.46, 1.0)
    same = [k for k in accurate if k.startswith("cnn__") and k not in ("cnn__epochs", "cnn__temperature")]
    assert {k: deskewed[k] for k in same} == {k: accurate[k] for k in same}
    pipe = make_digit_pipeline(preset="deskewed", **TINY, random_state=0).fit(X, y)
    images = pipe[:2].transform(X_new)  # what the network reads at predict time
    np.testing.assert_array_equal(images, deskew(X_new.reshape(-1, 28, 28, 1) / np.float32(255)))
    assert pipe.predict(X_new).shape == (len(X_new),)


def test_strided_preset_is_accurate_with_the_strided_network(small):
    X, y, X_new, _ = small
    accurate = make_digit_pipeline(preset="accurate").get_params()
    strided = make_digit_pipeline(preset="strided").get_params()
    assert (strided["cnn__downsampling"], accurate["cnn__downsampling"]) == ("strided", "maxpool")
    assert strided["cnn__temperature"] == 1.46
    changed = ("cnn__downsampling", "cnn__temperature")
    assert {k: v for k, v in strided.items() if k not in changed and "__" in k} == {
        k: v for k, v in accurate.items() if k not in changed and "__" in k
    }
    pipe = make_digit_pipeline(preset="strided", **TINY, random_state=0).fit(X, y)
    layers = {(type(layer).__name__, getattr(layer, "strides", None)) for layer in pipe[-1].model_.layers}
    assert ("Conv2D", (2, 2)) in layers and not any(name == "MaxPooling2D" for name, _ in layers)
    assert pipe.predict(X_new).shape == (len(X_new),)


def test_mixup_preset_is_strided_trained_on_mixup_with_sharpened_probabilities(small):
    X, y, X_new, _ = small
    strided = make_digit_pipeline(preset="strided").get_params()
    mixup = make_digit_pipeline(preset="mixup").get_params()
    assert (mixup["cnn__mixup"], strided["cnn__mixup"]) == (0.2, 0.0)
    assert (mixup["cnn__temperature"], strided["cnn__temperature"]) == (0.59, 1.46)
    changed = ("cnn__mixup", "cnn__temperature")
    assert {k: v for k, v in mixup.items() if k not in changed and "__" in k} == {
        k: v for k, v in strided.items() if k not in changed and "__" in k
    }
    pipe = make_digit_pipeline(preset="mixup", **TINY, random_state=0).fit(X, y)
    assert pipe[-1].model_.loss.__class__.__name__ == "CategoricalCrossentropy"
    assert pipe.predict_proba(X_new).shape == (len(X_new), 10)


def test_per_epoch_augmentation_trains_on_fresh_copies_and_never_reaches_predict(small, monkeypatch):
    import skdigits.model as model_module
    from skdigits.pipeline import fit_with_validation

    X, y, X_test, y_test = small
    built = []
    real = model_module.fresh_copies_dataset

    def spy(X_fit, y_fit, sample_weight, augmentation, **kwargs):
        built.append((len(X_fit), augmentation))
        return real(X_fit, y_fit, sample_weight, augmentation, **kwargs)

    monkeypatch.setattr(model_module, "fresh_copies_dataset", spy)
    pipe = make_digit_pipeline(**TINY, augment__per_epoch=True, augment__rotation=12.0, random_state=0)
    fit_with_validation(pipe, X, y, validation_fraction=0.25, random_state=0)
    # only the 450 training rows are augmented; the 150 validation rows reach Keras as they are
    ((n_rows, augmentation),) = built
    assert n_rows == 450 and augmentation["rotation"] == 12.0 and augmentation["n_copies"] == 1
    assert len(pipe[-1].history_["val_accuracy"]) == 1

    def refuse(*args, **kwargs):
        raise AssertionError("augmentation reached prediction")

    monkeypatch.setattr(model_module, "fresh_copies_dataset", refuse)
    monkeypatch.setattr("skdigits.augment.transform_images", refuse)
    network = pipe[-1].model_
    expected = network(pipe[:-2].transform(X_test), training=False).numpy()
    np.testing.assert_allclose(pipe.predict_proba(X_test), expected, rtol=1e-5, atol=1e-6)
    pipe.score(X_test, y_test)


def test_per_epoch_fits_are_reproducible_and_round_trip(small, tmp_path):
    import skdigits

    X, y, X_new, _ = small
    first = make_digit_pipeline(**TINY, augment__per_epoch=True, random_state=5).fit(X, y)
    second = make_digit_pipeline(**TINY, augment__per_epoch=True, random_state=5).fit(X, y)
    np.testing.assert_array_equal(first.predict_proba(X_new), second.predict_proba(X_new))
    skdigits.save(first, tmp_path / "m.skdigits")
    joblib.dump(first, tmp_path / "m.joblib")
    for restored in (skdigits.load(tmp_path / "m.skdigits"), joblib.load(tmp_path / "m.joblib")):
        np.testing.assert_allclose(restored.predict_proba(X_new), first.predict_proba(X_new), rtol=1e-5, atol=1e-6)
    assert clone(first).get_params()["augment__per_epoch"] is True


def test_a_resumed_fit_predicts_what_an_uninterrupted_fit_predicts(small, tmp_path):
    # accurate: fresh copies per epoch, dropout, a schedule over steps, weight averaging
    X, y, X_new, _ = small
    settings = {**TINY, "epochs": 3, "preset": "accurate", "random_state": 0}
    uninterrupted = make_digit_pipeline(**settings).fit(X, y).predict_proba(X_new)
    pipe = make_digit_pipeline(**settings, cnn__checkpoint_dir=tmp_path)
    with pytest.raises(KeyboardInterrupt):
        pipe.fit(X, y, cnn__callbacks=[InterruptAfter(epoch=0)])
    assert (tmp_path / "backup" / "random_state.npz").is_file()
    np.testing.assert_array_equal(pipe.fit(X, y).predict_proba(X_new), uninterrupted)


@pytest.mark.slow
def test_default_pipeline_on_10000_mnist_images(mnist_dir):
    from skdigits.datasets import load_idx

    X, y = load_idx(mnist_dir / "train-images-idx3-ubyte.gz", mnist_dir / "train-labels-idx1-ubyte.gz")
    pipe = make_digit_pipeline(random_state=0).fit(X[:10_000], y[:10_000])
    assert pipe.score(X[-5_000:], y[-5_000:]) >= 0.985
