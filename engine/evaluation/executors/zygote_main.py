"""The sandbox's fork server (run as ``python -I -S zygote_main.py``; stdlib only, no engine imports).

Started once per evaluation, inside the bubblewrap sandbox when there is one. For each request
(one JSON line on stdin) it forks a child C. Without ``nest`` C itself becomes the program: a new
session, the run's fresh temp dir, rlimits, the target user, stdin/stdout/stderr wired to files,
``main.py`` run as ``__main__`` — the same steps as a fresh ``python -I -S main.py`` without paying
the interpreter's start-up per test.

With ``nest`` (inside bubblewrap, where this server holds CAP_SYS_ADMIN) the child is made with
``clone`` in new pid and IPC namespaces, so the program is pid 1 of a namespace of its own, and
enters the mount namespace of its *slot*: one per concurrent run, made once, with a private
size-limited tmpfs on /tmp (the program's work dir) and /dev/shm and the run dirs hidden; the
child empties both, copies the run's files in and joins the run's memory cgroup. When the
program exits (or is killed) the kernel kills whatever it left in its pid namespace (setsid
children, daemons, anything): nothing of a run outlives it. Being pid 1 it ignores signals it
sends itself without a handler; faults, SIGKILL and rlimit kills still apply. (A fresh mount
namespace per run would cost ~2 ms each under load: its teardown waits for an RCU grace period.)

It answers ``{"id", "pid"}`` when the child started and ``{"id", "status"}`` when it ended (on
fd 1). ``{"kill": id}`` kills a run (the parent owns the timeouts). A request with
``max_running`` N waits in a queue while N runs are going, and starts the moment one ends: the
executor hands over the next runs ahead of time, and no run waits for a round trip to it.
"""

import atexit  # here, not in each run: an import in the child costs it ~40 copied pages
import ctypes
import json
import os
import resource
import select
import signal
import struct
import sys
import traceback
import types

# Deliberately not imported here: random, tempfile (their state would be shared by every child).

CLONE_NEWNS, CLONE_NEWIPC, CLONE_NEWPID = 0x00020000, 0x08000000, 0x20000000
import shutil  # noqa: E402 - emptying a slot's /tmp
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REC, MS_PRIVATE = 1, 2, 4, 8, 0x4000, 1 << 18
PR_SET_NO_NEW_PRIVS = 38
_libc = ctypes.CDLL(None, use_errno=True)


def _check(rc, what):
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source, target, fstype, flags, data=None):
    _check(_libc.mount(source and source.encode(), target.encode(), fstype and fstype.encode(), ctypes.c_ulong(flags),
                       data and data.encode()), f"mount {target}")


def _drop_privileges(uid, gid):
    """Become ``uid`` (all capabilities go with root), or, staying root, drop every capability."""
    _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)  # no setuid binary or file capability gives them back
    if uid is not None:
        os.setgroups([])
        if gid is not None:
            os.setgid(gid)
        os.setuid(uid)
        return
    # struct __user_cap_header_struct {u32 version; int pid} + two empty data structs (v3)
    header = ctypes.create_string_buffer(struct.pack("Ii", 0x20080522, 0))
    data = ctypes.create_string_buffer(24)
    _libc.capset(header, data)


