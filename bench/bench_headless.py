"""Bench of the headless commands' start-up (issue 13). Prints ``FIGURE <name> <value> <unit> [target]``.

Every figure is a whole process (exec, interpreter start-up, imports, work, exit) as a user or a
tmux status line runs it, median of N runs, each run next to one of ``python -c pass`` of the
same interpreter (the floor: on a busy box read a figure against the floor of the same run):

* ``rollout --help``                                         target ≤ 200 ms
* ``rollout status --tmux`` on a workspace of 200 runs       target ≤ 60 ms (also with two SWE-bench
  evaluations among the active runs, whose figures carry seed 004's monitoring line)
* ``rollout history --json`` listing 10,000 finished runs    target ≤ 200 ms (index built once first)
* ``rollout history`` piped (tab-separated lines), and on a terminal (the table, in a pty)

Commands run as installed: with their bytecode cached (PYTHONDONTWRITEBYTECODE is dropped and
each command runs once before it is timed), as pip leaves an installed package.
``--runs N`` changes the history size; ``--repeat N`` the number of runs per figure;
``--history-only`` skips the help and status figures.
"""

from __future__ import annotations

import argparse
import json
import os
import pty
import resource
import select
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


def run_in_pty(cmd: list[str], env: dict[str, str]) -> None:
    """Run ``cmd`` with a pseudo-terminal as stdout (what a user at a terminal sees), draining it."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(cmd, env=dict(env, COLUMNS="120"), stdout=slave, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL)
    os.close(slave)
    try:
        while True:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    if not os.read(master, 1 << 16):
                        break
                except OSError:  # EIO: the child closed its side
                    break
            elif proc.poll() is not None:
                break
    finally:
        os.close(master)
        proc.wait()


def _timed(cmd: list[str], env: dict[str, str], tty: bool) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    if tty:
        run_in_pty(cmd, env)
    else:
        subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def median_ms(cmd: list[str], env: dict[str, str], repeat: int, tty: bool = False) -> float:
    """Median wall time of ``cmd`` as a whole process, each run next to a ``python -c pass``;
    also prints both medians' CPU time (user + system), which a busy box inflates far less than
    wall time (2 cores shared by several engineers), and the load."""
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)  # bytecode
    times, cpus, floor_times, floor_cpus = [], [], [], []
    for _ in range(repeat):
        wall, cpu = _timed(cmd, env, tty)
        times.append(wall)
        cpus.append(cpu)
        wall, cpu = _timed([sys.executable, "-c", "pass"], env, False)
        floor_times.append(wall)
        floor_cpus.append(cpu)
    ms = statistics.median
    print(f"  {' '.join(Path(c).name for c in cmd[:4])}{' (tty)' if tty else ''}: wall median {ms(times) * 1000:.0f} ms, "
          f"cpu {ms(cpus) * 1000:.0f} ms | python -c pass: wall {ms(floor_times) * 1000:.0f} ms, "
          f"cpu {ms(floor_cpus) * 1000:.0f} ms | load {os.getloadavg()[0]:.1f}", flush=True)
    return round(ms(times) * 1000, 1)


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
        total, failed = 50 + (i * 7919) % 20_000, (i * 31) % 97
        started = now - (1 if live else i * 60 + 600)
        (d / "run.json").write_text(json.dumps({
            "run_id": run_id, "kind": kind if kind == "swebench" or i % 3 else "eval", "argv": ["rollout", "process"], "pid": os.getpid(),
            "host": os.uname().nodename, "started": started, "finished": None if live else started + 300 + i % 50,
            "status": status, "exit_code": None if live else (1 if status == "failed" else 0), "title": f"run {i}",
        }))
        (d / "state.json").write_text(json.dumps({
            # figures that differ from run to run, as real ones do (a table formats each anew)
            "status": status, "heartbeat": now, "counters": {"total": total, "done": total if not live else total // 3,
                                                              "ok": total - failed, "failed": failed},
            "tokens": {"prompt": total * 517 + i, "completion": total * 43 + i}, "cost_usd": round(total * 0.00131, 4),
            "eta_s": 300.0 if live else 0.0, "alerts": [],
            **({"figures": eval_figures(i)} if i < evals else {}),
        }))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10_000, help="history size")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--history-only", action="store_true", help="only the history figures")
    args = parser.parse_args()
    exe = rollout_exe()
    tmp = Path(tempfile.mkdtemp(prefix="bench-headless-"))
    try:
        env = dict(os.environ, ROLLOUT_HOME=str(tmp / "empty"), NO_COLOR="1")
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        print(f"  uptime: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}", flush=True)
        figure("python_c_pass_ms", median_ms([sys.executable, "-c", "pass"], env, args.repeat), "ms", "(floor)")
        if not args.history_only:
            figure("help_ms", median_ms([*exe, "--help"], env, args.repeat), "ms", "<=200")
            ws200 = tmp / "ws200"
            write_runs(ws200, 188, active=12)
            env200 = dict(env, ROLLOUT_HOME=str(ws200))
            figure("status_tmux_200_runs_ms", median_ms([*exe, "status", "--tmux"], env200, args.repeat), "ms", "<=60")
            subprocess.run([*exe, "history", "--json"], env=env200, stdout=subprocess.DEVNULL, check=True)  # index
            figure("status_tmux_200_runs_indexed_ms", median_ms([*exe, "status", "--tmux"], env200, args.repeat), "ms",
                   "<=60")
            ws_eval = tmp / "ws200-eval"
            write_runs(ws_eval, 188, active=12, evals=2)
            env_eval = dict(env, ROLLOUT_HOME=str(ws_eval))
            line = subprocess.run([*exe, "status"], env=env_eval, capture_output=True, text=True, check=True).stdout
            assert " | progress 12/50 instances · success 58.3% · " in line and line.endswith(" (+1 more)\n"), line
            figure("status_tmux_200_runs_2_evals_ms", median_ms([*exe, "status", "--tmux"], env_eval, args.repeat),
                   "ms", "<=60")

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
        figure(f"history_{args.runs}_runs_table_ms", median_ms([*exe, "history"], env_big, args.repeat, tty=True), "ms",
               "<=200")
        if not args.history_only:
            figure(f"status_tmux_{args.runs}_runs_indexed_ms", median_ms([*exe, "status", "--tmux"], env_big, args.repeat),
                   "ms", "(scale)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
