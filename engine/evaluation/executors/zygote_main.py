"""The sandbox's fork server (run as ``python -I -S zygote_main.py``; stdlib only, no engine imports).

Started once per evaluation inside the sandbox's network namespace. For each request (one JSON
line on stdin) it forks a child that: starts a new session, enters the run's fresh temp dir, sets
rlimits, drops to the target user, wires stdin/stdout/stderr to files in that dir, and runs
``main.py`` as ``__main__`` — the same steps as a fresh ``python -I -S main.py`` without paying the
interpreter's start-up for every test. It answers ``{"id", "pid"}`` when the child started and
``{"id", "status", "maxrss_kb"}`` when it ended (on fd 1; the parent owns the timeouts and kills).
"""

import json
import os
import resource
import select
import signal
import sys
import traceback
import types

# Deliberately not imported here: random, tempfile (their state would be shared by every child).


def _child(req):
    os.setsid()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.set_wakeup_fd(-1)
    # Python ignores SIGXFSZ; a sandboxed program over its output cap must die of it (-> OLE)
    signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
    workdir = req["dir"]
    os.chdir(workdir)
    fd_in = os.open(".stdin", os.O_RDONLY)
    fd_out = os.open(".stdout", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    fd_err = os.open(".stderr", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    for fd, target in ((fd_in, 0), (fd_out, 1), (fd_err, 2)):
        os.dup2(fd, target)
        os.close(fd)
    os.closerange(3, 4096)  # the control pipes and anything else of the server
    uid, gid = req.get("uid"), req.get("gid")
    if uid is not None:
        os.chown(".stdout", uid, -1)
        os.chown(".stderr", uid, -1)
    for res, value in ((resource.RLIMIT_CORE, 0), (resource.RLIMIT_AS, req["as"]), (resource.RLIMIT_FSIZE, req["fsize"]),
                       (resource.RLIMIT_NOFILE, req["nofile"]), (resource.RLIMIT_NPROC, req["nproc"])):
        resource.setrlimit(res, (value, value))
    resource.setrlimit(resource.RLIMIT_CPU, (req["cpu"], req["cpu"] + 1))
    if uid is not None:
        os.setgroups([])
        if gid is not None:
            os.setgid(gid)
        os.setuid(uid)
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
        import atexit

        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:
        pass
    os._exit(code & 0xFF)


def main():
    rfd, wfd = os.pipe()
    os.set_blocking(wfd, False)
    signal.signal(signal.SIGCHLD, lambda *a: None)
    signal.set_wakeup_fd(wfd, warn_on_full_buffer=False)
    out = os.fdopen(int(sys.argv[1]) if len(sys.argv) > 1 else 1, "w", buffering=1)
    ids = {}
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
                pid, status, ru = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            rid = ids.pop(pid, None)
            if rid is not None:
                out.write(json.dumps({"id": rid, "status": status, "maxrss_kb": ru.ru_maxrss}) + "\n")
        if stdin in ready:
            chunk = os.read(stdin, 1 << 16)
            if not chunk:
                return
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                req = json.loads(line)
                pid = os.fork()
                if pid == 0:
                    try:
                        _child(req)
                    finally:
                        os._exit(70)
                ids[pid] = req["id"]
                out.write(json.dumps({"id": req["id"], "pid": pid}) + "\n")


if __name__ == "__main__":
    main()
