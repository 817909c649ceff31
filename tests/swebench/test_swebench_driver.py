"""The harness driver against the real local dockerd (tests/services/setup-docker.sh): images cannot
be pulled here, so a run must end with a clear, specific error, never a hang or a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from engine.swebench.harness import HarnessProcess
from swebench_helpers import LITE_TEST

PREDS = LITE_TEST.parents[1] / "agentless-preds" / "repograph-all_preds.jsonl"


def _require_docker() -> None:
    try:
        import docker

        client = docker.from_env(timeout=10)
        client.ping()
        client.close()
    except Exception as exc:
        pytest.fail(f"docker is not available ({type(exc).__name__}: {exc}): run 'bash tests/services/setup-docker.sh' "
                    "(make test does)")


def _events(run: Path) -> list[dict]:
    return [json.loads(ln) for ln in (run / "events.jsonl").read_text().splitlines() if ln.strip()]


@pytest.mark.timeout(300)
def test_one_lite_instance_ends_with_image_error(tmp_path: Path, workspace: Path, rollout_cmd: list[str],
                                                 child_env: dict[str, str]) -> None:
    _require_docker()
    preds = tmp_path / "preds.jsonl"
    preds.write_text(PREDS.read_text().splitlines()[0] + "\n")  # a real Agentless patch for a Lite instance
    iid = json.loads(preds.read_text())["instance_id"]
    t0 = time.monotonic()
    r = subprocess.run(rollout_cmd + ["eval", "swebench", "--predictions", str(preds), "--dataset", str(LITE_TEST),
                                      "--max-workers", "1", "--work-dir", str(tmp_path / "wd"), "--plain",
                                      "--run-id", "t-one"],
                       env={**child_env, "HF_DATASETS_OFFLINE": "1"}, capture_output=True, text=True, timeout=240)
    assert time.monotonic() - t0 < 240
    assert r.returncode == 3, r.stderr
    assert "Traceback" not in r.stderr
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("rollout: error:")]
    assert len(errors) == 1 and "cannot be pulled" in errors[0] and iid in errors[0]
    [run] = list((workspace / "runs").glob("swebench-*"))
    state = json.loads((run / "state.json").read_text())
    assert state["status"] == "failed"
    fig = state["figures"]
    assert (fig["errors"], fig["crashes"], fig["instances_done"], fig["instances_total"]) == (1, 1, 1, 1)
    assert "cannot be pulled" in fig["last_error"] and fig["errors_list"][0]["reason"] == "image_unavailable"
    assert fig["summary"]["agentless"]["error"] == 1  # the harness's own summary, parsed
    ev = _events(run)
    [inst_err] = [e for e in ev if e["type"] == "instance_error"]
    assert inst_err["instance_id"] == iid and inst_err["reason"] == "image_unavailable"
    assert any(e["type"] == "error" and "cannot be pulled" in e["message"] for e in ev)
    assert json.loads((run / "run.json").read_text())["exit_code"] == 3
    assert (tmp_path / "wd" / "logs" / "run_evaluation" / "t-one" / "agentless" / iid / "run_instance.log").is_file()


def test_docker_unreachable_or_harness_missing_exit_3(tmp_path: Path, workspace: Path, rollout_cmd: list[str],
                                                      child_env: dict[str, str]) -> None:
    preds = tmp_path / "preds.jsonl"
    preds.write_text(PREDS.read_text().splitlines()[0] + "\n")
    base = rollout_cmd + ["eval", "swebench", "--predictions", str(preds), "--dataset", str(LITE_TEST)]
    r = subprocess.run(base, env={**child_env, "DOCKER_HOST": f"unix://{tmp_path}/no.sock"}, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 3 and r.stderr.count("\n") == 1 and "Docker cannot be reached" in r.stderr
    no_harness = next((p for p in ("/usr/bin/python3", "/usr/local/bin/python3") if Path(p).exists()
                       and subprocess.run([p, "-c", "import swebench"], capture_output=True).returncode != 0), None)
    if no_harness is None:
        no_harness = str(tmp_path / "no-python")
    r = subprocess.run(base + ["--harness-python", no_harness], env=child_env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 3 and r.stderr.count("\n") == 1 and "harness" in r.stderr and "pip install" in r.stderr
    assert not (workspace / "runs").exists() or not list((workspace / "runs").glob("swebench-*"))


def test_bad_predictions_are_one_line_input_errors(tmp_path: Path, workspace: Path, rollout_cmd: list[str],
                                                   child_env: dict[str, str]) -> None:
    _require_docker()
    preds = tmp_path / "preds.jsonl"
    preds.write_text(json.dumps({"instance_id": "nope__nope-1", "model_name_or_path": "m", "model_patch": "x"}) + "\n")
    r = subprocess.run(rollout_cmd + ["eval", "swebench", "--predictions", str(preds), "--dataset", str(LITE_TEST)],
                       env=child_env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "nope__nope-1" in r.stderr and r.stderr.count("\n") == 1


def test_stop_takes_down_the_whole_harness_group(tmp_path: Path) -> None:
    script = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']); time.sleep(120)"
    h = HarnessProcess.start([sys.executable, "-c", script], cwd=tmp_path, log=tmp_path / "h.log")
    deadline = time.monotonic() + 20
    while not psutil.Process(h.pid).children() and time.monotonic() < deadline:
        time.sleep(0.1)
    [child] = psutil.Process(h.pid).children()
    assert os.getpgid(child.pid) == h.pid  # own process group
    rc = h.stop(grace_s=5)
    assert rc is not None
    child.wait(10)
    assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE
