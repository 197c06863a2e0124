# %% [markdown]
# # An Optuna study
# skdigits.tuning.tune searches the network, the optimiser, the schedule and
# the augmentation. Every epoch reports held-out accuracy, so hopeless trials
# are pruned; the study lives in a journal file, so an interrupted run
# continues where it stopped and several processes can share it.
# Set SKDIGITS_QUICK=1 for two tiny trials (CI does).

# %%
import os

import optuna

from skdigits.datasets import load_sample
from skdigits.tuning import best_pipeline, tune

QUICK = bool(os.environ.get("SKDIGITS_QUICK"))
X, y = load_sample()
X_train, y_train, X_test, y_test = X[:4000], y[:4000], X[4000:], y[4000:]
if QUICK:
    X_train, y_train = X_train[:800], y_train[:800]

# %% Search (rerun this cell to add trials to the same study)
optuna.logging.set_verbosity(optuna.logging.WARNING)
fixed = {"epochs": 1, "filters": (8, 16)} if QUICK else {}
study = tune(X_train, y_train, n_trials=2 if QUICK else 30, storage="example-study.journal",
             study_name="example", params=fixed, random_state=0, show_progress_bar=not QUICK)
print(f"best held-out accuracy {study.best_value:.4f} with {study.best_params}")
print(f"{len(study.trials)} trials; pruned: {sum(t.state.name == 'PRUNED' for t in study.trials)}")

# %% Refit the best configuration on all the training images
pipe = best_pipeline(study).fit(X_train, y_train)
print(f"test accuracy of the best pipeline: {pipe.score(X_test, y_test):.4f}")

# %% Look at the study: `optuna-dashboard example-study.journal`, or in a notebook
# optuna.visualization.plot_optimization_history(study)
