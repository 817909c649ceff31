"""The local sandbox: verdicts, limits, isolation, cleanup — on real processes."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from engine.evaluation.executors.base import RunSpec, Status
from engine.evaluation.executors.local import LocalExecutor

#: (mode, network, drop_user, sandbox): bubblewrap in both modes and without dropping to nobody,
#: then the fallback (no bubblewrap) in its plans: netns + nobody, user+net namespace, nothing
CONFIGS = [("fork-server", "auto", "auto", "auto"), ("spawn", "auto", "auto", "auto"),
           ("fork-server", "auto", None, "auto"), ("fork-server", "auto", "auto", "none"),
           ("fork-server", "userns", None, "none"), ("spawn", "none", None, "none")]


@pytest.fixture(params=CONFIGS, ids=["bwrap", "bwrap-spawn", "bwrap-root", "fallback", "fallback-userns",
                                     "fallback-spawn-no-netns"])
async def executor(request: pytest.FixtureRequest, tmp_path: Path):
    mode, network, drop, sandbox = request.param
    ex = LocalExecutor(mode=mode, network=network, drop_user=drop, tmp_root=tmp_path, sandbox=sandbox)
    await ex.start()
    if sandbox == "auto" and ex.bwrap is None:
        pytest.fail(f"bubblewrap does not run here: {ex.bwrap_note}")
    yield ex
    await ex.close()
    ex.shutdown()


async def test_verdicts(executor: LocalExecutor) -> None:
    cases = [
        ("print(input()[::-1])", Status.AC),
        ("raise ValueError('boom')", Status.RE),
        ("import sys; sys.exit(3)", Status.RE),
        ("while True: pass", Status.TLE),
        ("import time; time.sleep(30)", Status.TLE),
        ("x = bytearray(600 * 1024 * 1024)", Status.MLE),
        ("import sys\nwhile True: sys.stdout.write('x' * 65536)", Status.OLE),
    ]
    results = await asyncio.gather(*(executor.run(RunSpec(src, stdin="abc\n", time_limit_s=1.5, memory_mb=256,
                                                             output_limit=1 << 20)) for src, _ in cases))
    for (src, want), got in zip(cases, results):
        assert got.status is want, (src, got)
    assert results[0].stdout == "cba\n"
    assert "ValueError: boom" in results[1].stderr
    assert results[2].exit_code == 3
    assert results[3].wall_s < 5 and results[4].wall_s < 5


async def test_environment_is_scrubbed_and_dir_is_fresh(executor: LocalExecutor, monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: Path) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    src = "import os, sys\nprint(sorted(os.listdir('.')))\nprint('OPENAI_API_KEY' in os.environ)\nprint(sys.flags.isolated)\nopen('left.txt','w').write('x')"
    first = await executor.run(RunSpec(src))
    second = await executor.run(RunSpec(src))
    assert first.status is Status.AC, first
    assert "left.txt" not in first.stdout and "left.txt" not in second.stdout
    assert "False" in first.stdout.splitlines()[1]
    assert first.stdout.splitlines()[2] == "1"
    # every run's temp dir is removed afterwards
    assert [p for p in tmp_path.iterdir() if p.name.startswith("rollout-eval-")] == []


async def test_no_network_when_a_namespace_is_available(executor: LocalExecutor) -> None:
    if executor.network == "none":
        return  # the configuration without a namespace: nothing to check
    if not executor.prefix and executor.bwrap is None:
        # the executor falls back and records it; the machine forbids namespaces (e.g. no userns)
        pytest.skip(f"no network namespace on this machine ({executor.isolation_note})")
    src = "import socket\ns = socket.socket()\ns.settimeout(2)\ns.connect(('127.0.0.1', 9))"
    res = await executor.run(RunSpec(src))
    assert res.status is Status.RE
    assert "unreachable" in res.stderr or "refused" in res.stderr


async def test_no_process_of_a_run_outlives_it(executor: LocalExecutor) -> None:
    # a forked child and a setsid'd grandchild that would outlive the program; each names itself
    # (prctl PR_SET_NAME) so the host can look for it whatever pid namespace it ran in
    marker = f"rl{os.getpid() % 10000}{id(executor) % 1000}"
    src = (
        "import ctypes, os, time\n"
        "def hold(tag):\n"
        "    ctypes.CDLL(None).prctl(15, tag.encode(), 0, 0, 0)\n"
        "    time.sleep(30)\n"
        "    os._exit(0)\n"
        "if os.fork() == 0:\n"
        f"    hold('{marker}a')\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        f"        hold('{marker}b')\n"
        "    os._exit(0)\n"
        "time.sleep(1.0)\n"
        "print('ok')\n"
    )
    task = asyncio.ensure_future(executor.run(RunSpec(src, time_limit_s=5)))
    seen: set[str] = set()
    while not task.done():
        seen |= _named(marker)
        await asyncio.sleep(0.05)
    assert seen == {f"{marker}a", f"{marker}b"}, seen  # the check below is not vacuous
    res = task.result()
    assert res.status is Status.AC and res.stdout == "ok\n", res
    escaped_group = executor.bwrap is None  # the fallback sandbox cannot hold a setsid child
    for _ in range(50):
        alive = _named(marker)
        if not alive or (escaped_group and alive == {f"{marker}b"}):
            break
        await asyncio.sleep(0.05)
    if escaped_group:
        for pid in _pids_named(f"{marker}b"):
            os.kill(pid, 9)
        assert f"{marker}a" not in _named(marker)
    else:
        assert _named(marker) == set(), "a process of the run survived it"


def _pids_named(prefix: str) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if d.joinpath("comm").read_text().strip().startswith(prefix) and not _is_zombie(int(d.name)):
                    out.append(int(d.name))
            except OSError:
                pass
    return out


def _named(prefix: str) -> set[str]:
    names = set()
    for pid in _pids_named(prefix):
        try:
            names.add(Path(f"/proc/{pid}/comm").read_text().strip())
        except OSError:
            pass
    return names


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True


async def test_timeout_kills_the_group(executor: LocalExecutor) -> None:
    src = "import os, time\nos.fork()\ntime.sleep(60)"
    t0 = time.monotonic()
    res = await executor.run(RunSpec(src, time_limit_s=1))
    assert res.status is Status.TLE and time.monotonic() - t0 < 5


async def test_files_and_args_reach_the_program(executor: LocalExecutor) -> None:
    src = "import sys\nprint(open(sys.argv[1]).read(), sys.argv[2:])"
    res = await executor.run(RunSpec(src, args=["in.txt", "x"], files={"in.txt": "hello"}))
    assert res.stdout.strip() == "hello ['x']"


def test_describe_names_the_isolation(tmp_path: Path) -> None:
    info = LocalExecutor(tmp_root=tmp_path).describe()
    assert info["executor"] == "local" and info["network"]


async def test_output_cap_is_ole_at_and_above_the_file_size_limit(executor: LocalExecutor) -> None:
    src = "import sys\nsys.stdout.write('y' * (20 << 20))"
    res = await executor.run(RunSpec(src, output_limit=16 << 20, memory_mb=512))
    assert res.status is Status.OLE, res
    assert len(res.stdout) == 16 << 20


async def test_fork_server_restarts_after_it_dies(tmp_path: Path) -> None:
    ex = LocalExecutor(tmp_root=tmp_path)
    await ex.start()
    try:
        assert (await ex.run(RunSpec("print(1)"))).status is Status.AC
        server = ex._zygote
        assert server is not None and server.proc is not None
        os.kill(server.proc.pid, 9)
        await server.proc.wait()
        await asyncio.sleep(0.05)
        res = await ex.run(RunSpec("print(2)"))
        assert res.status is Status.AC and res.stdout == "2\n"
        assert ex._zygote is not server
    finally:
        await ex.close()


async def test_programs_hold_no_capabilities(executor: LocalExecutor) -> None:
    # CapEff of the program itself: 0 in every configuration (the fork server's go nowhere)
    res = await executor.run(RunSpec("print(open('/proc/self/status').read().split('CapEff:')[1].split()[0])"))
    assert res.status is Status.AC, res
    assert int(res.stdout.strip(), 16) == 0 or executor.bwrap is None and os.geteuid() == 0 and executor.uid is None


def test_without_bubblewrap_the_executor_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import engine.evaluation.executors.bwrap as bw

    monkeypatch.setattr(bw, "find_bwrap", lambda: None)
    ex = LocalExecutor(tmp_root=tmp_path)
    info = ex.describe()
    assert info["sandbox"].startswith("none: no bwrap binary")
    assert ex.start_warning.startswith("local sandbox without bubblewrap") and "\n" not in ex.start_warning


async def test_handed_over_runs_queue_in_the_fork_server(tmp_path: Path) -> None:
    # pipeline(2): six runs handed over at once still run two at a time, each pair starting as
    # the previous one ends, and a time limit counts from the program's start, not the queue's
    ex = LocalExecutor(tmp_root=tmp_path)
    await ex.start()
    try:
        assert ex.pipeline(2) == 2
        src = "import time\nprint(time.time())\ntime.sleep(0.4)"
        runs = await asyncio.gather(*(ex.run(RunSpec(src, time_limit_s=0.9)) for _ in range(6)))
        assert [r.status for r in runs] == [Status.AC] * 6, runs
        starts = sorted(float(r.stdout) for r in runs)
        gaps = [b - a for a, b in zip(starts, starts[2:])]  # a run starts after the one two places before it
        assert all(g >= 0.35 for g in gaps), starts
        loops = await asyncio.gather(*(ex.run(RunSpec("while True: pass", time_limit_s=1)) for _ in range(4)))
        assert [r.status for r in loops] == [Status.TLE] * 4
        assert all(0.9 <= r.wall_s < 3 for r in loops), [r.wall_s for r in loops]
    finally:
        await ex.close()
        ex.shutdown()


async def test_a_run_sees_none_of_the_previous_runs_files(executor: LocalExecutor) -> None:
    # bubblewrap slots reuse their dirs: the extra files and output of one run are gone for the next
    src = "import os\nprint(sorted(n for n in os.listdir('.') if not n.startswith('.')))"
    first = await executor.run(RunSpec(src, files={"secret.txt": "s"}))
    second = await executor.run(RunSpec(src))
    assert first.status is Status.AC and "secret.txt" in first.stdout, first
    assert second.status is Status.AC and second.stdout.strip() == "['main.py']", second
