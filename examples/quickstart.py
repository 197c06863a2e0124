# %% [markdown]
# # skdigits quickstart
# Train the default pipeline on the MNIST sample that ships with skdigits,
# check it on held-out digits, and write a Kaggle-style submission.
# Set SKDIGITS_QUICK=1 to train for one epoch (CI does).

# %%
import os

from sklearn.model_selection import train_test_split

from skdigits import make_digit_pipeline, make_submission
from skdigits.datasets import load_sample

X, y = load_sample()
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, stratify=y, random_state=0)

# %% The pipeline: scale -> reshape -> augment (fit only) -> cnn
quick = {"epochs": 1} if os.environ.get("SKDIGITS_QUICK") else {}
pipe = make_digit_pipeline(random_state=0, verbose=2, **quick)
pipe.fit(X_train, y_train)
print(f"held-out accuracy: {pipe.score(X_test, y_test):.4f}")

# %% A submission for the held-out images: ImageId (from 1), Label
submission = make_submission(pipe, X_test, "quickstart-submission.csv")
print(submission.head())
