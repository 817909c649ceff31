"""Bench of the request processor (issue 3). Prints ``FIGURE <name> <value> <unit> [target]`` lines.

* Throughput: 20,000 chat requests of ~2 KB at concurrency 256 against nginx on 127.0.0.1
  returning a fixed chat completion (zero latency, not the bottleneck), for our processor on each
  transport (pyreqwest, aiohttp, httpx-aiohttp, httpx) and for a plain aiohttp script that creates one task
  per input line (the seed's approach), side by side. Target: ours ≥ 1.2× the plain script.
* Peak RSS of ours on 40 MB and 400 MB inputs (2,000 / 20,000 × 20 KB). Target ≤ 150 MB, flat.
* Resume scan of an output with 1,000,000 lines. Target ≤ 5 s.

Needs nginx (installed here with apt-get when missing). Every measured run is a child process of
this script; the timings are taken inside it (interpreter start-up and imports excluded on both
sides, file reading and parsing included on both sides).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

N_REQUESTS = 20_000
CONCURRENCY = 256
COMPLETION = {
    "id": "chatcmpl-bench", "object": "chat.completion", "created": 1, "model": "bench-model",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "### a.py\n<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE"},
                 "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 500, "completion_tokens": 20, "total_tokens": 520},
}


def figure(name: str, value: float | str, unit: str, target: str = "") -> None:
    print(f"FIGURE {name} {value} {unit} {target}".rstrip(), flush=True)


# -- nginx ---------------------------------------------------------------------------------
def ensure_nginx() -> str:
    path = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    if path:
        return path
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=False, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "nginx-light"], check=False, env=env)
    path = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.path.exists(path):
        sys.exit("nginx is needed for this bench: apt-get install nginx-light")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_nginx(workdir: Path) -> tuple[subprocess.Popen, int]:
    nginx = ensure_nginx()
    port = free_port()
    body = json.dumps(COMPLETION).replace("\\", "\\\\").replace("'", "\\'")
    conf = workdir / "nginx.conf"
    conf.write_text(f"""
