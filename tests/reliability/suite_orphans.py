"""Orphans: 20 serve/stop cycles with the SGLang stand-in (its ``spawn_children`` mode: two
children in its group and one that calls setsid), half of them stopped with SIGINT to the
controlling ``rollout serve``, half by SIGKILL of it followed by ``rollout serve stop RUN``; after
each, no process of the server (its pid, its session, every descendant recorded) is alive."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from harness import FAKES, Box, wait_for

from server.server_helpers import alive_pids, session_members

CYCLES = 20


def _fake_sglang(root: Path) -> Path:
    """``sglang.launch_server`` that runs the stand-in, so the real launch path is exercised."""
    runner = f"import runpy\nrunpy.run_path({str(FAKES / 'sglang_server.py')!r}, run_name='__main__')\n"
    pkg = root / "sglang"
    pkg.mkdir(parents=True, exist_ok=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "launch_server.py").write_text(runner)
    return root


def _server_record(ws: Path) -> tuple[Path, dict] | None:
    for run in sorted((ws / "runs").glob("serve-*")):
        try:
            rec = json.loads((run / "server.json").read_text())
        except (OSError, ValueError):
            continue
        if len(rec.get("descendants", [])) >= 3:
            return run, rec
    return None


def cycle(box: Box, i: int, pkgs: Path) -> None:
    ws = box.dir(f"ws{i}")
    env = box.env(ws)
    env["PYTHONPATH"] = os.pathsep.join([str(pkgs), env["PYTHONPATH"]])
    how = "SIGKILL of rollout, then serve stop" if i % 2 else "SIGINT to rollout"
    proc = box.popen(["serve", "--model-path", "m", "--plain", "--port", "auto", "--", "--mode", "spawn_children",
                      "--step-delay", "0.05"], ws, env=env)
    try:
        run, rec = wait_for(lambda: _server_record(ws) if proc.poll() is None else ("exited", {}), 60, "server.json")
        if run == "exited":
            box.record(f"cycle {i + 1} ({how})", False, f"rollout serve exited early: {proc.communicate()[1][-300:]}")
            return
        pids = [rec["pid"], *(d["pid"] for d in rec["descendants"])]
        if i % 2:
            os.kill(proc.pid, signal.SIGKILL)
            proc.communicate(timeout=10)
            res = subprocess.run([sys.executable, "-m", "console.cli", "serve", "stop", run.name, "--grace", "2"], env=env,
                                 capture_output=True, text=True, timeout=60, cwd=str(box.root))
            if res.returncode != 0:
                box.record(f"cycle {i + 1} ({how})", False, f"serve stop exited {res.returncode}: {res.stderr[-300:]}")
                return
        else:
            proc.send_signal(signal.SIGINT)
            proc.communicate(timeout=60)
        try:
            wait_for(lambda: not alive_pids(pids) and not session_members(rec["sid"]), 10, "no survivors")
            left: list[int] = []
        except AssertionError:
            left = alive_pids(pids) + session_members(rec["sid"])
        box.record(f"cycle {i + 1} ({how})", not left, f"survivors: {sorted(set(left))}" if left else "")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        rec_now = _server_record(ws)
        if rec_now:  # never leave a server behind, whatever the verdict
            for pid in [rec_now[1]["pid"], *(d["pid"] for d in rec_now[1]["descendants"])] + session_members(rec_now[1]["sid"]):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass


def run(box: Box) -> None:
    pkgs = _fake_sglang(box.dir("fakepkgs"))
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(lambda i: cycle(box, i, pkgs), range(CYCLES)))
