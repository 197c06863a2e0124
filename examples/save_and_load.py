# %% [markdown]
# # Saving, loading and resuming
# skdigits.save writes a zip of JSON parameters and Keras weights that
# skdigits.load reads without running any code from the file: use it for
# models you share. joblib works too (the sklearn convention) but is a pickle:
# only load joblib files you trust. checkpoint_dir lets an interrupted fit
# resume. Set SKDIGITS_QUICK=1 for a fast run (CI does).

# %%
import os

import joblib
import numpy as np

import skdigits
from skdigits import make_digit_pipeline
from skdigits.datasets import load_sample

QUICK = bool(os.environ.get("SKDIGITS_QUICK"))
X, y = load_sample()
X_train, y_train, X_test = X[:4000], y[:4000], X[4000:]
if QUICK:
    X_train, y_train = X_train[:800], y_train[:800]
epochs = 2 if QUICK else 3

# %% Fit, save in the safe format, load, predict the same
pipe = make_digit_pipeline(random_state=0, epochs=epochs).fit(X_train, y_train)
skdigits.save(pipe, "digits.skdigits")
loaded = skdigits.load("digits.skdigits")
assert np.array_equal(loaded.predict_proba(X_test), pipe.predict_proba(X_test))
print(f"digits.skdigits: {os.path.getsize('digits.skdigits') / 1e6:.1f} MB, same predictions after loading")

# %% joblib, for files you trust
joblib.dump(pipe, "digits.joblib")
assert np.array_equal(joblib.load("digits.joblib").predict(X_test), pipe.predict(X_test))

# %% Checkpoints: run this cell, interrupt it (Ctrl-C), run it again: it resumes
resumable = make_digit_pipeline(random_state=0, epochs=epochs, cnn__checkpoint_dir="checkpoints")
resumable.fit(X_train, y_train)
print("best weights so far are in checkpoints/best.weights.h5")
