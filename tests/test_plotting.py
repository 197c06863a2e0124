import matplotlib
import numpy as np
import pytest

from skdigits.plotting import plot_augmentation, plot_confusion_matrix, plot_learning_curves, plot_misclassified

matplotlib.use("Agg")


def test_learning_curves_show_train_and_validation():
    fig = plot_learning_curves({"loss": [1.0, 0.5], "accuracy": [0.6, 0.8], "val_loss": [0.9, 0.6], "val_accuracy": [0.7, 0.75]})
    loss, accuracy = fig.axes
    assert [line.get_label() for line in loss.lines] == ["train", "validation"]
    np.testing.assert_array_equal(accuracy.lines[1].get_ydata(), [0.7, 0.75])


def test_learning_curves_need_a_history():
    with pytest.raises(ValueError, match="history has no 'loss' entry; expected the history_ of a fitted"):
        plot_learning_curves({})


def test_confusion_matrix_counts_predictions():
    fig = plot_confusion_matrix([0, 0, 1, 2], [0, 1, 1, 2])
    assert "accuracy 0.7500" in fig.axes[0].get_title()
    texts = [text.get_text() for text in fig.axes[0].texts]
    assert texts.count("1") == 4 and texts.count("0") == 5  # [[1, 1, 0], [0, 1, 0], [0, 0, 1]]


def test_misclassified_shows_most_confident_mistakes_first(sample):
    X = sample[0][:4]
    proba = np.array([[0.9, 0.1], [0.4, 0.6], [0.01, 0.99], [0.7, 0.3]])
    fig = plot_misclassified(X, [0, 0, 0, 1], proba, [0, 1], n_columns=4)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["true 0\npred 1 (99%)", "true 1\npred 0 (70%)", "true 0\npred 1 (60%)"]
    assert "3 of 3 misclassified" in fig._suptitle.get_text()


def test_augmentation_preview_changes_the_digits(sample):
    fig = plot_augmentation(sample[0], n_digits=3, n_variants=2)
    original, variant = fig.axes[0].images[0].get_array(), fig.axes[1].images[0].get_array()
    assert original.shape == variant.shape == (28, 28)
    assert not np.allclose(original, variant)
