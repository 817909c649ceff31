"""A real job raises a configured alert into events.jsonl, state.json, stderr and the on_alert command."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from engine.config import AlertRule, Config
from engine.demo import make_demo_job
from engine.alerts import state_hooks
from engine.jobs import run_job


def test_demo_job_raises_a_failure_alert(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    received = tmp_path / "received.jsonl"
    script = tmp_path / "notify.py"
    script.write_text(f"import sys\nopen({str(received)!r}, 'a').write(sys.stdin.read())\n")
    cfg = Config(
        alerts=[AlertRule(name="items_failing", metric="counters.failed", op=">=", threshold=3,
                          severity="critical", action="look at the failures")],
        on_alert=f"{sys.executable} {script}",
    )
    lines: list[str] = []
    result = run_job("demo", make_demo_job(items=60, delay_s=0.03, fail_every=4, concurrency=2),
                     workspace=ws, config=cfg, echo=lines.append, install_signals=False, state_interval=0.05,
                     hooks=state_hooks(cfg))
    assert result.exit_code == 1  # some items failed
    state = json.loads(result.run.state_json.read_text())
    [alert] = [a for a in state["alerts"] if a["name"] == "items_failing"]
    assert alert["severity"] == "critical" and alert["value"] >= 3 and alert["action"] == "look at the failures"
    events = [e for e in result.run.read_events() if e["type"] == "alert" and e["name"] == "items_failing"]
    assert [e["state"] for e in events] == ["raised"]
    # raised while the job ran, not only at the end
    finish = next(e for e in result.run.read_events() if e["type"] == "finish")
    assert events[0]["ts"] < finish["ts"] and events[0]["value"] < 15
    assert any(line.startswith("alert [critical] items_failing: counters.failed") for line in lines)
    deadline = time.monotonic() + 20
    while not received.exists() or not received.read_text().strip():
        assert time.monotonic() < deadline, "on_alert never ran"
        time.sleep(0.05)
    payload = json.loads(received.read_text().splitlines()[0])
    assert payload["name"] == "items_failing" and payload["state"] == "raised"
    assert payload["run_id"] == result.run.run_id and payload["kind"] == "demo"


def test_no_config_means_no_alert_hook(tmp_path: Path) -> None:
    assert state_hooks(None) == []
    result = run_job("demo", make_demo_job(items=10, delay_s=0.0, fail_every=2), workspace=tmp_path / "ws",
                     install_signals=False, hooks=state_hooks(None))
    assert result.state["alerts"] == []


def test_the_job_runner_does_not_import_the_alert_rules() -> None:
    """engine.jobs <-> engine.alerts is one way: the caller hands the alert hooks in."""
    import ast
    import engine.jobs

    tree = ast.parse(open(engine.jobs.__file__).read())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)} | {
        a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module == "engine" for a in n.names}
    assert "engine.alerts" not in imported and "alerts" not in names
