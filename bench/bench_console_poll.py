"""The console's poll of a big workspace: 1,000 runs (900 finished, 100 live).

Prints the time one poll takes in the worker thread (cold, then warm: finished runs whose files did
not change are not re-read), and the time of a whole refresh cycle in the app (poll + keyed table
update), measured headless with App.run_test(). Target: a warm cycle well under the 1 s refresh.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from console.app import RolloutApp  # noqa: E402
from console.screens.workspace_poll import WorkspacePoller  # noqa: E402
from engine.runs import create_run  # noqa: E402

RUNS = 1000
LIVE = 100


def make_workspace(root: Path) -> None:
    for i in range(RUNS):
        run = create_run(root, "bench", ["rollout", "bench"])
        live = i < LIVE
        run.write_state({
            "status": "running" if live else "done", "heartbeat": time.time(), "pid": os.getpid(),
            "counters": {"total": 100, "done": 50 if live else 100, "ok": 50 if live else 100, "failed": 0},
            "rate": {"items_per_s": 3.0}, "eta_s": 20.0, "cost_usd": 0.1,
        })


async def app_cycle(root: Path, cycles: int = 5) -> float:
    app = RolloutApp(root, refresh_interval=60, user_themes_dir=root / "no-themes")
    async with app.run_test(size=(160, 45)) as pilot:
        screen = app.screen
        while screen.polls < 2:  # first poll + the one the initial selection asks for
            await pilot.pause(0.01)
        times = []
        for _ in range(cycles):
            start, polls = time.perf_counter(), screen.polls
            screen.poll_now()
            while screen.polls == polls:
                await pilot.pause(0.001)
            times.append(time.perf_counter() - start)
        return min(times)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_workspace(root)
        poller = WorkspacePoller(root)
        t0 = time.perf_counter()
        snap = poller.poll(None)
        cold = time.perf_counter() - t0
        assert len(snap.runs) == RUNS
        t0 = time.perf_counter()
        poller.poll(snap.runs[0].run_id)
        warm = time.perf_counter() - t0
        cycle = asyncio.run(app_cycle(root))
    print(f"FIGURE console_poll_cold_{RUNS}_runs {cold * 1000:.0f} ms")
    print(f"FIGURE console_poll_warm_{RUNS}_runs {warm * 1000:.0f} ms [< 250 ms]")
    print(f"FIGURE console_refresh_cycle_{RUNS}_runs {cycle * 1000:.0f} ms [< 500 ms with a 1 s refresh]")


if __name__ == "__main__":
    main()
