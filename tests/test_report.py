import re

import matplotlib.image
import pytest

from skdigits import make_digit_pipeline
from skdigits.report import _augmentation_ranges, evaluate, write_report

from .conftest import TINY


@pytest.fixture(scope="module")
def fitted(small):
    X, y, _, _ = small
    return make_digit_pipeline(**TINY, random_state=0).fit(X, y)


def test_evaluate_matches_score(fitted, small):
    _, _, X_test, y_test = small
    result = evaluate(fitted, X_test, y_test)
    assert result["accuracy"] == pytest.approx(fitted.score(X_test, y_test))
    assert "precision" in result["report"] and set(result["per_class"]) >= {"0", "9", "accuracy"}


def test_report_writes_pngs_and_a_self_contained_page(fitted, small, tmp_path):
    _, _, X_test, y_test = small
    files = write_report(fitted, X_test, y_test, tmp_path / "report")
    names = [f.name for f in files]
    assert names == ["learning_curves.png", "confusion_matrix.png", "misclassified.png", "augmentation.png", "index.html"]
    for png in files[:-1]:
        image = matplotlib.image.imread(png)
        assert image.shape[0] > 200 and image.shape[1] > 300 and image.std() > 0.01  # a real, non-blank plot
    page = files[-1].read_text()
    assert len(re.findall(r'<img src="data:image/png;base64,', page)) == 4
    assert "Accuracy <b>" in page and "src=\"http" not in page
    assert [p.name for p in (tmp_path / "report").iterdir() if p.name.startswith(".")] == []


def test_report_on_an_ensemble_shows_its_first_members_training(small, tmp_path):
    from skdigits import make_ensemble

    X, y, X_test, y_test = small
    ensemble = make_ensemble(2, preset="default", **TINY, random_state=0).fit(X, y)
    files = write_report(ensemble, X_test, y_test, tmp_path / "report")
    assert [f.name for f in files][0] == "learning_curves.png"
    assert f"{ensemble.score(X_test, y_test):.4f}" in files[-1].read_text()


def test_report_leaves_the_users_matplotlib_backend_alone(fitted, small, tmp_path):
    import matplotlib

    previous = matplotlib.get_backend()
    matplotlib.use("svg")  # a notebook user's choice
    try:
        write_report(fitted, small[2], small[3], tmp_path / "report")
        assert matplotlib.get_backend() == "svg"
    finally:
        matplotlib.use(previous)


def test_report_and_validation_curves_work_with_other_step_names(small, tmp_path):
    from imblearn.pipeline import Pipeline

    from skdigits.pipeline import fit_with_validation

    X, y, X_test, y_test = small
    steps = make_digit_pipeline(**TINY, augment__rotation=7.0, random_state=0).steps
    renamed = Pipeline([(f"my_{name}", step) for name, step in steps])
    fit_with_validation(renamed, X, y, random_state=0)
    assert "val_accuracy" in renamed._final_estimator.history_
    html = write_report(renamed, X_test, y_test, tmp_path / "report")[-1].read_text()
    assert "Learning curves" in html and "What the augmenting step does" in html
    assert _augmentation_ranges(renamed) == {"rotation": 7.0, "zoom": 0.1, "shift": 0.1}


def test_validation_labels_are_encoded_like_the_networks(small):
    from skdigits.pipeline import fit_with_validation

    X, y, _, _ = small
    keep = y >= 5  # labels 5..9: the network's classes 0..4
    pipe = fit_with_validation(make_digit_pipeline(**TINY, random_state=0), X[keep], y[keep], random_state=0)
    assert pipe._final_estimator.n_classes_ == 5
    assert 0 <= pipe._final_estimator.history_["val_accuracy"][-1] <= 1
