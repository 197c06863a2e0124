"""How long `skdigits --help` and `skdigits train --help` take: the command line must
answer at once (target: under 1 s), so TensorFlow is imported only by commands that train
or predict. Best of 5 runs each, in fresh processes.

    python benchmarks/cli_startup.py
"""

import json
import shutil
import sys

from _data import command_seconds, machine


def best_of(argv, runs=5):
    return round(min(command_seconds(argv, runs)), 3)


def main():
    command = shutil.which("skdigits") or sys.exit("the skdigits command is not installed (make demo installs it)")
    results = {
        "skdigits --help": best_of([command, "--help"]),
        "skdigits train --help": best_of([command, "train", "--help"]),
        "python -c 'import skdigits.model' (TensorFlow, for scale)": best_of([sys.executable, "-c", "import skdigits.model"], 2),
        "machine": machine(),
    }
    print(json.dumps(results))


if __name__ == "__main__":
    main()
