"""Server launcher figures with the SGLang stand-in: readiness overhead, stop time, metrics parsing.

Prints ``FIGURE <name> <value> <unit> [target]`` lines (bench/run_all.py collects them).
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine.server import ServerOptions, launch_server, parse_metrics  # noqa: E402

FAKE = REPO / "tests" / "fakes" / "sglang_server.py"


def fake_packages(root: Path) -> None:
    runner = f"import runpy\nrunpy.run_path({str(FAKE)!r}, run_name='__main__')\n"
    (root / "sglang").mkdir(parents=True)
    (root / "sglang" / "__init__.py").write_text("")
    (root / "sglang" / "launch_server.py").write_text(runner)


async def launch_once(tmp: Path, mode: str) -> tuple[float, float]:
    opts = ServerOptions(model_path="m", port="auto", stop_grace_s=1.0, extra_args=["--step-delay", "0", "--mode", mode])
    t0 = time.monotonic()
    async with launch_server(opts, run_path=tmp) as server:
        await server.wait_ready()
        ready = time.monotonic() - t0
    assert server.stop_report and server.stop_report.clean
    return ready, server.stop_report.elapsed_s


def metrics_text(ranks: int) -> str:
    lines = []
    for name in ("num_running_reqs", "num_queue_reqs", "token_usage", "gen_throughput", "cache_hit_rate"):
        lines.append(f"# TYPE sglang:{name} gauge")
        lines += [f'sglang:{name}{{dp_rank="{r}",tp_rank="0"}} {r}' for r in range(ranks)]
    for name in ("time_to_first_token_seconds", "e2e_request_latency_seconds"):
        lines.append(f"# TYPE sglang:{name} histogram")
        for r in range(ranks):
            for i, le in enumerate(["0.01", "0.05", "0.1", "0.5", "1", "5", "10", "+Inf"]):
                lines.append(f'sglang:{name}_bucket{{dp_rank="{r}",le="{le}"}} {i * 10}')
            lines.append(f'sglang:{name}_sum{{dp_rank="{r}"}} 100')
            lines.append(f'sglang:{name}_count{{dp_rank="{r}"}} 70')
    return "\n".join(lines) + "\n"


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        fake_packages(tmp / "pkgs")
        os.environ["PYTHONPATH"] = str(tmp / "pkgs")
        readies, stops = [], []
        for i in range(3):
            run = tmp / f"run{i}"
            run.mkdir()
            ready, stop = asyncio.run(launch_once(run, "normal"))
            readies.append(ready)
            stops.append(stop)
        run = tmp / "tree"
        run.mkdir()
        _, tree_stop = asyncio.run(launch_once(run, "spawn_children"))
        run = tmp / "stubborn"
        run.mkdir()
        _, stubborn_stop = asyncio.run(launch_once(run, "ignore_sigterm"))
    print(f"FIGURE launch_to_ready_stand_in {min(readies):.3f} s [python start-up + 0.25 s poll; < 1.5 s]")
    print(f"FIGURE stop_clean_server {sorted(stops)[1]:.3f} s [< 0.5 s]")
    print(f"FIGURE stop_tree_with_setsid_child {tree_stop:.3f} s [< 1 s]")
    print(f"FIGURE stop_sigterm_ignored_grace_1s {stubborn_stop:.3f} s [grace + < 0.5 s]")
    text = metrics_text(64)
    n = 50
    t0 = time.perf_counter()
    for _ in range(n):
        parse_metrics(text)
    per = (time.perf_counter() - t0) / n
    print(f"FIGURE metrics_parse_64_ranks {per * 1000:.2f} ms [scraped every 1 s; < 50 ms]")


if __name__ == "__main__":
    main()
