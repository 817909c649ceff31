"""Box monitoring: host figures (psutil), GPUs (NVML), and one shared sampler per workspace.

Viewers hold a :class:`SampleReader` (keeps the detached sampler alive through :func:`ensure_sampler`
and reads its newest sample with :func:`read_latest`); nobody but the sampler queries NVML.
Warn/critical limits of every box figure are in :data:`THRESHOLDS` (engine.monitor.thresholds).
"""

from engine.monitor.gpu import (
    GpuProcess,
    GpuReading,
    GpuSource,
    GpuState,
    NvmlSource,
    RecordedSource,
    describe_gpu,
    gpu_metrics,
    reading_from_raw,
)
from engine.monitor.sampler import (
    Sampler,
    ensure_sampler,
    monitor_dir,
    read_latest,
    sample_now,
    sampler_info,
    stop_sampler,
    take_sample,
    watch_paths,
)
from engine.monitor.system import DiskInfo, ProcInfo, SystemProbe, SystemReading, disk_info
from engine.monitor.reader import SampleReader
from engine.monitor.thresholds import THRESHOLDS, Threshold, level

__all__ = [
    "DiskInfo", "GpuProcess", "GpuReading", "GpuSource", "GpuState", "NvmlSource", "ProcInfo",
    "RecordedSource", "SampleReader", "Sampler", "THRESHOLDS", "Threshold", "level", "SystemProbe", "SystemReading", "describe_gpu", "disk_info",
    "ensure_sampler", "gpu_metrics", "monitor_dir", "read_latest", "reading_from_raw", "sample_now", "sampler_info",
    "stop_sampler", "take_sample", "watch_paths",
]
