"""Fixtures for the hosted batch tests: the stand-in Files + Batches API (``fake_batch_api``)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: `fakes` importable in any run mode
from fakes.batch_server import fake_batch_api  # noqa: E402,F401  (a fixture)
