"""The real sglang-router (package sglang-router) in front of SGLang stand-ins, through `rollout serve router`.

The multi-node recipe on one box: workers on 127.0.0.1 ports, the router launched by rollout from
a --worker-file, per-worker health in the run's state, `rollout process --url` through the router.
"""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import pytest
from server_helpers import group_kill, session_members, wait_for

from engine.runs import list_runs
from engine.server.router import parse_workers, read_worker_file, worker_urls
from engine.errors import InputError

pytest.importorskip("sglang_router")

#: health checks every second, one failure marks a worker down, unregistered workers retried each second
FAST_HEALTH = ["--health-check-interval-secs", "1", "--health-failure-threshold", "1",
               "--health-success-threshold", "1", "--worker-startup-check-interval", "1"]


def _workers(run) -> dict[str, str]:
    return {w["url"]: w["state"] for w in run.read_state().get("figures", {}).get("workers", [])}


def test_router_over_stand_ins_health_and_process(rollout_cmd, child_env, workspace: Path, tmp_path: Path,
                                                  fake_server) -> None:
    from engine.server import free_port

    proc_a, worker_a = fake_server()
    proc_b, worker_b = fake_server()
    absent = f"http://127.0.0.1:{free_port()}"  # configured, never started: pending
    wfile = tmp_path / "workers.txt"
    wfile.write_text(f"# the GPU nodes\n{worker_a}\n{worker_b.removeprefix('http://')}  # no scheme is fine\n\n{absent}\n")
    router = subprocess.Popen([*rollout_cmd, "serve", "router", "--worker-file", str(wfile), "--policy", "round_robin",
                               "--plain", "--", *FAST_HEALTH],
                              env=child_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        run = wait_for(lambda: (list_runs(workspace) or [None])[0], 30, "the router run")
        wait_for(lambda: run.read_state().get("status") == "serving" or router.poll() is not None, 60, "serving")
        assert router.poll() is None, router.communicate()[1]
        figures = run.read_state()["figures"]
        assert figures["server"]["ready_path"] == "/readiness"
        record = json.loads((run.path / "server.json").read_text())
        assert record["argv"][1:3] == ["-m", "sglang_router.launch_router"]
        assert record["argv"][3:7] == ["--worker-urls", worker_a, worker_b, absent]
        wait_for(lambda: _workers(run) == {worker_a: "healthy", worker_b: "healthy", absent: "pending"}, 30,
                 f"two healthy workers and one pending: {_workers(run)}")
        assert run.read_state()["figures"]["workers_healthy"] == "2/3"

        # rollout process pointed at the router: the requests are spread over the workers
        requests = tmp_path / "req.jsonl"
        requests.write_text("".join(json.dumps({"custom_id": f"r{i}", "method": "POST", "url": "/v1/chat/completions",
                                                "body": {"model": "m", "messages": [{"role": "user", "content": f"hi {i}"}]}})
                                    + "\n" for i in range(8)))
        out = tmp_path / "out.jsonl"
        done = subprocess.run([*rollout_cmd, "process", "--input", str(requests), "--output", str(out), "--url",
                               figures["url"], "--plain"], env=child_env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        answers = [json.loads(x) for x in out.read_text().splitlines()]
        assert sorted(a["custom_id"] for a in answers) == [f"r{i}" for i in range(8)]
        assert all(a["response"]["status_code"] == 200 for a in answers)

        # a worker dies: the router marks it unhealthy, the run's state and events say so
        group_kill(proc_b.pid)
        wait_for(lambda: _workers(run).get(worker_b) == "unhealthy", 30, f"worker b unhealthy: {_workers(run)}")
        assert run.read_state()["figures"]["workers_healthy"] == "1/3"
        warnings = [e for e in run.read_events() if e.get("level") == "warning" or e.get("type") == "warning"]
        assert any(worker_b in json.dumps(e) and "unhealthy" in json.dumps(e) for e in warnings), warnings
    finally:
        router.send_signal(signal.SIGTERM)
        router.communicate(timeout=60)
    record = json.loads((run.path / "server.json").read_text())
    assert session_members(record["sid"]) == []  # the router's whole tree is gone


def test_worker_list_from_flags_and_file(tmp_path: Path) -> None:
    f = tmp_path / "w.txt"
    f.write_text("http://10.0.0.1:30000/\n# comment\nnode2:30000\n")
    assert worker_urls(["http://10.0.0.1:30000,node3:1"], f) == ["http://10.0.0.1:30000", "http://node3:1",
                                                                  "http://node2:30000"]
    with pytest.raises(InputError, match="not found"):
        read_worker_file(tmp_path / "missing.txt")
    f.write_text("http://a:1 http://b:2\n")
    with pytest.raises(InputError, match="line 1"):
        read_worker_file(f)
    with pytest.raises(InputError, match="needs workers"):
        worker_urls([], None)


def test_parse_workers_marks_unregistered_as_pending() -> None:
    body = {"workers": [{"url": "http://a:1", "is_healthy": True, "load": 3, "model_id": "m"},
                        {"url": "http://c:3", "is_healthy": False, "load": -1, "model_id": "unknown"}], "total": 2}
    health = parse_workers(body, ["http://a:1", "http://b:2"])
    assert [(w.url, w.state, w.load, w.model) for w in health.workers] == [
        ("http://a:1", "healthy", 3, "m"), ("http://b:2", "pending", None, None), ("http://c:3", "unhealthy", None, None)]
    assert health.figures()["workers_healthy"] == "1/3"
    with pytest.raises(ValueError):
        parse_workers({"urls": []}, [])
