import numpy as np
import pytest

from skdigits import AugmentingResampler
from skdigits.augment import _warp_bilinear, random_affine


@pytest.fixture
def bar():
    images = np.zeros((1, 28, 28, 1), dtype=np.float32)
    images[0, 5:23, 12:16] = 1.0
    return images


def test_random_affine_with_zero_ranges_is_identity(sample):
    images = sample[0][:50].reshape(-1, 28, 28, 1) / 255
    np.testing.assert_allclose(random_affine(images, rotation=0, zoom=0, shift=0), images, atol=1e-6)


def test_warp_rotates_a_vertical_bar_to_horizontal(bar):
    quarter_turn = np.array([[[0, 1], [-1, 0]]], dtype=np.float32)
    rotated = _warp_bilinear(bar, quarter_turn, np.zeros((1, 2), np.float32))[0, :, :, 0]
    assert set(np.nonzero(rotated.sum(axis=1))[0]) == set(range(12, 16))
    assert set(np.nonzero(rotated.sum(axis=0))[0]) == set(range(5, 23))


def test_warp_shift_moves_pixels_and_fills_background(bar):
    identity = np.eye(2, dtype=np.float32)[None]
    shifted = _warp_bilinear(bar, identity, np.array([[0.0, -3.0]], np.float32))[0, :, :, 0]
    np.testing.assert_array_equal(shifted[:, 15:19], bar[0, :, 12:16, 0])
    assert shifted[:, :15].sum() == 0


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
    original = augment._warp_bilinear

    def counting(images, *args):
        calls.append(len(images))
        return original(images, *args)

    monkeypatch.setattr(augment, "_warp_bilinear", counting)
    random_affine(np.zeros((5000, 28, 28, 1), np.float32), random_state=0)
    assert calls == [2048, 2048, 904]
