"""What every reliability suite shares: cases with a verdict, the real CLI in a child process,
files to check afterwards. Suites are plain modules with ``run(box) -> None`` (``make reliability``
runs them through run.py, which prints one table); they are not pytest tests (no ``test_`` names).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import threading
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO.parent / "shared" / "data"
FAKES = REPO / "tests" / "fakes"
#: the installed entry point, as users run it (with its Typer-free paths)
ROLLOUT = [sys.executable, "-m", "console.launcher"]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
if str(REPO / "tests") not in sys.path:
    sys.path.insert(0, str(REPO / "tests"))

from server.server_helpers import wait_for  # noqa: E402,F401 - shared with the server tests


@dataclass
class Case:
    """One thing tried: held (True), failed (False) or skipped (None, with the reason)."""

    name: str
    held: bool | None
    detail: str = ""


@dataclass
class Box:
    """A suite's scratch folder, its cases, and helpers to run the CLI there."""

    suite: str
    root: Path
    cases: list[Case] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, name: str, held: bool | None, detail: str = "") -> bool | None:
        with self.lock:
            self.cases.append(Case(name, held, detail))
        return held

    def check(self, name: str, fn: Callable[[], str | None]) -> bool:
        """Run ``fn``: it returns None when the case held, or what went wrong; exceptions fail it."""
        try:
            problem = fn()
        except Exception as exc:  # noqa: BLE001 - a crash of the check is a failed case, with its cause
            problem = f"{type(exc).__name__}: {exc} | {traceback.format_exc(limit=3).splitlines()[-3:]}"
        return bool(self.record(name, problem is None, problem or ""))

    def skip(self, name: str, why: str) -> None:
        self.record(name, None, why)

    def dir(self, name: str) -> Path:
        path = self.root / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def env(self, ws: Path, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "OPENAI_API_KEY"))}
        env.update(ROLLOUT_HOME=str(ws), NO_COLOR="1", XDG_CONFIG_HOME=str(ws / "xdg"),
                   PYTHONPATH=str(REPO) + os.pathsep + env.get("PYTHONPATH", ""))
        env.update(extra)
        return env

    def rollout(self, args: list[Any], ws: Path, *, cwd: Path | None = None, timeout: float = 120,
                env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*ROLLOUT, *map(str, args)], cwd=str(cwd or self.root),
                              env=env or self.env(ws), capture_output=True, text=True, timeout=timeout)

    def popen(self, args: list[Any], ws: Path, *, cwd: Path | None = None,
              env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        return subprocess.Popen([*ROLLOUT, *map(str, args)], cwd=str(cwd or self.root),
                                env=env or self.env(ws), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip() and not line.startswith("warning:")]


def one_line_error(res: subprocess.CompletedProcess[str], code: int, *must: str) -> str | None:
    """None when ``res`` exited ``code`` with exactly one error line on stderr containing ``must``."""
    lines = [line for line in res.stderr.splitlines() if "error" in line.lower() or "Traceback" in line]
    if res.returncode != code:
        return f"exit {res.returncode}, wanted {code}: {res.stderr.strip()[-300:]}"
    if "Traceback" in res.stderr:
        return f"traceback on stderr: {res.stderr.strip()[-300:]}"
    if len(lines) != 1:
        return f"{len(lines)} error lines: {res.stderr.strip()[-300:]}"
    missing = [m for m in must if m not in lines[0]]
    if missing:
        return f"error line lacks {missing}: {lines[0][:300]}"
    return None


@contextlib.contextmanager
def scratch(prefix: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix=f"rel-{prefix}-") as tmp:
        yield Path(tmp)


def is_root() -> bool:
    return os.geteuid() == 0
