"""End to end in a real terminal: tmux at 80x24 (tmux comes from tests/services/setup-tmux.sh).

Start ``rollout``, launch a processing job by keys, quit mid-job, check every id was answered
exactly once, reopen the console and see the run done.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: `fakes` importable
from fakes.batch_files import check_exactly_once, write_requests  # noqa: E402
from fakes.openai_server import fake_openai  # noqa: E402,F401  (a fixture)

from engine.options.registry import jobs  # noqa: E402
from engine.runs import list_runs  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
ROLLOUT = Path(sys.executable).with_name("rollout")


class Tmux:
    """One private tmux server (its own socket) with one 80x24 session."""

    def __init__(self, name: str, env: dict[str, str]) -> None:
        self.name = name
        self.env = env

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["tmux", "-L", self.name, *args], capture_output=True, text=True, env=self.env,
                              check=check, timeout=30)

    def start(self, command: str) -> None:
        self.run("new-session", "-d", "-s", "main", "-x", "80", "-y", "24", command)

    def keys(self, *keys: str, literal: bool = False) -> None:
        self.run("send-keys", "-t", "main", *(["-l"] if literal else []), *keys)
        time.sleep(0.15)

    def screen(self) -> str:
        res = self.run("capture-pane", "-t", "main", "-p", check=False)
        return res.stdout if res.returncode == 0 else ""

    def alive(self) -> bool:
        return self.run("has-session", "-t", "main", check=False).returncode == 0

    def wait_for(self, text: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            shown = self.screen()
            if text in shown:
                return shown
            time.sleep(0.2)
        raise AssertionError(f"{text!r} never appeared on the screen:\n{self.screen()}")

    def kill(self) -> None:
        self.run("kill-server", check=False)


@pytest.fixture
def tmux(workspace: Path, tmp_path: Path):
    if shutil.which("tmux") is None:
        pytest.fail("tmux is not installed: run tests/services/setup.sh (setup-tmux.sh installs it)")
    env = dict(os.environ, ROLLOUT_HOME=str(workspace), TERM="xterm-256color", TMUX_TMPDIR=str(tmp_path))
    env.pop("TMUX", None)
    t = Tmux(f"rollout-test-{os.getpid()}", env)
    yield t
    t.kill()


def test_launch_quit_mid_job_and_reopen_in_tmux(tmux: Tmux, workspace: Path, tmp_path: Path, fake_openai) -> None:
    server = fake_openai(delay=0.3)
    inp, out = tmp_path / "requests.jsonl", tmp_path / "answers.jsonl"
    ids = write_requests(inp, 40)  # 2 at a time, 0.3 s each: about 6 s of work
    console = f"cd {tmp_path} && {ROLLOUT}"
    tmux.start(console)
    tmux.wait_for("runs")
    tmux.keys("n")
    tmux.wait_for("Launch a job")
    for _ in range([s.name for s in jobs()].index("process")):
        tmux.keys("Down")
    tmux.keys("Enter")
    tmux.wait_for("--input *")
    # type each field, let its completion settle (a Tab pressed while the path completion is still
    # being drawn can be lost), then Tab to the next field
    for value, tabs in ((str(inp), 1), (str(out), 1), (server.url, 2), ("2", 0)):
        tmux.keys(value, literal=True)
        tmux.wait_for(value[-12:])
        time.sleep(0.6)
        for _ in range(tabs):
            tmux.keys("Tab")
    shown = tmux.wait_for("ready: ctrl+r launches")
    # the command wraps at 80 columns (a wrap drops the space it breaks at): compare without spaces
    assert f"$rolloutprocess--input{inp}".replace(" ", "") in "".join(shown.split())
    tmux.keys("C-r")
    deadline = time.monotonic() + 30
    while not list_runs(workspace) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert list_runs(workspace), f"no run was launched:\n{tmux.screen()}"
    run = list_runs(workspace)[0]
    tmux.wait_for(run.run_id[:20])
    state = run.read_state() or {}
    assert state.get("status") in (None, "starting", "running"), "the job ended before the quit: make it longer"
    tmux.keys("q")  # quit mid-job
    deadline = time.monotonic() + 15
    while tmux.alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not tmux.alive(), "the console did not quit"
    assert run.effective_status() == "running"  # the job outlives the console
    deadline = time.monotonic() + 60
    while run.effective_status() != "done" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert run.effective_status() == "done"
    check_exactly_once(ids, out, out.with_name(out.name + ".errors.jsonl"))
    assert server.stats()["attempts"] == {cid: 1 for cid in ids}

    tmux.start(console)  # reopen: the run is listed done
    shown = tmux.wait_for(run.run_id[:20])
    rows = [line for line in shown.splitlines() if line.startswith("│ " + run.run_id[:20])]
    assert rows and "done" in rows[0], shown
