import joblib
import numpy as np
import pytest
from sklearn.base import clone, is_classifier
from sklearn.ensemble import VotingClassifier
from sklearn.model_selection import cross_val_score

import skdigits
from skdigits import make_digit_pipeline, make_ensemble

from .conftest import TINY


@pytest.fixture(scope="module")
def fitted_ensemble(small):
    X, y, _, _ = small
    return make_ensemble(3, preset="default", **TINY, random_state=0).fit(X, y)


def test_make_ensemble_is_a_soft_voting_classifier_of_pipelines():
    ensemble = make_ensemble(3, preset="default", epochs=2, random_state=0)
    assert isinstance(ensemble, VotingClassifier)
    assert ensemble.voting == "soft"
    assert is_classifier(ensemble)
    assert [name for name, _ in ensemble.estimators] == ["member0", "member1", "member2"]
    params = ensemble.get_params()
    assert {params[f"member{i}__cnn__epochs"] for i in range(3)} == {2}


def _member_params(ensemble, name):
    """Parameter `name` of each (unfitted) member, in order."""
    return [member.get_params()[name] for _, member in ensemble.estimators]


def test_members_get_distinct_reproducible_seeds():
    def seeds(ensemble):
        return _member_params(ensemble, "cnn__random_state")

    first = seeds(make_ensemble(4, random_state=0))
    assert len(set(first)) == 4
    assert all(seed == member_seeds for seed, member_seeds in zip(first, seeds(make_ensemble(4, random_state=0))))
    assert first != seeds(make_ensemble(4, random_state=1))
    # each member's augmentation is seeded like its network
    member = make_ensemble(2, random_state=0).estimators[1][1]
    assert member.get_params()["augment__random_state"] == member.get_params()["cnn__random_state"]


def test_the_ensemble_averages_its_members_probabilities(fitted_ensemble, small):
    X_new = small[2]
    mean = np.mean([member.predict_proba(X_new) for member in fitted_ensemble.estimators_], axis=0)
    np.testing.assert_allclose(fitted_ensemble.predict_proba(X_new), mean, rtol=1e-6)
    np.testing.assert_array_equal(fitted_ensemble.predict(X_new), fitted_ensemble.classes_[mean.argmax(axis=1)])
    # members differ, or the ensemble would be one model fitted n times
    assert not np.allclose(fitted_ensemble.estimators_[0].predict_proba(X_new), fitted_ensemble.estimators_[1].predict_proba(X_new))


def test_ensemble_fits_members_in_parallel_processes(small):
    X, y, X_new, _ = small
    serial = make_ensemble(2, preset="default", **TINY, random_state=0).fit(X, y)
    parallel = make_ensemble(2, preset="default", **TINY, n_jobs=2, random_state=0).fit(X, y)
    # seeded members give the same network in a worker process as here
    np.testing.assert_allclose(parallel.predict_proba(X_new), serial.predict_proba(X_new), atol=1e-5)


def test_ensemble_persists_with_save_and_joblib(fitted_ensemble, small, tmp_path):
    X_new = small[2]
    expected = fitted_ensemble.predict_proba(X_new)
    skdigits.save(fitted_ensemble, tmp_path / "ensemble.skdigits")
    loaded = skdigits.load(tmp_path / "ensemble.skdigits")
    assert isinstance(loaded, VotingClassifier)
    np.testing.assert_array_equal(loaded.predict_proba(X_new), expected)
    np.testing.assert_array_equal(loaded.predict(X_new), fitted_ensemble.predict(X_new))
    assert list(loaded.named_estimators_) == ["member0", "member1", "member2"]
    assert loaded.get_params()["member2__cnn__random_state"] == fitted_ensemble.get_params()["member2__cnn__random_state"]

    joblib.dump(fitted_ensemble, tmp_path / "ensemble.joblib")
    np.testing.assert_array_equal(joblib.load(tmp_path / "ensemble.joblib").predict_proba(X_new), expected)


def test_loaded_ensemble_can_be_cloned_and_refitted(fitted_ensemble, small, tmp_path):
    skdigits.save(fitted_ensemble, tmp_path / "ensemble.skdigits")
    refitted = clone(skdigits.load(tmp_path / "ensemble.skdigits")).fit(small[0], small[1])
    assert refitted.predict(small[2]).shape == (200,)


