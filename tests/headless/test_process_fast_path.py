"""``rollout process`` without Typer (console/fastjob.py): the same model, record and errors as the
Typer command, and a start-up that loads neither Typer, click, pydantic-settings nor aiohttp."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from headless_helpers import REPO, child_env, launcher

from console.commands.jobcommand import parse_job_argv
from console.fastjob import parse_job_args
from engine.options.process import ProcessJob

sys.path.insert(0, str(REPO / "tests"))
from fakes.batch_files import check_exactly_once, write_requests  # noqa: E402  # type: ignore[import-not-found]
from fakes.openai_server import fake_openai  # noqa: E402,F401  (a fixture)


def _typer_app():
    from console.cli import app

    return app


@pytest.mark.parametrize("words", [
    ["-i", "{inp}", "-o", "out.jsonl", "--url", "http://127.0.0.1:9"],
    ["--input={inp}", "--output_file", "out.jsonl", "--concurrency", "7", "--timeout", "2.5", "--restart"],
    ["--input-file", "{inp}", "-o", "o.jsonl", "--transport", "aiohttp", "--max_retries", "0", "--no-preflight",
     "--max-prompt-tokens", "0", "--model", "m", "--rpm", "60", "--allow-duplicates"],
])
def test_the_fast_parse_resolves_the_model_the_typer_command_does(tmp_path: Path, words: list[str]) -> None:
    inp = tmp_path / "req.jsonl"
    write_requests(inp, 3)
    words = [w.replace("{inp}", str(inp)) for w in words]
    parsed = parse_job_args(ProcessJob, [*words, "--plain"])
    assert parsed is not None
    given, plain = parsed
    assert plain is True
    fast = ProcessJob.resolve(None, given)
    typer_model = parse_job_argv(_typer_app(), ["rollout", "process", *words], None)
    assert type(typer_model) is ProcessJob
    assert fast.model_dump() == typer_model.model_dump()
    assert fast.given == typer_model.given
    assert fast.argv() == typer_model.argv()


@pytest.mark.parametrize("words", [
    ["--help"], ["-h"], ["--serve", "--model-path", "m"], ["--inptu", "x"], ["--concurrency", "many"],
    ["--concurrency"], ["--timeout", "fast"], ["--input", "--output"], ["--restart=yes"], ["extra-word"],
    ["--", "--tp", "2"], ["-ix"],
])
def test_anything_but_a_plain_use_goes_to_typer(words: list[str]) -> None:
    assert parse_job_args(ProcessJob, words) is None


def _run_record(workspace: Path) -> dict:
    runs = sorted((workspace / "runs").iterdir())
    assert len(runs) == 1
    record = json.loads((runs[0] / "run.json").read_text())
    for run in runs:
        for f in run.iterdir():
            f.unlink()
        run.rmdir()
    return record


def test_a_fast_run_records_what_the_typer_command_records(tmp_path: Path, fake_openai) -> None:
    server = fake_openai()
    inp = tmp_path / "req.jsonl"
    ids = write_requests(inp, 20)
    records = []
    for module, out in (("console.launcher", tmp_path / "fast.jsonl"), ("console.cli", tmp_path / "typer.jsonl")):
        res = subprocess.run([sys.executable, "-m", module, "process", "-i", str(inp), "-o", str(out), "--url",
                              server.url, "--concurrency", "4", "--plain"], env=child_env(tmp_path / "ws"),
                             capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, res.stderr[-2000:]
        ok, failed = check_exactly_once(ids, out, out.with_name(out.name + ".errors.jsonl"))
        assert len(ok) == 20 and not failed
        records.append(_run_record(tmp_path / "ws"))
    # the two runs differ only in the output path they were given
    fast, typer_rec = (json.loads(json.dumps(r).replace("typer.jsonl", "fast.jsonl")) for r in records)
    for key in ("job", "command", "options", "config_file", "kind", "title", "inputs", "outputs"):
        assert fast.get(key) == typer_rec.get(key), key
    assert fast["job"] == "process" and fast["options"]["concurrency"] == 4


def test_a_bad_flag_is_explained_by_the_typer_command(tmp_path: Path) -> None:
    inp = tmp_path / "req.jsonl"
    write_requests(inp, 2)
    for words, needle in ((["--concurrency", "0"], "--concurrency"), (["--transport", "curl"], "choose one of"),
                          (["--inptu", "x"], "No such option")):
        res = launcher(tmp_path / "ws", "process", "-i", str(inp), "-o", str(tmp_path / "o.jsonl"), *words)
        assert res.returncode == 2, res.stderr
        assert needle in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert not (tmp_path / "o.jsonl").exists()
    assert not (tmp_path / "ws" / "runs").exists() or not any((tmp_path / "ws" / "runs").iterdir())


def test_an_unreachable_endpoint_is_one_line_and_exit_3(tmp_path: Path) -> None:
    inp = tmp_path / "req.jsonl"
    write_requests(inp, 2)
    res = launcher(tmp_path / "ws", "process", "-i", str(inp), "-o", str(tmp_path / "o.jsonl"), "--url",
                   "http://127.0.0.1:9", "--plain")
    assert res.returncode == 3, res.stderr
    assert res.stderr.strip().splitlines()[-1].startswith("rollout: error: cannot reach http://127.0.0.1:9/v1/models")


def test_the_fast_path_loads_no_typer_click_settings_or_aiohttp(tmp_path: Path, fake_openai) -> None:
    server = fake_openai()
    inp = tmp_path / "req.jsonl"
    write_requests(inp, 5)
    for _ in range(2):  # the second run recalls the config memo: no pydantic-settings at all
        out = tmp_path / "o.jsonl"
        res = launcher(tmp_path / "ws", "process", "-i", str(inp), "-o", str(out), "--url", server.url, "--plain",
                       "--restart", extra=["-X", "importtime"])
        assert res.returncode == 0, res.stderr[-2000:]
    tops = {line.split("|")[-1].strip().split(".")[0] for line in res.stderr.splitlines()
            if line.startswith("import time:")}
    assert "pyreqwest" in tops and "engine" in tops  # the trace is real
    assert not tops & {"typer", "click", "pydantic_settings", "aiohttp", "httpx", "rich", "textual"}, \
        sorted(tops & {"typer", "click", "pydantic_settings", "aiohttp", "httpx", "rich", "textual"})
