"""Rate and ETA come from this run's own work; stopped runs keep no live rate; outputs are absolute."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from engine.jobs import JobContext, run_job
from engine.runs import create_run, run_output_paths


def test_a_resume_does_not_inflate_rate_or_eta(workspace: Path) -> None:
    seen: list[dict] = []

    async def resumed(ctx: JobContext) -> None:
        ctx.set_total(2040)
        await asyncio.sleep(0.6)
        ctx.advance(skipped=2000)  # what a resume reports: the ids already done
        for _ in range(20):
            await asyncio.sleep(0.1)
            ctx.advance(ok=1)
        seen.append(dict(ctx.run.read_state()))

    run_job("resumed", resumed, workspace=workspace, argv=["t"], install_signals=False)
    state = seen[-1]
    assert 5 < state["rate"]["items_per_s"] < 15  # ~10 items/s of real work, not ~1000/s
    assert 1 < state["eta_s"] < 5  # ~20 left at ~10/s


def test_a_cancelled_run_has_no_rate_or_eta(workspace: Path) -> None:
    async def stopped(ctx: JobContext) -> None:
        ctx.set_total(100)
        for _ in range(10):
            await asyncio.sleep(0.05)
            ctx.advance(ok=1)
        ctx.request_stop("test")

    result = run_job("stopped", stopped, workspace=workspace, argv=["t"], install_signals=False)
    assert result.status == "cancelled"
    assert result.state["rate"]["items_per_s"] is None and result.state["eta_s"] is None


def test_output_paths_are_absolute_and_old_relative_ones_resolve_against_the_jobs_cwd(
        workspace: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    run = create_run(workspace, "t", [], outputs={"output": "out/answers.jsonl", "n": 3})
    info = run.read_run()
    assert info["outputs"]["output"] == str(tmp_path / "out" / "answers.jsonl")
    old = {"cwd": "/srv/job", "outputs": {"output": "answers.jsonl", "errors": "/abs/err.jsonl", "n": 3}}
    assert run_output_paths(old) == {"output": "/srv/job/answers.jsonl", "errors": "/abs/err.jsonl"}
    assert os.getcwd() == str(tmp_path)  # resolved against the job's cwd, not this one
