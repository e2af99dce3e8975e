"""Shared test set-up: a non-interactive plotting backend and quiet model loading."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")
