# %% [markdown]
# # Cross-validation
# The pipeline is an ordinary scikit-learn classifier: cross_val_score
# stratifies the folds, and augmentation happens inside each training fold
# only. n_jobs runs folds in worker processes; each gives TensorFlow its
# share of the cores. Set SKDIGITS_QUICK=1 for a fast run (CI does).

# %%
import os

from sklearn.model_selection import StratifiedKFold, cross_validate

from skdigits import make_digit_pipeline
from skdigits.datasets import load_sample

QUICK = bool(os.environ.get("SKDIGITS_QUICK"))
X, y = load_sample()
if QUICK:
    X, y = X[:1200], y[:1200]

# %% Five stratified folds, two at a time
pipe = make_digit_pipeline(random_state=0, **({"epochs": 1} if QUICK else {}))
folds = StratifiedKFold(2 if QUICK else 5, shuffle=True, random_state=0)
result = cross_validate(pipe, X, y, cv=folds, n_jobs=2, return_train_score=True)
print("validation accuracy per fold:", result["test_score"].round(4))
print(f"mean {result['test_score'].mean():.4f} +/- {result['test_score'].std():.4f}; "
      f"training accuracy {result['train_score'].mean():.4f}; fit {result['fit_time'].mean():.0f} s per fold")

# %% Compare two settings on the same folds, as any sklearn user would
for rotation in (0.0, 10.0):
    scores = cross_validate(pipe.set_params(augment__rotation=rotation), X, y, cv=folds, n_jobs=2)["test_score"]
    print(f"augment__rotation={rotation:>4}: {scores.mean():.4f}")
