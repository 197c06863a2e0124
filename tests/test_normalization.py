"""MNIST-style normalisation of pictures of digits (skdigits.normalization, datasets.load_images)."""

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from skdigits.datasets import MAX_IMAGE_PIXELS, load_images, read_image
from skdigits.normalization import MNISTNormalizer, normalize_digit


def _grow(image, side):
    return np.asarray(Image.fromarray(image).resize((side, side), Image.Resampling.BILINEAR))


def _off_centre(image):
    canvas = np.zeros((90, 70), np.uint8)
    canvas[6:48, 25:67] = _grow(image, 42)  # top right of a larger field
    return canvas


def _light_background(image):
    return (225 - 0.8 * _grow(image, 60).astype(float)).astype(np.uint8)  # grey ink on light paper


def _transparent(image):
    rgba = np.zeros((84, 84, 4), np.uint8)
    rgba[..., 3] = _grow(image, 84)  # black strokes on a transparent canvas
    return rgba


RENDERINGS = {
    "as is": lambda image: image,
    "4x larger": lambda image: _grow(image, 112),
    "off-centre": _off_centre,
    "inverted": lambda image: 255 - _grow(image, 56),
    "light background": _light_background,
    "transparent background": _transparent,
}


@pytest.mark.parametrize("rendering", RENDERINGS)
def test_a_rendered_mnist_digit_normalises_back_to_nearly_itself(sample, rendering):
    # tolerance: the median digit correlates at 0.93 or more with the original and
    # differs by at most 12 grey levels per pixel on average (resampling blurs
    # strokes; rendering as is gives 0.99 and 2)
    originals = sample[0][:200].reshape(-1, 28, 28)
    restored = np.stack([normalize_digit(RENDERINGS[rendering](image)) for image in originals]).astype(float)
    correlations = [np.corrcoef(a.ravel(), b.ravel())[0, 1] for a, b in zip(restored, originals)]
    assert np.median(correlations) >= 0.93
    assert np.abs(restored - originals).mean() <= 12


def test_normalised_digit_has_mnist_geometry():
    page = np.full((300, 200), 250, np.uint8)
    page[40:260, 60:90] = 10  # a tall dark bar off to the left
    digit = normalize_digit(page).astype(float)
    rows, cols = np.nonzero(digit)
    assert rows.max() - rows.min() + 1 == 20  # the longer side scaled to 20
    centre = [(digit * np.mgrid[:28, :28][axis]).sum() / digit.sum() for axis in (0, 1)]
    np.testing.assert_allclose(centre, [14, 14], atol=0.5)  # centre of mass at MNIST's (14, 14)
    assert digit.max() == 255 and digit[0].sum() == 0


def test_noise_below_the_threshold_is_dropped():
    rng = np.random.default_rng(0)
    page = rng.integers(225, 256, (100, 100)).astype(np.uint8)  # textured paper
    page[20:80, 45:55] = 20
    digit = normalize_digit(page)
    assert np.count_nonzero(digit[:, :8]) == 0 and np.count_nonzero(digit[:, -8:]) == 0


def test_invert_overrides_the_automatic_choice():
    dark_ink_on_black = np.zeros((40, 40), np.uint8)
    dark_ink_on_black[5:35, 18:22] = 255
    assert normalize_digit(dark_ink_on_black, invert=False)[14, 14] > 128
    with pytest.raises(ValueError, match="holds no ink"):
        normalize_digit(np.zeros((40, 40), np.uint8))


def _font_digits(size=96):
    font = ImageFont.load_default(size=size)
    images, labels = [], []
    for digit in range(10):
        for dx, dy in [(0, 0), (25, 10), (-20, 15)]:
            page = Image.new("L", (160, 160), 255)  # black text on white paper, off centre
            ImageDraw.Draw(page).text((55 + dx, 20 + dy), str(digit), fill=0, font=font)
            images.append(np.asarray(page))
            labels.append(digit)
    return images, np.array(labels)


def test_a_model_trained_on_the_sample_reads_font_digits_after_normalisation(sample_model):
    images, labels = _font_digits()
    normalised = load_images(images)
    naive = np.stack([np.asarray(Image.fromarray(image).resize((28, 28))).reshape(-1) for image in images])
    with_normalisation = (sample_model.predict(normalised) == labels).mean()
    without = (sample_model.predict(naive) == labels).mean()
    assert with_normalisation >= 0.7, with_normalisation
    assert without <= 0.3 and with_normalisation >= without + 0.4, (with_normalisation, without)


def test_normalizer_in_front_of_a_pipeline(sample_model):
    from sklearn.pipeline import make_pipeline

    images, labels = _font_digits()
    model = make_pipeline(MNISTNormalizer(), sample_model)
    np.testing.assert_array_equal(model.predict(np.stack(images)), sample_model.predict(load_images(images)))


def test_load_images_reads_png_jpeg_and_bmp_files(tmp_path):
    page = np.full((64, 48, 3), 235, np.uint8)
    page[10:54, 20:28] = (20, 20, 120)
    paths = []
    for suffix in ("png", "jpg", "bmp"):
        paths.append(tmp_path / f"one.{suffix}")
        Image.fromarray(page).save(paths[-1])
    X = load_images(paths)
    assert X.shape == (3, 784) and X.dtype == np.uint8
    assert np.abs(X.astype(int) - X[0]).max() < 60  # JPEG artefacts aside, the same digit


def test_load_images_names_a_file_that_is_not_an_image(tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("not a picture")
    with pytest.raises(ValueError, match=r"notes.png is not an image skdigits can read"):
        load_images([text])


@pytest.mark.parametrize("side", [10_000, 20_000])  # over our limit; over Pillow's too
def test_a_decompression_bomb_is_refused_before_decoding(tmp_path, side):
    bomb = tmp_path / "bomb.png"
    Image.new("1", (side, side)).save(bomb)  # 100 or 400 megapixels in a file of 12 to 50 KB
    assert bomb.stat().st_size < 200_000
    with pytest.raises(ValueError, match=rf"bomb.png (is {side}x{side} pixels|has far more pixels), more than the "
                                         rf"{MAX_IMAGE_PIXELS:,} skdigits decodes"):
        read_image(bomb)
