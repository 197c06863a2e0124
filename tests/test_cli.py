import re

import numpy as np
import pandas as pd
import pytest

import skdigits
from skdigits.cli import main


def test_help_lists_subcommands(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in ("demo", "train", "evaluate", "cv", "tune", "submit", "report"):
        assert command in out


def test_demo_trains_reports_and_writes_submission(tmp_path, capsys):
    out = tmp_path / "demo.csv"
    assert main(["demo", "--epochs", "1", "--quiet", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "held-out accuracy" in printed and str(out) in printed
    assert len(pd.read_csv(out)) == 1000


@pytest.mark.parametrize("model_name", ["model.skdigits", "model.joblib"])
def test_train_then_submit_round_trip(kaggle_files, tmp_path, capsys, model_name):
    train, test = kaggle_files
    model = tmp_path / model_name
    assert main(["train", "--train", str(train), "--model", str(model), "--epochs", "1"]) == 0
    assert " - accuracy: " in capsys.readouterr().out  # Keras per-epoch progress is on by default
    out = tmp_path / "submission.csv"
    assert main(["submit", "--model", str(model), "--test", str(test), "--out", str(out), "--quiet"]) == 0
    assert pd.read_csv(out).shape == (30, 2)


def test_user_errors_are_one_line_and_exit_2(tmp_path, capsys):
    assert main(["train", "--train", str(tmp_path / "missing.csv"), "--model", str(tmp_path / "m.joblib")]) == 2
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0
    assert "skdigits train: error:" in err and "missing.csv does not exist" in err


def test_existing_output_is_kept_without_force(kaggle_files, tmp_path, capsys):
    train, _ = kaggle_files
    model = tmp_path / "model.skdigits"
    model.write_text("precious")
    assert main(["train", "--train", str(train), "--model", str(model), "--quiet"]) == 2
    assert "model.skdigits already exists; pass --force to overwrite it" in capsys.readouterr().err
    assert model.read_text() == "precious"
    assert main(["train", "--train", str(train), "--model", str(model), "--epochs", "1", "--quiet", "--force"]) == 0
    assert model.read_bytes()[:2] == b"PK"


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("model.skdigits", b"PK\x03\x04 not really a zip", "is not a readable skdigits model file"),
        ("model.joblib", b"\x80\x04\x95garbage", "could not be loaded with joblib .*another version"),
    ],
)
def test_submit_refuses_a_damaged_model_in_one_line(kaggle_files, tmp_path, capsys, name, content, message):
    _, test = kaggle_files
    model = tmp_path / name
    model.write_bytes(content)
    assert main(["submit", "--model", str(model), "--test", str(test), "-o", str(tmp_path / "s.csv")]) == 2
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and re.search(message, err)


def test_train_checkpoint_option_reaches_the_classifier(kaggle_files, tmp_path):
    train, _ = kaggle_files
    model = tmp_path / "model.skdigits"
    args = ["train", "--train", str(train), "--model", str(model), "--epochs", "1", "--quiet"]
    assert main([*args, "--checkpoint", str(tmp_path / "ckpt")]) == 0
    assert (tmp_path / "ckpt" / "best.weights.h5").is_file()


def test_cv_prints_fold_scores_and_mean(kaggle_files, capsys):
    train, _ = kaggle_files
    assert main(["cv", "--train", str(train), "--cv", "2", "--epochs", "1", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("fold accuracy: ") and "2-fold accuracy " in out and "on 100 images" in out


def test_tune_runs_a_resumable_study_and_prints_the_best_trial(kaggle_files, tmp_path, capsys):
    train, _ = kaggle_files
    storage = tmp_path / "study.journal"
    args = ["tune", "--train", str(train), "--epochs", "1", "--storage", str(storage), "--quiet"]
    assert main([*args, "--n-trials", "1"]) == 0
    assert main([*args, "--n-trials", "2"]) == 0
    out = capsys.readouterr().out
    assert "study 'skdigits': 2 trials" in out and "best trial #" in out and "  epochs = 1" in out
    assert f"optuna-dashboard {storage}" in out


def test_evaluate_and_report_on_a_labelled_csv(kaggle_files, tmp_path, capsys):
    train, _ = kaggle_files
    model = tmp_path / "model.skdigits"
    assert main(["train", "--train", str(train), "--model", str(model), "--epochs", "1", "--quiet"]) == 0
    capsys.readouterr()
    assert "val_accuracy" in skdigits.load(model)[-1].history_  # 10 % held out by default: validation curves
    metrics = tmp_path / "metrics.json"
    assert main(["evaluate", "--model", str(model), "--data", str(train), "-o", str(metrics)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("accuracy ") and "confusion matrix (rows: true, columns: predicted)" in out
    assert '"accuracy"' in metrics.read_text()
    report = tmp_path / "report"
    assert main(["report", "--model", str(model), "--data", str(train), "-o", str(report)]) == 0
    assert (report / "index.html").is_file() and (report / "confusion_matrix.png").is_file()
    assert main(["report", "--model", str(model), "--data", str(train), "-o", str(report)]) == 2
    assert "is not empty; pass --force" in capsys.readouterr().err


def test_every_subcommand_help_shows_defaults(capsys):
    for command in ("demo", "train", "evaluate", "cv", "tune", "submit", "report"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        out = capsys.readouterr().out
        assert "--quiet" in out and "--seed" in out and "(default: 0)" in out


def test_set_overrides_any_pipeline_parameter(kaggle_files, tmp_path):
    train, _ = kaggle_files
    model = tmp_path / "model.skdigits"
    argv = ["train", "--train", str(train), "--model", str(model), "--quiet",
            "--set", "cnn__epochs=1", "augment__rotation=5", "cnn__downsampling=strided", "cnn__filters=(4, 8)"]
    assert main(argv) == 0
    params = skdigits.load(model).get_params()
    assert (params["cnn__epochs"], params["augment__rotation"]) == (1, 5)
    assert (params["cnn__downsampling"], params["cnn__filters"]) == ("strided", (4, 8))


def test_set_with_an_unknown_parameter_is_a_one_line_error(kaggle_files, tmp_path, capsys):
    train, _ = kaggle_files
    argv = ["train", "--train", str(train), "--model", str(tmp_path / "m.skdigits"), "--set", "cnn__epoch=1"]
    assert main(argv) == 2
    assert "unknown parameter 'epoch'" in capsys.readouterr().err


def test_preset_choices_are_the_presets():
    from skdigits.cli import _make_parser
    from skdigits.presets import PRESETS

    train = _make_parser()._subparsers._group_actions[0].choices["train"]
    (preset,) = [action for action in train._actions if action.dest == "preset"]
    assert preset.choices == sorted(PRESETS)


def test_the_command_line_and_import_do_not_load_tensorflow():
    import subprocess
    import sys

    code = "import sys, skdigits, skdigits.cli; print(sorted(m for m in ('tensorflow', 'keras', 'matplotlib') if m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"


def test_train_checkpoint_resumes_an_interrupted_run(kaggle_files, tmp_path, capsys, monkeypatch):
    import keras

    import skdigits.cli as cli

    class InterruptAfterSecondEpoch(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 2:
                raise KeyboardInterrupt  # as Ctrl-C would, once epochs 1 and 2 were saved

    train, _ = kaggle_files
    model = tmp_path / "model.skdigits"
    args = ["train", "--train", str(train), "--model", str(model), "--epochs", "4", "--checkpoint", str(tmp_path / "ckpt")]
    real_pipeline = cli._pipeline
    monkeypatch.setattr(cli, "_pipeline", lambda a: real_pipeline(a).set_params(cnn__callbacks=[InterruptAfterSecondEpoch()]))
    assert main(args) == 130
    first = capsys.readouterr()
    assert re.findall(r"Epoch (\d)/4", first.out)[:2] == ["1", "2"] and "interrupted" in first.err
    assert not model.exists() and (tmp_path / "ckpt" / "backup").is_dir()

    monkeypatch.setattr(cli, "_pipeline", real_pipeline)
    assert main(args) == 0  # the same command again
    assert re.findall(r"Epoch (\d)/4", capsys.readouterr().out) == ["3", "4"]  # resumed, not restarted
    assert model.is_file() and not (tmp_path / "ckpt" / "backup").exists()


@pytest.fixture(scope="module")
def digit_files(tmp_path_factory, sample):
    """Three sample digits as dark-on-light PNG files, and their labels."""
    from PIL import Image

    folder = tmp_path_factory.mktemp("digits")
    X, y = sample
    paths = []
    for index in (4000, 4001, 4002):
        page = 255 - np.asarray(Image.fromarray(X[index].reshape(28, 28)).resize((84, 84)))
        paths.append(folder / f"digit{index}.png")
        Image.fromarray(page).save(paths[-1])
    return paths, y[[4000, 4001, 4002]]


@pytest.fixture(scope="module")
def sample_model_file(tmp_path_factory, sample_model):
    path = tmp_path_factory.mktemp("model") / "model.skdigits"
    skdigits.save(sample_model, path)
    return path


def test_predict_prints_the_digit_and_top_3_for_each_image(digit_files, sample_model_file, capsys):
    paths, labels = digit_files
    assert main(["predict", "--model", str(sample_model_file), *map(str, paths)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3
    for line, path, label in zip(lines, paths, labels):
        assert re.fullmatch(rf"{re.escape(str(path))}: {label}  \({label}: [01]\.\d{{3}}, \d: [01]\.\d{{3}}, \d: [01]\.\d{{3}}\)", line)


def test_predict_json_and_a_file_that_is_not_an_image(digit_files, sample_model_file, tmp_path, capsys):
    import json

    paths, labels = digit_files
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    assert main(["predict", "--model", str(sample_model_file), "--json", str(paths[0]), str(notes), str(paths[1])]) == 1
    document = json.loads(capsys.readouterr().out)
    assert [p["file"] for p in document["predictions"]] == [str(paths[0]), str(paths[1])]
    assert [p["label"] for p in document["predictions"]] == labels[:2].tolist()
    assert len(document["predictions"][0]["top3"]) == 3
    assert sum(guess["probability"] for guess in document["predictions"][0]["top3"]) <= 1.0001
    ((failure),) = document["errors"]
    assert failure["file"] == str(notes) and "notes.txt is not an image skdigits can read" in failure["error"]


def test_predict_names_a_bad_file_in_one_line_and_predicts_the_rest(digit_files, sample_model_file, tmp_path, capsys):
    paths, _ = digit_files
    missing = tmp_path / "missing.png"
    assert main(["predict", "--model", str(sample_model_file), str(missing), str(paths[2])]) == 1
    captured = capsys.readouterr()
    assert captured.err.strip().count("\n") == 0 and "missing.png does not exist" in captured.err
    assert captured.out.startswith(f"{paths[2]}: ")
