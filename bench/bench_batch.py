"""The issue's "done when", as a user does it: a 120,000-line request file submitted in parts to
the stand-in Batch API (its 50,000-line limit makes three parts), the submitting process gone,
and later one ``rollout batch fetch`` giving one output with every answer exactly once and the
cost recorded. Every command runs as a whole process (start-up included); peak RSS per process.

    .venv/bin/python bench/bench_batch.py [LINES]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from fakes.batch_server import FakeBatchServer  # noqa: E402

PROMPT = "Fix the bug in the function below and explain the change. " * 16  # ~1 KB per request


def make_file(path: Path, lines: int) -> None:
    with open(path, "w") as fh:
        for i in range(lines):
            body = {"model": "gpt-4o-mini", "max_tokens": 256, "messages": [{"role": "user", "content": f"item-{i} {PROMPT}"}]}
            fh.write(json.dumps({"custom_id": f"item-{i}", "method": "POST", "url": "/v1/chat/completions", "body": body}) + "\n")


def run_measured(argv: list[str], env: dict[str, str]) -> tuple[float, float, str, str, int]:
    """Wall seconds, peak RSS (MB), stdout, stderr and exit code of one whole process (measured by a
    tiny wrapper, so the RSS is that command's alone)."""
    wrapper = ("import resource, subprocess, sys, time\n"
               "t0 = time.perf_counter()\n"
               "p = subprocess.run(sys.argv[1:])\n"
               "dt = time.perf_counter() - t0\n"
               "sys.stderr.write(f'\\nBENCH {dt} {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}\\n')\n"
               "sys.exit(p.returncode)\n")
    proc = subprocess.run([sys.executable, "-c", wrapper, *argv], env=env, capture_output=True, text=True)
    last = [line for line in proc.stderr.splitlines() if line.startswith("BENCH ")][-1].split()
    return float(last[1]), int(last[2]) / 1024, proc.stdout, proc.stderr, proc.returncode


def main() -> None:
    lines = int(sys.argv[1]) if len(sys.argv) > 1 else 120_000
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        tmp_path = Path(tmp)
        inp, out = tmp_path / "requests.jsonl", tmp_path / "answers.jsonl"
        make_file(inp, lines)
        env = {**os.environ, "ROLLOUT_HOME": str(tmp_path / "ws"), "NO_COLOR": "1",
               "XDG_CONFIG_HOME": str(tmp_path / "xdg"), "PYTHONPATH": str(REPO)}
        cmd = [sys.executable, "-m", "console.cli"]
        with FakeBatchServer(max_lines=50_000, rate=200_000, validate_s=0.2, finalize_s=0.2) as api:
            dt_submit, rss_submit, stdout, err, rc = run_measured(
                [*cmd, "batch", "submit", "--input", str(inp), "--output", str(out), "--url", api.url, "--plain"], env)
            assert rc == 0, err
            run_id = stdout.strip().splitlines()[-1]
            runs = json.loads(subprocess.run([*cmd, "runs", "--json"], env=env, capture_output=True, text=True).stdout)
            status_after_exit = {r["run_id"]: r["status"] for r in runs}[run_id]
            t_remote = time.perf_counter()
            while not all(b["status"] == "completed" for b in api.stats()["batches"]):
                time.sleep(0.5)
            remote_s = time.perf_counter() - t_remote
            dt_fetch, rss_fetch, _, err, rc = run_measured([*cmd, "batch", "fetch", run_id, "--plain"], env)
            assert rc == 0, err
            parts = len(api.stats()["uploads"])
        seen: set[str] = set()
        with open(out, "rb") as fh:
            for raw in fh:
                cid = json.loads(raw)["custom_id"]
                assert cid not in seen, f"{cid} twice"
                seen.add(cid)
        assert len(seen) == lines, (len(seen), lines)
        rec = json.loads((tmp_path / "ws" / "runs" / run_id / "batch.json").read_text())
        size_mb = inp.stat().st_size / 1e6
        print(f"FIGURE batch_input {lines} lines ({size_mb:.0f} MB, {parts} parts)")
        print(f"FIGURE batch_status_after_submit_exit {status_after_exit} - waiting")
        print(f"FIGURE batch_submit_wall {dt_submit:.1f} s (validate+split+upload, whole process)")
        print(f"FIGURE batch_submit_peak_rss {rss_submit:.0f} MB flat(input {size_mb:.0f} MB)")
        print(f"FIGURE batch_remote_run {remote_s:.1f} s (stand-in at 200k req/s)")
        print(f"FIGURE batch_fetch_wall {dt_fetch:.1f} s (download+append {lines} answers, whole process)")
        print(f"FIGURE batch_fetch_peak_rss {rss_fetch:.0f} MB flat")
        print(f"FIGURE batch_answers_exactly_once {len(seen)} lines ={lines}")
        print(f"FIGURE batch_cost_estimate_max {rec['estimate']['cost_usd']:.4f} USD (batch price, max_tokens bound)")
        print(f"FIGURE batch_cost_recorded {rec['cost_usd']:.4f} USD (batch price, {rec['price_source']})")


if __name__ == "__main__":
    main()
