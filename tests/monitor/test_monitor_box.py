"""Monitor: real psutil figures, the no-NVML path, recorded GPU readings, the shared sampler, the CLI."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
from rich.console import Console

from engine.alerts import AlertHook
from engine.config import Config
from engine.jobs import JobContext
from engine.monitor import (
    GpuState,
    NvmlSource,
    RecordedSource,
    Sampler,
    SystemProbe,
    describe_gpu,
    ensure_sampler,
    gpu_metrics,
    monitor_dir,
    read_latest,
    sampler_info,
    stop_sampler,
    take_sample,
)
from engine.runs import create_run

GIB = 1024**3


def h100(util: float, used_gib: float, pid: int = 4242) -> dict:
    """A raw NVML reading as the NVML calls return it (bytes, milliwatts)."""
    return {
        "name": "NVIDIA H100 80GB HBM3", "uuid": "GPU-0000",
        "utilization": {"gpu": util, "memory": 30},
        "memory": {"used": int(used_gib * GIB), "total": 80 * GIB},
        "power_mw": 350_500, "power_limit_mw": 700_000, "temperature_c": 71,
        "clocks": {"sm": 1980, "mem": 2619, "sm_max": 1980},
        "processes": [{"pid": pid, "usedGpuMemory": int(used_gib * GIB) - GIB}],
    }


def test_real_psutil_figures_are_present_and_sane(tmp_path: Path) -> None:
    probe = SystemProbe()
    time.sleep(0.2)
    r = probe.read({"workspace": tmp_path, "not_yet": tmp_path / "a" / "b"})
    assert r.cpu_count == psutil.cpu_count() and len(r.cpu_per_core_pct) == r.cpu_count
    assert all(0.0 <= v <= 100.0 for v in r.cpu_per_core_pct) and 0.0 <= r.cpu_total_pct <= 100.0
    assert 0 < r.mem_used_gib < r.mem_total_gib and 0 < r.mem_used_pct < 100
    assert r.load_1m is not None and r.load_1m >= 0
    assert r.net_sent_bps is not None and r.net_sent_bps >= 0
    assert [d.label for d in r.disks] == ["workspace", "not_yet"]  # a folder not created yet: its parent's disk
    for d in r.disks:
        assert 0 < d.free_gib <= d.total_gib and 0 <= d.free_pct <= 100
    assert r.top_processes and all(p.pid > 0 and p.rss_mib >= 0 for p in r.top_processes)
    cpus = [p.cpu_pct for p in r.top_processes]
    assert cpus == sorted(cpus, reverse=True) and len(r.top_processes) <= probe.top_n


def test_no_nvml_gives_a_clean_no_gpu_state(monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture) -> None:
    src = NvmlSource()
    states = [src.read() for _ in range(200)]  # probed once: reading again is free and silent
    src.close()
    if not states[0].available:  # this machine: no driver, no GPU
        assert all(not s.available and s.gpus == [] for s in states)
        assert states[0].reason and states[0].reason.startswith("no GPU")
        assert gpu_metrics(states[0])["count"] == 0 and gpu_metrics(states[0])["max_util"] is None
    monkeypatch.setitem(sys.modules, "pynvml", None)  # nvidia-ml-py missing altogether
    state = NvmlSource().read()
    assert not state.available and "nvidia-ml-py is not installed" in (state.reason or "")
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_recorded_readings_formatting_and_metrics() -> None:
    src = RecordedSource([[h100(97, 77.6), h100(5, 10.0, pid=5)], None])
    state = src.read()
    assert state.available and len(state.gpus) == 2
    g = state.gpus[0]
    assert g.mem_total_mib == 80 * 1024 and g.mem_pct == pytest.approx(97.0)
    assert g.power_w == pytest.approx(350.5) and g.processes[0].used_mib == pytest.approx(76.6 * 1024, rel=1e-4)
    assert describe_gpu(g) == {
        "gpu": "0", "name": "NVIDIA H100 80GB HBM3", "util": "97%", "memory": "77.6/80.0 GiB (97%)",
        "power": "350/700 W", "temp": "71 °C", "clocks": "1980/1980 MHz", "processes": "4242 76.6 GiB",
    }
    m = gpu_metrics(state)
    assert m["count"] == 2 and m["max_util"] == 97 and m["min_util"] == 5 and m["max_mem_pct"] == pytest.approx(97.0)
    assert gpu_metrics(state, indices=[1])["max_mem_pct"] == pytest.approx(12.5)
    assert GpuState.from_dict(json.loads(json.dumps(state.to_dict()))) == state
    assert not src.read().available and not src.read().available  # the no-GPU moment repeats


def test_unsupported_fields_show_as_dashes() -> None:
    g = RecordedSource([[{"name": "old card", "memory": {"used": GIB, "total": 4 * GIB}}]]).read().gpus[0]
    d = describe_gpu(g)
    assert d["util"] == d["power"] == d["temp"] == d["clocks"] == d["processes"] == "—"
    assert d["memory"] == "1.0/4.0 GiB (25%)"


def test_gpu_memory_alert_from_recorded_readings(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    run = create_run(ws, "serve", [])
    probe = SystemProbe()
    source = RecordedSource([[h100(90, 77.6)], [h100(90, 77.6)], [h100(90, 60.0)], [h100(90, 60.0)]])
    clock_t = [0.0]
    samples = iter([take_sample(probe, source, {"workspace": ws}) for _ in range(4)])
    hook = AlertHook(Config(), clock=lambda: clock_t[0], read_sample=lambda _ws: next(samples))
    ctx = JobContext(run, kind="serve", config=Config())
    state = {"status": "running", "counters": {"ok": 1, "failed": 0}, "figures": {}}
    for t in (0.0, 31.0):
        clock_t[0] = t
        hook(state, ctx)
    assert ctx.alerts["gpu_memory_high"].value == pytest.approx(97.0)
    assert ctx.alerts["gpu_memory_high"].severity == "warn"
    for t in (40.0, 71.0):
        clock_t[0] = t
        hook(state, ctx)
    assert "gpu_memory_high" not in ctx.alerts
    states = [(e["name"], e["state"]) for e in run.read_events() if e["type"] == "alert"]
    assert states == [("gpu_memory_high", "raised"), ("gpu_memory_high", "cleared")]


def test_console_renders_recorded_gpus(tmp_path: Path) -> None:
    from console.commands.monitor import plain_line, render_sample

    sample = take_sample(SystemProbe(), RecordedSource([[h100(97, 77.6)]]), {"workspace": tmp_path})
    buf = io.StringIO()
    Console(file=buf, width=160, no_color=True).print(render_sample(sample))
    text = buf.getvalue()
    assert "GPUs (driver recorded)" in text and "77.6/80.0 GiB (97%)" in text and "Top processes" in text
    assert "gpu 1x util max 97% mem max 97%" in plain_line(sample)


def test_sampler_writes_shared_files_and_holds_the_lock(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    src = RecordedSource([[h100(50, 40)]])
    first = Sampler(ws, interval_s=0.05, idle_exit_s=None, gpu_source=src, rotate_bytes=1)
    stop = threading.Event()
    thread = threading.Thread(target=first.run, args=(stop,))
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while read_latest(ws) is None:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        info = sampler_info(ws)
        assert info is not None and info["pid"] == os.getpid()
        assert Sampler(ws, gpu_source=src).run(max_samples=1) == 0  # a second sampler backs off
        time.sleep(0.2)
    finally:
        stop.set()
        thread.join(10)
    assert sampler_info(ws) is None  # lock released on exit
    latest = read_latest(ws)
    assert latest is not None and latest["gpu"]["gpus"][0]["util_pct"] == 50 and latest["age_s"] >= 0
    assert latest["metrics"]["disk"]["workspace_free_pct"] > 0
    mdir = monitor_dir(ws)
    assert (mdir / "samples.1.jsonl").exists()  # rotated (cap of 1 byte)
    lines = (mdir / "samples.jsonl").read_text().splitlines()
    assert lines and all(json.loads(line)["version"] == 1 for line in lines)
    assert read_latest(ws, max_age_s=-1) is None


def test_sampler_exits_when_nobody_asks(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    monitor_dir(ws).mkdir(parents=True)
    (monitor_dir(ws) / "demand").touch()
    t0 = time.monotonic()
    n = Sampler(ws, interval_s=0.05, idle_exit_s=0.5, gpu_source=RecordedSource([None])).run()
    assert 1 <= n and time.monotonic() - t0 < 5


def test_ensure_sampler_starts_one_detached_process(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    try:
        pid = ensure_sampler(ws, paths={"output": tmp_path / "out"}, interval_s=0.2, idle_exit_s=30)
        assert pid
        deadline = time.monotonic() + 20
        while (latest := read_latest(ws)) is None:
            assert time.monotonic() < deadline, (monitor_dir(ws) / "sampler.log").read_text()
            time.sleep(0.05)
        assert latest["pid"] == pid
        assert {d["label"] for d in latest["system"]["disks"]} >= {"workspace"}
        assert ensure_sampler(ws) == pid  # the live one is reused
        deadline = time.monotonic() + 10
        while "output" not in {d["label"] for d in (read_latest(ws) or {})["system"]["disks"]}:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        assert stop_sampler(ws)
    assert sampler_info(ws) is None
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_rollout_monitor_once_json_and_table(rollout_cmd: list[str], child_env: dict[str, str], workspace: Path) -> None:
    r = subprocess.run(rollout_cmd + ["monitor", "--once", "--json"], env=child_env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["system"]["cpu_count"] >= 1 and data["metrics"]["disk"]["workspace_free_pct"] > 0
    assert "gpu" in data and isinstance(data["gpu"]["available"], bool)
    r = subprocess.run(rollout_cmd + ["monitor", "--once"], env=child_env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "CPU" in r.stdout and "Disks" in r.stdout and "workspace" in r.stdout
    assert ("no GPU" in r.stdout) or ("GPUs" in r.stdout)
    assert sampler_info(workspace) is None  # a one-shot view leaves no sampler behind
    cfg = workspace.parent / "budget.toml"
    cfg.write_text("budget_usd = 250.0\n")
    r = subprocess.run(rollout_cmd + ["--config", str(cfg), "monitor", "--rules", "--json"], env=child_env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    rules = {rule["name"]: rule for rule in json.loads(r.stdout)}
    assert rules["budget_exceeded"]["threshold"] == 250.0 and "gpu_memory_high" in rules


class _FakeNvml:
    """A stand-in for the NVML library this machine lacks, with the real pynvml names (checked)."""

    NVML_TEMPERATURE_GPU = 0
    NVML_CLOCK_SM = 1
    NVML_CLOCK_MEM = 2

    class NVMLError(Exception):
        pass

    def __init__(self) -> None:
        from types import SimpleNamespace as NS

        self.NS = NS
        self.shutdown = False

    def nvmlInit(self) -> None: ...
    def nvmlShutdown(self) -> None: self.shutdown = True
    def nvmlSystemGetDriverVersion(self) -> bytes: return b"550.54.15"
    def nvmlDeviceGetCount(self) -> int: return 2
    def nvmlDeviceGetHandleByIndex(self, i: int) -> int: return i
    def nvmlDeviceGetName(self, h: int) -> str: return "NVIDIA A100-SXM4-80GB"
    def nvmlDeviceGetUUID(self, h: int) -> str: return f"GPU-{h}"
    def nvmlDeviceGetUtilizationRates(self, h: int): return self.NS(gpu=99 if h == 0 else 0, memory=40)
    def nvmlDeviceGetMemoryInfo(self, h: int): return self.NS(used=78 * GIB, total=80 * GIB)
    def nvmlDeviceGetPowerUsage(self, h: int) -> int: return 412_000
    def nvmlDeviceGetEnforcedPowerLimit(self, h: int) -> int: return 400_000

    def nvmlDeviceGetTemperature(self, h: int, sensor: int) -> int:
        assert sensor == self.NVML_TEMPERATURE_GPU
        return 66

    def nvmlDeviceGetClockInfo(self, h: int, clock: int) -> int: return 1410 if clock == self.NVML_CLOCK_SM else 1593

    def nvmlDeviceGetMaxClockInfo(self, h: int, clock: int) -> int:
        raise self.NVMLError("Not Supported")

    def nvmlDeviceGetComputeRunningProcesses(self, h: int):
        return [self.NS(pid=os.getpid(), usedGpuMemory=70 * GIB)] if h == 0 else []

    def nvmlDeviceGetGraphicsRunningProcesses(self, h: int):
        raise self.NVMLError("Not Supported")


def test_nvml_source_reads_every_field_through_the_pynvml_api(monkeypatch: pytest.MonkeyPatch) -> None:
    import pynvml as real

    fake = _FakeNvml()
    for name in dir(_FakeNvml):
        if name.startswith(("nvml", "NVML")):
            assert hasattr(real, name), f"pynvml has no {name}: the NVML source would break on a GPU box"
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    src = NvmlSource()
    state = src.read()
    src.close()
    assert fake.shutdown and state.available and state.driver == "550.54.15" and len(state.gpus) == 2
    g0, g1 = state.gpus
    assert (g0.util_pct, g1.util_pct, g0.mem_pct, g0.power_w, g0.power_limit_w, g0.temp_c) == (99, 0, 97.5, 412, 400, 66)
    assert g0.sm_clock_mhz == 1410 and g0.mem_clock_mhz == 1593 and g0.sm_clock_max_mhz is None
    assert [(p.pid, p.used_mib, p.name) for p in g0.processes] == [(os.getpid(), 70 * 1024, psutil.Process().name())]
    d = describe_gpu(g0)
    assert d["clocks"] == "1410 MHz" and d["power"] == "412/400 W" and d["name"] == "NVIDIA A100-SXM4-80GB"


def test_rollout_monitor_streams_json_from_the_shared_sampler(
    rollout_cmd: list[str], child_env: dict[str, str], workspace: Path
) -> None:
    import signal

    proc = subprocess.Popen(rollout_cmd + ["monitor", "--json", "--interval", "0.3"], env=child_env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        lines = [json.loads(proc.stdout.readline()) for _ in range(3)]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
        info = sampler_info(workspace)
        assert info is not None  # the shared sampler outlives the viewer (until idle)
        assert {line["pid"] for line in lines} == {info["pid"]} and lines[0]["time"] < lines[-1]["time"]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        assert stop_sampler(workspace)
