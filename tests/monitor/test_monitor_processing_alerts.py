"""Done-when of issue 8: a processing run against a server that starts failing raises error_rate_high
and endpoint_down, visibly (events, state, stderr, on_alert), and both clear when the server recovers."""

from __future__ import annotations

import importlib.util
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import pytest

FAKES = Path(__file__).resolve().parents[1] / "fakes" / "openai_server.py"


def _fake_server_class() -> Any:
    spec = importlib.util.spec_from_file_location("fake_openai_server_for_monitor", FAKES)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look the module up while building the class
    spec.loader.exec_module(module)
    return module.FakeServer


def _alert_events(workspace: Path) -> list[dict[str, Any]]:
    out = []
    for events in (workspace / "runs").glob("process-*/events.jsonl"):
        for line in events.read_text().splitlines():
            try:
                e = json.loads(line)
            except ValueError:
                continue
            if e.get("type") == "alert":
                out.append(e)
    return out


def _wait(cond: Callable[[], bool], what: str, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if proc.poll() is not None:
            pytest.fail(f"rollout process exited {proc.returncode} while waiting for {what}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


def _has(workspace: Path, name: str, state: str) -> bool:
    return any(e["name"] == name and e["state"] == state for e in _alert_events(workspace))


@pytest.mark.timeout(240)
def test_failing_server_raises_and_clears_error_rate_and_endpoint_down(
    tmp_path: Path, workspace: Path, rollout_cmd: list[str], child_env: dict[str, str]
) -> None:
    requests = tmp_path / "in.jsonl"
    with open(requests, "w") as fh:
        for i in range(20000):
            body = {"model": "fake-model", "max_tokens": 8, "messages": [{"role": "user", "content": f"id-{i}"}]}
            fh.write(json.dumps({"custom_id": f"id-{i}", "method": "POST", "url": "/v1/chat/completions", "body": body}) + "\n")
    received = tmp_path / "on_alert.jsonl"
    notify = tmp_path / "notify.py"
    notify.write_text(f"import sys\nopen({str(received)!r}, 'a').write(sys.stdin.read())\n")
    config = tmp_path / "monitor-test.toml"
    config.write_text(
        f'on_alert = "{sys.executable} {notify}"\n'
        "[[alerts]]\n"
        'name = "error_rate_high"\nmetric = "figures.error_rate_recent"\nop = ">"\nthreshold = 0.05\n'
        "min_samples = 20\nhold_s = 1\nseverity = \"critical\"\n"
    )
    server = _fake_server_class()(mode="ok", delay=0.02).start()
    stderr_path = tmp_path / "stderr.txt"
    proc = None
    try:
        with open(stderr_path, "w") as err:
            proc = subprocess.Popen(
                rollout_cmd + ["--config", str(config), "process", "--input", str(requests),
                               "--output", str(tmp_path / "out.jsonl"), "--url", server.url, "--concurrency", "4",
                               "--max-retries", "0", "--plain"],
                env=child_env, stdout=subprocess.DEVNULL, stderr=err, cwd=tmp_path,
            )
            out_file = tmp_path / "out.jsonl"
            _wait(lambda: out_file.exists() and out_file.stat().st_size > 0, "first answers", proc)

            server.control(mode="500", fail_times=10**9, match="")
            _wait(lambda: _has(workspace, "error_rate_high", "raised"), "error_rate_high raised", proc)
            server.control(mode="ok")
            _wait(lambda: _has(workspace, "error_rate_high", "cleared"), "error_rate_high cleared", proc)

            server.stop()
            _wait(lambda: _has(workspace, "endpoint_down", "raised"), "endpoint_down raised", proc)
            server.restart(mode="ok")
            _wait(lambda: _has(workspace, "endpoint_down", "cleared"), "endpoint_down cleared", proc)

            state_files = list((workspace / "runs").glob("process-*/state.json"))
            assert len(state_files) == 1
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        server.stop()
    stderr = stderr_path.read_text()
    assert "alert [critical] error_rate_high" in stderr and "alert cleared: error_rate_high" in stderr
    assert "alert [critical] endpoint_down" in stderr and "alert cleared: endpoint_down" in stderr
    deadline = time.monotonic() + 20
    wanted = {("error_rate_high", "raised"), ("error_rate_high", "cleared"),
              ("endpoint_down", "raised"), ("endpoint_down", "cleared")}
    while True:
        got = {(d["name"], d["state"]) for d in map(json.loads, received.read_text().splitlines())} \
            if received.exists() else set()
        if wanted <= got or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert wanted <= got
    final = json.loads(state_files[0].read_text())
    assert not [a for a in final["alerts"] if a["name"] in ("error_rate_high", "endpoint_down")]
