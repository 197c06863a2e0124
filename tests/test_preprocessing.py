import numpy as np
import pandas as pd
import pytest

from skdigits import ImageReshaper, PixelScaler
from skdigits.preprocessing import PIXEL_COLUMNS, check_pixels, deskew


def test_pixel_scaler_maps_0_255_to_float32_0_1():
    X = np.array([[0, 255, 51] + [0] * 781], dtype=np.uint8)
    Xt = PixelScaler().fit_transform(X)
    assert Xt.dtype == np.float32
    np.testing.assert_allclose(Xt[0, :3], [0.0, 1.0, 0.2], rtol=1e-6)


def test_pixel_scaler_accepts_dataframe_and_keeps_feature_names(sample):
    X = pd.DataFrame(sample[0][:5], columns=PIXEL_COLUMNS)
    scaler = PixelScaler().fit(X)
    assert list(scaler.feature_names_in_[:2]) == ["pixel0", "pixel1"]
    np.testing.assert_allclose(scaler.transform(X), sample[0][:5] / 255, rtol=1e-6)


def test_pixel_scaler_inverse_transform_round_trips(sample):
    scaler = PixelScaler().fit(sample[0][:3])
    np.testing.assert_allclose(scaler.inverse_transform(scaler.transform(sample[0][:3])), sample[0][:3], atol=1e-4)


@pytest.mark.parametrize(
    "value, message",
    [
        (np.nan, r"X has 1 NaN or infinite value\(s\) \(first at row 0, column 3\), expected pixel intensities 0..255; fill or drop"),
        (np.inf, r"X has 1 NaN or infinite value\(s\)"),
        (-1.0, r"Negative values in data: X has 1 value outside 0..255 \(found -1 at row 0, column 3\).*Clip or rescale"),
        (256.0, r"Values above 255 in data: X has 1 value outside 0..255 \(found 256 at row 0, column 3\)"),
    ],
)
def test_pixel_scaler_rejects_bad_values(value, message):
    X = np.zeros((2, 784))
    X[0, 3] = value
    with pytest.raises(ValueError, match=message):
        PixelScaler().fit(X)


def test_pixel_scaler_rejects_bad_values_at_transform_too():
    scaler = PixelScaler().fit(np.zeros((2, 784)))
    with pytest.raises(ValueError, match="outside 0..255"):
        scaler.transform(np.full((1, 784), 300))


@pytest.mark.parametrize(
    "n_columns, message",
    [
        (785, r"X has 785 columns, expected 784 pixel columns \(pixel0..pixel783\); does it still contain the 'label' column\?"),
        (783, r"X has 783 columns, expected 784 pixel columns \(pixel0..pixel783\); is this 28x28 digit data\?"),
    ],
)
def test_pixel_scaler_rejects_wrong_column_count(n_columns, message):
    with pytest.raises(ValueError, match=message):
        PixelScaler().fit(np.zeros((2, n_columns)))


def test_pixel_scaler_transform_rejects_column_count_other_than_fit():
    scaler = PixelScaler().fit(np.zeros((2, 784)))
    with pytest.raises(ValueError, match="X has 785 features, but PixelScaler is expecting 784 .*'label' column"):
        scaler.transform(np.zeros((2, 785)))


def test_pixel_scaler_rejects_label_column_in_dataframe():
    frame = pd.DataFrame(np.zeros((2, 785)), columns=["label"] + PIXEL_COLUMNS)
    with pytest.raises(ValueError, match="contains a 'label' column, expected only pixel columns; pass frame.drop"):
        PixelScaler().fit(frame)


def test_pixel_scaler_rejects_non_numeric_columns():
    frame = pd.DataFrame(np.zeros((2, 784), dtype=int), columns=PIXEL_COLUMNS)
    frame["pixel7"] = ["a", "b"]
    with pytest.raises(ValueError, match=r"X has 1 non-numeric column\(s\) \(pixel7\), expected numeric pixel values"):
        PixelScaler().fit(frame)


