"""Fixtures for the stage 1/2 tests: an isolated, offline Hugging Face cache and a CLI runner."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from console.cli import app


@pytest.fixture
def hf_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Offline, with a private datasets cache (xdist-safe)."""
    home = tmp_path / "hf"
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(home / "datasets"))
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return home


@pytest.fixture
def fixtures(shared_data: Path) -> Path:
    return shared_data / "swe-lite-fixtures"


@pytest.fixture
def lite_parquet(shared_data: Path) -> Path:
    return shared_data / "swe-bench" / "lite-test.parquet"


@dataclass
class CliResult:
    exit_code: int
    output: str


@pytest.fixture
def cli(workspace: Path, hf_env: Path):
    """Run the real CLI in-process; returns exit code and combined output."""
    runner = CliRunner()

    def run(*args: Any) -> CliResult:
        res = runner.invoke(app, [str(a) for a in args], catch_exceptions=True)
        if res.exception is not None and not isinstance(res.exception, SystemExit):
            raise res.exception
        return CliResult(res.exit_code, res.output)  # click >= 8.2: stdout and stderr interleaved

    return run


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def fixture_instances(fixtures: Path) -> list[dict[str, Any]]:
    return read_jsonl(fixtures / "instances.jsonl")
