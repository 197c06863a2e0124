"""Saving and loading fitted skdigits estimators without pickle.

A model file is a zip archive holding:

``manifest.json``
    The format version, the library versions that wrote it, and the
    estimator as a tree of ``{"class", "params", "fitted"}`` entries, where
    "class" names one of the classes in [`SAFE_CLASSES`][skdigits.persistence.SAFE_CLASSES] and params and
    fitted attributes are plain JSON.
``cnn-<n>.weights.h5``
    The network weights of each [`DigitCNNClassifier`][skdigits.model.DigitCNNClassifier], as
    written by Keras' ``save_weights``. The architecture is never read from
    the file: ``load`` rebuilds it from the parameters.
``SHA256SUMS``
    The SHA-256 of every other member, checked before anything is used.

``load`` creates objects of known skdigits and scikit-learn classes only and
reads nothing but JSON and HDF5 arrays, so a crafted file cannot run code.
The checksums detect damage (a truncated download, an edited file); they do
not authenticate the author.
"""

import hashlib
import inspect
import json
import re
import tempfile
import warnings
import zipfile
from pathlib import Path

import numpy as np
import sklearn
from imblearn.pipeline import Pipeline
from sklearn.base import clone
from sklearn.ensemble import VotingClassifier
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import Bunch
from sklearn.utils.validation import check_is_fitted

from ._io import atomic_path
from .augment import AugmentingResampler
from .ensemble import RandomSubsampler
from .model import DigitCNNClassifier
from .preprocessing import ImageReshaper, PixelScaler

__all__ = ["FORMAT_VERSION", "ModelFileError", "VersionMismatchWarning", "load", "model_format", "save"]

FORMAT = "skdigits-model"
FORMAT_VERSION = 1

SAFE_CLASSES = {
    cls.__name__: cls
    for cls in (
        Pipeline, PixelScaler, ImageReshaper, AugmentingResampler, RandomSubsampler, DigitCNNClassifier, VotingClassifier
    )
}
"""The only classes ``load`` will create, by the name stored in the manifest."""

#: Largest unpacked size of each member ``save`` writes, by name; each network's
#: ``cnn-<n>.weights.h5`` may hold WEIGHTS_LIMIT.
MEMBER_LIMITS = {"manifest.json": 16 * 2**20, "SHA256SUMS": 2**16}
WEIGHTS_LIMIT = 512 * 2**20
MAX_MEMBERS = 258  # the manifest, the checksums and up to 256 networks
MAX_TOTAL_SIZE = 2 * 2**30
MAX_COMPRESSION_RATIO = 100  # for members over 1 MB: weights barely compress, JSON about 10x
MAX_NESTING = 100  # manifest depth; a real one is under 20 deep
_WEIGHTS_NAME = re.compile(r"cnn-[0-9]{1,3}\.weights\.h5")

# Parameters that may hold code (a model-building function, callback objects);
# a saved model must have them unset.
_CODE_PARAMS = ("model", "build_fn", "callbacks")


class ModelFileError(ValueError):
    """A model file is damaged, tampered with, or not a skdigits model file."""


class VersionMismatchWarning(UserWarning):
    """A model file was written by other versions of skdigits or its libraries."""


def save(estimator, path, *, format=None):
    """Save a fitted skdigits pipeline or classifier to `path`.

    The file is written to a temporary name and renamed into place, so an
    interrupted save leaves the previous file (if any) untouched.

    Parameters
    ----------
    estimator : Pipeline, DigitCNNClassifier or VotingClassifier
        A fitted estimator made of skdigits steps, for example the result of
        ``make_digit_pipeline().fit(X, y)`` or ``make_ensemble().fit(X, y)``.
    path : str or path-like
        Where to write the model file.
    format : {"skdigits", "joblib"} or None, default=None
        "skdigits": the safe format described above. "joblib": a pickle,
        for estimators the safe format cannot hold. None: "joblib" for the
        suffixes ``.joblib``, ``.pkl`` and ``.pickle``, otherwise "skdigits".

    Raises
    ------
    TypeError
        If the estimator contains a class or a parameter value (a callback,
        a custom model function) that the format cannot hold.

    Examples
    --------
    >>> import os, tempfile
    >>> import skdigits
    >>> from skdigits.datasets import load_sample
    >>> X, y = load_sample()
    >>> pipe = skdigits.make_digit_pipeline(filters=(4,), dense_units=(8,), epochs=1, random_state=0)
    >>> path = os.path.join(tempfile.mkdtemp(), "model.skdigits")
    >>> skdigits.save(pipe.fit(X[:200], y[:200]), path)
    >>> (skdigits.load(path).predict(X[:5]) == pipe.predict(X[:5])).all()
    np.True_
    """
    check_is_fitted(estimator)
    path = Path(path)
    if model_format(path, format) == "joblib":
        import joblib

        with atomic_path(path) as tmp:
            joblib.dump(estimator, tmp)
        return
    with tempfile.TemporaryDirectory() as workdir:
        weights = {}
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "versions": _library_versions(),
            "estimator": _describe(estimator, weights, Path(workdir)),
        }
        members = {"manifest.json": json.dumps(manifest, indent=1).encode()}
        members.update({name: file.read_bytes() for name, file in weights.items()})
        members["SHA256SUMS"] = "".join(f"{_sha256(data)}  {name}\n" for name, data in members.items()).encode()
        with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, data in members.items():
                archive.writestr(name, data)


