"""The option models: argv() gives the equivalent command; the CLI's help comes from the models."""

from __future__ import annotations

import subprocess
from pathlib import Path

from engine.report.options import ReportOptions
from engine.selection.options import SelectOptions
from engine.swebench.options import ReproOptions, SwebenchEvalOptions


def test_argv_round_trips_the_non_default_options() -> None:
    o = SwebenchEvalOptions(predictions=Path("p.jsonl"), dataset="lite.parquet", max_workers=8, instance_ids=["a", "b"],
                            run_id="phase-3", harness_args=["--open_file_limit", "8192"])
    assert o.argv() == ["rollout", "eval", "swebench", "--dataset", "lite.parquet", "--max-workers", "8",
                        "--instance-ids", "a", "--instance-ids", "b", "--predictions", "p.jsonl", "--run-id", "phase-3",
                        "--", "--open_file_limit", "8192"]
    assert ReproOptions(tests=Path("t.jsonl"), predictions=Path("p.jsonl")).argv() == [
        "rollout", "eval", "repro", "--tests", "t.jsonl", "--predictions", "p.jsonl"]
    assert ReportOptions(runs=["r1"], formats=["md,json"], criteria=Path("c.toml")).argv() == [
        "rollout", "report", "--runs", "r1", "--criteria", "c.toml", "--format", "md,json"]
    assert SelectOptions(dataset="d", n=5, output=Path("o.txt"), seed=3).argv() == [
        "rollout", "select", "--dataset", "d", "--strategy", "stratified", "--n", "5", "--output", "o.txt", "--seed", "3"]


def test_cli_help_shows_the_models_descriptions(rollout_cmd: list[str], child_env: dict[str, str]) -> None:
    for cmd, model, field in ((["eval", "swebench"], SwebenchEvalOptions, "stall_after"),
                              (["eval", "repro"], ReproOptions, "tests"), (["select"], SelectOptions, "seed")):
        r = subprocess.run(rollout_cmd + [*cmd, "--help"], env={**child_env, "COLUMNS": "300"}, capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        words = str(model.model_fields[field].description).split()[:4]
        assert " ".join(words) in " ".join(r.stdout.split())
