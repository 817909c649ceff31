"""``rollout process --serve``: launch the SGLang stand-in, process against it, stop it; and the
server metrics, GPU and cost figures of processing runs. Real processes on 127.0.0.1 only."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from fakes.batch_files import check_exactly_once, read_lines, write_requests  # type: ignore[import-not-found]

FAKE_SGLANG = Path(__file__).resolve().parents[1] / "fakes" / "sglang_server.py"
REPO = Path(__file__).resolve().parents[2]
#: stand-in flags after --: fast start-up
FAST = ["--", "--step-delay", "0.05"]


@pytest.fixture
def sglang_env(tmp_path: Path, child_env: dict[str, str]) -> dict[str, str]:
    """child_env with a fake ``sglang`` package (runs tests/fakes/sglang_server.py) importable, so
    ``python -m sglang.launch_server`` — the real launch path — starts the stand-in."""
    root = tmp_path / "fakepkgs"
    (root / "sglang").mkdir(parents=True)
    (root / "sglang" / "__init__.py").write_text("")
    (root / "sglang" / "launch_server.py").write_text(
        f"import runpy\nrunpy.run_path({str(FAKE_SGLANG)!r}, run_name='__main__')\n")
    return dict(child_env, PYTHONPATH=os.pathsep.join([str(root), str(REPO), child_env.get("PYTHONPATH", "")]))


def process(env: dict[str, str], *args: Any, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "console.cli", "process", "--plain", *map(str, args)], env=env,
                          capture_output=True, text=True, timeout=timeout)


def start(env: dict[str, str], *args: Any) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "console.cli", "process", "--plain", *map(str, args)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def only_run(workspace: Path) -> Path:
    runs = sorted((workspace / "runs").iterdir())
    assert len(runs) == 1, runs
    return runs[0]


def read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def server_survivors(run: Path) -> list[int]:
    """Live processes of the server recorded in the run's server.json: its session, its group, or
    any descendant it ever had (the stand-in's spawn_children mode puts one in a new session)."""
    record = read_json(run / "server.json")
    tracked = {(d["pid"], round(d["create_time"], 2)) for d in record["descendants"]}
    tracked.add((record["pid"], round(record["create_time"], 2)))
    alive = []
    for proc in psutil.process_iter(["pid", "create_time", "status"]):
        if proc.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        pid = proc.info["pid"]
        try:
            in_group = os.getsid(pid) == record["sid"] or os.getpgid(pid) == record["pgid"]
        except OSError:
            in_group = False
        if in_group or (pid, round(proc.info["create_time"], 2)) in tracked:
            alive.append(pid)
    return alive


def wait_for(pred: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def write_instances(path: Path, instances: list[str], samples: int) -> list[str]:
    """pass@k request lines ``<instance>__pass<N>`` (the stand-ins answer any chat request)."""
    ids = []
    with open(path, "w") as fh:
        for inst in instances:
            for n in range(1, samples + 1):
                cid = f"{inst}__pass{n}"
                ids.append(cid)
                body = {"model": "fake-model", "messages": [{"role": "user", "content": f"{cid} a b c"}]}
                fh.write(json.dumps({"custom_id": cid, "method": "POST", "url": "/v1/chat/completions",
                                     "body": body}) + "\n")
    return ids


# -- serve and process -------------------------------------------------------------------------
def test_serve_processes_file_then_no_process_left(tmp_path, workspace, sglang_env):
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    ids = write_requests(inp, 60)
    proc = process(sglang_env, "--input", inp, "--output", out, "--serve", "--model-path", "fake-model",
                   "--stop-grace", "5", "--concurrency", "8", *FAST, "--mode", "spawn_children")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    ok, failed = check_exactly_once(ids, out, tmp_path / "out.jsonl.errors.jsonl")
    assert len(ok) == 60 and not failed
    run = only_run(workspace)
    assert (run / "server.log").read_text().count("fired up and ready to roll") == 1
    record = read_json(run / "server.json")
    assert record["stopped"] is True and len(record["descendants"]) >= 3  # the stand-in's children
    assert server_survivors(run) == []
    state = read_json(run / "state.json")
    assert state["status"] == "done" and state["counters"]["ok"] == 60
    figs = state["figures"]
    assert figs["served"]["stopped"] is True and figs["served"]["url"].startswith("http://127.0.0.1:")
    assert figs["local_server"] is True
    # the stand-in's /metrics: two dp ranks (running 3 + 5, queued 1 + 2, token usage mean of .25/.75)
    server = figs["server"]
    assert server["running"] == 8 and server["queued"] == 3 and server["series"] == 2
    assert server["token_usage"] == 0.5 and server["gen_throughput"] == pytest.approx(300.75)
    assert server["cache_hit_rate"] == 0.5 and server["ttft_p50_s"] > 0 and server["ttft_p95_s"] >= server["ttft_p50_s"]
    phases = [e.get("phase") for e in map(json.loads, (run / "events.jsonl").read_text().splitlines())
              if e["type"] == "phase"]
    assert "server starting" in phases and "server ready" in phases and phases[-1] == "finished"
    assert phases.index("server ready") < phases.index("processing")
    run_json = read_json(run / "run.json")
    assert run_json["server"]["record"] == "server.json" and run_json["status"] == "done"


def test_keep_server_leaves_it_running_until_serve_stop(tmp_path, workspace, sglang_env):
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_requests(inp, 10)
    proc = process(sglang_env, "--input", inp, "--output", out, "--serve", "--model-path", "fake-model",
                   "--keep-server", "--stop-grace", "5", *FAST)
    run = only_run(workspace)
    try:
        assert proc.returncode == 0, proc.stderr
        record = read_json(run / "server.json")
        assert f"kept running at {record['url']} (pid {record['pid']})" in proc.stderr
        assert f"rollout serve stop {run.name}" in proc.stderr
        assert httpx.get(record["url"] + "/v1/models", timeout=5).status_code == 200
        assert read_json(run / "run.json")["server"]["kept"] is True
        assert server_survivors(run)
    finally:
        stop = subprocess.run([sys.executable, "-m", "console.cli", "serve", "stop", run.name, "--grace", "5"],
                              env=sglang_env, capture_output=True, text=True, timeout=60)
    assert stop.returncode == 0, stop.stderr
    assert server_survivors(run) == []


def test_oom_at_start_exit_3_with_diagnosis(tmp_path, workspace, sglang_env):
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_requests(inp, 5)
    proc = process(sglang_env, "--input", inp, "--output", out, "--serve", "--model-path", "fake-model",
                   "--stop-grace", "5", *FAST, "--mode", "oom")
    assert proc.returncode == 3, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("rollout: error:")]
    assert len(errors) == 1 and "CUDA out of memory" in errors[0] and "--mem-fraction-static" in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr.replace("Traceback (most recent call last)", "")  # only the server's, in events
    run = only_run(workspace)
    assert server_survivors(run) == []
    assert not out.exists()
    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    assert any(e["type"] == "server_log_tail" and e["cause"] for e in events)


def test_sigterm_during_processing_exit_130_no_survivors(tmp_path, workspace, sglang_env):
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    ids = write_requests(inp, 20000)
    proc = start(sglang_env, "--input", inp, "--output", out, "--serve", "--model-path", "fake-model",
                 "--stop-grace", "5", "--concurrency", "1", *FAST, "--mode", "spawn_children")
    wait_for(lambda: out.exists() and out.read_bytes().count(b"\n") >= 20 or proc.poll() is not None, 60,
             "the first answers")
    assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    run = only_run(workspace)
    assert server_survivors(run) == []
    assert read_json(run / "server.json")["stopped"] is True
    n = len(read_lines(out))
    assert 20 <= n < len(ids)
    assert read_json(run / "state.json")["status"] == "cancelled"


def test_sigterm_during_startup_stops_the_server(tmp_path, workspace, sglang_env):
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_requests(inp, 5)
    proc = start(sglang_env, "--input", inp, "--output", out, "--serve", "--model-path", "fake-model",
                 "--stop-grace", "5", *FAST, "--mode", "slow")
    run = wait_for(lambda: next(iter((workspace / "runs").glob("*/server.json")), None), 30, "server.json").parent
    wait_for(lambda: "Load weight begin" in (run / "server.log").read_text(), 30, "weights loading")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert server_survivors(run) == []
    assert not out.exists()


def test_rollout_stop_cleans_up_a_serve_process_run(tmp_path, workspace, sglang_env):
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_requests(inp, 20000)
    proc = start(sglang_env, "--input", inp, "--output", out, "--serve", "--model-path", "fake-model",
                 "--stop-grace", "5", "--concurrency", "1", *FAST)
    try:
        wait_for(lambda: out.exists() and out.read_bytes().count(b"\n") >= 10 or proc.poll() is not None, 60,
                 "the first answers")
        run = only_run(workspace)
        stop = subprocess.run([sys.executable, "-m", "console.cli", "stop", run.name], env=sglang_env,
                              capture_output=True, text=True, timeout=90)
        assert stop.returncode == 0, stop.stderr
        proc.wait(timeout=30)
        assert proc.returncode == 130
        assert server_survivors(run) == []
    finally:
        if proc.poll() is None:
            proc.kill()


def test_server_dying_mid_run_fails_fast_exit_3(tmp_path, workspace, sglang_env):
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    ids = write_requests(inp, 20000)
    proc = start(sglang_env, "--input", inp, "--output", out, "--serve", "--model-path", "fake-model",
                 "--stop-grace", "5", "--concurrency", "1", *FAST)
    wait_for(lambda: out.exists() and out.read_bytes().count(b"\n") >= 20 or proc.poll() is not None, 60,
             "the first answers")
    run = only_run(workspace)
    os.kill(read_json(run / "server.json")["pid"], signal.SIGKILL)  # the server crashes
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 3, err
    errors = [line for line in err.splitlines() if line.startswith("rollout: error:")]
    assert len(errors) == 1 and "server exited" in errors[0] and "rerun" in errors[0], err
    assert server_survivors(run) == []
    done = len(read_lines(out))
    assert 20 <= done < len(ids)


def test_sigkilled_process_run_then_rollout_stop_cleans_up(tmp_path, workspace, sglang_env):
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_requests(inp, 20000)
    proc = start(sglang_env, "--input", inp, "--output", out, "--serve", "--model-path", "fake-model",
                 "--stop-grace", "5", "--concurrency", "1", *FAST, "--mode", "spawn_children")
    wait_for(lambda: out.exists() and out.read_bytes().count(b"\n") >= 10 or proc.poll() is not None, 60,
             "the first answers")
    proc.kill()  # the console dies without a chance to stop its server (own session: it lives on)
    proc.wait()
    run = only_run(workspace)
    assert server_survivors(run)
    stop = subprocess.run([sys.executable, "-m", "console.cli", "stop", run.name], env=sglang_env,
                          capture_output=True, text=True, timeout=90)
    assert stop.returncode == 0, stop.stderr
    assert "no process of it is left" in stop.stderr
    assert server_survivors(run) == []
    assert read_json(run / "run.json")["status"] == "cancelled"


def test_serve_api_key_file_reaches_server_and_is_never_written(tmp_path, workspace, sglang_env):
    secret = "sk-serve-file-key-0123456789"
    key_file = tmp_path / "key.txt"
    key_file.write_text(secret + "\n")
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_requests(inp, 5)
    proc = process(sglang_env, "--input", inp, "--output", out, "--serve", "--model-path", "fake-model",
                   "--api-key-file", key_file, "--stop-grace", "5", *FAST)
    assert proc.returncode == 0, proc.stderr
    assert len(read_lines(out)) == 5
    assert secret not in proc.stderr
    run = only_run(workspace)
    assert server_survivors(run) == []
    for path in [*workspace.rglob("*"), *tmp_path.glob("out*")]:
        if path.is_file():
            assert secret not in path.read_text(errors="replace"), path


# -- server metrics with a plain --url ---------------------------------------------------------
@pytest.fixture
def standin(tmp_path: Path):
    """The SGLang stand-in started directly (not by rollout); killed at teardown."""
    procs: list[subprocess.Popen[bytes]] = []

    def run(*extra: str) -> str:
        sock = __import__("socket").socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        sock.close()
        log = open(tmp_path / f"standin-{port}.log", "wb")
        procs.append(subprocess.Popen([sys.executable, str(FAKE_SGLANG), "--port", str(port), "--step-delay", "0.01",
                                       *extra], stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
        url = f"http://127.0.0.1:{port}"

        def up() -> bool:
            try:
                return httpx.get(url + "/health", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(up, 20, f"stand-in at {url}")
        return url

    yield run
    for p in procs:
        with __import__("contextlib").suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGKILL)
        p.wait()


def test_server_metrics_in_state_with_plain_url(tmp_path, workspace, child_env, standin):
    url = standin()
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_requests(inp, 20)
    proc = process(child_env, "--input", inp, "--output", out, "--url", url)
    assert proc.returncode == 0, proc.stderr
    figs = read_json(only_run(workspace) / "state.json")["figures"]
    assert figs["server"]["url"] == url and figs["server"]["running"] == 8 and figs["server"]["queued"] == 3
    assert figs["local_server"] is True


def test_no_metrics_endpoint_probed_once_quietly(tmp_path, workspace, child_env, fake_openai):
    server = fake_openai(delay=0.02)
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_requests(inp, 150)
    proc = process(child_env, "--input", inp, "--output", out, "--url", server.url, "--concurrency", "4")
    assert proc.returncode == 0, proc.stderr
    assert "/metrics" not in proc.stderr
    run = only_run(workspace)
    assert "server" not in read_json(run / "state.json")["figures"]
    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    notes = [e for e in events if e["type"] == "log" and "metrics" in e.get("message", "")]
    assert len(notes) == 1 and notes[0]["level"] == "debug"


# -- cost ----------------------------------------------------------------------------------------
def test_token_price_cost_per_1k_and_per_instance(tmp_path, workspace, child_env, fake_openai):
    (tmp_path / "rollout.toml").write_text('[prices."fake-model"]\ninput_per_1m = 1000.0\noutput_per_1m = 2000.0\n')
    server = fake_openai()
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_instances(inp, ["django__django-11099", "astropy__astropy-12907", "sympy__sympy-20590"], 2)
    proc = process(child_env, "--input", inp, "--output", out, "--url", server.url)
    assert proc.returncode == 0, proc.stderr
    assert "no price" not in proc.stderr
    state = read_json(only_run(workspace) / "state.json")
    lines = read_lines(out)
    prompt = sum(line["response"]["body"]["usage"]["prompt_tokens"] for line in lines)
    completion = sum(line["response"]["body"]["usage"]["completion_tokens"] for line in lines)
    expected = round((prompt * 1000.0 + completion * 2000.0) / 1e6, 6)
    assert state["cost_usd"] == pytest.approx(expected)
    figs = state["figures"]
    assert figs["price_source"] == "config" and figs["price_known"] is True
    assert figs["cost_per_1k_requests_usd"] == pytest.approx(expected * 1000 / 6, rel=1e-4)
    assert figs["cost_per_instance_usd"] == pytest.approx(expected / 3, rel=1e-4)


def test_gpu_hour_price_bills_wall_time_with_serve(tmp_path, workspace, sglang_env):
    # $3600 per GPU-hour = $1 per GPU-second, 2 GPUs: the cost is 2 × the seconds since launch
    (tmp_path / "rollout.toml").write_text('[prices."fake-model"]\ngpu_hour_usd = 3600.0\ngpus = 2\n')
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_requests(inp, 20)
    t0 = time.monotonic()
    proc = process(sglang_env, "--input", inp, "--output", out, "--serve", "--model-path", "fake-model",
                   "--stop-grace", "5", *FAST)
    wall = time.monotonic() - t0
    assert proc.returncode == 0, proc.stderr
    state = read_json(only_run(workspace) / "state.json")
    figs = state["figures"]
    # billed from the launch (start-up time is paid GPU time too), so at least the 4 start-up steps
    assert 2 * 0.2 <= state["cost_usd"] <= 2 * wall
    assert figs["gpu_hours"] == pytest.approx(state["cost_usd"] / 3600.0, rel=0.05)
    assert figs["cost_per_1k_requests_usd"] > 0 and "cost_per_instance_usd" not in figs  # ids are not instances


def test_unknown_model_one_warning_cost_unknown(tmp_path, workspace, child_env, fake_openai):
    server = fake_openai()
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_requests(inp, 30, model="no-such-model-xyz")
    proc = process(child_env, "--input", inp, "--output", out, "--url", server.url)
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if "no price for model" in line]
    assert len(warnings) == 1 and "no-such-model-xyz" in warnings[0]
    state = read_json(only_run(workspace) / "state.json")
    assert state["cost_usd"] is None and state["figures"]["price_known"] is False
    assert "cost=?" in proc.stderr.splitlines()[-1]


def test_hosted_model_gets_default_price(tmp_path, workspace, child_env, fake_openai):
    server = fake_openai()
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_requests(inp, 5, model="gpt-4o-mini")
    proc = process(child_env, "--input", inp, "--output", out, "--url", server.url)
    assert proc.returncode == 0, proc.stderr
    state = read_json(only_run(workspace) / "state.json")
    assert state["figures"]["price_source"] == "genai-prices" and state["cost_usd"] > 0


# -- keys and endpoints ----------------------------------------------------------------------
def test_api_key_file_sent_as_bearer_never_written(tmp_path, workspace, child_env, fake_openai):
    secret = "sk-file-key-abcdefghijklmnop"
    key_file = tmp_path / "key.txt"
    key_file.write_text(secret + "\n")
    server = fake_openai(extra_args=["--api-key-env", "SERVER_KEY"], env=dict(os.environ, SERVER_KEY=secret))
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    write_requests(inp, 5)
    no_key = process(child_env, "--input", inp, "--output", out, "--url", server.url)
    assert no_key.returncode == 2 and "API key" in no_key.stderr
    proc = process(child_env, "--input", inp, "--output", out, "--url", server.url, "--api-key-file", key_file)
    assert proc.returncode == 0, proc.stderr
    assert len(read_lines(out)) == 5 and secret not in proc.stderr
    for path in [*workspace.rglob("*"), *tmp_path.glob("out*")]:
        if path.is_file():
            assert secret not in path.read_text(errors="replace"), path


def test_endpoint_from_config_with_key_file_and_model(tmp_path, workspace, child_env, fake_openai):
    secret = "sk-endpoint-key-0123456789"
    key_file = tmp_path / "key.txt"
    key_file.write_text(secret)
    server = fake_openai(extra_args=["--api-key-env", "SERVER_KEY"], env=dict(os.environ, SERVER_KEY=secret))
    (tmp_path / "rollout.toml").write_text(
        f'default_endpoint = "fake"\n[endpoints.fake]\nurl = "{server.url}"\napi_key_file = "{key_file}"\n'
        f'model = "endpoint-model"\n[endpoints.other]\nurl = "http://127.0.0.1:9"\n')
    inp = tmp_path / "in.jsonl"
    write_requests(inp, 4)
    named = process(child_env, "--input", inp, "--output", tmp_path / "a.jsonl", "--endpoint", "fake")
    assert named.returncode == 0, named.stderr
    assert {line["response"]["body"]["model"] for line in read_lines(tmp_path / "a.jsonl")} == {"endpoint-model"}
    default = process(child_env, "--input", inp, "--output", tmp_path / "b.jsonl")  # default_endpoint
    assert default.returncode == 0, default.stderr
    assert len(read_lines(tmp_path / "b.jsonl")) == 4
    for path in workspace.rglob("*"):
        if path.is_file():
            assert secret not in path.read_text(errors="replace"), path
    unknown = process(child_env, "--input", inp, "--output", tmp_path / "c.jsonl", "--endpoint", "nope")
    assert unknown.returncode == 2
    lines = unknown.stderr.strip().splitlines()
    assert len(lines) == 1 and "'nope'" in lines[0] and "rollout.toml" in lines[0] and "fake, other" in lines[0]


def test_serve_flag_conflicts_are_one_line(tmp_path, workspace, child_env):
    inp = tmp_path / "in.jsonl"
    write_requests(inp, 2)
    for args in (["--serve", "--model-path", "m", "--url", "http://127.0.0.1:9"], ["--serve"],
                 ["--url", "http://127.0.0.1:9", "--", "--step-delay", "1"], ["--keep-server"]):
        proc = process(child_env, "--input", inp, "--output", tmp_path / "o.jsonl", *args)
        assert proc.returncode == 2, (args, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1, (args, proc.stderr)
    assert not (tmp_path / "o.jsonl").exists()
