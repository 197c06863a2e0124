"""The ``skdigits`` command line."""

import argparse
import sys
import time
from pathlib import Path

from . import __version__
from ._io import sigterm_as_keyboard_interrupt
from .presets import PRESETS, parse_overrides
from .serve import MAX_SERVED_PIXELS, MAX_UPLOAD_BYTES


def main(argv=None) -> int:
    """Run the ``skdigits`` command line; return the exit code."""
    parser = _make_parser()
    args = parser.parse_args(argv)
    try:
        with sigterm_as_keyboard_interrupt():
            return args.handler(args)
    except (ValueError, FileNotFoundError, FileExistsError, OSError, ImportError) as error:
        print(f"skdigits {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"skdigits {args.command}: interrupted; files being written were left as they were", file=sys.stderr)
        return 130


def _make_parser():
    parser = argparse.ArgumentParser(prog="skdigits", description="Handwritten digit recognition with a scikit-learn CNN pipeline.")
    parser.add_argument("--version", action="version", version=f"skdigits {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = _add_command(commands, "demo", _demo, "train on the shipped MNIST sample, report held-out accuracy, write a submission")
    demo.add_argument("-o", "--out", default="demo-submission.csv", help="submission file for the held-out images")
    demo.add_argument("--epochs", type=int, default=None, help="override the preset's number of epochs")

    train = _add_command(commands, "train", _train, "fit a pipeline on a Kaggle train.csv and save it")
    train.add_argument("--train", required=True, help="Kaggle training CSV (label,pixel0..pixel783)")
    train.add_argument(
        "--model", required=True, help="where to write the fitted pipeline: .skdigits (safe format) or .joblib (pickle)"
    )
    train.add_argument("--epochs", type=int, default=None, help="override the preset's number of epochs")
    train.add_argument(
        "--validation-fraction", type=float, default=0.1,
        help="share of the images held out to report validation loss/accuracy per epoch (0: train on all)",
    )
    train.add_argument(
        "--checkpoint", default=None, metavar="DIR",
        help="save the training state after every epoch in DIR; rerunning the same command resumes there",
    )

    cv = _add_command(commands, "cv", _cv, "cross-validate the pipeline: stratified folds, accuracy per fold")
    cv.add_argument("--train", default=None, help="Kaggle training CSV; default: the shipped 5,000-image sample")
    cv.add_argument("--cv", type=int, default=5, help="number of stratified folds")
    cv.add_argument("--n-jobs", type=int, default=1, help="folds fitted at once, in worker processes (-1: one per core)")
    cv.add_argument("--epochs", type=int, default=None, help="override the preset's number of epochs")

    tune = _add_command(commands, "tune", _tune, "search hyperparameters with Optuna (pruning, resumable, shareable)")
    tune.add_argument("--train", default=None, help="Kaggle training CSV; default: the shipped 5,000-image sample")
    tune.add_argument("--n-trials", type=int, default=20, help="finished trials the study should hold (earlier runs count)")
    tune.add_argument("--timeout", type=float, default=None, help="stop starting trials after this many seconds")
    tune.add_argument(
        "--storage", default=None,
        help="journal file or database URL (postgresql://...); default: skdigits-study.journal here",
    )
    tune.add_argument("--study-name", default="skdigits", help="study name in the storage; reuse it to continue or share")
    tune.add_argument("--cv", type=int, default=None, help="cross-validate each trial instead of one held-out split")
    tune.add_argument("--n-jobs", type=int, default=1, help="worker processes running trials (-1: one per core)")
    tune.add_argument("--epochs", type=int, default=None, help="fix the number of epochs instead of searching it")

    evaluate = _add_command(commands, "evaluate", _evaluate, "accuracy, per-class report and confusion matrix on a labelled CSV")
    evaluate.add_argument("--model", required=True, help="fitted pipeline saved by 'skdigits train' (.skdigits or .joblib)")
    evaluate.add_argument("--data", required=True, help="labelled Kaggle-format CSV (label,pixel0..pixel783)")
    evaluate.add_argument("-o", "--out", default=None, help="also write the metrics as JSON to this file")

    report = _add_command(commands, "report", _report, "write an HTML report with plots for a model on a labelled CSV")
    report.add_argument("--model", required=True, help="fitted pipeline saved by 'skdigits train' (.skdigits or .joblib)")
    report.add_argument("--data", required=True, help="labelled Kaggle-format CSV (label,pixel0..pixel783)")
    report.add_argument("-o", "--out", default="report", help="folder for index.html and the PNG plots")

    predict = _add_command(
        commands, "predict", _predict, "predict the digit in image files (PNG, JPEG, BMP...): your own handwriting",
        trains=False,
    )
    predict.add_argument("--model", required=True, help="fitted model (.skdigits, or .joblib for files you trust)")
    predict.add_argument("images", nargs="+", metavar="IMAGE", help="image files, one digit each")
    predict.add_argument("--json", action="store_true", help="print one JSON document instead of text")
    ink = predict.add_mutually_exclusive_group()
    ink.add_argument("--dark-ink", dest="invert", action="store_const", const=True, default=None,
                     help="the digits are darker than the paper (default: decided per image from its border)")
    ink.add_argument("--light-ink", dest="invert", action="store_const", const=False,
                     help="the digits are lighter than the background, as in MNIST")

    serve = _add_command(
        commands, "serve", _serve, "serve a page to draw digits for a model, and POST /predict (needs skdigits[serve])",
        trains=False,
    )
    serve.add_argument("--model", required=True, help="fitted model (.skdigits; .joblib only with --trust-pickle)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind; 0.0.0.0 exposes the model to the network")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on")
    serve.add_argument("--trust-pickle", action="store_true",
                       help="allow a .joblib model: unpickling runs code from the file, so only for files you trust")
    serve.add_argument("--max-upload-mb", type=float, default=MAX_UPLOAD_BYTES / 2**20,
                       help="largest image upload, in megabytes")
    serve.add_argument("--max-pixels", type=int, default=MAX_SERVED_PIXELS,
                       help="largest image decoded, in pixels (checked before decoding: decompression bombs)")

    submit = _add_command(commands, "submit", _submit, "predict a Kaggle test.csv with a saved model and write a submission")
    submit.add_argument("--model", required=True, help="fitted pipeline saved by 'skdigits train' (.skdigits or .joblib)")
    submit.add_argument("--test", required=True, help="Kaggle test CSV (pixel0..pixel783)")
    submit.add_argument("-o", "--out", default="submission.csv", help="submission file to write")
    return parser


def _add_command(commands, name, handler, help_text, *, trains=True):
    command = commands.add_parser(name, help=help_text, description=help_text, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    command.set_defaults(handler=handler)
    if not trains:
        return command
    command.add_argument("-q", "--quiet", action="store_true", help="no per-epoch Keras progress output")
    command.add_argument("--seed", type=int, default=0, help="random seed for augmentation and network")
    command.add_argument(
        "--preset", default="default", choices=sorted(PRESETS),
        help="pipeline preset (skdigits.pipeline.PRESETS): 'default' is fast, 'reference' is the notebook, "
        "'accurate' the most accurate single model, 'deskewed' the same on deskewed images for 15 epochs, "
        "'strided' the same with the strided network, 'mixup' that trained on mixup",
    )
    command.add_argument(
        "--set", nargs="+", default=[], metavar="STEP__PARAM=VALUE", dest="overrides",
        help="override pipeline parameters, e.g. --set cnn__epochs=5 augment__rotation=12 cnn__ema_decay=0.999",
    )
    command.add_argument("--force", action="store_true", help="overwrite existing output files")
    return command


def _check_new_output(path, args):
    """Refuse to overwrite a file, or to write into a folder that holds files, without --force."""
    path = Path(path)
    if args.force or not path.exists() or (path.is_dir() and not any(path.iterdir())):
        return
    kind = "already exists and is not empty" if path.is_dir() else "already exists"
    raise FileExistsError(f"{path} {kind}; pass --force to overwrite it, or choose another path.")


def _save_model(pipe, path):
    from .persistence import save

    save(pipe, path)


def _load_model(path):
    from .persistence import load

    return load(path, allow_pickle=True)  # a .joblib path on the command line: the user chose a pickle


def _pipeline(args):
    from .pipeline import make_digit_pipeline

    params = {"verbose": 0 if args.quiet else 2, **parse_overrides(args.overrides)}
    if getattr(args, "epochs", None) is not None:
        params["epochs"] = args.epochs
    return make_digit_pipeline(preset=args.preset, random_state=args.seed, **params)


def _demo(args):
    from sklearn.model_selection import train_test_split

    from .datasets import load_sample
    from .submission import make_submission

    _check_new_output(args.out, args)
    X, y = load_sample()
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, stratify=y, random_state=args.seed)
    pipe = _pipeline(args)
    started = time.perf_counter()
    pipe.fit(X_train, y_train)
    seconds = time.perf_counter() - started
    accuracy = pipe.score(X_test, y_test)
    make_submission(pipe, X_test, args.out)
    print(f"trained on {len(X_train)} sample images in {seconds:.0f} s; held-out accuracy {accuracy:.4f} on {len(X_test)} images")
    print(f"wrote {args.out} ({len(X_test)} rows)")
    return 0


def _train(args):
    from .datasets import load_kaggle_train

    _check_new_output(args.model, args)
    X, y = load_kaggle_train(args.train)
    pipe = _pipeline(args)
    if args.checkpoint:
        pipe.set_params(cnn__checkpoint_dir=args.checkpoint)
    started = time.perf_counter()
    if args.validation_fraction > 0:
        from .pipeline import fit_with_validation

        fit_with_validation(pipe, X, y, validation_fraction=args.validation_fraction, random_state=args.seed)
    else:
        pipe.fit(X, y)
    _save_model(pipe.set_params(cnn__checkpoint_dir=None), args.model)
    print(f"trained on {len(X)} images in {time.perf_counter() - started:.0f} s; wrote {args.model}")
    return 0


def _training_data(args):
    from .datasets import load_kaggle_train, load_sample

    return load_sample() if args.train is None else load_kaggle_train(args.train)


def _cv(args):
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    X, y = _training_data(args)
    pipe = _pipeline(args)
    folds = StratifiedKFold(args.cv, shuffle=True, random_state=args.seed)
    started = time.perf_counter()
    scores = cross_val_score(pipe, X, y, cv=folds, n_jobs=args.n_jobs)
    print("fold accuracy: " + " ".join(f"{score:.4f}" for score in scores))
    print(
        f"{args.cv}-fold accuracy {scores.mean():.4f} +/- {scores.std():.4f} on {len(X)} images "
        f"in {time.perf_counter() - started:.0f} s (n_jobs={args.n_jobs})"
    )
    return 0


def _tune(args):
    import optuna

    from .tuning import DEFAULT_STORAGE, tune

    X, y = _training_data(args)
    if args.quiet or args.n_jobs == 1:  # the progress bar shows each trial's result
        optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = tune(
        X, y,
        n_trials=args.n_trials, timeout=args.timeout, storage=args.storage, study_name=args.study_name,
        cv=args.cv, n_jobs=args.n_jobs, random_state=args.seed, preset=args.preset,
        params={**parse_overrides(args.overrides), **({} if args.epochs is None else {"epochs": args.epochs})},
        show_progress_bar=not args.quiet and args.n_jobs == 1,
    )
    print(_study_summary(study, args.storage or DEFAULT_STORAGE))
    return 0


def _study_summary(study, storage):
    from optuna.trial import TrialState

    counts = {state: len(study.get_trials(deepcopy=False, states=(state,))) for state in TrialState}
    states = ", ".join(f"{n} {state.name.lower()}" for state, n in counts.items() if n)
    lines = [f"study {study.study_name!r}: {len(study.trials)} trials ({states})"]
    if counts[TrialState.COMPLETE]:
        best = study.best_trial
        lines.append(f"best trial #{best.number}: accuracy {best.value:.4f}")
        lines += [f"  {name} = {value}" for name, value in best.user_attrs["pipeline_params"].items()]
    lines.append(f"stored in {storage}; rerun the same command to continue it, or run it elsewhere to share the work")
    lines.append(f"look at it with: pip install optuna-dashboard && optuna-dashboard {storage}")
    lines.append("in Python: skdigits.tuning.best_pipeline(optuna.load_study(...)) gives the best pipeline, unfitted")
    return "\n".join(lines)


def _evaluate(args):
    import json

    from sklearn.metrics import confusion_matrix

    from ._io import atomic_path
    from .datasets import load_kaggle_train
    from .report import evaluate

    if args.out:
        _check_new_output(args.out, args)
    pipe = _load_model(args.model)
    X, y = load_kaggle_train(args.data)
    result = evaluate(pipe, X, y)
    print(f"accuracy {result['accuracy']:.4f} on {len(X)} images from {args.data}\n")
    print(result["report"])
    labels = list(pipe.classes_)
    print("confusion matrix (rows: true, columns: predicted)")
    print("     " + "".join(f"{label:>6}" for label in labels))
    for label, row in zip(labels, confusion_matrix(y, result["y_pred"], labels=labels)):
        print(f"{label:>5}" + "".join(f"{count:6d}" for count in row))
    if args.out:
        metrics = {"accuracy": result["accuracy"], "n_images": len(X), "per_class": result["per_class"]}
        with atomic_path(args.out) as tmp:
            tmp.write_text(json.dumps(metrics, indent=2, default=str))
        print(f"\nwrote {args.out}")
    return 0


def _report(args):
    from .datasets import load_kaggle_train
    from .report import write_report

    out = Path(args.out)
    _check_new_output(out, args)
    pipe = _load_model(args.model)
    X, y = load_kaggle_train(args.data)
    files = write_report(pipe, X, y, out)
    print(f"wrote {len(files)} files to {out}/: " + ", ".join(f.name for f in files))
    print(f"open {out / 'index.html'} in a browser")
    return 0


def _predict(args):
    import json

    import numpy as np

    from .datasets import load_images
    from .serve import describe_prediction

    model = _load_model(args.model)
    rows, names, failures = [], [], []
    for path in args.images:
        try:
            rows.append(load_images([path], invert=args.invert)[0])
            names.append(path)
        except (ValueError, FileNotFoundError) as error:
            failures.append({"file": path, "error": str(error)})
            if not args.json:
                print(f"skdigits predict: error: {error}", file=sys.stderr)
    results = []
    if rows:
        classes = model.classes_
        results = [{"file": name, **describe_prediction(classes, row)}
                   for name, row in zip(names, model.predict_proba(np.stack(rows)))]
    if args.json:
        print(json.dumps({"predictions": results, "errors": failures}, indent=1))
    else:
        for result in results:
            top = ", ".join(f"{guess['label']}: {guess['probability']:.3f}" for guess in result["top3"])
            print(f"{result['file']}: {result['label']}  ({top})")
    return 1 if failures else 0


def _serve(args):
    from .persistence import load, model_format

    try:
        from .serve import run_server
        import starlette, uvicorn  # noqa: F401, E401  (fail here, before the model loads, if the extra is missing)
    except ImportError as missing:
        raise ImportError(
            f"skdigits serve needs Starlette and uvicorn ({missing}); install them with: pip install 'skdigits[serve]'"
        ) from None
    if model_format(args.model) == "joblib" and not args.trust_pickle:
        raise ValueError(
            f"{args.model} is a pickle (joblib) file, and unpickling runs code from the file; pass --trust-pickle "
            "only for a file you trust, or save the model as .skdigits (skdigits train -o model.skdigits)."
        )
    model = load(args.model, allow_pickle=args.trust_pickle)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"skdigits serve: warning: binding {args.host}: other machines can reach this model", file=sys.stderr)
    print(f"skdigits serve: {args.model} at http://{args.host}:{args.port}/ (Ctrl-C to stop)", flush=True)
    try:
        run_server(model, host=args.host, port=args.port, max_upload_bytes=round(args.max_upload_mb * 2**20),
                   max_pixels=args.max_pixels)
    except KeyboardInterrupt:  # uvicorn hands a handled SIGTERM back to the handler that was there before
        pass
    print("skdigits serve: stopped", flush=True)
    return 0


def _submit(args):
    from .submission import make_submission

    _check_new_output(args.out, args)
    pipe = _load_model(args.model)
    submission = make_submission(pipe, args.test, args.out)
    print(f"wrote {args.out} ({len(submission)} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
