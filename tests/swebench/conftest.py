"""Fixtures for the SWE-bench tests: the stand-in OpenAI server (``fake_openai``) for rollout costs."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: `fakes` importable in any run mode
from fakes.openai_server import fake_openai  # noqa: E402,F401  (a fixture)
