"""The ``skdigits`` command line."""

import argparse
import sys
import time
from pathlib import Path

from . import __version__
from ._io import sigterm_as_keyboard_interrupt


def main(argv=None) -> int:
    """Run the ``skdigits`` command line; return the exit code."""
    parser = _make_parser()
    args = parser.parse_args(argv)
    try:
        with sigterm_as_keyboard_interrupt():
            return args.handler(args)
    except (ValueError, FileNotFoundError, FileExistsError, OSError) as error:
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
        "--checkpoint", default=None, metavar="DIR",
        help="save the training state after every epoch in DIR; rerunning the same command resumes there",
    )

    submit = _add_command(commands, "submit", _submit, "predict a Kaggle test.csv with a saved model and write a submission")
    submit.add_argument("--model", required=True, help="fitted pipeline saved by 'skdigits train' (.skdigits or .joblib)")
    submit.add_argument("--test", required=True, help="Kaggle test CSV (pixel0..pixel783)")
    submit.add_argument("-o", "--out", default="submission.csv", help="submission file to write")
    return parser


def _add_command(commands, name, handler, help_text):
    command = commands.add_parser(name, help=help_text, description=help_text, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    command.set_defaults(handler=handler)
    command.add_argument("-q", "--quiet", action="store_true", help="no per-epoch Keras progress output")
    command.add_argument("--seed", type=int, default=0, help="random seed for augmentation and network")
    command.add_argument("--preset", default="default", help="pipeline preset (default, reference)")
    command.add_argument("--force", action="store_true", help="overwrite existing output files")
    return command


def _check_new_output(path, args):
    if Path(path).exists() and not args.force:
        raise FileExistsError(f"{path} already exists; pass --force to overwrite it, or choose another path.")


def _save_model(pipe, path):
    from ._io import atomic_path
    from .persistence import save

    if Path(path).suffix in (".joblib", ".pkl"):
        import joblib

        with atomic_path(path) as tmp:
            joblib.dump(pipe, tmp)
    else:
        save(pipe, path)


def _load_model(path):
    from .persistence import load

    if Path(path).suffix in (".joblib", ".pkl"):
        import joblib

        if not Path(path).is_file():
            raise FileNotFoundError(f"{path} does not exist; check the path to the model file.")
        return joblib.load(path)  # pickle: the user chose it for a file they trust
    return load(path)


def _pipeline(args):
    from .pipeline import make_digit_pipeline

    params = {"verbose": 0 if args.quiet else 2}
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
    pipe.fit(X, y)
    _save_model(pipe.set_params(cnn__checkpoint_dir=None), args.model)
    print(f"trained on {len(X)} images in {time.perf_counter() - started:.0f} s; wrote {args.model}")
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
