"""launch_server with the stand-in as a real process: phases, readiness, diagnoses, stop of the whole tree."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest
from server_helpers import STEP, alive_pids, read_json, session_members

from engine.errors import ServiceError
from engine.server import ServerOptions, launch_server, stop_record
from engine.server.process import ServerRecord


def opts(*extra: str, **kw) -> ServerOptions:
    base = dict(model_path="fake/model", port="auto", startup_timeout_s=30.0, stop_grace_s=5.0,
                extra_args=["--step-delay", STEP, *extra])
    base.update(kw)
    return ServerOptions(**base)


async def test_ready_with_phases_then_stop(tmp_path: Path, fake_sglang_path: Path) -> None:
    phases: list[str] = []
    async with launch_server(opts(), run_path=tmp_path, on_phase=lambda name, _t: phases.append(name)) as server:
        await server.wait_ready()
        assert server.ready_path == "/health_generate"
        async with httpx.AsyncClient() as client:
            models = (await client.get(server.url + "/v1/models")).json()
        assert models["data"][0]["id"] == "fake/model"
        record = read_json(tmp_path / "server.json")
        assert record["pid"] == record["sid"] == record["pgid"] == server.record.pid
        assert record["port"] == server.port
        sid = server.record.sid
    for expected in ("loading weights", "allocating KV cache", "capturing CUDA graphs", "ready"):
        assert expected in phases
    assert phases.index("loading weights") < phases.index("capturing CUDA graphs") < phases.index("ready")
    assert server.stop_report is not None and server.stop_report.clean and not server.stop_report.killed
    assert session_members(sid) == []
    assert "fired up and ready to roll" in (tmp_path / "server.log").read_text()


async def test_stop_kills_children_including_a_setsid_one(tmp_path: Path, fake_sglang_path: Path) -> None:
    async with launch_server(opts("--mode", "spawn_children"), run_path=tmp_path) as server:
        await server.wait_ready()
        server.process.refresh_descendants()
        kids = [d.pid for d in server.record.descendants]
        times = {d.pid: d.create_time for d in server.record.descendants}
        assert len(kids) == 3
        assert len(alive_pids(kids, times)) == 3
    assert server.stop_report.clean
    assert alive_pids(kids, times) == []
    assert alive_pids([server.record.pid]) == []


async def test_sigterm_ignored_means_sigkill_after_grace(tmp_path: Path, fake_sglang_path: Path) -> None:
    async with launch_server(opts("--mode", "ignore_sigterm", stop_grace_s=0.5), run_path=tmp_path) as server:
        await server.wait_ready()
        pid = server.record.pid
    report = server.stop_report
    assert report.killed == [pid]
    assert report.survivors == []
    assert report.elapsed_s >= 0.5
    assert alive_pids([pid]) == []


async def test_oom_gives_one_line_diagnosis(tmp_path: Path, fake_sglang_path: Path) -> None:
    async with launch_server(opts("--mode", "oom"), run_path=tmp_path) as server:
        with pytest.raises(ServiceError) as err:
            await server.wait_ready()
    message = str(err.value)
    assert err.value.exit_code == 3
    assert "\n" not in message
    assert "CUDA out of memory" in message and "--mem-fraction-static" in message
    assert "capturing CUDA graphs" in message  # the phase it died in
    assert server.failure.diagnosis.cause == "cuda_oom"
    assert any("OutOfMemoryError" in line for line in server.failure.tail)


async def test_port_taken_before_launch_is_refused(tmp_path: Path, fake_sglang_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(ServiceError, match="address already in use: port"):
            async with launch_server(opts(port=port), run_path=tmp_path):
                pass
    assert not (tmp_path / "server.json").exists()  # nothing was launched


async def test_port_in_use_diagnosed_from_the_log(tmp_path: Path, fake_sglang_path: Path) -> None:
    async with launch_server(opts("--mode", "port_in_use"), run_path=tmp_path) as server:
        with pytest.raises(ServiceError, match="server exited with code 1 .*address already in use"):
            await server.wait_ready()


async def test_startup_timeout_stops_the_server(tmp_path: Path, fake_sglang_path: Path) -> None:
    async with launch_server(opts("--mode", "slow", startup_timeout_s=1.5), run_path=tmp_path) as server:
        with pytest.raises(ServiceError, match=r"not ready after 2s \(phase: loading weights"):
            await server.wait_ready()
        pid = server.record.pid
    assert alive_pids([pid]) == []


async def test_sglang_missing_in_that_python(tmp_path: Path, no_sglang_env: None) -> None:
    async with launch_server(opts(), run_path=tmp_path) as server:
        with pytest.raises(ServiceError, match="sglang is not installed in .*pass --python"):
            await server.wait_ready()


async def test_api_key_reaches_the_server_but_not_its_command_line(tmp_path: Path, fake_sglang_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import psutil

    monkeypatch.setenv("TEST_SERVE_KEY", "sk-test-serve-key-0123456789")
    async with launch_server(opts(api_key_env="TEST_SERVE_KEY"), run_path=tmp_path) as server:
        await server.wait_ready()
        cmdline = " ".join(psutil.Process(server.record.pid).cmdline())
        assert "sk-test-serve-key" not in cmdline
        async with httpx.AsyncClient() as client:
            assert (await client.get(server.url + "/v1/models")).status_code == 401
            ok = await client.get(server.url + "/v1/models", headers=server.headers)
            assert ok.status_code == 200
    assert "sk-test-serve-key" not in (tmp_path / "server.json").read_text()


async def test_stop_from_a_record_alone(tmp_path: Path, fake_sglang_path: Path) -> None:
    """What `rollout serve stop` does: only server.json, no Popen object."""
    async with launch_server(opts("--mode", "spawn_children"), run_path=tmp_path) as server:
        await server.wait_ready()
        server.process.refresh_descendants()
        server.save_record()
        record = ServerRecord.load(tmp_path)
        report = stop_record(record, grace_s=2.0)
        assert report.clean
        assert session_members(record.sid) == []
        assert alive_pids([d.pid for d in record.descendants]) == []