def load(path, *, format=None, allow_pickle=False):
    """Load an estimator written by [`save`][skdigits.persistence.save].

    Parameters
    ----------
    path : str or path-like
        A model file written by [`save`][skdigits.persistence.save].
    format : {"skdigits", "joblib"} or None, default=None
        As for [`save`][skdigits.persistence.save]: None chooses by the file's suffix.
    allow_pickle : bool, default=False
        Required for the "joblib" format: unpickling runs code from the
        file, so load only pickles you trust.

    Returns
    -------
    estimator : Pipeline, DigitCNNClassifier or VotingClassifier
        The fitted estimator, ready to ``predict``.

    Raises
    ------
    FileNotFoundError
        If `path` does not exist.
    ModelFileError
        If the file is not a skdigits model file, is truncated, fails its
        checksums, was written by a newer format, or names a class or
        parameter that skdigits does not load; or if it is a pickle and
        `allow_pickle` is False, or a pickle that cannot be loaded.

    Warns
    -----
    VersionMismatchWarning
        If the file was written with other versions of skdigits, Keras,
        TensorFlow or scikit-learn; predictions may differ slightly.

    Examples
    --------
    See [`save`][skdigits.persistence.save].
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist; check the path to the model file.")
    if model_format(path, format) == "joblib":
        return _load_pickle(path, allow_pickle)
    members = _read_members(path)
    manifest = _read_manifest(path, members)
    _warn_on_version_mismatch(path, manifest.get("versions"))
    with tempfile.TemporaryDirectory() as workdir:
        try:
            return _rebuild(path, manifest["estimator"], members, Path(workdir))
        except (TypeError, ValueError, KeyError, AttributeError) as error:
            if isinstance(error, ModelFileError):
                raise
            raise ModelFileError(f"{path}: the saved estimator is malformed ({error}); refusing to load.") from None


PICKLE_SUFFIXES = (".joblib", ".pkl", ".pickle")


def model_format(path, format=None):
    """The format [`save`][skdigits.persistence.save] and [`load`][skdigits.persistence.load] use for `path`: `format`, else chosen by suffix.

    Examples
    --------
    >>> from skdigits.persistence import model_format
    >>> model_format("model.joblib"), model_format("model.skdigits"), model_format("model.bin")
    ('joblib', 'skdigits', 'skdigits')
    """
    if format is None:
        return "joblib" if Path(path).suffix.lower() in PICKLE_SUFFIXES else "skdigits"
    if format not in ("skdigits", "joblib"):
        raise ValueError(f"format={format!r} is unknown; expected 'skdigits' (the safe format), 'joblib' or None.")
    return format


def _load_pickle(path, allow_pickle):
    if not allow_pickle:
        raise ModelFileError(
            f"{path} is a pickle (joblib) file, and unpickling runs code from the file. Pass allow_pickle=True "
            "only for a file you trust, or save the model in the safe format (.skdigits)."
        )
    import joblib

    try:
        return joblib.load(path)
    except Exception as error:  # unpickling fails in many ways: name them all in one line
        raise ModelFileError(
            f"{path} could not be loaded with joblib ({type(error).__name__}: {error}); was it saved by "
            "another version of skdigits or scikit-learn? Save it again, or use the .skdigits format."
        ) from None


def _library_versions():
    import keras
    import tensorflow

    from . import __version__

    return {
        "skdigits": __version__,
        "keras": keras.__version__,
        "tensorflow": tensorflow.__version__,
        "scikit-learn": sklearn.__version__,
    }


def _sha256(data):
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------- writing


def _describe(estimator, weights, workdir):
    name = type(estimator).__name__
    if SAFE_CLASSES.get(name) is not type(estimator):
        raise TypeError(
            f"skdigits.save cannot store a {type(estimator).__module__}.{name}; it stores pipelines of "
            f"{', '.join(sorted(SAFE_CLASSES))}. Use joblib.dump for other estimators."
        )
    params = estimator.get_params(deep=False)
    entry = {"class": name}
    if isinstance(estimator, Pipeline):
        entry["steps"] = [[step, _describe(step_estimator, weights, workdir)] for step, step_estimator in params.pop("steps")]
        entry["params"] = _encode(params, f"{name} parameters")
        return entry
    if isinstance(estimator, VotingClassifier):
        # the fitted members only: on loading, `estimators` gets unfitted clones of them
        names = [member for member, _ in params.pop("estimators")]
        entry["members"] = [
            [member, _describe(fitted, weights, workdir)] for member, fitted in zip(names, estimator.estimators_)
        ]
        entry["params"] = _encode(params, f"{name} parameters")
        entry["fitted"] = _encode({"classes_": estimator.classes_}, f"fitted {name}")
        return entry
    for key in _CODE_PARAMS:
        if params.get(key) is not None:
            raise TypeError(
                f"skdigits.save cannot store {name}({key}={params[key]!r}): it may hold code. "
                f"Set {key}=None before saving (pass callbacks to fit instead), or use joblib.dump."
            )
    entry["params"] = _encode(params, f"{name} parameters")
    if isinstance(estimator, DigitCNNClassifier):
        weights_name = f"cnn-{len(weights)}.weights.h5"
        estimator.model_.save_weights(workdir / weights_name)
        weights[weights_name] = workdir / weights_name
        entry["weights"] = weights_name
        fitted = {
            "classes_": estimator.classes_,
            "X_shape_": estimator.X_shape_,
            "history_": estimator.history_,
            # unset after partial_fit alone, or in a model loaded from an older file
            "augmentation_": getattr(estimator, "augmentation_", None),
            "batch_size_": getattr(estimator, "batch_size_", None),
        }
    else:
        fitted = {key: value for key, value in vars(estimator).items() if key.endswith("_") and not key.startswith("_")}
    entry["fitted"] = _encode(fitted, f"fitted {name}")
    return entry


def _encode(value, what):
    """JSON-ready form of `value`; tuples and arrays are tagged to come back as such."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, tuple):
        return {"__tuple__": [_encode(item, what) for item in value]}
    if isinstance(value, list):
        return [_encode(item, what) for item in value]
    if isinstance(value, dict) and all(isinstance(key, str) for key in value):
        return {key: _encode(item, what) for key, item in value.items()}
    if isinstance(value, np.ndarray) and value.dtype.kind in "biufUO":
        return {"__ndarray__": [_encode(item, what) for item in value.tolist()], "dtype": value.dtype.str}
    raise TypeError(
        f"skdigits.save cannot store {value!r} in the {what}: the format holds numbers, strings, "
        "booleans, None, lists, tuples, dicts and numeric or string arrays. Replace it with one of "
        "those (an int random_state, for example), or use joblib.dump."
    )


