"""GPU readings through NVML (nvidia-ml-py's ``pynvml`` module), behind a small source interface.

A :class:`GpuSource` returns a :class:`GpuState`: either a list of GPUs or a clean "no GPU" state
with the reason. :class:`NvmlSource` probes NVML once; when the library, the driver or the devices
are missing it says so once and never retries (no crash, no log flood). :class:`RecordedSource`
replays recorded raw NVML readings so tests and demos can exercise formatting and thresholds on a
machine without GPUs. Both go through :func:`reading_from_raw`, the one place raw NVML units
(bytes, milliwatts) become display units (MiB, watts).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Protocol, Sequence

import psutil

MIB = 1024 * 1024


@dataclass
class GpuProcess:
    """A process holding memory on a GPU."""

    pid: int
    used_mib: float | None
    name: str | None = None


@dataclass
class GpuReading:
    """One GPU at one moment. Fields NVML does not support on a device are None."""

    index: int
    name: str | None = None
    uuid: str | None = None
    util_pct: float | None = None
    mem_util_pct: float | None = None
    mem_used_mib: float | None = None
    mem_total_mib: float | None = None
    power_w: float | None = None
    power_limit_w: float | None = None
    temp_c: float | None = None
    sm_clock_mhz: float | None = None
    sm_clock_max_mhz: float | None = None
    mem_clock_mhz: float | None = None
    processes: list[GpuProcess] = field(default_factory=list)

    @property
    def mem_pct(self) -> float | None:
        if self.mem_used_mib is None or not self.mem_total_mib:
            return None
        return round(100.0 * self.mem_used_mib / self.mem_total_mib, 2)


@dataclass
class GpuState:
    """All GPUs of the box, or ``available=False`` with the reason ("no GPU")."""

    available: bool
    gpus: list[GpuReading] = field(default_factory=list)
    reason: str | None = None
    driver: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for g, reading in zip(out["gpus"], self.gpus):
            g["mem_pct"] = reading.mem_pct
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "GpuState":
        gpus = []
        for g in data.get("gpus") or []:
            g = {k: v for k, v in g.items() if k in GpuReading.__dataclass_fields__}
            g["processes"] = [GpuProcess(**p) for p in g.get("processes") or []]
            gpus.append(GpuReading(**g))
        return cls(available=bool(data.get("available")), gpus=gpus, reason=data.get("reason"),
                   driver=data.get("driver"))


class GpuSource(Protocol):
    """Anything that can read the box's GPUs."""

    def read(self) -> GpuState: ...

    def close(self) -> None: ...


def _num(value: Any, scale: float = 1.0) -> float | None:
    if value is None:
        return None
    try:
        return round(float(value) / scale, 2)
    except (TypeError, ValueError):
        return None


def reading_from_raw(index: int, raw: dict[str, Any]) -> GpuReading:
    """A :class:`GpuReading` from raw NVML values.

    ``raw`` holds what the NVML calls return, in NVML units: ``name``, ``uuid``,
    ``utilization`` {gpu, memory} (%), ``memory`` {used, total} (bytes), ``power_mw``,
    ``power_limit_mw`` (milliwatts), ``temperature_c``, ``clocks`` {sm, mem, sm_max} (MHz),
    ``processes`` [{pid, usedGpuMemory (bytes or None), name?}]. Missing keys mean "not supported".
    """
    util = raw.get("utilization") or {}
    mem = raw.get("memory") or {}
    clocks = raw.get("clocks") or {}
    procs = [
        GpuProcess(pid=int(p["pid"]), used_mib=_num(p.get("usedGpuMemory"), MIB), name=p.get("name"))
        for p in raw.get("processes") or []
        if p.get("pid") is not None
    ]
    return GpuReading(
        index=index,
        name=raw.get("name"),
        uuid=raw.get("uuid"),
        util_pct=_num(util.get("gpu")),
        mem_util_pct=_num(util.get("memory")),
        mem_used_mib=_num(mem.get("used"), MIB),
        mem_total_mib=_num(mem.get("total"), MIB),
        power_w=_num(raw.get("power_mw"), 1000.0),
        power_limit_w=_num(raw.get("power_limit_mw"), 1000.0),
        temp_c=_num(raw.get("temperature_c")),
        sm_clock_mhz=_num(clocks.get("sm")),
        sm_clock_max_mhz=_num(clocks.get("sm_max")),
        mem_clock_mhz=_num(clocks.get("mem")),
        processes=procs,
    )


