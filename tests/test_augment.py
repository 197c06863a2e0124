import numpy as np
import pytest
import tensorflow as tf

from skdigits import AugmentingResampler
from skdigits.augment import fresh_copies_dataset, random_affine, shifted_copies, transform_images


@pytest.fixture
def bar():
    images = np.zeros((1, 28, 28, 1), dtype=np.float32)
    images[0, 5:23, 12:16] = 1.0
    return images


def test_random_affine_with_zero_ranges_is_identity(sample):
    images = sample[0][:50].reshape(-1, 28, 28, 1) / 255
    np.testing.assert_allclose(random_affine(images, rotation=0, zoom=0, shift=0), images, atol=1e-6)


def _orientation_degrees(image):
    """Counter-clockwise angle of an image's principal axis from the vertical, from its second moments."""
    rows, cols = np.mgrid[: image.shape[0], : image.shape[1]]
    weights = image / image.sum()
    dy, dx = rows - (weights * rows).sum(), cols - (weights * cols).sum()
    cov_yy, cov_xx, cov_xy = (weights * dy * dy).sum(), (weights * dx * dx).sum(), (weights * dy * dx).sum()
    # a vertical bar is 0; a counter-clockwise turn tilts its top to the left (dx < 0 where dy < 0)
    return np.degrees(0.5 * np.arctan2(2 * cov_xy, cov_yy - cov_xx))


def _centre_of_mass(image):
    rows, cols = np.mgrid[: image.shape[0], : image.shape[1]]
    return np.array([(image * rows).sum(), (image * cols).sum()]) / image.sum()


def _transform(images, angle=0.0, zoom=1.0, shift_y=0.0, shift_x=0.0):
    n = len(images)
    params = [np.full(n, value, np.float32) for value in (angle, zoom, zoom, shift_y, shift_x)]
    return np.asarray(transform_images(images, *params))


@pytest.mark.parametrize("angle", [-30.0, -10.0, 5.0, 20.0, 90.0])
def test_transform_rotates_by_the_angle_in_degrees(bar, angle):
    rotated = _transform(bar, angle=angle)[0, :, :, 0]
    measured = _orientation_degrees(rotated)
    assert abs(((measured - angle) + 90) % 180 - 90) < 1.0, measured


def test_transform_shift_is_a_fraction_of_the_image_size(bar):
    shifted = _transform(bar, shift_y=0.1, shift_x=-3 / 28)[0, :, :, 0]
    np.testing.assert_allclose(_centre_of_mass(shifted) - _centre_of_mass(bar[0, :, :, 0]), [-2.8, 3.0], atol=0.05)
    np.testing.assert_array_equal(shifted[:15].sum(axis=0)[:15], 0)


def test_transform_zoom_above_one_shrinks_the_digit(bar):
    shrunk = _transform(bar, zoom=1.25)[0, :, :, 0]
    rows = np.nonzero(shrunk.sum(axis=1) > 0.5)[0]
    # 18 rows of ink sampled at 1.25x spacing cover about 18 / 1.25 rows
    assert abs(len(rows) - 18 / 1.25) <= 1.5


def test_random_affine_angles_cover_the_rotation_range(bar):
    images = np.repeat(bar, 400, axis=0)
    angles = np.array([_orientation_degrees(image[:, :, 0]) for image in random_affine(images, zoom=0, shift=0, rotation=15, random_state=0)])
    assert np.abs(angles).max() < 15.5
    assert np.abs(angles).max() > 13.5 and 6.5 < np.abs(angles).mean() < 8.5  # uniform on [-15, 15]: mean |angle| 7.5


def test_random_affine_shifts_cover_the_shift_range(bar):
    images = np.repeat(bar, 400, axis=0)
    moved = np.array([_centre_of_mass(image[:, :, 0]) for image in random_affine(images, rotation=0, zoom=0, shift=0.1, random_state=0)])
    offsets = moved - _centre_of_mass(bar[0, :, :, 0])
    assert np.abs(offsets).max() < 2.8 + 0.05 and np.abs(offsets).max() > 2.5


def test_random_affine_keeps_shape_and_mass_within_ranges(sample):
    images = sample[0][:200].reshape(-1, 28, 28, 1) / 255
    out = random_affine(images, random_state=0)
    assert out.shape == images.shape and out.dtype == np.float32
    assert 0 <= out.min() and out.max() <= 1 + 1e-6
    ratio = out.sum(axis=(1, 2, 3)) / images.sum(axis=(1, 2, 3))
    # zoom of at most 10% per axis changes the ink by at most about 21%
    assert 0.75 < ratio.min() and ratio.max() < 1.3
    assert not np.allclose(out, images)


