# %% [markdown]
# # An ensemble of CNNs
# The best Kaggle kernels average several CNNs. `make_ensemble` builds one from
# scikit-learn's own VotingClassifier: soft voting over pipelines, each with its
# own seed and its own 90% of the images, fitted in parallel with `n_jobs`,
# saved like one model.
# Set SKDIGITS_QUICK=1 for a fast run (CI does).

# %%
import os
import tempfile

import skdigits
from skdigits import make_ensemble
from skdigits.datasets import load_sample

QUICK = bool(os.environ.get("SKDIGITS_QUICK"))
X, y = load_sample()
X_train, y_train, X_test, y_test = X[:4000], y[:4000], X[4000:], y[4000:]
if QUICK:
    X_train, y_train = X_train[:800], y_train[:800]
# the default members (the mixup and deskewed presets in turn, 15 epochs
# each) are the ones to use on the full data; the sample is small, so this
# runs the quicker default preset
params = {"epochs": 1} if QUICK else {}

# %% Three members, two fitted at a time
ensemble = make_ensemble(3, preset="default", n_jobs=2, random_state=0, **params).fit(X_train, y_train)
for name, member in ensemble.named_estimators_.items():
    print(f"{name}: {member.score(X_test, y_test):.4f}")
print(f"ensemble: {ensemble.score(X_test, y_test):.4f}")

# %% Saved and loaded like one pipeline (no pickle)
path = os.path.join(tempfile.mkdtemp(), "ensemble.skdigits")
skdigits.save(ensemble, path)
print(f"reloaded: {skdigits.load(path).score(X_test, y_test):.4f}")