def _run_program(req, workdir, fds):
    """Become the program: fds 0-2, rlimits, user, environment, then exec ``main.py``."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.set_wakeup_fd(-1)
    # Python ignores SIGXFSZ; a sandboxed program over its output cap must die of it (-> OLE)
    signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
    os.chdir(workdir)
    for fd, target in zip(fds, (0, 1, 2)):
        os.dup2(fd, target)
    os.closerange(3, 4096)  # the control pipes and anything else of the server
    uid, gid = req.get("uid"), req.get("gid")
    if uid is not None and not req.get("nest"):
        os.chown(".stdout", uid, -1)
        os.chown(".stderr", uid, -1)
    for res, value in ((resource.RLIMIT_CORE, 0), (resource.RLIMIT_AS, req["as"]), (resource.RLIMIT_FSIZE, req["fsize"]),
                       (resource.RLIMIT_NOFILE, req["nofile"]), (resource.RLIMIT_NPROC, req["nproc"])):
        resource.setrlimit(res, (value, value))
    resource.setrlimit(resource.RLIMIT_CPU, (req["cpu"], req["cpu"] + 1))
    if req.get("nest") or uid is not None:
        _drop_privileges(uid, gid)
    if req.get("env") is not None:  # None: the server already has the runs' environment (bubblewrap)
        os.environ.clear()
        os.environ.update(req["env"])
    sys.stdin = sys.__stdin__ = open(0, "r", encoding="utf-8", errors="surrogateescape", closefd=False)
    sys.stdout = sys.__stdout__ = open(1, "w", encoding="utf-8", errors="backslashreplace", closefd=False)
    sys.stderr = sys.__stderr__ = open(2, "w", encoding="utf-8", errors="backslashreplace", closefd=False, buffering=1)
    sys.argv = ["main.py"] + list(req.get("args") or [])
    main = types.ModuleType("__main__")
    main.__file__ = "main.py"
    main.__builtins__ = __builtins__
    sys.modules["__main__"] = main
    code = 0
    try:
        with open("main.py", "rb") as fh:
            source = fh.read()
        exec(compile(source, "main.py", "exec"), main.__dict__)
    except SystemExit as exc:
        if exc.code is None:
            code = 0
        elif isinstance(exc.code, int):
            code = exc.code
        else:
            print(exc.code, file=sys.stderr)
            code = 1
    except BaseException as exc:
        # drop this file's own frame: the traceback starts in the program, as with ``python main.py``
        traceback.print_exception(type(exc), exc, exc.__traceback__.tb_next if exc.__traceback__ else None)
        code = 1
    try:
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:
        pass
    os._exit(code & 0xFF)


def _open_std(workdir):
    return (os.open(os.path.join(workdir, ".stdin"), os.O_RDONLY),
            os.open(os.path.join(workdir, ".stdout"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
            os.open(os.path.join(workdir, ".stderr"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644))


#: clone(2)'s syscall number; its first two arguments (flags, new stack = 0) mean "fork"
_SYS_CLONE = {"x86_64": 56, "aarch64": 220, "riscv64": 220, "ppc64le": 120, "s390x": 120}.get(os.uname().machine)
_pyapi = ctypes.pythonapi
# made once: a foreign function object per call would cost the server (and its page copies) more
_syscall = ctypes.PyDLL(None, use_errno=True).syscall
_syscall.restype = ctypes.c_long
_before_fork, _after_fork_child, _after_fork_parent = (
    _pyapi.PyOS_BeforeFork, _pyapi.PyOS_AfterFork_Child, _pyapi.PyOS_AfterFork_Parent)


def _clone_nested():
    """fork() into new pid and IPC namespaces (the child is pid 1 there); 0 in the child."""
    flags = CLONE_NEWPID | CLONE_NEWIPC | signal.SIGCHLD
    if _SYS_CLONE is None:
        raise OSError(0, f"clone: unknown syscall number on {os.uname().machine}")
    _before_fork()
    # PyDLL keeps the GIL across the call, as os.fork does; the after-fork hooks run as for fork
    pid = _syscall(ctypes.c_long(_SYS_CLONE), ctypes.c_ulong(flags), 0, 0, 0, 0)
    if pid == 0:
        _after_fork_child()
        return 0
    _after_fork_parent()
    if pid < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"clone: {os.strerror(err)}")
    return pid


def _make_slot(req):
    """A mount namespace for one concurrent run: private /tmp and /dev/shm, run dirs hidden.

    A short-lived child makes it and is killed; the returned fd keeps the namespace alive.
    """
    ready_r, ready_w = os.pipe()
    hold_r, hold_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            os.close(ready_r)
            os.close(hold_w)
            _check(_libc.unshare(CLONE_NEWNS), "unshare")
            _mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing mounted here propagates
            # first: the run dirs may live under /tmp or /dev/shm, which the next mounts cover
            if req.get("hide"):
                _mount("tmpfs", req["hide"], "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV, "size=4k,mode=0555")
            owner = "" if req.get("uid") is None else f",uid={req['uid']},gid={req.get('gid') or 0}"
            size = req["tmp_bytes"]
            _mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, f"size={size},mode=0700{owner}")
            _mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, f"size={size},mode=1777")
            os.write(ready_w, b"1")
            os.read(hold_r, 1)
        except BaseException as exc:
            os.write(ready_w, f"0{type(exc).__name__}: {exc}".encode())
            code = 1
        os._exit(code)
    os.close(ready_w)
    os.close(hold_r)
    try:
        answer = os.read(ready_r, 4096)
        if answer != b"1":
            raise OSError(0, f"sandbox slot: {answer[1:].decode(errors='replace') or 'maker died'}")
        return os.open(f"/proc/{pid}/ns/mnt", os.O_RDONLY)
    finally:
        os.close(ready_r)
        os.close(hold_w)  # the maker exits; the fd keeps the namespace
        os.waitpid(pid, 0)


def _empty(path):
    for entry in os.scandir(path):
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            try:
                os.unlink(entry.path)
            except OSError:
                pass


def _nested(req, slot_fd):
    """The run as pid 1 of its namespaces, in its slot's mount namespace, in its cgroup."""
    os.setsid()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.set_wakeup_fd(-1)
    workdir = req["dir"]
    fds = _open_std(workdir)
    try:
        files = {}
        for name in os.listdir(workdir):
            if name not in (".stdin", ".stdout", ".stderr"):
                with open(os.path.join(workdir, name), "rb") as fh:
                    files[name] = fh.read()
        _check(_libc.setns(slot_fd, CLONE_NEWNS), "setns")
        os.close(slot_fd)
        _empty("/tmp")  # what the slot's previous run left (its processes are all gone)
        _empty("/dev/shm")
        for name, data in files.items():
            with open(os.path.join("/tmp", name), "wb") as fh:
                fh.write(data)
        if req.get("cgroup"):
            with open(os.path.join(req["cgroup"], "cgroup.procs"), "w") as fh:
                fh.write("0")
    except BaseException as exc:
        _report_fd(fds[2], exc)
        raise
    _run_program(req, "/tmp", fds)


