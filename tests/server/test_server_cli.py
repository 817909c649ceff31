"""`rollout serve` end to end in child processes, with the stand-in as the server."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest
from server_helpers import STEP, alive_pids, read_json, session_members, wait_for

from engine.runs import RunDir, list_runs


@pytest.fixture
def env(child_env: dict[str, str], fake_sglang_path: Path) -> dict[str, str]:
    child_env["PYTHONPATH"] = os.environ["PYTHONPATH"]  # the fake sglang packages
    return child_env


def serve(rollout_cmd: list[str], *args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*rollout_cmd, "serve", *args], env=env, capture_output=True, text=True, timeout=timeout)


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("rollout: error:")]


def only_run(workspace: Path) -> RunDir:
    runs = list_runs(workspace)
    assert len(runs) == 1, runs
    return runs[0]


def start_background(rollout_cmd: list[str], *args: str, env: dict[str, str], workspace: Path) -> tuple[subprocess.Popen[str], RunDir]:
    proc = subprocess.Popen([*rollout_cmd, "serve", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    run = wait_for(lambda: (list_runs(workspace) or [None])[0], 30, "the serve run directory")
    wait_for(lambda: run.read_state().get("status") == "serving" or proc.poll() is not None, 30, "serving")
    assert proc.poll() is None, proc.communicate()
    return proc, run


def test_oom_prints_one_line_and_exits_3(rollout_cmd, env, workspace: Path) -> None:
    res = serve(rollout_cmd, "--model-path", "big/model", "--plain", "--", "--mode", "oom", "--step-delay", STEP, env=env)
    assert res.returncode == 3, res.stderr
    errors = error_lines(res.stderr)
    assert len(errors) == 1
    assert "CUDA out of memory" in errors[0] and "--mem-fraction-static" in errors[0]
    assert "Traceback" not in res.stderr
    run = only_run(workspace)
    assert run.effective_status() == "failed"
    tails = [e for e in run.read_events() if e["type"] == "server_log_tail"]
    assert tails and any("OutOfMemoryError" in line for line in tails[0]["lines"])
    assert tails[0]["cause"] == "cuda_oom"


def test_default_python_without_sglang(rollout_cmd, child_env, workspace: Path) -> None:
    res = serve(rollout_cmd, "--model-path", "m", "--plain", env=child_env)
    assert res.returncode == 3, res.stderr
    errors = error_lines(res.stderr)
    assert len(errors) == 1 and "sglang is not installed in" in errors[0] and "--python" in errors[0]


def test_missing_model_path_is_usage_error(rollout_cmd, env) -> None:
    res = serve(rollout_cmd, "--plain", env=env)
    assert res.returncode == 2 and "--model-path" in res.stderr


def test_serve_then_rollout_stop(rollout_cmd, env, workspace: Path) -> None:
    proc, run = start_background(rollout_cmd, "--model-path", "m", "--plain", "--stop-grace", "5", "--",
                                 "--mode", "spawn_children", "--step-delay", STEP, env=env, workspace=workspace)
    state = run.read_state()
    figures = state["figures"]
    assert figures["url"].startswith("http://127.0.0.1:") and figures["port"] == int(figures["url"].rsplit(":", 1)[1])
    assert run.read_run()["server"]["port"] == figures["port"]
    record = read_json(run.path / "server.json")
    assert record["argv"][-4:] == ["--mode", "spawn_children", "--step-delay", STEP]  # args after -- reach the server
    # metrics scraped into the state (two dp ranks summed)
    wait_for(lambda: run.read_state()["figures"].get("running_reqs") == 8.0, 10, "metrics in state")
    phases = [e["phase"] for e in run.read_events() if e["type"] == "phase"]
    assert "capturing CUDA graphs" in phases and phases[-1] == "serving"
    # the tree as the job saw it (the setsid child included)
    wait_for(lambda: len(read_json(run.path / "server.json").get("descendants", [])) == 3, 10, "descendants recorded")

    stop = subprocess.run([*rollout_cmd, "stop", run.run_id], env=env, capture_output=True, text=True, timeout=30)
    assert stop.returncode == 0, stop.stderr
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "no process of it is left" in err
    record = read_json(run.path / "server.json")
    assert session_members(record["sid"]) == []
    assert alive_pids([d["pid"] for d in record["descendants"]]) == []


def test_job_sigkilled_then_serve_stop_cleans_up(rollout_cmd, env, workspace: Path) -> None:
    proc, run = start_background(rollout_cmd, "--model-path", "m", "--plain", "--",
                                 "--mode", "spawn_children", "--step-delay", STEP, env=env, workspace=workspace)
    wait_for(lambda: len(read_json(run.path / "server.json").get("descendants", [])) == 3, 10, "descendants recorded")
    record = read_json(run.path / "server.json")
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=10)
    # the server outlives its console: that is what the cleanup is for
    assert alive_pids([record["pid"]]) == [record["pid"]]
    assert run.effective_status() in ("lost", "serving")

    res = subprocess.run([*rollout_cmd, "serve", "stop", run.run_id, "--grace", "2"], env=env, capture_output=True,
                         text=True, timeout=30)
    assert res.returncode == 0, res.stderr
    assert "no process of it is left" in res.stderr
    assert session_members(record["sid"]) == []
    assert alive_pids([d["pid"] for d in record["descendants"]]) == []
    assert run.effective_status() == "cancelled"
    # a second stop finds nothing to do
    again = subprocess.run([*rollout_cmd, "serve", "stop", run.run_id], env=env, capture_output=True, text=True,
                           timeout=30)
    assert again.returncode == 0 and "no process of the server is alive" in again.stderr


def test_ignore_sigterm_server_killed_after_grace(rollout_cmd, env, workspace: Path) -> None:
    proc, run = start_background(rollout_cmd, "--model-path", "m", "--plain", "--stop-grace", "0.5", "--",
                                 "--mode", "ignore_sigterm", "--step-delay", STEP, env=env, workspace=workspace)
    pid = read_json(run.path / "server.json")["pid"]
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert "SIGKILL after the grace" in err
    assert alive_pids([pid]) == []
    stopped = [e for e in run.read_events() if e["type"] == "server_stopped"]
    assert stopped and stopped[0]["killed"] and stopped[0]["survivors"] == []


def test_router_with_stand_in(rollout_cmd, env, workspace: Path, fake_server) -> None:
    _, worker_a = fake_server()
    _, worker_b = fake_server()
    proc, run = start_background(rollout_cmd, "router", "--worker-urls", worker_a, worker_b, "--policy", "round_robin",
                                 "--plain", "--", "--step-delay", STEP, env=env, workspace=workspace)
    argv = read_json(run.path / "server.json")["argv"]
    assert argv[1:3] == ["-m", "sglang_router.launch_router"]
    assert argv[3:7] == ["--worker-urls", worker_a, worker_b, "--policy"]
    assert run.read_state()["figures"]["server"]["ready_path"] == "/health"
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    assert session_members(read_json(run.path / "server.json")["sid"]) == []


def test_router_without_sglang_router(rollout_cmd, child_env) -> None:
    # the system Python has no sglang_router (the project's venv has it, for the router tests)
    res = subprocess.run([*rollout_cmd, "serve", "router", "--worker-urls", "http://127.0.0.1:1", "--plain",
                          "--python", "/usr/bin/python3"],
                         env=child_env, capture_output=True, text=True, timeout=60)
    assert res.returncode == 3
    assert "sglang_router is not installed" in res.stderr and "sglang-router" in res.stderr


def test_attach_watches_without_launching(rollout_cmd, env, workspace: Path, fake_server) -> None:
    server, url = fake_server()
    proc, run = start_background(rollout_cmd, "--attach", url, "--plain", env=env, workspace=workspace)
    assert not (run.path / "server.json").exists()
    wait_for(lambda: run.read_state()["figures"].get("metrics", {}).get("queued_reqs") == 3.0, 10, "metrics of the attached server")
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    assert server.poll() is None  # attached: not ours to stop


def test_server_dying_while_serving_fails_the_job(rollout_cmd, env, workspace: Path) -> None:
    proc, run = start_background(rollout_cmd, "--model-path", "m", "--plain", "--", "--step-delay", STEP,
                                 env=env, workspace=workspace)
    os.kill(read_json(run.path / "server.json")["pid"], signal.SIGKILL)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 3
    errors = error_lines(err)
    assert len(errors) == 1 and "server exited with code -9 while serving" in errors[0]
    assert run.effective_status() == "failed"


def test_serve_stop_on_a_live_job_asks_the_job(rollout_cmd, env, workspace: Path) -> None:
    proc, run = start_background(rollout_cmd, "--model-path", "m", "--plain", "--", "--mode", "spawn_children",
                                 "--step-delay", STEP, env=env, workspace=workspace)
    wait_for(lambda: len(read_json(run.path / "server.json").get("descendants", [])) == 3, 10, "descendants recorded")
    res = subprocess.run([*rollout_cmd, "serve", "stop", run.run_id], env=env, capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0, res.stderr
    proc.communicate(timeout=30)
    assert proc.returncode == 130  # the job stopped its own server
    record = read_json(run.path / "server.json")
    assert record["stopped"] is True
    assert session_members(record["sid"]) == []
    assert alive_pids([d["pid"] for d in record["descendants"]]) == []


def test_hangup_stops_the_server(rollout_cmd, env, workspace: Path) -> None:
    """A closed terminal / dropped SSH link must not orphan the server."""
    proc, run = start_background(rollout_cmd, "--model-path", "m", "--plain", "--", "--step-delay", STEP,
                                 env=env, workspace=workspace)
    sid = read_json(run.path / "server.json")["sid"]
    proc.send_signal(signal.SIGHUP)
    proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert session_members(sid) == []


def test_custom_engine_from_config(rollout_cmd, env, workspace: Path, tmp_path: Path) -> None:
    from server_helpers import FAKE_SERVER

    (tmp_path / "rollout.toml").write_text(
        "[engines.custom]\n"
        f'command = ["{{python}}", "{FAKE_SERVER}", "--model-path", "{{model_path}}", "--host", "{{host}}", '
        f'"--port", "{{port}}", "--step-delay", "{STEP}"]\n'
        'ready_path = "/v1/models"\n'
    )
    proc, run = start_background(rollout_cmd, "--engine", "custom", "--model-path", "my/model", "--plain",
                                 env=env, workspace=workspace)
    record = read_json(run.path / "server.json")
    assert record["argv"][1:4] == [str(FAKE_SERVER), "--model-path", "my/model"]
    assert run.read_state()["figures"]["server"]["ready_path"] == "/v1/models"
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    assert session_members(record["sid"]) == []