def test_random_affine_is_reproducible_with_random_state(sample):
    images = sample[0][:20].reshape(-1, 28, 28, 1) / 255
    np.testing.assert_array_equal(random_affine(images, random_state=3), random_affine(images, random_state=3))
    assert not np.array_equal(random_affine(images, random_state=3), random_affine(images, random_state=4))


def _moved_by_slicing(images, down, right):
    moved = np.zeros_like(images)
    height, width = images.shape[1:3]
    moved[:, max(down, 0) : height + min(down, 0), max(right, 0) : width + min(right, 0)] = images[
        :, max(-down, 0) : height + min(-down, 0), max(-right, 0) : width + min(-right, 0)
    ]
    return moved


@pytest.mark.parametrize("shape", [(5, 28, 28, 1), (5, 784)])
def test_shifted_copies_move_by_whole_pixels_and_fill_with_zeros(sample, shape):
    images = (sample[0][:5] / np.float32(255)).reshape(shape)
    offsets = [(0, 1), (0, -1), (2, 0), (-1, 3)]
    for copy, (down, right) in zip(shifted_copies(images, offsets), offsets, strict=True):
        assert copy.shape == images.shape
        expected = _moved_by_slicing(images.reshape(5, 28, 28, 1), down, right).reshape(shape)
        np.testing.assert_allclose(copy, expected, atol=1e-6)


def test_resampler_adds_copies_and_repeats_labels(sample):
    X = (sample[0][:30].reshape(-1, 28, 28, 1) / 255).astype(np.float32)
    y = sample[1][:30]
    X_res, y_res = AugmentingResampler(n_copies=2, random_state=0).fit_resample(X, y)
    assert X_res.shape == (90, 28, 28, 1)
    np.testing.assert_array_equal(X_res[:30], X)
    np.testing.assert_array_equal(y_res, np.tile(y, 3))
    assert not np.allclose(X_res[30:60], X)


def test_resampler_without_originals_returns_only_augmented(sample):
    X = (sample[0][:10].reshape(-1, 28, 28, 1) / 255).astype(np.float32)
    X_res, _ = AugmentingResampler(n_copies=1, keep_original=False, random_state=0).fit_resample(X, sample[1][:10])
    assert X_res.shape == X.shape and not np.allclose(X_res, X)


def test_resampler_accepts_flat_rows(sample):
    X = sample[0][:10] / 255
    X_res, _ = AugmentingResampler(random_state=0).fit_resample(X, sample[1][:10])
    assert X_res.shape == (20, 784)


def test_resampler_refuses_to_return_nothing(sample):
    with pytest.raises(ValueError, match="n_copies=0 with keep_original=False would return no images"):
        AugmentingResampler(n_copies=0, keep_original=False).fit_resample(sample[0][:10], sample[1][:10])


def test_resampler_validates_ranges(sample):
    with pytest.raises(ValueError, match="The 'zoom' parameter of AugmentingResampler must be a float in the range"):
        AugmentingResampler(zoom=1.5).fit_resample(sample[0][:10], sample[1][:10])


def test_random_affine_warps_whole_chunks_not_single_images(monkeypatch):
    import skdigits.augment as augment

    calls = []
    original = augment.transform_images

    def counting(images, *args):
        calls.append(len(images))
        return original(images, *args)

    monkeypatch.setattr(augment, "transform_images", counting)
    random_affine(np.zeros((9000, 28, 28, 1), np.float32), random_state=0)
    assert calls == [4096, 4096, 808]


def _epoch(dataset):
    batches = list(dataset)
    return np.concatenate([batch[0].numpy() for batch in batches]), np.concatenate([batch[1].numpy() for batch in batches])


def test_per_epoch_resampler_marks_the_unchanged_images(sample):
    X = (sample[0][:30].reshape(-1, 28, 28, 1) / 255).astype(np.float32)
    X_res, y_res = AugmentingResampler(n_copies=2, per_epoch=True, rotation=12, random_state=0).fit_resample(X, sample[1][:30])
    np.testing.assert_array_equal(X_res, X)
    np.testing.assert_array_equal(y_res, sample[1][:30])
    assert {k: X_res.augmentation[k] for k in ("rotation", "n_copies", "keep_original")} == {
        "rotation": 12.0, "n_copies": 2, "keep_original": True}