def _child(req):
    os.setsid()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.set_wakeup_fd(-1)
    fds = _open_std(req["dir"])
    try:
        _run_program(req, req["dir"], fds)
    except BaseException as exc:
        _report_fd(fds[2], exc)
        raise


#: first words of .stderr when the sandbox itself failed (the parent reports ERROR, not RE)
SETUP_FAILED = "rollout sandbox setup failed: "


def _report_fd(fd, exc):
    try:
        os.write(fd, f"{SETUP_FAILED}{type(exc).__name__}: {exc}\n".encode())
    except OSError:
        pass


def _kill(pid):
    for kill in (os.killpg, os.kill):
        try:
            kill(pid, signal.SIGKILL)
        except OSError:
            pass


_WARM_SRC = (
    "from typing import List, Optional, Tuple, Dict, Any\n"
    "import math, re, collections, itertools, functools, string, heapq, bisect\n"
    "def f(xs: List[int]) -> int:\n"
    "    try:\n"
    "        return sum(x * 2 for x in xs if x % 2 == 0) + len([y for y in xs]) + len(f'{xs!r}')\n"
    "    except ValueError as e:\n"
    "        raise RuntimeError(str(e)) from None\n"
    "class C:\n"
    "    def __init__(self): self.d = {k: v for k, v in zip('ab', (1, 2))}\n"
    "assert f([1, 2, 3]) > 0, 'x'\n"
    "g = lambda a, *b, **c: (a, b, c)\n"
    "print(g(C(), 1, k=2.5), file=open(__import__('os').devnull, 'w'))\n"
)