class NvmlSource:
    """Live GPUs through NVML. Probes once at construction; a failed probe means "no GPU" for good."""

    def __init__(self) -> None:
        self._nvml: Any = None
        self._reason: str | None = None
        self._driver: str | None = None
        try:
            import pynvml  # the nvidia-ml-py distribution's module

            pynvml.nvmlInit()
        except ImportError:
            self._reason = "no GPU: nvidia-ml-py is not installed"
            return
        except Exception as exc:  # NVMLError_LibraryNotFound, DriverNotLoaded, ...
            self._reason = f"no GPU: NVML unavailable ({_nvml_error_text(exc)})"
            return
        self._nvml = pynvml
        try:
            self._driver = _text(pynvml.nvmlSystemGetDriverVersion())
            if pynvml.nvmlDeviceGetCount() == 0:
                self._reason = "no GPU: NVML found no devices"
        except Exception as exc:
            self._reason = f"no GPU: NVML failed ({_nvml_error_text(exc)})"

    @property
    def reason(self) -> str | None:
        return self._reason

    def read(self) -> GpuState:
        if self._nvml is None or self._reason:
            return GpuState(available=False, reason=self._reason, driver=self._driver)
        nvml = self._nvml
        try:
            count = nvml.nvmlDeviceGetCount()
            gpus = [reading_from_raw(i, self._raw_device(nvml.nvmlDeviceGetHandleByIndex(i))) for i in range(count)]
        except Exception as exc:  # a GPU fell off the bus, the driver was reloaded...
            return GpuState(available=False, reason=f"no GPU: NVML read failed ({_nvml_error_text(exc)})",
                            driver=self._driver)
        return GpuState(available=True, gpus=gpus, driver=self._driver)

    def _raw_device(self, handle: Any) -> dict[str, Any]:
        nvml = self._nvml
        raw: dict[str, Any] = {}

        def get(key: str, fn: Any, *args: Any) -> None:
            # A field a device does not support (NVMLError_NotSupported) is simply left out.
            try:
                raw[key] = fn(handle, *args)
            except Exception:
                pass

        get("name", nvml.nvmlDeviceGetName)
        get("uuid", nvml.nvmlDeviceGetUUID)
        for key in ("name", "uuid"):
            if key in raw:
                raw[key] = _text(raw[key])
        try:
            u = nvml.nvmlDeviceGetUtilizationRates(handle)
            raw["utilization"] = {"gpu": u.gpu, "memory": u.memory}
        except Exception:
            pass
        try:
            m = nvml.nvmlDeviceGetMemoryInfo(handle)
            raw["memory"] = {"used": m.used, "total": m.total}
        except Exception:
            pass
        get("power_mw", nvml.nvmlDeviceGetPowerUsage)
        get("power_limit_mw", nvml.nvmlDeviceGetEnforcedPowerLimit)
        get("temperature_c", nvml.nvmlDeviceGetTemperature, nvml.NVML_TEMPERATURE_GPU)
        clocks: dict[str, Any] = {}
        for key, fn, clock in (
            ("sm", nvml.nvmlDeviceGetClockInfo, nvml.NVML_CLOCK_SM),
            ("mem", nvml.nvmlDeviceGetClockInfo, nvml.NVML_CLOCK_MEM),
            ("sm_max", nvml.nvmlDeviceGetMaxClockInfo, nvml.NVML_CLOCK_SM),
        ):
            try:
                clocks[key] = fn(handle, clock)
            except Exception:
                pass
        raw["clocks"] = clocks
        procs: dict[int, dict[str, Any]] = {}
        for fn_name in ("nvmlDeviceGetComputeRunningProcesses", "nvmlDeviceGetGraphicsRunningProcesses"):
            try:
                for p in getattr(nvml, fn_name)(handle):
                    procs.setdefault(int(p.pid), {"pid": int(p.pid), "usedGpuMemory": p.usedGpuMemory})
            except Exception:
                pass
        for info in procs.values():  # NVML gives pids only; a name tells "sglang" from a stray job
            try:
                info["name"] = psutil.Process(info["pid"]).name()
            except (psutil.Error, ValueError):
                pass  # in another PID namespace (containers) or gone
        raw["processes"] = list(procs.values())
        return raw

    def close(self) -> None:
        if self._nvml is not None:
            try:
                self._nvml.nvmlShutdown()
            except Exception:
                pass
            self._nvml = None


