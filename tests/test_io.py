"""Interrupted writes leave the old file or the new one, never a partial one."""

import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

# Writes a 28,000-row submission to the same path over and over, so that a
# signal lands mid-write.
WRITER = """
import signal
import sys
import numpy as np
from sklearn.dummy import DummyClassifier
from skdigits import make_submission
from skdigits._io import sigterm_as_keyboard_interrupt

X = np.zeros((28000, 784), dtype=np.uint8)
model = DummyClassifier(strategy="uniform", random_state=0).fit(X[:10], np.arange(10))
# Ctrl-C as in a terminal, even where a background job's shell made this process ignore SIGINT
signal.signal(signal.SIGINT, signal.default_int_handler)
try:
    with sigterm_as_keyboard_interrupt():  # as the skdigits command does
        while True:
            make_submission(model, X, sys.argv[1])
            print("wrote", flush=True)
except KeyboardInterrupt:
    sys.exit(130)
"""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=["SIGINT", "SIGTERM", "SIGKILL"])
def test_killed_writer_leaves_a_complete_file(tmp_path, signum):
    target = tmp_path / "submission.csv"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(target)], stdout=subprocess.PIPE, text=True)
    try:
        for _ in range(3):  # a few complete writes, so the kill lands on a rewrite
            assert writer.stdout.readline() == "wrote\n"
        time.sleep(0.013)
        writer.send_signal(signum)
        returncode = writer.wait(timeout=60)
    finally:
        writer.kill()
    frame = pd.read_csv(target)
    assert frame.shape == (28000, 2) and list(frame.columns) == ["ImageId", "Label"]
    leftovers = sorted(p.name for p in tmp_path.iterdir() if p != target)
    if signum == signal.SIGKILL:
        assert returncode == -signal.SIGKILL  # nothing can clean up after SIGKILL, but the target is whole
    else:
        assert returncode == 130 and leftovers == []  # unwound like Ctrl-C: the temporary file is removed


def test_written_files_get_the_usual_permissions(tmp_path):
    # a temporary file from mkstemp is owner-only; the renamed result must not be
    from skdigits._io import atomic_path

    previous = os.umask(0o022)
    try:
        with atomic_path(tmp_path / "out.csv") as tmp:
            tmp.write_text("ImageId,Label\n")
    finally:
        os.umask(previous)
    assert (tmp_path / "out.csv").stat().st_mode & 0o777 == 0o644
