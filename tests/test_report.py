import re

import matplotlib.image
import pytest

from skdigits import make_digit_pipeline
from skdigits.report import evaluate, write_report

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