class RecordedSource:
    """Replays recorded readings: each reading is a list of raw NVML device dicts (see
    :func:`reading_from_raw`), or None for "no GPU". The last reading repeats once all are used."""

    def __init__(self, readings: Sequence[Sequence[dict[str, Any]] | None], driver: str | None = "recorded") -> None:
        if not readings:
            raise ValueError("RecordedSource needs at least one reading")
        self._readings = list(readings)
        self._pos = 0
        self._driver = driver

    @classmethod
    def from_jsonl(cls, path: str | Path) -> "RecordedSource":
        """One JSON list of raw device dicts per line (``null`` for a no-GPU moment)."""
        lines = Path(path).read_text(encoding="utf-8").splitlines()
        return cls([json.loads(line) for line in lines if line.strip()])

    def read(self) -> GpuState:
        raw = self._readings[min(self._pos, len(self._readings) - 1)]
        self._pos += 1
        if raw is None:
            return GpuState(available=False, reason="no GPU: recorded reading without devices", driver=self._driver)
        return GpuState(available=True, gpus=[reading_from_raw(i, d) for i, d in enumerate(raw)], driver=self._driver)

    def close(self) -> None:
        pass


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _nvml_error_text(exc: BaseException) -> str:
    try:
        return str(exc) or type(exc).__name__
    except Exception:  # NVMLError.__str__ itself calls into the library
        return type(exc).__name__


def gpu_metrics(state: GpuState, indices: Iterable[int] | None = None) -> dict[str, Any]:
    """Summary figures for alerts and status lines; over ``indices`` only when given.

    ``count`` is 0 and the other figures None when there is no GPU.
    """
    wanted = set(indices) if indices is not None else None
    gpus = [g for g in state.gpus if wanted is None or g.index in wanted] if state.available else []
    utils = [g.util_pct for g in gpus if g.util_pct is not None]
    mems = [g.mem_pct for g in gpus if g.mem_pct is not None]
    temps = [g.temp_c for g in gpus if g.temp_c is not None]
    powers = [g.power_w for g in gpus if g.power_w is not None]
    return {
        "available": state.available,
        "count": len(gpus),
        "max_util": max(utils) if utils else None,
        "min_util": min(utils) if utils else None,
        "mean_util": round(sum(utils) / len(utils), 2) if utils else None,
        "max_mem_pct": max(mems) if mems else None,
        "max_temp_c": max(temps) if temps else None,
        "power_w": round(sum(powers), 1) if powers else None,
    }


def describe_gpu(g: GpuReading) -> dict[str, str]:
    """Display strings for one GPU (plain text; the console adds colour): "—" for unsupported fields."""

    def pct(v: float | None) -> str:
        return "—" if v is None else f"{v:.0f}%"

    if g.mem_used_mib is not None and g.mem_total_mib:
        mem = f"{g.mem_used_mib / 1024:.1f}/{g.mem_total_mib / 1024:.1f} GiB ({g.mem_pct:.0f}%)"
    else:
        mem = "—"
    if g.power_w is not None:
        power = f"{g.power_w:.0f}/{g.power_limit_w:.0f} W" if g.power_limit_w else f"{g.power_w:.0f} W"
    else:
        power = "—"
    if g.sm_clock_mhz is not None:
        clocks = f"{g.sm_clock_mhz:.0f}/{g.sm_clock_max_mhz:.0f} MHz" if g.sm_clock_max_mhz else f"{g.sm_clock_mhz:.0f} MHz"
    else:
        clocks = "—"
    procs = ", ".join(
        f"{p.pid}" + (f" {p.name}" if p.name else "") + (f" {p.used_mib / 1024:.1f} GiB" if p.used_mib is not None else "")
        for p in g.processes
    )
    return {
        "gpu": str(g.index),
        "name": g.name or "—",
        "util": pct(g.util_pct),
        "memory": mem,
        "power": power,
        "temp": "—" if g.temp_c is None else f"{g.temp_c:.0f} °C",
        "clocks": clocks,
        "processes": procs or "—",
    }
