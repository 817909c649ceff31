"""The replaced scripts' spellings run the same engine functions as ``rollout agentless``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from console.cli import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))


def test_bugfixer_stages_map_to_agentless_commands(workspace: Path, shared_data: Path) -> None:
    fx = shared_data / "swe-lite-fixtures"
    step1 = workspace / "s1.jsonl"
    r1 = runner.invoke(app, ["bugfixer", "--stage", "gen_step1", "--dataset", str(fx / "instances.jsonl"),
                             "--repostructure_dir", str(fx / "structures"), "--instance_ids", "psf__requests-1963",
                             "--model_name", "m", "--output_file", str(step1), "--plain"])
    assert r1.exit_code == 0, r1.output
    lines = [json.loads(x) for x in step1.read_text().splitlines()]
    assert [x["custom_id"] for x in lines] == ["psf__requests-1963"]

    save = workspace / "s3"
    r3 = runner.invoke(app, ["bugfixer", "--stage=proc_step2", "--input_file", str(fx / "responses_step2_repair.jsonl"),
                             "--dataset", str(fx / "instances.jsonl"), "--repostructure_dir", str(fx / "structures"),
                             "--save_dir", str(save), "--plain"])
    assert r3.exit_code == 0, r3.output
    preds = [json.loads(x) for x in (save / "predictions.jsonl").read_text().splitlines()]
    assert len(preds) == 9 and all(p["model_patch"].startswith("diff --git") for p in preds)


@pytest.mark.parametrize("args, fragment", [([], "--stage is required"), (["--stage", "gen_step9"], "unknown --stage 'gen_step9'")])
def test_bad_stage_is_one_line_exit_2(workspace: Path, args: list[str], fragment: str) -> None:
    result = runner.invoke(app, ["testwriter", *args])
    assert result.exit_code == 2 and fragment in result.stderr and result.stderr.count("\n") == 1
