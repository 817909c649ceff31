"""Box monitoring: host figures (psutil), GPUs (NVML), and one shared sampler per workspace.

Viewers hold a :class:`SampleReader` (keeps the detached sampler alive through :func:`ensure_sampler`
and reads its newest sample with :func:`read_latest`); nobody but the sampler queries NVML.
Warn/critical limits of every box figure are in :data:`THRESHOLDS` (engine.monitor.thresholds).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.lazy import lazy_attributes

if TYPE_CHECKING:
    from engine.monitor.gpu import (GpuProcess, GpuReading, GpuSource, GpuState, NvmlSource, RecordedSource,
                                    describe_gpu, gpu_metrics, reading_from_raw)
    from engine.monitor.reader import SampleReader
    from engine.monitor.sampler import (Sampler, ensure_sampler, monitor_dir, read_latest, sample_now, sampler_info,
                                        stop_sampler, take_sample, watch_paths)
    from engine.monitor.system import DiskInfo, ProcInfo, SystemProbe, SystemReading, disk_info
    from engine.monitor.thresholds import THRESHOLDS, Threshold, level

# loaded on first use: engine.alerts needs only the thresholds, and a processing run must not
# pay for psutil and NVML before its first request (issue 13)
_HOMES = {
    **dict.fromkeys(("GpuProcess", "GpuReading", "GpuSource", "GpuState", "NvmlSource", "RecordedSource",
                     "describe_gpu", "gpu_metrics", "reading_from_raw"), "gpu"),
    **dict.fromkeys(("Sampler", "ensure_sampler", "monitor_dir", "read_latest", "sample_now", "sampler_info",
                     "stop_sampler", "take_sample", "watch_paths"), "sampler"),
    **dict.fromkeys(("DiskInfo", "ProcInfo", "SystemProbe", "SystemReading", "disk_info"), "system"),
    "SampleReader": "reader",
    **dict.fromkeys(("THRESHOLDS", "Threshold", "level"), "thresholds"),
}
__getattr__ = lazy_attributes(__name__, _HOMES)

__all__ = [
    "DiskInfo", "GpuProcess", "GpuReading", "GpuSource", "GpuState", "NvmlSource", "ProcInfo",
    "RecordedSource", "SampleReader", "Sampler", "THRESHOLDS", "Threshold", "level", "SystemProbe", "SystemReading", "describe_gpu", "disk_info",
    "ensure_sampler", "gpu_metrics", "monitor_dir", "read_latest", "reading_from_raw", "sample_now", "sampler_info",
    "stop_sampler", "take_sample", "watch_paths",
]
