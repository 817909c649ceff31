"""Bench of ``rollout process`` as whole processes (issue 13). Prints ``FIGURE <name> <value> <unit> [target]``.

Timed from exec to exit, as a user runs them, side by side and interleaved (median of --rounds):

* ``rollout process`` (the installed entry point, default flags, pre-flight on) against the
  yardstick, bench/yardstick_task_per_line.py (the seed's approach: a plain aiohttp script with a
  task per line), on 20,000 requests of ~2 KB at concurrency 256 against nginx on 127.0.0.1
  returning a fixed completion (zero latency). Target: ours >= 1.3x. 100,000 requests reported too.
* exec to the first request: when the first POST reaches nginx (its access log, ms resolution),
  counted from just before exec. Target <= 300 ms. The yardstick's is printed beside it.
* peak RSS of each whole process (its own rusage, from wait4), median of the rounds.

Commands run as installed: with their bytecode cached (PYTHONDONTWRITEBYTECODE is dropped), and
the machine's load (uptime) is printed with every figure: the box is shared.

Needs nginx (bench_processor.py installs it with apt-get when missing).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_headless import rollout_exe  # noqa: E402
from bench_processor import (COMPLETION, CONCURRENCY, YARDSTICK, figure, free_port, make_input, start_nginx,  # noqa: E402
                             stop)


def add_logged_server(conf: Path, log: Path) -> int:
    """A second nginx server block that logs each request's arrival ($msec) for the start-up figure."""
    port = free_port()
    body = json.dumps(COMPLETION).replace("\\", "\\\\").replace("'", "\\'")
    text = conf.read_text()
    block = f"""
    log_format arrival '$msec $request_method $uri';
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        access_log {log} arrival;
        default_type application/json;
        location = /v1/models {{ return 200 '{{"object":"list","data":[{{"id":"bench-model"}}]}}'; }}
        location / {{ return 200 '{body}'; }}
    }}
"""
    conf.write_text(text[: text.rindex("}")] + block + "}\n")
    return port


def load() -> str:
    return f"load {os.getloadavg()[0]:.1f}"