worker_processes 1;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {workdir}/body;
    proxy_temp_path {workdir}/proxy;
    fastcgi_temp_path {workdir}/fastcgi;
    uwsgi_temp_path {workdir}/uwsgi;
    scgi_temp_path {workdir}/scgi;
    keepalive_timeout 5s;          # like SGLang/uvicorn
    keepalive_requests 1000000;
    client_max_body_size 64m;
    client_body_buffer_size 1m;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        default_type application/json;
        location = /v1/models {{ return 200 '{{"object":"list","data":[{{"id":"bench-model"}}]}}'; }}
        location / {{ return 200 '{body}'; }}
    }}
}}
""")
    proc = subprocess.Popen([nginx, "-c", str(conf), "-p", str(workdir), "-g", "daemon off;"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc, port
        if proc.poll() is not None:
            sys.exit(f"nginx failed to start: {proc.stderr.read().decode() if proc.stderr else ''}")
        time.sleep(0.05)
    sys.exit("nginx did not open its port")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGQUIT if "nginx" in str(proc.args[0]) else signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# -- inputs --------------------------------------------------------------------------------
def make_input(path: Path, n: int, size: int) -> None:
    import orjson

    filler = "lorem ipsum dolor sit amet " * (size // 27 + 1)
    with open(path, "wb") as fh:
        for i in range(n):
            content = f"request {i}: " + filler[: max(0, size - 200)]
            line = {"custom_id": f"inst-{i}__pass0", "method": "POST", "url": "/v1/chat/completions",
                    "body": {"model": "bench-model", "messages": [{"role": "user", "content": content}],
                             "max_tokens": 512, "temperature": 0.0, "top_p": 0.95}}
            fh.write(orjson.dumps(line) + b"\n")


# -- children (each measured in its own process) ------------------------------------------
#: the seed's approach, kept as a script of its own (bench_processor_whole.py times it too)
YARDSTICK = HERE / "yardstick_task_per_line.py"


def child_ours(inp: str, out: str, url: str, concurrency: int, transport: str, workspace: str) -> None:
    """Our processor, in-process: pre-checks + run_job (state, events, resume scan all on)."""
    from engine.jobs import run_job
    from engine.processor import ProcessOptions, make_process_job
    from engine.processor.job import prepare_run

    t0 = time.perf_counter()
    options = ProcessOptions(input=Path(inp), output=Path(out), url=url, concurrency=concurrency, transport=transport)
    plan = prepare_run(options)
    result = run_job("process", make_process_job(options, plan), workspace=Path(workspace), argv=["bench"],
                     install_signals=False)
    seconds = time.perf_counter() - t0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    c = result.state["counters"]
    print(json.dumps({"seconds": seconds, "n": c["ok"], "failed": c["failed"], "rss_mb": rss_mb,
                      "exit": result.exit_code}))


def run_child(argv: list[str], timeout: float = 1800) -> dict:
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=REPO)
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"{argv[:4]} exited {proc.returncode}: {proc.stderr[-1500:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bench_throughput(work: Path, url: str, transports: list[str], rounds: int) -> None:
    inp = work / "req_2k.jsonl"
    make_input(inp, N_REQUESTS, 2000)
    figure("processor.input_2k_mb", round(inp.stat().st_size / 1e6, 1), "MB")
    baseline_script = YARDSTICK
    best: dict[str, float] = {}
    for r in range(rounds):  # interleaved rounds: both sides see the same machine state
        for name in ["baseline", *transports]:
            out = work / f"out_{name}_{r}.jsonl"
            if name == "baseline":
                res = run_child([sys.executable, str(baseline_script), str(inp), str(out), url, str(CONCURRENCY)])
            else:
                res = run_child([sys.executable, __file__, "--child", "ours", str(inp), str(out), url, str(CONCURRENCY),
                                 name, str(work / "ws")])
                assert res["n"] == N_REQUESTS and res["failed"] == 0, res
            rate = res["n"] / res["seconds"]
            best[name] = max(best.get(name, 0.0), rate)
            print(f"  round {r} {name}: {rate:.0f} req/s ({res['seconds']:.2f} s)", flush=True)
            out.unlink(missing_ok=True)
    figure("processor.baseline_aiohttp_task_per_line", round(best["baseline"]), "req/s")
    for name in transports:
        figure(f"processor.ours_{name}", round(best[name]), "req/s")
    ours = max(best[t] for t in transports)
    pick = max(transports, key=lambda t: best[t])
    figure("processor.speedup_vs_baseline", round(ours / best["baseline"], 2), "x", f"target >= 1.2 (best transport: {pick})")
    if "aiohttp" in best:
        figure("processor.speedup_default_aiohttp_vs_baseline", round(best["aiohttp"] / best["baseline"], 2), "x", "target >= 1.2")


def bench_rss(work: Path, url: str) -> None:
    peaks = {}
    for n, label in ((2_000, "40mb"), (20_000, "400mb")):
        inp = work / f"req_20k_{label}.jsonl"
        make_input(inp, n, 20_000)
        out = work / f"out_rss_{label}.jsonl"
        res = run_child([sys.executable, __file__, "--child", "ours", str(inp), str(out), url, str(CONCURRENCY),
                         "aiohttp", str(work / "ws")])
        assert res["n"] == n, res
        peaks[label] = res["rss_mb"]
        figure(f"processor.peak_rss_{label}_input", round(res["rss_mb"], 1), "MB",
               f"target <= 150 ({inp.stat().st_size / 1e6:.0f} MB input)")
        inp.unlink()
        out.unlink()
    figure("processor.rss_growth_40mb_to_400mb", round(peaks["400mb"] - peaks["40mb"], 1), "MB", "target: flat")


def bench_resume_scan(work: Path) -> None:
    import orjson
    from engine.processor.resume import scan_done

    out = work / "out_1m.jsonl"
    body = dict(COMPLETION)
    with open(out, "wb") as fh:
        for i in range(1_000_000):
            fh.write(orjson.dumps({"id": f"batch_req_{i:032x}", "custom_id": f"inst-{i}__pass0",
                                   "response": {"status_code": 200, "request_id": "r", "body": body},
                                   "error": None}) + b"\n")
    size = out.stat().st_size
    t0 = time.perf_counter()
    done = scan_done(out)
    seconds = time.perf_counter() - t0
    assert len(done) == 1_000_000
    figure("processor.resume_scan_1m_lines", round(seconds, 2), "s", f"target <= 5 ({size / 1e6:.0f} MB)")
    out.unlink()


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        _, _, kind, inp, out, url, conc, transport, ws = sys.argv
        child_ours(inp, out, url, int(conc), transport, ws)
        return 0
    ap = argparse.ArgumentParser()
    ap.add_argument("--transports", default="pyreqwest,aiohttp,httpx-aiohttp,httpx")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--skip", default="", help="comma list of: throughput,rss,scan")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    with tempfile.TemporaryDirectory(prefix="bench-processor-") as tmp:
        work = Path(tmp)
        (work / "nginx").mkdir()
        nginx, port = start_nginx(work / "nginx")
        url = f"http://127.0.0.1:{port}"
        try:
            if "throughput" not in skip:
                bench_throughput(work, url, args.transports.split(","), args.rounds)
            if "rss" not in skip:
                bench_rss(work, url)
        finally:
            stop(nginx)
        if "scan" not in skip:
            bench_resume_scan(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