# ---------------------------------------------------------------- reading


def _read_members(path):
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            _check_member_list(path, infos)
            members = {info.filename: _read_member(path, archive, info) for info in infos}
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, NotImplementedError) as error:
        if isinstance(error, ModelFileError):
            raise
        raise ModelFileError(
            f"{path} is not a readable skdigits model file ({error}); it may be truncated or another kind "
            "of file. Save it again with skdigits.save."
        ) from None
    sums = members.pop("SHA256SUMS", None)
    if sums is None or "manifest.json" not in members:
        raise ModelFileError(f"{path} is a zip file but not a skdigits model file (no manifest.json or SHA256SUMS).")
    listed = dict(reversed(line.split("  ", 1)) for line in sums.decode(errors="replace").splitlines() if "  " in line)
    if set(listed) != set(members):
        raise ModelFileError(
            f"{path} holds members {sorted(members)} but its checksums list {sorted(listed)}; "
            "the file was modified after it was saved."
        )
    for name, data in members.items():
        if _sha256(data) != listed[name]:
            raise ModelFileError(
                f"{path}: {name} fails its SHA-256 checksum; the file was modified or damaged after it "
                "was saved. Use the original file or save the model again."
            )
    return members


def _member_limit(name):
    """The largest size member `name` may unpack to, or None if ``save`` never writes that name."""
    return WEIGHTS_LIMIT if _WEIGHTS_NAME.fullmatch(name) else MEMBER_LIMITS.get(name)


