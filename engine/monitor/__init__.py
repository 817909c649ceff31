"""Box monitoring: host figures (psutil), GPUs (NVML), and one shared sampler per workspace.

Viewers call :func:`ensure_sampler` (cheap; starts a detached sampler when none is alive) and
:func:`read_latest` (the newest sample); nobody but the sampler queries NVML.
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

__all__ = [
    "DiskInfo", "GpuProcess", "GpuReading", "GpuSource", "GpuState", "NvmlSource", "ProcInfo",
    "RecordedSource", "Sampler", "SystemProbe", "SystemReading", "describe_gpu", "disk_info",
    "ensure_sampler", "gpu_metrics", "monitor_dir", "read_latest", "reading_from_raw", "sample_now", "sampler_info",
    "stop_sampler", "take_sample", "watch_paths",
]
