"""Fixtures for the server tests: the SGLang stand-in installed as fake ``sglang`` packages.

``fake_sglang_path`` holds ``sglang/launch_server.py`` and ``sglang_router/launch_router.py``
that run tests/fakes/sglang_server.py, so the real launch path — ``[python, -m,
sglang.launch_server, ...]`` in its own session, log file, readiness, stop — is what runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Callable, Iterator

import pytest
from server_helpers import FAKE_SERVER, answers, group_kill, wait_for

@pytest.fixture
def fake_sglang_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder with fake ``sglang`` / ``sglang_router`` packages, put on PYTHONPATH."""
    root = tmp_path / "fakepkgs"
    runner = f"import runpy\nrunpy.run_path({str(FAKE_SERVER)!r}, run_name='__main__')\n"
    for pkg, mod in (("sglang", "launch_server"), ("sglang_router", "launch_router")):
        (root / pkg).mkdir(parents=True)
        (root / pkg / "__init__.py").write_text("")
        (root / pkg / f"{mod}.py").write_text(runner)
    repo = str(Path(__file__).resolve().parents[2])
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(root), repo, os.environ.get("PYTHONPATH", "")]))
    return root


@pytest.fixture
def no_sglang_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make sure no fake sglang is importable (the machine has no real one)."""
    repo = str(Path(__file__).resolve().parents[2])
    monkeypatch.setenv("PYTHONPATH", repo)


@pytest.fixture
def fake_server(tmp_path: Path) -> Iterator[Callable[..., tuple[subprocess.Popen[bytes], str]]]:
    """Start the stand-in directly (not through rollout); it is killed at teardown."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(*extra: str) -> tuple[subprocess.Popen[bytes], str]:
        from engine.server import free_port

        port = free_port()
        log = open(tmp_path / f"direct-{port}.log", "wb")
        proc = subprocess.Popen([sys.executable, str(FAKE_SERVER), "--port", str(port), "--step-delay", "0.05", *extra],
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        procs.append(proc)
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: answers(url), 20, f"stand-in at {url}")
        return proc, url

    yield start
    for proc in procs:
        group_kill(proc.pid)


