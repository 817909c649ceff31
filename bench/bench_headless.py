"""Bench of the headless commands' start-up (issue 13). Prints ``FIGURE <name> <value> <unit> [target]``.

Every figure is a whole process (exec, interpreter start-up, imports, work, exit) as a user or a
tmux status line runs it, median of N runs:

* ``rollout --help``                                         target ≤ 200 ms
* ``rollout status --tmux`` on a workspace of 200 runs       target ≤ 60 ms (also with two SWE-bench
  evaluations among the active runs, whose figures carry seed 004's monitoring line)
* ``rollout history --json`` listing 10,000 finished runs    target ≤ 200 ms (index built once first)
* ``python -c pass`` of the same interpreter: the floor, to read the others against on a busy box

``--runs N`` changes the history size; ``--repeat N`` the number of runs per figure.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))


def figure(name: str, value: float | str, unit: str, target: str = "") -> None:
    print(f"FIGURE {name} {value} {unit} {target}".rstrip(), flush=True)


def rollout_exe() -> list[str]:
    """The installed entry point of this interpreter's environment (what users type)."""
    exe = Path(sys.executable).with_name("rollout")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "console.launcher"]


def median_ms(cmd: list[str], env: dict[str, str], repeat: int) -> float:
    """Median wall time of ``cmd`` as a whole process; also prints its median CPU time (user +
    system), which a busy box inflates far less than wall time (2 cores shared by 8 engineers)."""
    times, cpus = [], []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - t0)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    print(f"  {' '.join(Path(c).name for c in cmd[:3])}: wall median {statistics.median(times) * 1000:.0f} ms, "
          f"cpu median {statistics.median(cpus) * 1000:.0f} ms, load {os.getloadavg()[0]:.1f}", flush=True)
    return round(statistics.median(times) * 1000, 1)


def eval_figures(i: int) -> dict:
    """Figures as a running SWE-bench evaluation publishes them (engine/swebench/driver.py)."""
    from engine.report.monitor import monitor_line

    figs = {"instances_done": 12 + i, "instances_total": 50, "resolved": 7, "success_rate": 0.5833,
            "success_rate_n": 12, "overall_mean": 0.612, "brs_mean": 0.5, "overfit_gap": 0.043, "errors": 1,
            "crashes": 1, "cost_so_far_usd": 23.1, "cost_per_instance_usd": 1.925, "eta_s": 845.0,
            "harness_run_id": f"phase-3-{i}", "logs_dir": "/data/logs/run_evaluation/phase-3", "running": 4,
            "stalled": [], "resumed": 0, "last_error": "django__django-11099: image cannot be pulled",
            "errors_list": [{"instance_id": f"django__django-{11000 + k}", "kind": "infrastructure",
                             "message": "image cannot be pulled"} for k in range(20)], "harness_stalled": False}
    figs["monitor_line"] = monitor_line(figs)
    return figs


def write_runs(workspace: Path, n: int, active: int = 0, evals: int = 0) -> None:
    """``n`` run directories as finished jobs leave them (plus ``active`` live ones, this pid; the
    first ``evals`` of them SWE-bench evaluations with their figures)."""
    root = workspace / "runs"
    root.mkdir(parents=True, exist_ok=True)
    now = time.time()
    for i in range(n + active):
        live = i < active
        kind = "swebench" if i < evals else "process"
        run_id = f"{kind}-{time.strftime('%Y%m%d-%H%M%S', time.localtime(now - i * 60))}-{i % 65536:04x}"
        d = root / run_id
        d.mkdir()
        status = "running" if live else ("failed" if i % 17 == 0 else "done")
        started = now - (1 if live else i * 60 + 600)
        (d / "run.json").write_text(json.dumps({
            "run_id": run_id, "kind": kind if kind == "swebench" or i % 3 else "eval", "argv": ["rollout", "process"], "pid": os.getpid(),
            "host": os.uname().nodename, "started": started, "finished": None if live else started + 300 + i % 50,
            "status": status, "exit_code": None if live else (1 if status == "failed" else 0), "title": f"run {i}",
        }))
        (d / "state.json").write_text(json.dumps({
            "status": status, "heartbeat": now, "counters": {"total": 1000, "done": 1000 if not live else 400, "ok": 990,
                                                              "failed": 10}, "tokens": {"prompt": 500_000, "completion": 40_000},
            "cost_usd": 1.25, "eta_s": 300.0 if live else 0.0, "alerts": [],
            **({"figures": eval_figures(i)} if i < evals else {}),
        }))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10_000, help="history size")
    parser.add_argument("--repeat", type=int, default=11)
    args = parser.parse_args()
    exe = rollout_exe()
    tmp = Path(tempfile.mkdtemp(prefix="bench-headless-"))
    try:
        env = dict(os.environ, ROLLOUT_HOME=str(tmp / "empty"), NO_COLOR="1")
        figure("python_c_pass_ms", median_ms([sys.executable, "-c", "pass"], env, args.repeat), "ms", "(floor)")
        figure("help_ms", median_ms([*exe, "--help"], env, args.repeat), "ms", "<=200")

        ws200 = tmp / "ws200"
        write_runs(ws200, 188, active=12)
        env200 = dict(env, ROLLOUT_HOME=str(ws200))
        figure("status_tmux_200_runs_ms", median_ms([*exe, "status", "--tmux"], env200, args.repeat), "ms", "<=60")
        subprocess.run([*exe, "history", "--json"], env=env200, stdout=subprocess.DEVNULL, check=True)  # index
        figure("status_tmux_200_runs_indexed_ms", median_ms([*exe, "status", "--tmux"], env200, args.repeat), "ms", "<=60")
        ws_eval = tmp / "ws200-eval"
        write_runs(ws_eval, 188, active=12, evals=2)
        env_eval = dict(env, ROLLOUT_HOME=str(ws_eval))
        line = subprocess.run([*exe, "status"], env=env_eval, capture_output=True, text=True, check=True).stdout
        assert " | progress 12/50 instances · success 58.3% · " in line and line.endswith(" (+1 more)\n"), line
        figure("status_tmux_200_runs_2_evals_ms", median_ms([*exe, "status", "--tmux"], env_eval, args.repeat), "ms",
               "<=60")

        big = tmp / "ws-big"
        write_runs(big, args.runs)
        env_big = dict(env, ROLLOUT_HOME=str(big))
        t0 = time.perf_counter()
        out = subprocess.run([*exe, "history", "--json"], env=env_big, capture_output=True, text=True, check=True)
        figure(f"history_{args.runs}_runs_index_build_ms", round((time.perf_counter() - t0) * 1000, 1), "ms", "(once)")
        lines = out.stdout.count("\n")
        assert lines == args.runs + 1, f"history listed {lines - 1} runs, not {args.runs}"
        figure(f"history_{args.runs}_runs_ms", median_ms([*exe, "history", "--json"], env_big, args.repeat), "ms", "<=200")
        figure(f"history_{args.runs}_runs_tsv_ms", median_ms([*exe, "history"], env_big, args.repeat), "ms", "<=200")
        figure(f"status_tmux_{args.runs}_runs_indexed_ms", median_ms([*exe, "status", "--tmux"], env_big, args.repeat), "ms",
               "(scale)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
