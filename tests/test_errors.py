"""Every public function and class of ``utils`` has its bad inputs tested (tests/test_errors_*.py), or a stated
reason why no input a reader gives it can be wrong; the numbers are printed for the record."""

import importlib
from pathlib import Path

from test_api import _public_objects

TESTS = Path(__file__).parent
ERROR_TEST_MODULES = sorted(p.stem for p in TESTS.glob("test_errors_*.py"))


def _gathered():
    cases, exempt, documented = [], {}, {}
    for name in ERROR_TEST_MODULES:
        module = importlib.import_module(name)
        cases += module.CASES
        exempt |= getattr(module, "NO_BAD_INPUT", {})
        documented |= getattr(module, "DOCUMENTED", {})
    return cases, exempt, documented


def test_every_public_function_and_class_has_bad_input_cases_or_a_reason():
    cases, exempt, documented = _gathered()
    public = {qualified for qualified, _, _ in _public_objects()}
    with_cases = {case.target for case in cases}
    missing = sorted(public - with_cases - set(exempt))
    assert missing == [], f"add bad-input cases (tests/test_errors_<topic>.py) for: {missing}"
    stale = sorted((with_cases | set(exempt) | set(documented)) - public)
    assert stale == [], f"these names are not public objects of utils any more: {stale}"
    assert all(reason.strip() for reason in [*exempt.values(), *documented.values()])
    print(f"{len(public)} public objects: {len(with_cases)} with {len(cases)} bad-input cases, "
          f"{len(exempt)} that take no input a reader can get wrong, {len(documented)} documented as kept")
