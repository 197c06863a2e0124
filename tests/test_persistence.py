import hashlib
import json
import pickle
import zipfile

import joblib
import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

import skdigits
from skdigits import DigitCNNClassifier, make_digit_pipeline
from skdigits.persistence import FORMAT_VERSION, ModelFileError, VersionMismatchWarning

from .conftest import TINY


@pytest.fixture(scope="module")
def fitted(small):
    X, y, _, _ = small
    return make_digit_pipeline(**TINY, random_state=0).fit(X, y)


@pytest.fixture
def saved(fitted, tmp_path):
    path = tmp_path / "model.skdigits"
    skdigits.save(fitted, path)
    return path


def _members(path):
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _write_members(path, members, *, fix_checksums=True, compression=zipfile.ZIP_STORED):
    if fix_checksums:
        members = {name: data for name, data in members.items() if name != "SHA256SUMS"}
        members["SHA256SUMS"] = "".join(
            f"{hashlib.sha256(data).hexdigest()}  {name}\n" for name, data in members.items()
        ).encode()
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _with_manifest(saved, edit):
    members = _members(saved)
    manifest = json.loads(members["manifest.json"])
    edit(manifest)
    members["manifest.json"] = json.dumps(manifest).encode()
    return _write_members(saved, members)


class _Marker:
    """Unpickling this creates a file: proof that a loader ran code from the file."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_save_load_round_trip_predicts_the_same(fitted, saved, small):
    X_new = small[2]
    loaded = skdigits.load(saved)
    np.testing.assert_array_equal(loaded.predict_proba(X_new), fitted.predict_proba(X_new))
    assert list(loaded.named_steps) == list(fitted.named_steps)
    assert loaded.get_params()["cnn__filters"] == TINY["filters"]
    assert loaded[-1].history_ == fitted[-1].history_
    assert loaded.score(small[2], small[3]) == fitted.score(small[2], small[3])


def test_round_trip_keeps_what_the_fit_trained_on(small, tmp_path):
    X, y, _, _ = small
    pipe = make_digit_pipeline(**TINY, augment__per_epoch=True, augment__rotation=12.0, random_state=0).fit(X, y)
    skdigits.save(pipe, tmp_path / "model.skdigits")
    loaded = skdigits.load(tmp_path / "model.skdigits")[-1]
    assert loaded.augmentation_ == pipe[-1].augmentation_
    assert loaded.augmentation_["rotation"] == 12.0
    assert loaded.batch_size_ == pipe[-1].batch_size_
    assert loaded.X_shape_ == pipe[-1].X_shape_ == (len(X), 28, 28, 1)


def test_a_file_without_them_loads_and_saves_again(saved, small, tmp_path):
    def drop_fit_details(manifest):  # as skdigits 0.1 wrote them
        del manifest["estimator"]["steps"][-1][1]["fitted"]["augmentation_"]
        del manifest["estimator"]["steps"][-1][1]["fitted"]["batch_size_"]

    loaded = skdigits.load(_with_manifest(saved, drop_fit_details))
    assert loaded[-1].augmentation_ is None and not hasattr(loaded[-1], "batch_size_")
    skdigits.save(loaded, tmp_path / "again.skdigits")
    again = skdigits.load(tmp_path / "again.skdigits")
    np.testing.assert_array_equal(again.predict_proba(small[2]), loaded.predict_proba(small[2]))


def test_save_load_bare_classifier(small, tmp_path):
    X, y, X_new, _ = small
    images = X.reshape(-1, 28, 28, 1).astype(np.float32) / 255
    # mixup trains on one-hot targets; the temperature tempers what predict_proba returns
    clf = DigitCNNClassifier(**TINY, mixup=0.2, temperature=0.59, random_state=0).fit(images, y)
    skdigits.save(clf, tmp_path / "clf.skdigits")
    loaded = skdigits.load(tmp_path / "clf.skdigits")
    new_images = X_new.reshape(-1, 28, 28, 1).astype(np.float32) / 255
    np.testing.assert_array_equal(loaded.predict(new_images), clf.predict(new_images))
    np.testing.assert_allclose(loaded.predict_proba(new_images), clf.predict_proba(new_images), rtol=1e-6)
    assert (loaded.mixup, loaded.temperature) == (0.2, 0.59)


def test_loaded_model_can_be_refitted_and_cloned(saved, small):
    from sklearn.base import clone

    loaded = skdigits.load(saved)
    clone(loaded).fit(small[0], small[1])


def test_save_refuses_unfitted_estimator(tmp_path):
    with pytest.raises(NotFittedError):
        skdigits.save(make_digit_pipeline(), tmp_path / "m.skdigits")


def test_save_refuses_code_in_parameters(fitted, tmp_path):
    import keras

    pipe = fitted.set_params(cnn__callbacks=[keras.callbacks.TerminateOnNaN()])
    try:
        with pytest.raises(TypeError, match=r"cannot store DigitCNNClassifier\(callbacks=.*it may hold code"):
            skdigits.save(pipe, tmp_path / "m.skdigits")
    finally:
        pipe.set_params(cnn__callbacks=None)
    assert not (tmp_path / "m.skdigits").exists()


def test_save_refuses_random_state_instance(fitted, tmp_path):
    pipe = fitted.set_params(augment__random_state=np.random.RandomState(0))
    try:
        with pytest.raises(TypeError, match="cannot store RandomState.*an int random_state"):
            skdigits.save(pipe, tmp_path / "m.skdigits")
    finally:
        pipe.set_params(augment__random_state=0)


def test_failed_save_leaves_the_previous_file(fitted, saved):
    before = saved.read_bytes()
    pipe = fitted.set_params(augment__random_state=np.random.RandomState(0))
    try:
        with pytest.raises(TypeError):
            skdigits.save(pipe, saved)
    finally:
        pipe.set_params(augment__random_state=0)
    assert saved.read_bytes() == before
    assert [p.name for p in saved.parent.iterdir()] == [saved.name]


def test_load_refuses_truncated_file(saved):
    data = saved.read_bytes()
    saved.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="is not a readable skdigits model file .*truncated"):
        skdigits.load(saved)


def test_load_refuses_tampered_member(saved):
    members = _members(saved)
    weights = next(name for name in members if name.endswith(".weights.h5"))
    data = bytearray(members[weights])
    data[-100] ^= 0xFF
    members[weights] = bytes(data)
    _write_members(saved, members, fix_checksums=False)
    with pytest.raises(ModelFileError, match=rf"{weights} fails its SHA-256 checksum; the file was modified"):
        skdigits.load(saved)


def test_load_refuses_joblib_pickle_without_running_it(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "model.skdigits"
    joblib.dump(_Marker(marker), path)
    with pytest.raises(ModelFileError, match="is not a readable skdigits model file"):
        skdigits.load(path)
    assert not marker.exists()


def test_load_refuses_unknown_class_in_crafted_file(saved, tmp_path):
    marker = tmp_path / "pwned"

    def point_to_os_system(manifest):
        manifest["estimator"]["steps"][0][1] = {"class": "os.system", "params": {"command": f"touch {marker}"}}

    with pytest.raises(ModelFileError, match="asks for class 'os.system', which skdigits does not load"):
        skdigits.load(_with_manifest(saved, point_to_os_system))
    assert not marker.exists()


@pytest.mark.parametrize("name", ["extra.pkl", "weights"])
def test_load_refuses_extra_members_without_opening_them(saved, tmp_path, name):
    marker = tmp_path / "pwned"
    members = _members(saved)
    members[name] = pickle.dumps(_Marker(marker))
    _write_members(saved, members)
    with pytest.raises(ModelFileError, match=rf"holds members \['{name}'\] that skdigits.save never writes"):
        skdigits.load(saved)
    assert not marker.exists()


def _set_declared_size(path, name, size):
    """Rewrite the size that the zip headers declare for member `name` (local header and directory)."""
    data = bytearray(path.read_bytes())
    encoded = name.encode()
    for signature, size_offset, name_offset in ((b"PK\x03\x04", 22, 30), (b"PK\x01\x02", 24, 46)):
        start = 0
        while (start := data.find(signature, start)) >= 0:
            if data[start + name_offset : start + name_offset + len(encoded)] == encoded:
                data[start + size_offset : start + size_offset + 4] = size.to_bytes(4, "little")
            start += 4
    path.write_bytes(bytes(data))


def test_load_refuses_a_member_that_declares_an_oversized_unpacked_size(saved):
    _set_declared_size(saved, "manifest.json", 2**31)  # 2 GiB, as a zip bomb declares
    with pytest.raises(ModelFileError, match=r"manifest.json would unpack to 2,147,483,648 bytes.*refusing to unpack"):
        skdigits.load(saved)


def test_load_refuses_a_highly_compressed_member(saved):
    members = _members(saved)
    weights = next(name for name in members if name.endswith(".weights.h5"))
    members[weights] = bytes(200 * 2**20)  # 200 MB of zeros pack into about 200 KB
    _write_members(saved, members, compression=zipfile.ZIP_DEFLATED)
    with pytest.raises(ModelFileError, match=rf"{weights} would unpack to 209,715,200 bytes \(1,0\d\d times"):
        skdigits.load(saved)


def test_load_stops_at_the_declared_size_when_the_header_lies(saved):
    import tracemalloc

    members = _members(saved)
    members["manifest.json"] = b" " * (64 * 2**20) + members["manifest.json"]  # 64 MB, valid JSON
    _write_members(saved, members, compression=zipfile.ZIP_DEFLATED)
    with zipfile.ZipFile(saved) as archive:
        packed = archive.getinfo("manifest.json").compress_size
    _set_declared_size(saved, "manifest.json", packed)  # claims a ratio of 1
    tracemalloc.start()
    try:
        with pytest.raises(ModelFileError, match="not a readable skdigits model file"):
            skdigits.load(saved)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2**20, f"load held {peak:,} bytes at once"


def test_load_refuses_a_file_with_too_many_members(tmp_path):
    path = tmp_path / "many.skdigits"
    with zipfile.ZipFile(path, "w") as archive:
        for index in range(1000):
            archive.writestr(f"cnn-{index}.weights.h5", b"")
    with pytest.raises(ModelFileError, match="holds 1000 members, more than the 258 a skdigits model file can have"):
        skdigits.load(path)


def test_load_refuses_a_deeply_nested_manifest_with_valid_checksums(saved):
    members = _members(saved)
    members["manifest.json"] = b"[" * 200_000 + b"]" * 200_000
    _write_members(saved, members)
    with pytest.raises(ModelFileError, match="manifest.json is not valid JSON"):
        skdigits.load(saved)


def test_load_refuses_a_manifest_nested_deeper_than_any_model(saved):
    def nest(manifest):
        deep = {}
        for _ in range(150):
            deep = {"x": deep}
        manifest["estimator"]["params"]["memory"] = deep

    with pytest.raises(ModelFileError, match="nested more than 100 levels deep"):
        skdigits.load(_with_manifest(saved, nest))


def test_load_refuses_code_parameters(saved):
    def set_model(manifest):
        manifest["estimator"]["steps"][-1][1]["params"]["model"] = "os.system"

    with pytest.raises(ModelFileError, match="parameters of DigitCNNClassifier are malformed or hold code"):
        skdigits.load(_with_manifest(saved, set_model))


def test_load_refuses_newer_format(saved):
    def bump(manifest):
        manifest["format_version"] = FORMAT_VERSION + 1

    with pytest.raises(ModelFileError, match=rf"written in model format {FORMAT_VERSION + 1}.*upgrade skdigits"):
        skdigits.load(_with_manifest(saved, bump))


def test_load_warns_on_other_library_versions(saved):
    def older(manifest):
        manifest["versions"]["keras"] = "3.0.0"

    with pytest.warns(VersionMismatchWarning, match=r"saved with keras 3.0.0 \(now .*\); predictions may differ"):
        skdigits.load(_with_manifest(saved, older))


def test_load_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.skdigits does not exist"):
        skdigits.load(tmp_path / "nope.skdigits")


@pytest.mark.parametrize(
    "name, expected", [("m.skdigits", "skdigits"), ("m.joblib", "joblib"), ("m.PKL", "joblib"), ("m.bin", "skdigits")]
)
def test_the_suffix_chooses_the_format(fitted, tmp_path, name, expected):
    from skdigits.persistence import model_format

    skdigits.save(fitted, tmp_path / name)
    assert model_format(tmp_path / name) == expected
    assert (tmp_path / name).read_bytes()[:2] == (b"PK" if expected == "skdigits" else b"\x80\x04")  # zip or pickle
    loaded = skdigits.load(tmp_path / name, allow_pickle=True)
    assert loaded.get_params()["cnn__filters"] == TINY["filters"]


def test_load_refuses_a_pickle_unless_allowed(fitted, tmp_path):
    path = tmp_path / "m.joblib"
    joblib.dump(fitted, path)
    with pytest.raises(ModelFileError, match=r"m.joblib is a pickle \(joblib\) file, and unpickling runs code.*allow_pickle=True"):
        skdigits.load(path)
    assert skdigits.load(path, allow_pickle=True).get_params()["cnn__filters"] == TINY["filters"]


def test_format_argument_overrides_the_suffix(fitted, tmp_path):
    skdigits.save(fitted, tmp_path / "model.bin", format="joblib")
    assert (tmp_path / "model.bin").read_bytes()[:1] == b"\x80"  # a pickle
    with pytest.raises(ValueError, match="format='pickle' is unknown; expected 'skdigits'"):
        skdigits.save(fitted, tmp_path / "model.bin", format="pickle")


def test_a_save_that_fails_halfway_leaves_the_previous_file_and_no_temporary(fitted, saved, monkeypatch):
    before = saved.read_bytes()
    real_writestr = zipfile.ZipFile.writestr
    written = []

    def write_one_member_then_fail(archive, name, data, *args, **kwargs):
        if written:
            raise OSError("No space left on device")
        written.append(name)
        return real_writestr(archive, name, data, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "writestr", write_one_member_then_fail)
    with pytest.raises(OSError, match="No space left on device"):
        skdigits.save(fitted, saved)
    assert written == ["manifest.json"]  # the new file was half written
    assert saved.read_bytes() == before
    assert [p.name for p in saved.parent.iterdir()] == [saved.name]
