# %% [markdown]
# # The Kaggle "Digit Recognizer" notebook, end to end with skdigits
# The reference notebook loads train.csv, scales and reshapes the pixels,
# trains its CNN with ImageDataGenerator augmentation and a learning-rate
# annealer, plots the learning curves and the confusion matrix, looks at the
# worst mistakes and writes a submission. Here each of those is one call.
# Put Kaggle's train.csv and test.csv next to this script to use them; without
# them it runs on the MNIST sample shipped with skdigits.
# Set SKDIGITS_QUICK=1 for a one-epoch run on 1,500 images (CI does).

# %%
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from skdigits import make_digit_pipeline, make_submission
from skdigits.datasets import load_kaggle_test, load_kaggle_train, load_sample
from skdigits.pipeline import fit_with_validation
from skdigits.plotting import plot_confusion_matrix, plot_learning_curves, plot_misclassified

QUICK = bool(os.environ.get("SKDIGITS_QUICK"))
if Path("train.csv").is_file():
    X, y = load_kaggle_train("train.csv")
    X_test = load_kaggle_test("test.csv")
else:
    X, y = load_sample()
    X, y, X_test = X[:4000], y[:4000], X[4000:]
if QUICK:
    X, y = X[:1500], y[:1500]

# %% The notebook's configuration: its network, Adam at 1e-3 * 0.9**epoch,
# batch 64, 20 epochs on augmented images; 10 % held out for validation curves
pipe = make_digit_pipeline(preset="reference", random_state=2, verbose=2, **({"epochs": 1} if QUICK else {}))
fit_with_validation(pipe, X, y, validation_fraction=0.1, random_state=2)
history = pipe[-1].history_
print(f"validation accuracy after the last epoch: {history['val_accuracy'][-1]:.4f}")

# %% Learning curves, confusion matrix and the most confident mistakes
plot_learning_curves(history).savefig("learning_curves.png")
y_pred = pipe.predict(X)
plot_confusion_matrix(y, y_pred).savefig("confusion_matrix.png")
plot_misclassified(X, y, pipe.predict_proba(X), pipe.classes_).savefig("misclassified.png")

# %% The submission: ImageId from 1, Label
submission = make_submission(pipe, X_test, "submission.csv")
print(submission.head())
