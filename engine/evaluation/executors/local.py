"""The embedded sandbox: each program in a fresh temp dir, its own session, rlimits, no network.

What it does (README "Local sandbox" has the full list of what it does and does not protect
against): a fresh temporary directory per run (removed after; on /dev/shm when available), a new
session and process group (killed as a whole on timeout, on cancellation and after exit), rlimits
on CPU time, address space, processes, file size and open files, a wall-clock timeout, output caps
(stdout/stderr go to files capped by RLIMIT_FSIZE), a scrubbed environment, ``python -I -S`` (no
site-packages, no user paths, PYTHON* ignored), a network namespace when the machine allows it
(probed once; the fallback is recorded), and, when running as root, the program runs as ``nobody``.

Two modes apply the same isolation: ``fork-server`` (default) starts one warm interpreter per
evaluation inside the namespace and forks a child per run, which skips ~10 ms of interpreter
start-up per test; ``spawn`` starts a fresh interpreter per run. It is not a VM or a seccomp jail:
the kernel is shared.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.evaluation.executors.base import (
    Executor,
    RunResult,
    RunSpec,
    Status,
    exit_verdict,
)

ZYGOTE_SCRIPT = Path(__file__).with_name("zygote_main.py")

#: The sandboxed interpreter's first code: set rlimits, drop to the target user, then run main.py
#: as ``__main__``. Doing this in the child (not in a ``preexec_fn``) lets the parent spawn with
#: vfork, whose cost does not grow with the parent's memory (fork of a 300 MB parent costs ~25 ms).
BOOTSTRAP = (
    "def _boot():\n"
    " import os,sys,signal,resource as R\n"
    " signal.signal(signal.SIGXFSZ,signal.SIG_DFL)\n"
    " a=sys.argv\n"
    " c,m,f,n,p,u,g=map(int,a[1:8])\n"
    " for k,v in ((R.RLIMIT_CORE,0),(R.RLIMIT_AS,m),(R.RLIMIT_FSIZE,f),(R.RLIMIT_NOFILE,n),(R.RLIMIT_NPROC,p)):\n"
    "  R.setrlimit(k,(v,v))\n"
    " R.setrlimit(R.RLIMIT_CPU,(c,c+1))\n"
    " if u>=0:\n"
    "  os.setgroups([]);os.setgid(g);os.setuid(u)\n"
    " sys.argv=a[8:]\n"
    " s=open(sys.argv[0],'rb').read()\n"
    " import __main__\n"
    " d=__main__.__dict__\n"
    " b=d['__builtins__']\n"
    " d.clear()\n"
    " d.update(__name__='__main__',__file__=sys.argv[0],__builtins__=b)\n"
    " return compile(s,sys.argv[0],'exec'),d\n"
    "exec(*_boot())\n"
)


@dataclass
class SandboxLimits:
    """Limits that do not come from the test (time and memory do)."""

    nproc: int = 64
    nofile: int = 64
    fsize_mb: int = 16


class LocalExecutor(Executor):
    """Runs Python programs as local subprocesses inside the sandbox described above."""

    name = "local"

    def __init__(
        self,
        python: str | None = None,
        network: str = "auto",
        drop_user: str | None = "auto",
        tmp_root: str | os.PathLike[str] | None = None,
        limits: SandboxLimits | None = None,
        site_packages: bool = False,
        mode: str = "fork-server",
    ) -> None:
        self.python = python or sys.executable
        #: fork-server (one warm sandboxed interpreter forks a child per run) or spawn (a fresh
        #: interpreter per run); both apply the same isolation, fork-server skips ~10 ms of start-up
        self.mode = mode
        self._zygote: _ForkServer | None = None
        self._zygote_lock: asyncio.Lock | None = None
        self.network = network  # auto | netns | userns | none
        self.tmp_root = str(tmp_root) if tmp_root else _default_tmp_root()
        self.limits = limits or SandboxLimits()
        self.site_packages = site_packages
        self.unshare_bin = shutil.which("unshare")
        self.prefix: list[str] = []
        self.isolation_note = ""
        self.uid: int | None = None
        self.gid: int | None = None
        if drop_user == "auto":
            drop_user = "nobody" if os.geteuid() == 0 else None
        if drop_user:
            try:
                pw = pwd.getpwnam(drop_user)
                self.uid, self.gid = pw.pw_uid, pw.pw_gid
            except KeyError:
                self.uid = self.gid = None
        self._probed = False

    # -- setup ----------------------------------------------------------------------------------
    async def start(self) -> None:
        self.probe()

    def probe(self) -> None:
        """Find once which isolation works here, strongest first, and remember it.

        Order: network namespace + run as ``nobody``; user+network namespace; ``nobody`` without a
        network namespace; nothing. ``nobody`` needs an interpreter it may execute (a venv under
        /root is not), so the system ``python3`` is tried too.
        """
        if self._probed:
            return
        self._probed = True
        pythons = [self.python] + [p for p in ("/usr/bin/python3",) if p != self.python and os.path.exists(p)]
        drop = self.uid is not None
        unshare = self.unshare_bin
        plans: list[tuple[str, list[str], bool]] = []
        if unshare and self.network in ("auto", "netns"):
            if drop:
                plans.append(("network namespace, runs as nobody", [unshare, "--net"], True))
            elif os.geteuid() == 0:
                plans.append(("network namespace", [unshare, "--net"], False))
        if unshare and self.network in ("auto", "userns"):
            plans.append(("user+network namespace", [unshare, "--user", "--net"], False))
        if drop:
            plans.append(("runs as nobody; no network namespace available: programs keep the host network", [], True))
        for label, prefix, use_drop in plans:
            for python in pythons if use_drop else [self.python]:
                if self._try(python, prefix, use_drop):
                    self.python, self.prefix = python, prefix
                    if not use_drop:
                        self.uid = self.gid = None
                    self.isolation_note = label
                    return
        self.prefix = []
        self.uid = self.gid = None
        self.isolation_note = "no network namespace available: programs keep the host network"

    def _try(self, python: str, prefix: list[str], drop: bool) -> bool:
        workdir = tempfile.mkdtemp(prefix="rollout-eval-probe-", dir=self.tmp_root)
        try:
            (Path(workdir) / "main.py").write_text("import socket\n")
            if drop and self.uid is not None:
                os.chown(workdir, self.uid, self.gid if self.gid is not None else -1)
            uid, gid = (self.uid, self.gid) if drop else (None, None)
            proc = subprocess.run(self._argv(python, prefix, 3, 512, uid, gid, []), capture_output=True, timeout=10,
                                  env=self._env(workdir), cwd=workdir, start_new_session=True)
            return proc.returncode == 0
        except (subprocess.SubprocessError, OSError):
            return False
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def _fsize(self, output_limit: int) -> int:
        # one byte over the output cap must be writable, so "over the cap" is seen as OLE
        return max(output_limit + 1, self.limits.fsize_mb << 20)

    def _argv(self, python: str, prefix: list[str], cpu_s: int, memory_mb: int, uid: int | None, gid: int | None,
              args: list[str], output_limit: int = 1 << 20) -> list[str]:
        lim = self.limits
        nums = [cpu_s, memory_mb * 1024 * 1024, self._fsize(output_limit), lim.nofile, lim.nproc,
                -1 if uid is None else uid, -1 if gid is None else gid]
        flags = ["-I"] + ([] if self.site_packages else ["-S"])
        return [*prefix, python, *flags, "-c", BOOTSTRAP, *map(str, nums), "main.py", *args]

    def describe(self) -> dict[str, Any]:
        self.probe()
        return {
            "executor": self.name, "mode": self.mode, "python": self.python, "network": self.isolation_note,
            "user": pwd.getpwuid(self.uid).pw_name if self.uid is not None else "unchanged",
            "limits": {"nproc": self.limits.nproc, "nofile": self.limits.nofile, "fsize_mb": self.limits.fsize_mb},
        }

    def _env(self, home: str) -> dict[str, str]:
        # a scrubbed environment: nothing of the parent's (keys, proxies, paths) leaks in
        return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": home, "TMPDIR": home, "LANG": "C.UTF-8",
                "LC_ALL": "C.UTF-8", "PYTHONIOENCODING": "utf-8"}

    async def close(self) -> None:
        if self._zygote is not None:
            await self._zygote.close()
            self._zygote = None

    async def _fork_server(self) -> _ForkServer:
        if self._zygote is not None and not self._zygote.dead:
            return self._zygote
        if self._zygote_lock is None:
            self._zygote_lock = asyncio.Lock()
        async with self._zygote_lock:  # concurrent first runs must share one server
            if self._zygote is None or self._zygote.dead:
                if self._zygote is not None:
                    await self._zygote.close()
                argv = [*self.prefix, self.python, "-I", "-S", str(ZYGOTE_SCRIPT)]
                server = _ForkServer(argv, self._env("/"))
                await server.start()
                self._zygote = server
        return self._zygote

    # -- running --------------------------------------------------------------------------------
    async def run(self, spec: RunSpec) -> RunResult:
        if spec.language not in ("python", "python3"):
            return RunResult(Status.ERROR, detail=f"the local executor runs Python only, not {spec.language!r}")
        self.probe()
        workdir = tempfile.mkdtemp(prefix="rollout-eval-", dir=self.tmp_root)
        try:
            if self.mode == "fork-server":
                return await self._run_forked(Path(workdir), spec)
            return await self._run_in(Path(workdir), spec)
        except OSError as exc:
            return RunResult(Status.ERROR, detail=f"sandbox failure: {exc}")
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def _prepare(self, workdir: Path, spec: RunSpec) -> Path:
        (workdir / "main.py").write_text(spec.source, encoding="utf-8")
        for name, content in spec.files.items():
            (workdir / Path(name).name).write_text(content, encoding="utf-8")
        stdin_path = workdir / ".stdin"
        stdin_path.write_text(spec.stdin, encoding="utf-8")
        if self.uid is not None:
            os.chown(workdir, self.uid, self.gid if self.gid is not None else -1)
        return stdin_path

    async def _run_forked(self, workdir: Path, spec: RunSpec) -> RunResult:
        self._prepare(workdir, spec)
        server = await self._fork_server()
        lim = self.limits
        req = {"dir": str(workdir), "cpu": max(1, math.ceil(spec.time_limit_s)), "as": spec.memory_mb << 20,
               "fsize": self._fsize(spec.output_limit), "nofile": lim.nofile, "nproc": lim.nproc,
               "uid": self.uid, "gid": self.gid, "args": spec.args, "env": self._env(str(workdir))}
        t0 = time.monotonic()
        try:
            pid, done = await server.spawn(req)
        except _ServerLost as exc:
            return RunResult(Status.ERROR, detail=f"sandbox fork server lost: {exc}")
        timed_out = False
        try:
            msg = await asyncio.wait_for(asyncio.shield(done), spec.time_limit_s)
        except asyncio.TimeoutError:
            timed_out = True
            _killpg(pid)
            try:
                msg = await asyncio.wait_for(done, 10)
            except (asyncio.TimeoutError, _ServerLost) as exc:
                return RunResult(Status.ERROR, detail=f"sandboxed process {pid} did not die: {exc}")
        except _ServerLost as exc:
            return RunResult(Status.ERROR, detail=f"sandbox fork server lost: {exc}")
        except asyncio.CancelledError:
            _killpg(pid)  # the evaluation was cancelled (timeout, stop): the program goes too
            raise
        # the whole group goes, also grandchildren left running after the program exited
        _killpg(pid)
        return self._result(workdir, spec, os.waitstatus_to_exitcode(int(msg["status"])), timed_out, time.monotonic() - t0)

    async def _run_in(self, workdir: Path, spec: RunSpec) -> RunResult:
        stdin_path = self._prepare(workdir, spec)
        cpu_s = max(1, math.ceil(spec.time_limit_s))
        argv = self._argv(self.python, self.prefix, cpu_s, spec.memory_mb, self.uid, self.gid, spec.args, spec.output_limit)
        t0 = time.monotonic()
        # output goes to files, not pipes: a grandchild holding a pipe open cannot stall the wait,
        # and RLIMIT_FSIZE caps it in the kernel
        with open(stdin_path, "rb") as stdin, open(workdir / ".stdout", "wb") as out, open(workdir / ".stderr", "wb") as err:
            proc = await asyncio.create_subprocess_exec(
                *argv, cwd=str(workdir), env=self._env(str(workdir)), stdin=stdin, stdout=out, stderr=err,
                start_new_session=True,
            )
        timed_out = False
        try:
            await asyncio.wait_for(proc.wait(), spec.time_limit_s)
        except asyncio.TimeoutError:
            timed_out = True
        except asyncio.CancelledError:
            _killpg(proc.pid)  # the evaluation was cancelled (timeout, stop): the program goes too
            raise
        _killpg(proc.pid)
        rc = await proc.wait()
        return self._result(workdir, spec, rc, timed_out, time.monotonic() - t0)

    def _result(self, workdir: Path, spec: RunSpec, rc: int, timed_out: bool, wall: float) -> RunResult:
        stdout, out_over = _read_capped(workdir / ".stdout", spec.output_limit)
        stderr, _ = _read_capped(workdir / ".stderr", spec.output_limit)
        return exit_verdict(spec, rc, timed_out, stdout, stderr, out_over, wall)


def _default_tmp_root() -> str | None:
    """/dev/shm when usable: a tmpfs makes the per-run dir ~10x cheaper than a disk-backed /tmp."""
    shm = "/dev/shm"
    if os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK):
        return shm
    return None


def _killpg(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _read_capped(path: Path, cap: int) -> tuple[str, bool]:
    """Up to ``cap`` bytes of ``path`` as text, and whether there was more (or it is missing)."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(cap + 1)
    except OSError:
        return "", False
    return data[:cap].decode("utf-8", "replace"), len(data) > cap


