"""Fixtures for stage 3: the real SWE-bench Lite fixtures (read from ../shared/data, never copied)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest


@pytest.fixture
def fixtures_dir(shared_data: Path) -> Path:
    return shared_data / "swe-lite-fixtures"


@pytest.fixture
def manifest(fixtures_dir: Path) -> dict[str, Any]:
    return json.loads((fixtures_dir / "manifest.json").read_text())["instances"]


@pytest.fixture
def step2_lines(fixtures_dir: Path) -> dict[str, dict[str, Any]]:
    """The step-2 repair response objects by custom_id (= instance_id)."""
    out = {}
    for raw in (fixtures_dir / "responses_step2_repair.jsonl").read_bytes().splitlines():
        if raw.strip():
            obj = orjson.loads(raw)
            out[obj["custom_id"]] = obj
    return out
