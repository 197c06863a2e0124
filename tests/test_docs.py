"""Every public class and function is documented with an example, and the site builds."""

import importlib
import inspect
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

MODULES = ["skdigits", "skdigits.augment", "skdigits.datasets", "skdigits.ensemble", "skdigits.model",
           "skdigits.persistence", "skdigits.pipeline", "skdigits.plotting", "skdigits.preprocessing",
           "skdigits.normalization", "skdigits.presets", "skdigits.report", "skdigits.serve", "skdigits.submission", "skdigits.tuning"]
ROOT = Path(__file__).resolve().parents[1]


def _public_objects():
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if inspect.isclass(obj) or inspect.isfunction(obj):
                yield f"{module_name}.{name}", obj


@pytest.mark.parametrize("name, obj", list(_public_objects()), ids=lambda value: value if isinstance(value, str) else "")
def test_public_object_has_numpydoc_docstring_with_examples(name, obj):
    doc = inspect.getdoc(obj) or ""
    assert doc.split("\n")[0].strip(), f"{name} has no summary line"
    is_exception = inspect.isclass(obj) and issubclass(obj, Warning | Exception)
    assert is_exception or "Examples\n--------" in doc or "Examples\n--------" in inspect.cleandoc(doc), (
        f"{name} has no Examples section"
    )


def test_pipeline_html_repr_shows_the_named_steps():
    from skdigits import make_digit_pipeline

    html = make_digit_pipeline()._repr_html_()
    for step in ("scale", "reshape", "augment", "cnn", "PixelScaler", "DigitCNNClassifier"):
        assert step in html


def test_every_example_is_shown_in_the_docs():
    page = (ROOT / "docs" / "examples.md").read_text()
    for script in (ROOT / "examples").glob("*.py"):
        assert f'--8<-- "examples/{script.name}"' in page, f"examples/{script.name} is missing from docs/examples.md"


def test_docstrings_use_mkdocstrings_cross_references_not_sphinx_roles():
    # mkdocstrings prints ":class:`X`" as raw text; [`X`][skdigits.module.X] becomes a link
    import re

    roles = []
    for path in sorted((ROOT / "skdigits").glob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if re.search(r":(class|func|meth|data|attr|mod):`", line):
                roles.append(f"{path.name}:{number}: {line.strip()}")
    assert not roles, "Sphinx roles in docstrings:\n" + "\n".join(roles)