class _ServerLost(Exception):
    """The fork server died; pending runs have no verdict."""


class _ForkServer:
    """Client of zygote_main.py: one request line per run, answers matched by id."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.argv = argv
        self.env = env
        self.proc: asyncio.subprocess.Process | None = None
        self.next_id = 0
        self.started: dict[int, asyncio.Future[int]] = {}
        self.finished: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.dead = False
        self.reader: asyncio.Task[None] | None = None
        self.lock = asyncio.Lock()

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            *self.argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL, env=self.env, cwd="/", start_new_session=True,
        )
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        try:
            while True:
                line = await self.proc.stdout.readline()
                if not line:
                    break
                msg = json.loads(line)
                rid = msg["id"]
                if "pid" in msg:
                    fut = self.started.pop(rid, None)
                    if fut is not None and not fut.done():
                        fut.set_result(int(msg["pid"]))
                else:
                    done = self.finished.pop(rid, None)
                    if done is not None and not done.done():
                        done.set_result(msg)
        except (ValueError, KeyError) as exc:
            self._fail(f"bad answer from the fork server: {exc}")
        finally:
            self._fail("the fork server exited")

    def _fail(self, why: str) -> None:
        self.dead = True
        for futs in (self.started, self.finished):
            for fut in futs.values():
                if not fut.done():
                    fut.set_exception(_ServerLost(why))
                    # nobody may be awaiting it yet: do not warn about an unretrieved exception
                    fut.exception()
            futs.clear()

    async def spawn(self, req: dict[str, Any]) -> tuple[int, asyncio.Future[dict[str, Any]]]:
        if self.dead or self.proc is None or self.proc.stdin is None:
            raise _ServerLost("the fork server is not running")
        loop = asyncio.get_running_loop()
        self.next_id += 1
        rid = self.next_id
        started: asyncio.Future[int] = loop.create_future()
        finished: asyncio.Future[dict[str, Any]] = loop.create_future()
        self.started[rid] = started
        self.finished[rid] = finished
        self.proc.stdin.write(json.dumps(dict(req, id=rid)).encode() + b"\n")
        try:
            await self.proc.stdin.drain()
        except (ConnectionError, BrokenPipeError) as exc:
            self._fail(str(exc))
        pid = await started
        return pid, finished

    async def close(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            await self.proc.wait()
        if self.reader is not None:
            self.reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.reader
