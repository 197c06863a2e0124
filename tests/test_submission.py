import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier

from skdigits import make_submission
from skdigits.preprocessing import PIXEL_COLUMNS


class Exploding(DummyClassifier):
    def predict(self, X):
        raise RuntimeError("boom")


@pytest.fixture
def model(sample):
    return DummyClassifier(strategy="most_frequent").fit(sample[0][:100], sample[1][:100])


def test_submission_format_from_path(model, kaggle_files, tmp_path):
    _, test = kaggle_files
    out = tmp_path / "submission.csv"
    frame = make_submission(model, test, out)
    assert out.read_text().splitlines()[:2] == ["ImageId,Label", f"1,{frame.Label[0]}"]
    written = pd.read_csv(out)
    assert list(written.columns) == ["ImageId", "Label"]
    assert written.ImageId.tolist() == list(range(1, 31))
    pd.testing.assert_frame_equal(written, frame)


def test_submission_from_dataframe_and_array(model, sample, tmp_path):
    frame = pd.DataFrame(sample[0][:7], columns=PIXEL_COLUMNS)
    assert len(make_submission(model, frame, tmp_path / "a.csv")) == 7
    assert len(make_submission(model, sample[0][:7], tmp_path / "b.csv")) == 7


def test_submission_refuses_label_column(model, sample, tmp_path):
    frame = pd.DataFrame(sample[0][:3], columns=PIXEL_COLUMNS).assign(label=1)
    with pytest.raises(ValueError, match="contains a 'label' column"):
        make_submission(model, frame, tmp_path / "s.csv")
    assert not (tmp_path / "s.csv").exists()


def test_submission_refuses_wrong_pixel_count(model, tmp_path):
    with pytest.raises(ValueError, match=r"test has 785 columns, expected 784 pixel columns .*'label' column"):
        make_submission(model, np.zeros((2, 785)), tmp_path / "s.csv")


def test_failed_prediction_leaves_old_file_and_no_temporary(sample, tmp_path):
    out = tmp_path / "submission.csv"
    out.write_text("old\n")
    model = Exploding().fit(sample[0][:10], sample[1][:10])
    with pytest.raises(RuntimeError, match="boom"):
        make_submission(model, sample[0][:5], out)
    assert out.read_text() == "old\n"
    assert list(tmp_path.iterdir()) == [out]


def test_submission_predicts_in_batches(sample, tmp_path, monkeypatch):
    import skdigits.submission as submission

    monkeypatch.setattr(submission, "_BATCH", 64)
    sizes = []

    class Counting(DummyClassifier):
        def predict(self, X):
            sizes.append(len(X))
            return super().predict(X)

    model = Counting().fit(sample[0][:10], sample[1][:10])
    make_submission(model, sample[0][:150], tmp_path / "s.csv")
    assert sizes == [64, 64, 22]


class RowDependent(DummyClassifier):
    """Predicts each image's first pixel modulo 10: every row's label depends on that row."""

    def predict(self, X):
        return np.asarray(X)[:, 0].astype(np.int64) % 10


def test_each_submission_row_is_that_images_prediction_across_batches(tmp_path, monkeypatch):
    import skdigits.submission as submission

    monkeypatch.setattr(submission, "_BATCH", 64)
    X = np.zeros((150, 784), dtype=np.uint8)
    X[:, 0] = np.random.default_rng(0).integers(0, 256, 150)
    model = RowDependent().fit(X[:10], np.arange(10))
    make_submission(model, X, tmp_path / "s.csv")
    written = pd.read_csv(tmp_path / "s.csv")
    np.testing.assert_array_equal(written.Label, model.predict(X))
    np.testing.assert_array_equal(written.ImageId, np.arange(1, 151))


def test_a_write_that_fails_halfway_leaves_the_old_file_and_no_temporary(model, sample, tmp_path, monkeypatch):
    out = tmp_path / "submission.csv"
    out.write_text("old\n")

    def write_half_then_fail(frame, path, **kwargs):
        with open(path, "w") as handle:
            handle.write("ImageId,Label\n1,")  # a partial file on disk
        raise OSError("No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_csv", write_half_then_fail)
    with pytest.raises(OSError, match="No space left on device"):
        make_submission(model, sample[0][:5], out)
    assert out.read_text() == "old\n"
    assert list(tmp_path.iterdir()) == [out]