def run_whole(cmd: list[str], env: dict[str, str], rss: list[float] | None = None) -> float:
    """Seconds from exec to exit of ``cmd``; its peak RSS (MB, from its own rusage) is appended to ``rss``."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = proc.stderr.read() if proc.stderr else b""
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[:3]} exited {proc.returncode}: {err.decode(errors='replace')[-1500:]}")
    if rss is not None:
        rss.append(usage.ru_maxrss / 1024)
    return seconds


def ours_cmd(inp: Path, out: Path, url: str) -> list[str]:
    return [*rollout_exe(), "process", "--input", str(inp), "--output", str(out), "--url", url,
            "--concurrency", str(CONCURRENCY), "--plain"]


def _first_post(cmd: list[str], log: Path, env: dict[str, str]) -> tuple[float, float | None]:
    """(ms from exec to the first POST, ms to the first GET) of one run of ``cmd``."""
    start_at = log.stat().st_size if log.exists() else 0
    t_exec = time.time()
    run_whole(cmd, env)
    with open(log, "rb") as fh:
        fh.seek(start_at)
        lines = [line.split() for line in fh.read().decode().splitlines()]
    post = next(float(p[0]) for p in lines if p[1] == "POST")
    get = next((float(p[0]) for p in lines if p[1] == "GET"), None)
    return (post - t_exec) * 1000, (get - t_exec) * 1000 if get is not None else None


def bench_first_request(work: Path, inp: Path, url: str, log: Path, env: dict[str, str], rounds: int) -> None:
    firsts, preflights, yard = [], [], []
    for r in range(rounds):  # interleaved with the yardstick: both see the same machine
        out = work / f"first_{r}.jsonl"
        first, get = _first_post(ours_cmd(inp, out, url), log, env)
        firsts.append(first)
        if get is not None:
            preflights.append(get)
        for side in out.parent.glob(out.name + "*"):
            side.unlink()
        yard.append(_first_post([sys.executable, str(YARDSTICK), str(inp), str(work / "first_y.jsonl"), url,
                                 str(CONCURRENCY)], log, env)[0])
        print(f"  round {r}: first request ours {first:.0f} ms, yardstick {yard[-1]:.0f} ms, {load()}", flush=True)
    figure(f"process.exec_to_first_request_{inp.stem}_ms", round(statistics.median(firsts)), "ms", "<=300")
    figure(f"process.exec_to_first_request_{inp.stem}_yardstick_ms", round(statistics.median(yard)), "ms")
    if preflights:
        figure(f"process.exec_to_preflight_{inp.stem}_ms", round(statistics.median(preflights)), "ms")


def bench_side_by_side(work: Path, inp: Path, n: int, url: str, env: dict[str, str], rounds: int) -> None:
    ours, base, ours_rss, base_rss = [], [], [], []
    for r in range(rounds):  # interleaved: both sides see the same machine
        out = work / f"out_yardstick_{r}.jsonl"
        base.append(run_whole([sys.executable, str(YARDSTICK), str(inp), str(out), url, str(CONCURRENCY)], env,
                              base_rss))
        out.unlink(missing_ok=True)
        out = work / f"out_ours_{r}.jsonl"
        ours.append(run_whole(ours_cmd(inp, out, url), env, ours_rss))
        lines = sum(1 for _ in open(out, "rb"))
        assert lines == n, f"ours wrote {lines} answers, not {n}"
        for side in out.parent.glob(out.name + "*"):
            side.unlink()
        print(f"  round {r} {n}: yardstick {base[-1]:.2f} s {base_rss[-1]:.0f} MB, ours {ours[-1]:.2f} s "
              f"{ours_rss[-1]:.0f} MB, {load()}", flush=True)
    b, o = statistics.median(base), statistics.median(ours)
    label = f"{n // 1000}k"
    figure(f"process.whole_{label}_yardstick_s", round(b, 2), "s")
    figure(f"process.whole_{label}_ours_s", round(o, 2), "s")
    figure(f"process.whole_{label}_speedup", round(b / o, 2), "x", ">=1.3" if n == 20_000 else "(reported)")
    figure(f"process.whole_{label}_yardstick_peak_rss_mb", round(statistics.median(base_rss)), "MB")
    figure(f"process.whole_{label}_ours_peak_rss_mb", round(statistics.median(ours_rss)), "MB")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--sizes", default="20000,100000")
    ap.add_argument("--skip", default="", help="comma list of: first,whole")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    with tempfile.TemporaryDirectory(prefix="bench-process-whole-") as tmp:
        work = Path(tmp)
        (work / "nginx").mkdir()
        env = dict(os.environ, ROLLOUT_HOME=str(work / "ws"), NO_COLOR="1")
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # as installed: bytecode cached after the first run
        print(f"  uptime: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}", flush=True)
        nginx_dir = work / "nginx"
        # start once to write the config, then again with the logged server added
        proc, port = start_nginx(nginx_dir)
        stop(proc)
        log = work / "arrivals.log"
        logged_port = add_logged_server(nginx_dir / "nginx.conf", log)
        from bench_processor import ensure_nginx

        nginx = subprocess.Popen([ensure_nginx(), "-c", str(nginx_dir / "nginx.conf"), "-p", str(nginx_dir), "-g",
                                  "daemon off;"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(0.5)
        try:
            inputs = {}
            for n in map(int, args.sizes.split(",")):
                inputs[n] = work / f"req_{n // 1000}k.jsonl"
                make_input(inputs[n], n, 2000)
            if "first" not in skip:
                bench_first_request(work, inputs[min(inputs)], f"http://127.0.0.1:{logged_port}", log, env, 5)
            if "whole" not in skip:
                for n, inp in inputs.items():
                    bench_side_by_side(work, inp, n, f"http://127.0.0.1:{port}", env, args.rounds)
        finally:
            stop(nginx)
    return 0


if __name__ == "__main__":
    sys.exit(main())
