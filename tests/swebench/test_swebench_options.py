"""The option models: registered jobs, argv() gives the equivalent command, the CLI's help comes from them."""

from __future__ import annotations

import subprocess
from pathlib import Path

from console.cli import app
from console.commands.jobcommand import parse_job_argv
from engine.config import load_config
from engine.options.registry import job_spec
from engine.options.swebench import ReproJob, SwebenchEvalJob
from engine.report.options import ReportOptions
from engine.selection.options import SelectOptions


def test_swebench_jobs_are_registered_and_parse_back(tmp_path: Path, workspace: Path) -> None:
    assert job_spec("eval-swebench").model is SwebenchEvalJob and job_spec("eval-repro").model is ReproJob
    preds = tmp_path / "p.jsonl"
    preds.write_text("")
    argv = ["rollout", "eval", "swebench", "--predictions", str(preds), "--dataset", "lite.parquet", "--max-workers",
            "8", "--instance-ids", "a", "b", "--run-id", "phase-3", "--", "--open_file_limit", "8192"]
    model = parse_job_argv(app, argv, load_config(None))
    assert isinstance(model, SwebenchEvalJob)
    assert (model.max_workers, model.ids(), model.run_id, model.harness_args) == (
        8, ["a", "b"], "phase-3", ["--open_file_limit", "8192"])
    assert parse_job_argv(app, model.argv(), load_config(None)) == model


def test_report_and_select_argv() -> None:
    assert ReportOptions(runs=["r1"], formats=["md,json"], criteria=Path("c.toml")).argv() == [
        "rollout", "report", "--runs", "r1", "--criteria", "c.toml", "--format", "md,json"]
    assert SelectOptions(dataset="d", n=5, output=Path("o.txt"), seed=3).argv() == [
        "rollout", "select", "--dataset", "d", "--strategy", "stratified", "--n", "5", "--output", "o.txt", "--seed", "3"]


def test_cli_help_shows_the_models_descriptions(rollout_cmd: list[str], child_env: dict[str, str]) -> None:
    for cmd, help_text in ((["eval", "swebench"], SwebenchEvalJob.option("stall_after").help),
                           (["eval", "repro"], ReproJob.option("tests").help),
                           (["select"], str(SelectOptions.model_fields["seed"].description))):
        r = subprocess.run(rollout_cmd + [*cmd, "--help"], env={**child_env, "COLUMNS": "300"}, capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert " ".join(help_text.split()[:4]) in " ".join(r.stdout.split())
