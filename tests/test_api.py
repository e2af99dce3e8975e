"""Every public function and class of ``utils`` has a docstring and is exercised by at least one test."""

import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import utils

TESTS = Path(__file__).parent


def _public_objects():
    modules = [importlib.import_module(m.name) for m in pkgutil.walk_packages(utils.__path__, "utils.")]
    for module in [utils, *modules]:
        for name, obj in vars(module).items():
            if name.startswith("_") or not (inspect.isfunction(obj) or inspect.isclass(obj)):
                continue
            if obj.__module__ == module.__name__:
                yield f"{module.__name__}.{name}", name, obj


def test_every_public_function_and_class_has_a_docstring():
    missing = [qualified for qualified, _, obj in _public_objects() if not (obj.__doc__ or "").strip()]
    assert missing == [], f"add docstrings (shapes, types) to: {missing}"


def test_every_public_function_and_class_is_used_by_a_test():
    test_text = "\n".join(p.read_text() for p in TESTS.glob("test_*.py"))
    untested = [q for q, name, obj in _public_objects()
                if name != "main" and not re.search(rf"\b{re.escape(name)}\b", test_text)]
    assert untested == [], f"write a test that calls: {untested}"
