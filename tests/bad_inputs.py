"""The shared machinery of the bad-input tests (tests/test_errors_*.py): one case per plausible mistake.

Each ``test_errors_<topic>.py`` lists ``CASES`` (a :class:`BadInput` per mistake) and ``NO_BAD_INPUT`` (public names
that take no input a reader could get wrong, each with the reason); ``tests/test_errors.py`` checks that together
they cover every public function and class of ``utils``. A case passes when the call raises the expected error
type, from a frame inside ``utils`` (not from deep inside torch or pathlib), with a message that names the
argument.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

UTILS = Path(__file__).resolve().parent.parent / "utils"


@dataclass(frozen=True)
class BadInput:
    """``call()`` makes one mistake against the public object ``target`` (its qualified name)."""

    target: str
    mistake: str  # what a reader did wrong, in a few words: the test id
    call: Callable[[], object]
    error: type[BaseException]
    names: str  # a word the message must contain: the argument's name (or the setting's)


def case_id(case: BadInput) -> str:
    """The pytest id of a case: ``'<function>: <mistake>'``."""
    return f"{case.target.removeprefix('utils.')}: {case.mistake}"


def assert_clear_error(case: BadInput) -> str:
    """Run the case; assert the error type, that it was raised in utils, and that the message names the argument."""
    with pytest.raises(BaseException) as info:
        case.call()
    assert isinstance(info.value, case.error), f"raised {type(info.value).__name__}: {info.value}"
    raising_file = Path(traceback.extract_tb(info.tb)[-1].filename).resolve()
    assert UTILS in raising_file.parents, f"raised from {raising_file}, not from utils: {info.value}"
    message = str(info.value)
    assert case.names in message, f"the message does not name {case.names!r}: {message}"
    return message