def _check_member_list(path, infos):
    """Refuse, from the zip directory alone, any file that save() could not have written."""
    if len(infos) > MAX_MEMBERS:
        raise ModelFileError(
            f"{path} holds {len(infos)} members, more than the {MAX_MEMBERS} a skdigits model file can have; "
            "refusing to read it."
        )
    names = [info.filename for info in infos]
    unexpected = sorted({name for name in names if _member_limit(name) is None})
    if unexpected or len(set(names)) != len(names):
        found = unexpected or sorted({name for name in names if names.count(name) > 1})
        raise ModelFileError(
            f"{path} holds members {found[:5]} that skdigits.save never writes (expected manifest.json, "
            "SHA256SUMS and cnn-<n>.weights.h5, each once); refusing to read it."
        )
    for info in infos:
        limit = _member_limit(info.filename)
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > limit or (info.file_size > 1_000_000 and ratio > MAX_COMPRESSION_RATIO):
            raise ModelFileError(
                f"{path}: {info.filename} would unpack to {info.file_size:,} bytes ({ratio:,.0f} times its packed "
                f"size), more than a skdigits model holds (at most {limit:,} bytes, {MAX_COMPRESSION_RATIO}x); "
                "refusing to unpack it."
            )
    total = sum(info.file_size for info in infos)
    if total > MAX_TOTAL_SIZE:
        raise ModelFileError(
            f"{path} would unpack to {total:,} bytes in all, more than the {MAX_TOTAL_SIZE:,} a skdigits model "
            "file holds; refusing to unpack it."
        )


def _read_member(path, archive, info):
    """Read one member, stopping at its size limit whatever its header declares."""
    limit = min(_member_limit(info.filename), info.file_size)
    with archive.open(info) as member:
        data = member.read(limit + 1)
    if len(data) > limit:
        raise ModelFileError(
            f"{path}: {info.filename} unpacks to more than the {info.file_size:,} bytes its header declares; "
            "the file is crafted or damaged. Refusing to read it."
        )
    return data


def _read_manifest(path, members):
    try:
        manifest = json.loads(members["manifest.json"])
    except (ValueError, RecursionError) as error:
        raise ModelFileError(f"{path}: manifest.json is not valid JSON ({type(error).__name__}: {error}).") from None
    if _nesting(manifest) > MAX_NESTING:
        raise ModelFileError(
            f"{path}: manifest.json is nested more than {MAX_NESTING} levels deep, which skdigits.save never "
            "writes; refusing to load it."
        )
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or "estimator" not in manifest:
        raise ModelFileError(f"{path} is not a skdigits model file (its manifest does not say format {FORMAT!r}).")
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path} was written in model format {version!r}, this skdigits reads format {FORMAT_VERSION} "
            "and older; upgrade skdigits to load it."
        )
    return manifest