def test_fresh_copies_change_between_epochs_and_keep_the_originals(sample):
    X = (sample[0][:40].reshape(-1, 28, 28, 1) / 255).astype(np.float32)
    y = np.arange(40)  # a unique label finds each image's source
    spec = dict(rotation=10.0, zoom=0.1, shift=0.1, n_copies=1, keep_original=True, seed=0)
    epoch = tf.Variable(0)
    dataset = fresh_copies_dataset(X, y, None, spec, batch_size=16, epoch=epoch)
    first, labels1 = _epoch(dataset)
    epoch.assign(1)
    second, labels2 = _epoch(dataset)
    assert len(first) == 80 and sorted(labels1) == sorted(np.repeat(y, 2))
    assert not np.array_equal(labels1, labels2)  # reshuffled

    def split(images, labels):
        # per label: the copy equal to the original, and the transformed one
        originals, copies = {}, {}
        for image, label in zip(images, labels):
            (originals if np.array_equal(image, X[label]) else copies)[label] = image
        return originals, copies

    originals1, copies1 = split(first, labels1)
    originals2, copies2 = split(second, labels2)
    assert len(originals1) == len(originals2) == 40 and len(copies1) == len(copies2) == 40
    assert all(not np.allclose(copies1[label], copies2[label]) for label in y)


def test_an_epoch_draws_the_same_copies_whatever_came_before(sample):
    # what lets a fit resumed at epoch 2 train on the images an uninterrupted fit would
    X = (sample[0][:20].reshape(-1, 28, 28, 1) / 255).astype(np.float32)
    spec = {"rotation": 10.0, "zoom": 0.1, "shift": 0.1, "n_copies": 1, "keep_original": True, "seed": 3}
    epoch = tf.Variable(0)
    dataset = fresh_copies_dataset(X, np.arange(20), None, spec, batch_size=8, epoch=epoch)
    passes = []
    for number in range(3):
        epoch.assign(number)
        passes.append(_epoch(dataset))
    resumed = _epoch(fresh_copies_dataset(X, np.arange(20), None, spec, batch_size=8, epoch=2))
    np.testing.assert_array_equal(resumed[0], passes[2][0])
    np.testing.assert_array_equal(resumed[1], passes[2][1])
    assert not np.array_equal(passes[1][1], passes[2][1])


def test_fresh_copies_are_reproducible_from_the_seed(sample):
    X = (sample[0][:20].reshape(-1, 28, 28, 1) / 255).astype(np.float32)
    spec = dict(rotation=10.0, zoom=0.1, shift=0.1, n_copies=1, keep_original=False, seed=3)
    first = _epoch(fresh_copies_dataset(X, np.arange(20), None, spec, batch_size=8))
    again = _epoch(fresh_copies_dataset(X, np.arange(20), None, spec, batch_size=8))
    np.testing.assert_array_equal(first[0], again[0])
    assert len(first[0]) == 20 and not any(np.array_equal(image, X[label]) for image, label in zip(*first))


def test_mixup_blends_each_image_and_target_with_its_batch_neighbour(sample):
    X = (sample[0][:20].reshape(-1, 28, 28, 1) / 255).astype(np.float32)
    one_hot = np.eye(20, dtype=np.float32)  # a unique class finds each image's source
    spec = {"rotation": 0.0, "zoom": 0.0, "shift": 0.0, "n_copies": 0, "keep_original": True, "seed": 0}
    plain_images, plain_targets = _epoch(fresh_copies_dataset(X, one_hot, None, spec, batch_size=10))
    images, targets = _epoch(fresh_copies_dataset(X, one_hot, None, spec, batch_size=10, mixup=0.2))
    np.testing.assert_array_equal(plain_images, X[plain_targets.argmax(axis=1)])  # without mixup, whole images
    np.testing.assert_allclose(targets.sum(axis=1), 1, rtol=1e-6)
    np.testing.assert_allclose(images, np.einsum("nk,khwc->nhwc", targets, X), atol=1e-5)  # images mix as targets do
    for batch in (slice(0, 10), slice(10, 20)):  # each image's partner is the one before it in its batch
        main = plain_targets[batch].argmax(axis=1)
        np.testing.assert_allclose(targets[batch][np.arange(10), main] + targets[batch][np.arange(10), np.roll(main, 1)], 1,
                                   rtol=1e-6)
    weights = targets.max(axis=1)
    assert (weights < 0.99).any()  # some images are mixed
