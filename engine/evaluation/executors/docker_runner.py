"""Runs one program inside the docker executor's container (stdlib only; copied into the container).

Usage: ``python3 -I -S runner.py RUN_DIR``; RUN_DIR holds main.py, .stdin, spec.json and extra
files. The program runs as nobody in its own session with rlimits and a wall-clock limit; the
whole group is killed afterwards. Prints one JSON line: rc, timed_out, stdout, stderr, out_over.
"""

import json
import os
import resource
import shutil
import signal
import sys
import time


def main():
    run_dir = sys.argv[1]
    with open(os.path.join(run_dir, "spec.json")) as fh:
        spec = json.load(fh)
    os.chown(run_dir, 65534, 65534)
    t0 = time.monotonic()
    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()
            os.chdir(run_dir)
            fds = [os.open(".stdin", os.O_RDONLY), os.open(".stdout", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
                   os.open(".stderr", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)]
            for target, fd in enumerate(fds):
                os.dup2(fd, target)
                os.close(fd)
            os.closerange(3, 4096)
            signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
            for res, value in ((resource.RLIMIT_CORE, 0), (resource.RLIMIT_AS, spec["as"]),
                               (resource.RLIMIT_FSIZE, spec["fsize"]), (resource.RLIMIT_NOFILE, spec["nofile"]),
                               (resource.RLIMIT_NPROC, spec["nproc"])):
                resource.setrlimit(res, (value, value))
            resource.setrlimit(resource.RLIMIT_CPU, (spec["cpu"], spec["cpu"] + 1))
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": run_dir, "TMPDIR": run_dir, "LANG": "C.UTF-8"}
            os.execve(sys.executable, [sys.executable, "-I", "-S", "main.py", *spec["args"]], env)
        except BaseException as exc:  # the sandbox could not be set up: say why on the program's stderr
            os.write(2, f"sandbox setup failed: {type(exc).__name__}: {exc}\n".encode())
        finally:
            os._exit(70)
    deadline = t0 + spec["time_limit"]
    timed_out = False
    status = 0
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() >= deadline:
            timed_out = True
            os.killpg(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
            break
        time.sleep(0.002)
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    cap = spec["output_limit"]
    out = {"rc": os.waitstatus_to_exitcode(status), "timed_out": timed_out, "wall": time.monotonic() - t0}
    for name in ("stdout", "stderr"):
        try:
            with open(os.path.join(run_dir, "." + name), "rb") as fh:
                data = fh.read(cap + 1)
        except OSError:
            data = b""
        out[name] = data[:cap].decode("utf-8", "replace")
        if name == "stdout":
            out["out_over"] = len(data) > cap
    shutil.rmtree(run_dir, ignore_errors=True)
    sys.stdout.write(json.dumps(out))


if __name__ == "__main__":
    main()