def test_pixel_scaler_validates_n_pixels_parameter():
    with pytest.raises(ValueError, match="'n_pixels' parameter of PixelScaler must be"):
        PixelScaler(n_pixels=0).fit(np.zeros((2, 784)))


def test_check_pixels_names_the_source():
    with pytest.raises(ValueError, match="^test.csv has 783 columns"):
        check_pixels(np.zeros((1, 783)), source="test.csv")


def test_image_reshaper_reshapes_rows_to_images_and_back(sample):
    X = sample[0][:4]
    reshaper = ImageReshaper().fit(X)
    images = reshaper.transform(X)
    assert images.shape == (4, 28, 28, 1)
    np.testing.assert_array_equal(images[1, :, :, 0], X[1].reshape(28, 28))
    np.testing.assert_array_equal(reshaper.inverse_transform(images), X)


def _slant(image):
    """Row-column covariance over row variance of the ink: 0 for an upright digit."""
    rows, cols = np.mgrid[:28, :28]
    ink = image.sum()
    row0, col0 = (rows * image).sum() / ink, (cols * image).sum() / ink
    return ((rows - row0) * (cols - col0) * image).sum() / ((rows - row0) ** 2 * image).sum()


def test_deskew_removes_the_slant_and_centres_the_ink(sample):
    images = (sample[0][:50] / np.float32(255)).reshape(-1, 28, 28, 1)
    straight = deskew(images)
    assert straight.shape == images.shape and straight.dtype == np.float32
    before = np.array([abs(_slant(image[..., 0])) for image in images])
    after = np.array([abs(_slant(image[..., 0])) for image in straight])
    assert before.mean() > 0.1 and after.max() < 0.05
    rows = np.arange(28)[None, :, None]
    centre_row = (straight[..., 0] * rows).sum(axis=(1, 2)) / straight[..., 0].sum(axis=(1, 2))
    np.testing.assert_allclose(centre_row, 13.5, atol=0.3)
    np.testing.assert_allclose(straight.sum(axis=(1, 2, 3)), images.sum(axis=(1, 2, 3)), rtol=0.05)  # ink kept


def test_deskew_leaves_blank_images_and_upright_strokes_alone():
    images = np.zeros((2, 28, 28), dtype=np.float32)
    images[1, 6:22, 13:15] = 1.0  # an upright bar on the centre
    np.testing.assert_allclose(deskew(images), images, atol=1e-6)


def test_image_reshaper_deskews_only_when_asked(sample):
    X = sample[0][:20] / np.float32(255)
    plain = ImageReshaper().fit(X).transform(X)
    np.testing.assert_array_equal(ImageReshaper(deskew=True).fit(X).transform(X), deskew(plain))
    assert not np.allclose(deskew(plain), plain)


def test_image_reshaper_infers_minus_one_like_numpy():
    assert ImageReshaper(image_shape=(-1, 28, 1)).fit(np.zeros((1, 784))).image_shape_ == (28, 28, 1)


def test_image_reshaper_rejects_wrong_pixel_count():
    with pytest.raises(ValueError, match="X has 783 columns, expected 28 x 28 x 1 pixels per image"):
        ImageReshaper().fit(np.zeros((2, 783)))


def test_image_reshaper_transform_rejects_other_count_than_fit():
    reshaper = ImageReshaper().fit(np.zeros((2, 784)))
    with pytest.raises(ValueError, match="X has 100 features, but ImageReshaper is expecting 784"):
        reshaper.transform(np.zeros((2, 100)))


def test_image_reshaper_rejects_bad_image_shape():
    with pytest.raises(ValueError, match=r"image_shape=\(28, 28\), expected three positive integers"):
        ImageReshaper(image_shape=(28, 28)).fit(np.zeros((2, 784)))


def test_image_reshaper_inverse_rejects_images_of_another_shape():
    reshaper = ImageReshaper().fit(np.zeros((2, 784)))
    with pytest.raises(ValueError, match=r"X has images of shape \(32, 32, 1\), expected \(28, 28, 1\)"):
        reshaper.inverse_transform(np.zeros((2, 32, 32, 1)))