def test_ensemble_cross_validates(small):
    X, y, _, _ = small
    scores = cross_val_score(make_ensemble(2, preset="default", **TINY, random_state=0), X, y, cv=2)
    assert scores.shape == (2,)


@pytest.mark.parametrize("n_members", [0, -1, 2.5, "3"])
def test_make_ensemble_refuses_a_bad_number_of_members(n_members):
    with pytest.raises(ValueError, match=r"The 'n_members' parameter of make_ensemble must be an int in the range \[1, inf\)"):
        make_ensemble(n_members)


def test_make_ensemble_refuses_unknown_member_settings():
    with pytest.raises(ValueError, match="unknown parameter 'epoch'.*Did you mean 'epochs'"):
        make_ensemble(2, epoch=3)


def test_bagging_subsets_work_with_the_pipeline(small):
    # docs/guide/ensemble.md: members on random subsets through BaggingClassifier
    from sklearn.ensemble import BaggingClassifier

    from skdigits import make_digit_pipeline

    X, y, X_new, _ = small
    bagging = BaggingClassifier(
        make_digit_pipeline(**TINY), n_estimators=2, max_samples=0.8, bootstrap=False, random_state=0
    ).fit(X, y)
    seeds = {member.get_params()["cnn__random_state"] for member in bagging.estimators_}
    assert len(seeds) == 2
    mean = np.mean([member.predict_proba(X_new) for member in bagging.estimators_], axis=0)
    np.testing.assert_allclose(bagging.predict_proba(X_new), mean, rtol=1e-6)


def test_make_submission_takes_an_ensemble(fitted_ensemble, small, tmp_path):
    from skdigits import make_submission

    submission = make_submission(fitted_ensemble, small[2], tmp_path / "submission.csv")
    assert list(submission.columns) == ["ImageId", "Label"]
    np.testing.assert_array_equal(submission["Label"], fitted_ensemble.predict(small[2]))


def test_bagging_gives_members_different_training_rows(fitted_ensemble, small):
    X = small[0]
    kept = [member.named_steps["bag"].sample_indices_ for member in fitted_ensemble.estimators_]
    assert all(len(rows) == round(0.9 * len(X)) for rows in kept)
    assert len({tuple(rows) for rows in kept}) == len(kept)
    # and each member's network saw its own rows plus their augmented copies
    assert {member[-1].history_ is not None for member in fitted_ensemble.estimators_} == {True}


def test_max_samples_one_turns_bagging_off():
    ensemble = make_ensemble(2, preset="default", max_samples=1.0, random_state=0)
    assert all("bag" not in member.named_steps for _, member in ensemble.estimators)


def _member_epochs(ensemble):
    return _member_params(ensemble, "cnn__epochs")


def test_members_may_mix_presets():
    ensemble = make_ensemble(3, preset=("accurate", "reference"), epochs=None, random_state=0)
    assert _member_epochs(ensemble) == [10, 20, 10]


def test_members_train_fifteen_epochs_unless_told_otherwise():
    assert _member_epochs(make_ensemble(3, preset=("accurate", "reference"), random_state=0)) == [15, 15, 15]
    assert _member_epochs(make_ensemble(2, epochs=4, random_state=0)) == [4, 4]
    assert _member_epochs(make_ensemble(2, cnn__epochs=6, random_state=0)) == [6, 6]


def test_default_members_alternate_mixup_strided_networks_and_deskewed_images():
    ensemble = make_ensemble(4, random_state=0)
    assert _member_params(ensemble, "cnn__downsampling") == ["strided", "maxpool", "strided", "maxpool"]
    assert _member_params(ensemble, "reshape__deskew") == [False, True, False, True]
    assert _member_params(ensemble, "cnn__mixup") == [0.2, 0.0, 0.2, 0.0]
    assert _member_params(ensemble, "cnn__temperature") == [0.59, 1.46, 0.59, 1.46]
    assert _member_epochs(ensemble) == [15, 15, 15, 15]
    everyone_plain = make_ensemble(2, preset="accurate", random_state=0)
    assert _member_params(everyone_plain, "reshape__deskew") == [False, False]


