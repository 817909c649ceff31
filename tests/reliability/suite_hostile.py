"""Hostile programs through the default local executor and through docker: each contained.

Every program names its processes (``/proc/self/comm``, inherited by children) so the host can
see whether any of them outlived the run, whatever pid namespace it ran in. Host files a program
tries to write must not appear; a secret in the runner's environment and home must not be read;
a listener on the host's 127.0.0.1 must see no connection; rlimits must not go up.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import socket
from pathlib import Path
from typing import Any, Callable

from harness import Box

from engine.evaluation.executors.base import RunResult, RunSpec, Status

IMAGE = os.environ.get("ROLLOUT_EVAL_IMAGE", "rollout-eval-python:test")


def _procs_named(marker: str) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            if d.joinpath("comm").read_text().strip().startswith(marker):
                state = d.joinpath("stat").read_text().rsplit(")", 1)[1].split()[0]
                if state != "Z":
                    out.append(int(d.name))
        except OSError:
            pass
    return out


def _name(marker: str) -> str:
    # prctl(PR_SET_NAME): a sandboxed program is not dumpable, so /proc/self/comm is not writable
    return f"import ctypes as _c\n_c.CDLL(None).prctl(15, {marker.encode()!r}, 0, 0, 0)\ndel _c\n"


def programs(token: str, port: int) -> list[tuple[str, str, dict[str, Any], Callable[[RunResult, str], str | None]]]:
    """(name, source, RunSpec options, check(result, marker) -> problem or None)."""
    secret = token[::-1]  # what the secret files hold (the token itself is in their names)
    host_tmp = f"/tmp/rel-hostile-{token}"
    host_shm = f"/dev/shm/rel-hostile-{token}"
    home_file = os.path.join(os.path.expanduser("~"), f".rel-hostile-{token}")

    def not_ac(res: RunResult, _m: str) -> str | None:
        return None if res.status is not Status.AC else f"ran to the end: {res.stdout[-200:]}"

    def status_in(*ok: Status) -> Callable[[RunResult, str], str | None]:
        return lambda res, _m: None if res.status in ok else f"{res.status.value}: {res.detail} {res.stderr[-200:]}"

    def absent(*paths: str) -> Callable[[RunResult, str], str | None]:
        def check(res: RunResult, _m: str) -> str | None:
            there = [p for p in paths if os.path.exists(p)]
            return f"written on the host: {there}" if there else None
        return check

    def no_secret(res: RunResult, _m: str) -> str | None:
        return f"secret read: {res.stdout[-300:]}" if secret in res.stdout or secret in res.stderr else None

    def limits_held(res: RunResult, _m: str) -> str | None:
        return None if "RAISED" not in res.stdout else f"rlimit raised: {res.stdout[-200:]}"

    return [
        ("fork bomb", "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n",
         {"time_limit_s": 2}, not_ac),
        ("memory bomb (one process)", "x = bytearray(3 << 30)\n", {"memory_mb": 256}, status_in(Status.MLE)),
        ("memory bomb (8 processes)",
         "import os, time\nfor _ in range(8):\n    if os.fork() == 0:\n        b = bytearray(200 << 20)\n"
         "        for i in range(0, len(b), 4096): b[i] = 1\n        time.sleep(5)\n        os._exit(0)\n"
         "for _ in range(8): os.wait()\nprint('all allocated')\n",
         {"memory_mb": 512, "time_limit_s": 4}, not_ac),
        ("infinite loop", "while True:\n    pass\n", {"time_limit_s": 1}, status_in(Status.TLE)),
        ("setsid child outliving its parent",
         "import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(30)\n    os._exit(0)\nprint('parent done')\n",
         {"time_limit_s": 3}, status_in(Status.AC)),
        ("daemonised process",
         "import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n        os.chdir('/')\n"
         "        for fd in range(3): os.close(fd)\n        time.sleep(30)\n    os._exit(0)\nos.wait()\nprint('detached')\n",
         {"time_limit_s": 3}, status_in(Status.AC)),
        ("huge output", "import sys\nwhile True:\n    sys.stdout.write('y' * 65536)\n",
         {"output_limit": 1 << 20, "time_limit_s": 5}, status_in(Status.OLE)),
        ("filling the disk",
         "n = 0\ntry:\n    for i in range(100000):\n        with open(f'fill{i}', 'wb') as fh:\n"
         "            fh.write(b'z' * (8 << 20))\n        n += 8\nexcept OSError as e:\n    print('stopped', n, e)\n",
         {"time_limit_s": 10, "memory_mb": 512}, lambda r, m: None if "stopped" in r.stdout or r.status is not Status.AC
         else f"wrote without limit: {r.stdout[-200:]}"),
        ("writing to /tmp", f"open({host_tmp!r}, 'w').write('x')\nprint('wrote')\n", {}, absent(host_tmp)),
        ("writing to /dev/shm", f"open({host_shm!r}, 'w').write('x')\nprint('wrote')\n", {}, absent(host_shm)),
        ("writing to the user's home", f"open({home_file!r}, 'w').write('x')\nprint('wrote')\n", {}, absent(home_file)),
        ("reading the runner's environment and files",
         "import os, glob\nprint(dict(os.environ))\nfor p in glob.glob('/proc/*/environ') + "
         f"[{os.path.join(os.path.expanduser('~'), '.rel-secret-' + token)!r}, {'/tmp/rel-secret-' + token!r}]:\n"
         "    try:\n        print(p, open(p, 'rb').read()[:4000])\n    except OSError as e:\n        print(p, e)\n",
         {}, no_secret),
        ("network connection to a host listener",
         f"import socket\ns = socket.create_connection(('127.0.0.1', {port}), timeout=2)\nprint('connected')\n",
         {"time_limit_s": 4}, lambda r, m: None if "connected" not in r.stdout else "connected to the host"),
        ("killing the parent",
         "import os, signal\nfor pid in (os.getppid(), 1, -1):\n    try:\n        os.kill(pid, signal.SIGKILL)\n"
         "    except OSError as e:\n        print(pid, e)\nos.killpg(0, signal.SIGKILL)\n", {}, lambda r, m: None),
        ("raising rlimits",
         "import resource as R\nfor k in (R.RLIMIT_AS, R.RLIMIT_NPROC, R.RLIMIT_CPU, R.RLIMIT_FSIZE, R.RLIMIT_NOFILE):\n"
         "    try:\n        R.setrlimit(k, (R.RLIM_INFINITY, R.RLIM_INFINITY))\n        print('RAISED', k)\n"
         "    except (ValueError, OSError) as e:\n        print('kept', k, e)\n", {}, limits_held),
    ]


async def _exercise(box: Box, label: str, executor: Any, token: str, per_run_survivors: bool) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.setblocking(False)
    port = listener.getsockname()[1]
    survivors: list[tuple[str, str]] = []
    try:
        await executor.start()
        for i, (name, src, opts, check) in enumerate(programs(token, port)):
            marker = f"rh{token[:6]}{i:02d}"
            spec = RunSpec(_name(marker) + src, **{"time_limit_s": 3, "memory_mb": 256, **opts})
            res = await executor.run(spec)
            problem = check(res, marker)
            if res.status is Status.ERROR:
                problem = f"executor error: {res.detail}"
            await asyncio.sleep(0.2)
            if per_run_survivors and _procs_named(marker):
                problem = (problem or "") + f" {len(_procs_named(marker))} process(es) outlived the run"
            survivors.append((name, marker))
            try:
                conn, _ = listener.accept()
                conn.close()
                problem = (problem or "") + " a connection reached the host listener"
            except BlockingIOError:
                pass
            box.record(f"{label}: {name}", problem is None, problem or "")
        # the executor survived everything above and still gives verdicts
        res = await executor.run(RunSpec("print(6 * 7)"))
        box.record(f"{label}: still serving after all of them", res.stdout == "42\n", f"{res.status} {res.detail}")
    finally:
        await executor.close()
        shutdown = getattr(executor, "shutdown", None)
        if shutdown:
            shutdown()
        listener.close()
    await asyncio.sleep(0.5)
    left = [name for name, marker in survivors if _procs_named(marker)]
    for name, marker in survivors:  # never leave them behind, whatever the verdict
        for pid in _procs_named(marker):
            os.kill(pid, 9)
    box.record(f"{label}: no process survives the executor", not left, f"survivors of: {left}" if left else "")


def run(box: Box) -> None:
    token = secrets.token_hex(8)
    home_secret = Path(os.path.expanduser("~")) / f".rel-secret-{token}"
    tmp_secret = Path(f"/tmp/rel-secret-{token}")
    for p in (home_secret, tmp_secret):
        p.write_text(f"key={token[::-1]}\n")
        p.chmod(0o644)  # world-readable: the sandbox must hide it, not its mode
    os.environ["REL_HOSTILE_SECRET"] = token[::-1]
    try:
        from engine.evaluation.executors.local import LocalExecutor

        local = LocalExecutor(tmp_root=box.dir("local"))
        asyncio.run(_exercise(box, "local", local, token, per_run_survivors=True))
        if local.bwrap is None:
            box.record("local: runs inside bubblewrap", False, local.bwrap_note)
        docker_ok, why = _docker_available()
        if docker_ok:
            from engine.evaluation.executors.docker_exec import DockerExecutor

            asyncio.run(_exercise(box, "docker", DockerExecutor(image=IMAGE, memory="1g"), token,
                                  per_run_survivors=False))
        else:
            box.skip("docker: all hostile programs", why)
    finally:
        os.environ.pop("REL_HOSTILE_SECRET", None)
        for p in (home_secret, tmp_secret, Path(f"/tmp/rel-hostile-{token}"), Path(f"/dev/shm/rel-hostile-{token}"),
                  Path(os.path.expanduser("~")) / f".rel-hostile-{token}"):
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            elif p.exists():
                p.unlink()


def _docker_available() -> tuple[bool, str]:
    try:
        import docker

        client = docker.from_env(timeout=10)
        client.ping()
        client.images.get(IMAGE)
        client.close()
        return True, ""
    except Exception as exc:  # noqa: BLE001 - any failure: the setup script did not run or failed
        return False, f"docker with image {IMAGE} not available ({type(exc).__name__}): run tests/services/setup-docker.sh"
