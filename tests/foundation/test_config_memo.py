"""The config memo (engine/config_memo.py): a later load with the same file and environment gives
the same values without pydantic-settings; any change to either is a full load again."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from engine.config import ConfigValues, load_config, settings_class
from engine.config_memo import memo_path
from engine.errors import InputError

REPO = Path(__file__).resolve().parents[2]

TOML = """
theme = "rollout-light"
default_endpoint = "local"
[endpoints.local]
url = "http://127.0.0.1:30000"
max_concurrency = 32
[prices."m"]
input_per_1m = 1.5
[[alerts]]
name = "slow"
metric = "figures.latency_p95_s"
op = ">"
threshold = 600
"""


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_a_second_load_recalls_the_same_values(workspace: Path, tmp_path: Path) -> None:
    cfg_file = _write(tmp_path / "rollout.toml", TOML)
    first = load_config(cfg_file)
    assert isinstance(first, settings_class())  # the full load
    assert stat.S_IMODE(memo_path().stat().st_mode) == 0o600
    again = load_config(cfg_file)
    assert type(again) is ConfigValues
    assert again.model_dump() == first.model_dump()
    assert again.source_file == first.source_file == str(cfg_file)
    assert again.endpoints["local"].max_concurrency == 32 and again.alerts[0].name == "slow"


def test_the_recall_loads_no_pydantic_settings(workspace: Path, tmp_path: Path) -> None:
    cfg_file = _write(tmp_path / "rollout.toml", TOML)
    load_config(cfg_file)
    code = ("import sys; from engine.config import load_config; c = load_config(sys.argv[1]); "
            "print(type(c).__name__, 'pydantic_settings' in sys.modules, c.theme)")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code, str(cfg_file)], env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.stdout.split() == ["ConfigValues", "False", "rollout-light"], out.stderr


def test_a_changed_file_or_environment_is_loaded_again(workspace: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    cfg_file = _write(tmp_path / "rollout.toml", TOML)
    load_config(cfg_file)
    _write(cfg_file, TOML.replace("rollout-light", "rollout-dark"))
    changed = load_config(cfg_file)
    assert isinstance(changed, settings_class()) and changed.theme == "rollout-dark"
    monkeypatch.setenv("ROLLOUT_THEME", "mine")
    assert load_config(cfg_file).theme == "mine"
    monkeypatch.setenv("rollout_budget_usd", "5")  # read case-insensitively, as pydantic-settings does
    assert load_config(cfg_file).budget_usd == 5.0


def test_a_bad_config_is_refused_every_time(workspace: Path, tmp_path: Path) -> None:
    cfg_file = _write(tmp_path / "rollout.toml", 'refresh_interval = -1\n')
    for _ in range(2):
        with pytest.raises(InputError, match="refresh_interval"):
            load_config(cfg_file)


def test_a_torn_or_outdated_memo_means_a_full_load(workspace: Path, tmp_path: Path) -> None:
    cfg_file = _write(tmp_path / "rollout.toml", TOML)
    load_config(cfg_file)
    memo_path().write_text("{not json")
    assert load_config(cfg_file).theme == "rollout-light"
    body = json.loads(memo_path().read_text())
    body["values"]["refresh_interval"] = -5  # kept values are validated again on recall
    memo_path().write_text(json.dumps(body))
    full = load_config(cfg_file)
    assert isinstance(full, settings_class()) and full.refresh_interval == 1.0


def test_overrides_skip_the_memo(workspace: Path, tmp_path: Path) -> None:
    cfg_file = _write(tmp_path / "rollout.toml", TOML)
    load_config(cfg_file)
    over = load_config(cfg_file, overrides={"theme": "flag-theme"})
    assert over.theme == "flag-theme"
    assert load_config(cfg_file).theme == "rollout-light"