def test_downsampling_strided_makes_the_deskewed_members_strided_too():
    # the docs' one-liner for strided and deskewed strided members in turn
    ensemble = make_ensemble(4, preset=("strided", "deskewed"), downsampling="strided", random_state=0)
    assert _member_params(ensemble, "cnn__downsampling") == ["strided"] * 4
    assert _member_params(ensemble, "reshape__deskew") == [False, True, False, True]
    assert _member_params(ensemble, "cnn__mixup") == [0.0] * 4


def test_m3_style_members_replace_the_strided_ones_through_set_params():
    # the docs' recipe for the candidate on the reported split: seeds and bags stay, the network changes
    m3 = {"cnn__downsampling": "none", "cnn__filters": (32, 64, 96, 128, 160), "cnn__dense_units": (),
          "cnn__dropout": 0.0}
    ensemble = make_ensemble(preset=("strided", "deskewed"), downsampling="strided", random_state=0)
    seeds = _member_params(ensemble, "cnn__random_state")
    ensemble.set_params(**{f"member{i}__{key}": value for i in (0, 2) for key, value in m3.items()})
    assert _member_params(ensemble, "cnn__downsampling") == ["none", "strided", "none", "strided"]
    assert _member_params(ensemble, "cnn__filters")[0::2] == [(32, 64, 96, 128, 160)] * 2
    assert _member_params(ensemble, "reshape__deskew") == [False, True, False, True]
    assert _member_params(ensemble, "cnn__random_state") == seeds


def test_each_member_checkpoints_in_a_folder_of_its_own(tmp_path):
    # members share their settings, not their backups: in one folder, the refit after an
    # interruption would find the interrupted member's backup for every member
    ensemble = make_ensemble(3, checkpoint_dir=tmp_path)
    assert [member.get_params()["cnn__checkpoint_dir"] for _, member in ensemble.estimators] == [
        str(tmp_path / name) for name in ("member0", "member1", "member2")]
    assert make_ensemble(2).get_params()["member0__cnn__checkpoint_dir"] is None


def test_members_predict_without_shift_tta_unless_asked():
    def tta(ensemble):
        return _member_params(ensemble, "cnn__tta_shift")

    assert make_digit_pipeline(preset="accurate").get_params()["cnn__tta_shift"] == 1
    assert tta(make_ensemble(2, random_state=0)) == [0, 0]  # though the mixup and deskewed presets alone use it
    assert tta(make_ensemble(2, tta_shift=1, random_state=0)) == [1, 1]


def test_the_vote_averages_the_members_tempered_probabilities(fitted_ensemble, small):
    _, _, X_new, _ = small
    members = fitted_ensemble.estimators_
    plain = fitted_ensemble.predict_proba(X_new)
    try:
        for member, temperature in zip(members, (0.5, 1.0, 2.0)):
            member.set_params(cnn__temperature=temperature)
        tempered = fitted_ensemble.predict_proba(X_new)
        np.testing.assert_allclose(tempered, np.mean([member.predict_proba(X_new) for member in members], axis=0), rtol=1e-6)
        assert not np.allclose(tempered, plain, atol=1e-4)
    finally:
        for member in members:
            member.set_params(cnn__temperature=1.0)


def test_member_scores_report_accuracy_and_pairwise_disagreement(fitted_ensemble, small):
    from skdigits.ensemble import member_scores

    _, _, X_new, y_new = small
    scores = member_scores(fitted_ensemble, X_new, y_new)
    assert list(scores.index) == ["member0", "member1", "member2"]
    predictions = [member.predict(X_new) for member in fitted_ensemble.estimators_]
    assert scores.loc["member1", "accuracy"] == pytest.approx(np.mean(predictions[1] == y_new))
    assert scores.loc["member0", "member2"] == pytest.approx(np.mean(predictions[0] != predictions[2]))
    np.testing.assert_allclose(np.diag(scores.iloc[:, 1:].to_numpy()), 0)
    np.testing.assert_allclose(scores.iloc[:, 1:].to_numpy(), scores.iloc[:, 1:].to_numpy().T)


def test_subsampler_validates_max_samples(small):
    from skdigits.ensemble import RandomSubsampler

    with pytest.raises(ValueError, match="The 'max_samples' parameter of RandomSubsampler must be a float in the range"):
        RandomSubsampler(max_samples=1.5).fit_resample(small[0], small[1])
