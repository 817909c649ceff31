"""Quiet redraws: bytes the console writes to a real terminal, and its CPU, while nothing changes.

The console runs in a real tmux pane (tmux's own pty; ``tmux pipe-pane`` copies every byte the
console writes into a file) on a workspace of 50 runs: finished ones and live ones whose state
does not change (their process is this script, alive, with a fresh heartbeat rewritten with the
same figures), plus the box panel. After a warm-up the bytes written and the console's CPU time
are measured over a window.

Targets (issue 12): <= 1 KB/s idle at 200x60 with 50 runs, console CPU idle <= 2% of a core at a
1 s refresh. Prints ``FIGURE`` lines (bench/run_all.py collects them).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.runs import create_run  # noqa: E402

RUNS = 50
LIVE = 5
WARMUP_S = float(os.environ.get("BENCH_WARMUP_S", "12"))
WINDOW_S = float(os.environ.get("BENCH_WINDOW_S", "30"))
SIZES = tuple(tuple(int(x) for x in s.split('x')) for s in os.environ.get('BENCH_SIZES', '200x60,80x24').split(','))


def make_workspace(root: Path) -> list:
    live = []
    for i in range(RUNS):
        run = create_run(root, ("process", "eval", "serve", "demo")[i % 4], ["rollout", "bench"])
        is_live = i < LIVE
        state = {
            "status": "running" if is_live else "done", "heartbeat": time.time(), "pid": os.getpid(),
            "counters": {"total": 100, "done": 50 if is_live else 100, "ok": 50 if is_live else 100, "failed": 0},
            "rate": {"items_per_s": 3.0}, "eta_s": 20.0, "cost_usd": 0.1, "alerts": [], "figures": {},
        }
        run.write_state(state)
        if is_live:
            live.append((run, state))
        else:
            run.update_run(status="done", finished=time.time())
    return live


def keep_alive(live: list) -> None:
    """A live job rewrites its state with a fresh heartbeat every 2 s even when nothing changed."""
    for run, state in live:
        run.write_state({**state, "heartbeat": time.time()})


def console_pid(session: str) -> int | None:
    out = subprocess.run(["tmux", "list-panes", "-t", session, "-F", "#{pane_pid}"], capture_output=True, text=True)
    try:
        shell = psutil.Process(int(out.stdout.split()[0]))
    except (ValueError, IndexError, psutil.Error):
        return None
    procs = [shell, *shell.children(recursive=True)]
    for p in procs:
        try:
            if "console.cli" in " ".join(p.cmdline()) or p.name() == "rollout":
                return p.pid
        except psutil.Error:
            continue
    return shell.pid


def measure(root: Path, live: list, width: int, height: int, interval: float = 1.0) -> tuple[float, float]:
    session = f"bench-redraw-{os.getpid()}-{width}"
    out = root / f"pane-{width}x{height}.bytes"
    env_cmd = (f"cd {Path(__file__).resolve().parents[1]} && ROLLOUT_HOME={root} TERM=xterm-256color "
               f"{sys.executable} -m console.cli --workspace {root}")
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", str(width), "-y", str(height), env_cmd],
                   check=True)
    try:
        subprocess.run(["tmux", "resize-window", "-t", session, "-x", str(width), "-y", str(height)], check=False)
        t_end = time.monotonic() + WARMUP_S
        while time.monotonic() < t_end:
            keep_alive(live)
            time.sleep(2.0)
        pid = console_pid(session)
        proc = psutil.Process(pid) if pid else None
        subprocess.run(["tmux", "pipe-pane", "-t", session, "-o", f"cat >> {out}"], check=True)
        cpu0 = sum(proc.cpu_times()[:2]) if proc else 0.0
        t0 = time.monotonic()
        while time.monotonic() - t0 < WINDOW_S:
            keep_alive(live)
            time.sleep(2.0)
        elapsed = time.monotonic() - t0
        cpu1 = sum(proc.cpu_times()[:2]) if proc else 0.0
        subprocess.run(["tmux", "pipe-pane", "-t", session], check=False)
        time.sleep(0.3)
        written = out.stat().st_size if out.exists() else 0
        return written / elapsed, 100.0 * (cpu1 - cpu0) / elapsed
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], check=False)


def main() -> int:
    if shutil.which("tmux") is None:
        print("tmux is not installed (tests/services/setup-console.sh installs it)", file=sys.stderr)
        return 2
    keep = os.environ.get("BENCH_KEEP_DIR")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(keep or tmp)
        root.mkdir(parents=True, exist_ok=True)
        live = make_workspace(root)
        for width, height in SIZES:
            bps, cpu = measure(root, live, width, height)
            print(f"FIGURE redraw_bytes_per_s_{width}x{height} {bps:.0f} B/s "
                  f"{'<= 1024' if (width, height) == (200, 60) else ''}")
            print(f"FIGURE console_cpu_idle_{width}x{height} {cpu:.2f} %core {'<= 2' if width == 200 else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
