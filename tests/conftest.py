"""Shared test set-up: a non-interactive plotting backend and one compute thread.

The unit tests use tiny tensors, where a second thread only adds hand-off cost (and, on a busy 2-core machine,
slows a 100-step optimizer test from a tenth of a second to several seconds).
"""

import os

import pytest
import torch

os.environ.setdefault("MPLBACKEND", "Agg")
torch.set_num_threads(int(os.environ.get("COURSE_TEST_THREADS", "1")))


@pytest.fixture
def one_thread():
    """Exactly one torch thread for the test, whatever COURSE_TEST_THREADS says: runs that must repeat bitwise (a
    resumed run, a killed child process) then add floats in the same order."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