def _warm_up():
    """Do once here what every run does first, so the forked children inherit it done.

    The first compile() of a process costs ~1.5 ms (the parser's lazy set-up), the first text
    file or module object more; paid in the server, each run skips it. gc.freeze() then moves
    every object made so far out of the collector's reach: a child's collection would otherwise
    touch (and copy) every page it shares with the server.
    """
    import gc
    import io

    mod = types.ModuleType("__warm__")
    mod.__builtins__ = __builtins__
    exec(compile(_WARM_SRC, "main.py", "exec"), mod.__dict__)
    for enc, errors in (("utf-8", "surrogateescape"), ("utf-8", "backslashreplace")):
        io.TextIOWrapper(io.BytesIO(), encoding=enc, errors=errors).write("x")
    try:
        raise ValueError("warm")
    except ValueError as exc:
        traceback.format_exception(type(exc), exc, exc.__traceback__)
    gc.collect()
    gc.freeze()


def _launch(req, ids, pids, slots, out):
    """Start run ``req``: answer ``{"id", "pid"}`` (or ``{"id", "error"}``); never returns in the child."""
    try:
        slot_fd = None
        if req.get("nest"):
            if req["slot"] not in slots:
                slots[req["slot"]] = _make_slot(req)
            slot_fd = slots[req["slot"]]
        pid = _clone_nested() if req.get("nest") else os.fork()
    except OSError as exc:
        out.write(json.dumps({"id": req["id"], "error": str(exc)}) + "\n")
        return
    if pid == 0:
        try:
            _nested(req, slot_fd) if req.get("nest") else _child(req)
        finally:
            os._exit(70)
    ids[pid] = req["id"]
    pids[req["id"]] = pid
    out.write('{"id": %d, "pid": %d}\n' % (req["id"], pid))


def main():
    # bubblewrap adds PWD; runs that keep the server's environment must see exactly the executor's
    os.environ.pop("PWD", None)
    _warm_up()
    rfd, wfd = os.pipe()
    os.set_blocking(wfd, False)
    signal.signal(signal.SIGCHLD, lambda *a: None)
    signal.set_wakeup_fd(wfd, warn_on_full_buffer=False)
    out = os.fdopen(int(sys.argv[1]) if len(sys.argv) > 1 else 1, "w", buffering=1)
    ids = {}
    pids = {}
    slots = {}  # slot number -> fd of its mount namespace
    #: requests waiting for a free place when a request says ``max_running``: the next one starts
    #: the moment a run ends, without a round trip to the executor
    queue = []
    max_running = 0
    #: runs killed but not yet reaped: they no longer count as running (one stuck in the kernel
    #: must not hold the queue up for ever)
    killed = set()
    buf = b""
    stdin = sys.stdin.fileno()
    while True:
        try:
            ready, _, _ = select.select([stdin, rfd], [], [])
        except InterruptedError:
            ready = [rfd]
        if rfd in ready:
            try:
                os.read(rfd, 4096)
            except BlockingIOError:
                pass
        while ids:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            rid = ids.pop(pid, None)
            if rid is not None:
                pids.pop(rid, None)
                killed.discard(pid)
                # the run's group goes too: grandchildren left running after the program exited
                _kill(pid)
                while queue and len(ids) - len(killed) < max_running:
                    _launch(queue.pop(0), ids, pids, slots, out)
                out.write('{"id": %d, "status": %d}\n' % (rid, status))
        if stdin in ready:
            chunk = os.read(stdin, 1 << 16)
            if not chunk:
                return
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                req = json.loads(line)
                if "kill" in req:
                    rid = req["kill"]
                    if rid in pids:
                        _kill(pids[rid])
                        killed.add(pids[rid])
                        while queue and len(ids) - len(killed) < max_running:
                            _launch(queue.pop(0), ids, pids, slots, out)
                    else:  # still waiting: it never starts (SIGKILL's wait status)
                        waiting = [q for q in queue if q["id"] == rid]
                        for q in waiting:
                            queue.remove(q)
                            out.write('{"id": %d, "status": %d}\n' % (rid, signal.SIGKILL))
                    continue
                max_running = req.get("max_running") or 0
                if max_running and len(ids) - len(killed) >= max_running:
                    queue.append(req)
                else:
                    _launch(req, ids, pids, slots, out)


if __name__ == "__main__":
    main()