def _nesting(value):
    """Depth of nested lists and dicts, measured without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (list, dict)):
            deepest = max(deepest, depth)
            if depth > MAX_NESTING:
                break
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest

def _warn_on_version_mismatch(path, saved):
    current = _library_versions()
    saved = saved if isinstance(saved, dict) else {}
    differ = [f"{name} {saved.get(name)} (now {version})" for name, version in current.items() if saved.get(name) != version]
    if differ:
        warnings.warn(
            f"{path} was saved with {', '.join(differ)}; predictions may differ slightly. "
            "Save the model again with the current versions to silence this warning.",
            VersionMismatchWarning,
            stacklevel=3,
        )


def _rebuild(path, entry, members, workdir):
    if not isinstance(entry, dict) or entry.get("class") not in SAFE_CLASSES:
        name = entry.get("class") if isinstance(entry, dict) else entry
        raise ModelFileError(
            f"{path} asks for class {name!r}, which skdigits does not load; it loads only "
            f"{', '.join(sorted(SAFE_CLASSES))}."
        )
    cls = SAFE_CLASSES[entry["class"]]
    params = _decode(entry.get("params", {}))
    if not isinstance(params, dict) or any(params.get(key) is not None for key in _CODE_PARAMS):
        raise ModelFileError(f"{path}: the parameters of {cls.__name__} are malformed or hold code; refusing to load.")
    if cls is Pipeline:
        steps = [(str(name), _rebuild(path, step, members, workdir)) for name, step in entry.get("steps", [])]
        return _construct(path, cls, {**params, "steps": steps})
    if cls is VotingClassifier:
        return _rebuild_voting(path, entry, params, members, workdir)
    estimator = _construct(path, cls, params)
    fitted = _decode(entry.get("fitted", {}))
    if cls is DigitCNNClassifier:
        _restore_network(path, estimator, fitted, entry.get("weights"), members, workdir)
    elif isinstance(fitted, dict) and all(_is_fitted_attribute(key) for key in fitted):
        vars(estimator).update(fitted)
    else:
        raise ModelFileError(f"{path}: the fitted state of {cls.__name__} is malformed; refusing to load.")
    return estimator


def _rebuild_voting(path, entry, params, members, workdir):
    fitted_members = [(str(name), _rebuild(path, member, members, workdir)) for name, member in entry.get("members", [])]
    if not fitted_members:
        raise ModelFileError(f"{path}: the saved VotingClassifier has no members; the file is malformed.")
    ensemble = _construct(path, VotingClassifier, {**params, "estimators": [(name, clone(member)) for name, member in fitted_members]})
    ensemble.estimators_ = [member for _, member in fitted_members]
    ensemble.named_estimators_ = Bunch(**dict(fitted_members))
    ensemble.le_ = LabelEncoder().fit(np.asarray(_decode(entry.get("fitted", {}))["classes_"]))
    ensemble.classes_ = ensemble.le_.classes_
    return ensemble


def _is_fitted_attribute(key):
    return key.endswith("_") and not key.startswith("_") and key.isidentifier()


def _construct(path, cls, params):
    valid = set(inspect.signature(cls).parameters) - {"kwargs"}
    if cls not in (Pipeline, VotingClassifier):  # these two cannot be made without their steps
        valid |= set(cls().get_params(deep=False))
    # scikeras accepts routed parameters such as optimizer__beta_1
    unknown = sorted(key for key in params if key not in valid and not (cls is DigitCNNClassifier and _is_routed(key)))
    if unknown:
        raise ModelFileError(f"{path}: {cls.__name__} has no parameter(s) {unknown}; the file is malformed.")
    try:
        return cls(**params)
    except TypeError as error:
        raise ModelFileError(f"{path}: cannot create {cls.__name__} from the saved parameters ({error}).") from None


def _is_routed(key):
    return "__" in key.strip("_") and not key.startswith("_") and not key.endswith("_")


def _restore_network(path, classifier, fitted, weights_name, members, workdir):
    if weights_name not in members or not str(weights_name).endswith(".weights.h5") or "/" in weights_name:
        raise ModelFileError(f"{path}: the network weights {weights_name!r} are missing from the file.")
    classes, input_shape = np.asarray(fitted["classes_"]), tuple(fitted["X_shape_"])[1:]
    # fitting the encoders and building the network needs only the classes and the input shape
    classifier.initialize(np.zeros((len(classes), *input_shape), dtype=np.float32), classes)
    weights_file = workdir / "weights.weights.h5"
    weights_file.write_bytes(members[weights_name])
    model = classifier.model_
    model.optimizer.build(model.trainable_variables)  # the file holds the optimizer state too
    try:
        model.load_weights(weights_file)
    except (ValueError, OSError, KeyError) as error:
        raise ModelFileError(f"{path}: the network weights do not match the saved architecture ({error}).") from None
    classifier.history_ = fitted.get("history_", {})
    classifier.X_shape_ = tuple(fitted["X_shape_"])  # initialize() set it from the placeholder rows
    # what the fit trained on; files of skdigits 0.1 lack them
    classifier.augmentation_ = fitted.get("augmentation_")
    if fitted.get("batch_size_") is not None:
        classifier.batch_size_ = fitted["batch_size_"]


def _decode(value):
    if isinstance(value, list):
        return [_decode(item) for item in value]
    if isinstance(value, dict):
        if set(value) == {"__tuple__"}:
            return tuple(_decode(item) for item in value["__tuple__"])
        if set(value) == {"__ndarray__", "dtype"}:
            dtype = np.dtype(str(value["dtype"]))
            if dtype.kind not in "biufUO":
                raise ModelFileError(f"array of dtype {dtype} is not allowed in a model file.")
            return np.asarray(_decode(value["__ndarray__"]), dtype=dtype)
        return {key: _decode(item) for key, item in value.items()}
    return value
