"""A fresh run checks its input's head before sending and the rest as it sends
(engine/processor/inputcheck.py): a bad line or a repeated custom_id after the head still stops
the run with exit 2 before that line is sent, and a rerun after the fix finishes exactly once.
A resumed run checks its whole input first, as before. Jobs run in-process (run_job)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from fakes.batch_files import check_exactly_once, read_lines, write_requests  # type: ignore[import-not-found]
from engine.errors import ExitCode, InputError, RolloutError
from engine.jobs import run_job
from engine.processor import ProcessOptions, make_process_job
from engine.processor import inputcheck
from engine.processor.job import prepare_run
from engine.runs import list_runs

N = 60


@pytest.fixture
def small_head(monkeypatch: pytest.MonkeyPatch) -> None:
    """A head of ~5 lines, so these small files take the streamed path of big ones."""
    monkeypatch.setattr(inputcheck, "HEAD_BYTES", 700)


def options(tmp_path: Path, url: str, **kw) -> ProcessOptions:
    return ProcessOptions(input=tmp_path / "in.jsonl", output=tmp_path / "out.jsonl", url=url, concurrency=4,
                          backoff_base=0.05, backoff_max=0.2, **kw)


def run(tmp_path: Path, opts: ProcessOptions):
    plan = prepare_run(opts)
    plan.complete_before = plan.complete  # type: ignore[attr-defined]  (the reader completes the checks)
    return plan, run_job("process", make_process_job(opts, plan), workspace=tmp_path / "ws", argv=["test"],
                         install_signals=False, state_interval=0.05)


def replace_line(path: Path, lineno: int, raw: bytes) -> bytes:
    lines = path.read_bytes().splitlines(keepends=True)
    old = lines[lineno - 1]
    lines[lineno - 1] = raw + b"\n"
    path.write_bytes(b"".join(lines))
    return old


def test_a_fresh_run_checks_the_rest_while_sending(tmp_path: Path, fake_openai, small_head) -> None:
    server = fake_openai(mode="ok")
    ids = write_requests(tmp_path / "in.jsonl", N)
    opts = options(tmp_path, server.url)
    plan, result = run(tmp_path, opts)
    assert not plan.complete_before and 0 < plan.total < N  # only the head was read before the run
    assert result.exit_code == 0
    check_exactly_once(ids, opts.output, opts.errors_path)
    assert result.state["counters"]["total"] == N and result.state["figures"]["input_lines"] == N
    assert orjson.loads(opts.sidecar_path.read_bytes())["lines"] == N


def test_a_bad_line_after_the_head_stops_the_run_before_it(tmp_path: Path, fake_openai, small_head) -> None:
    server = fake_openai(mode="ok")
    ids = write_requests(tmp_path / "in.jsonl", N)
    good = replace_line(tmp_path / "in.jsonl", 40, b'{"custom_id": "id-39", "method": "POST", "body": {')
    opts = options(tmp_path, server.url)
    with pytest.raises(RolloutError) as err:
        run(tmp_path, opts)
    message = str(err.value)
    assert err.value.exit_code == ExitCode.USAGE and "in.jsonl:40" in message and "invalid JSON" in message
    assert "rerun the same command to resume" in message and "\n" not in message
    answered = [line["custom_id"] for line in read_lines(opts.output)]
    assert len(answered) == len(set(answered)) and set(answered) <= set(ids[:39])  # nothing from line 40 on
    attempts = server.stats()["attempts"]
    assert not any(f"id-{i}" in key for key in attempts for i in range(39, N))
    (run_dir,) = list_runs(tmp_path / "ws")
    assert run_dir.read_run()["status"] == "failed" and run_dir.read_run()["exit_code"] == 2

    replace_line(tmp_path / "in.jsonl", 40, good.rstrip(b"\n"))  # fixed: the rerun resumes
    plan, result = run(tmp_path, opts)
    assert plan.complete_before and plan.already_done == len(answered)  # a resume checks the whole file first
    assert result.exit_code == 0
    check_exactly_once(ids, opts.output, opts.errors_path)


def test_a_repeated_id_after_the_head_is_refused_unsent(tmp_path: Path, fake_openai, small_head) -> None:
    server = fake_openai(mode="ok")
    write_requests(tmp_path / "in.jsonl", N)
    line2 = (tmp_path / "in.jsonl").read_bytes().splitlines()[1]
    replace_line(tmp_path / "in.jsonl", 50, line2)  # id-1 again
    opts = options(tmp_path, server.url)
    with pytest.raises(RolloutError) as err:
        run(tmp_path, opts)
    assert "in.jsonl:50" in str(err.value) and "duplicate custom_id 'id-1' (first on line 2)" in str(err.value)
    answered = [line["custom_id"] for line in read_lines(opts.output)]
    assert answered.count("id-1") <= 1 and len(answered) == len(set(answered))
    assert "id-49" not in answered  # the line it replaced, and everything after it, never went out


def test_with_duplicates_allowed_every_line_is_sent(tmp_path: Path, fake_openai, small_head) -> None:
    server = fake_openai(mode="ok")
    write_requests(tmp_path / "in.jsonl", N)
    replace_line(tmp_path / "in.jsonl", 50, (tmp_path / "in.jsonl").read_bytes().splitlines()[1])
    opts = options(tmp_path, server.url, allow_duplicates=True)
    _, result = run(tmp_path, opts)
    assert result.exit_code == 0 and len(read_lines(opts.output)) == N


def test_a_bad_line_in_a_resumed_run_is_refused_before_anything_is_sent(tmp_path: Path, fake_openai,
                                                                        small_head) -> None:
    server = fake_openai(mode="ok")
    write_requests(tmp_path / "in.jsonl", N)
    opts = options(tmp_path, server.url)
    opts.output.write_bytes(orjson.dumps({"id": "x", "custom_id": "id-0", "error": None,
                                          "response": {"status_code": 200, "body": {}}}) + b"\n")
    replace_line(tmp_path / "in.jsonl", N, b"[1, 2]")
    before = opts.output.read_bytes()
    with pytest.raises(InputError, match=f"in.jsonl:{N}"):
        prepare_run(opts)
    assert opts.output.read_bytes() == before and server.stats()["requests"] == 0
