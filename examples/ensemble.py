# %% [markdown]
# # An ensemble of CNNs
# The best Kaggle kernels average several CNNs. With the classifier tags
# restored, scikit-learn's own VotingClassifier does it: soft voting over
# pipelines that differ only in their seed, fitted in parallel.
# Set SKDIGITS_QUICK=1 for a fast run (CI does).

# %%
import os

from sklearn.ensemble import VotingClassifier

from skdigits import make_digit_pipeline
from skdigits.datasets import load_sample

QUICK = bool(os.environ.get("SKDIGITS_QUICK"))
X, y = load_sample()
X_train, y_train, X_test, y_test = X[:4000], y[:4000], X[4000:], y[4000:]
if QUICK:
    X_train, y_train = X_train[:800], y_train[:800]
params = {"epochs": 1} if QUICK else {}

# %% Three members, two fitted at a time
members = [(f"seed{seed}", make_digit_pipeline(random_state=seed, **params)) for seed in range(3)]
ensemble = VotingClassifier(members, voting="soft", n_jobs=2).fit(X_train, y_train)
for name, member in ensemble.named_estimators_.items():
    print(f"{name}: {member.score(X_test, y_test):.4f}")
print(f"ensemble: {ensemble.score(X_test, y_test):.4f}")
