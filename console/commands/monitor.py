"""``rollout monitor``: the box at a glance — CPU, memory, disks, network, GPUs, top processes.

Reads the workspace's shared monitor sample (starting the sampler when none runs), so many viewers
cost one NVML query. ``--once`` prints one view and exits; ``--json`` prints the sample as JSON.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer

from console import format as fmt
from console.output import CliState, print_json, versioned

if TYPE_CHECKING:  # psutil, NVML and rich load when the command runs, not on every `rollout` start
    from rich.console import RenderableType

    from engine.monitor import NvmlSource, SystemProbe


def register(app: typer.Typer) -> None:
    app.command("monitor")(monitor_cmd)


def monitor_cmd(
    ctx: typer.Context,
    once: bool = typer.Option(False, "--once", help="Print one view and exit."),
    json_out: bool = typer.Option(False, "--json", help="Machine output: the sample as JSON (one line per refresh without --once)."),
    interval: float = typer.Option(1.0, "--interval", min=0.2, max=60.0, help="Seconds between refreshes."),
    output: Optional[list[str]] = typer.Option(None, "--path", help="Also show the disk of this folder (repeatable)."),
    rules: bool = typer.Option(False, "--rules", help="List the alert rules in force (defaults + config) and exit."),
) -> None:
    """Show the box: CPU, memory, swap, disks, network, load, GPUs and the busiest processes."""
    from rich.live import Live

    from engine.monitor import read_latest, sample_now

    cli: CliState = ctx.obj
    if rules:
        _print_rules(cli, json_out)
        return
    ws = cli.workspace
    paths = {f"path{i + 1}" if len(output or []) > 1 else "path": p for i, p in enumerate(output or [])}
    if once:
        sample = read_latest(ws, max_age_s=max(3 * interval, 3.0))
        if sample is None or (paths and not _has_paths(sample, paths)):
            sample = sample_now(ws, paths)
        if json_out:
            print_json(versioned(sample))
        else:
            cli.out.print(render_sample(sample))
        return

    feed = _Feed(cli, ws, paths, interval)
    out = cli.out
    live = Live(console=out, auto_refresh=False, screen=False) if (out.is_terminal and not json_out) else None
    last_time = None
    try:
        if live is not None:
            live.start()
        while True:
            sample = feed.next()
            if json_out:
                if sample["time"] != last_time:
                    sys.stdout.write(_json_line(sample))
                    sys.stdout.flush()
            elif live is not None:
                live.update(render_sample(sample), refresh=True)
            elif sample["time"] != last_time:
                out.print(plain_line(sample), markup=False, highlight=False)
            last_time = sample["time"]
            time.sleep(interval)
    except KeyboardInterrupt:
        pass
    finally:
        if live is not None:
            live.stop()
        feed.close()


class _Feed:
    """Samples for a continuous view: the shared sampler's, or taken here when it cannot run."""

    def __init__(self, cli: CliState, ws: Path, paths: dict[str, str], interval: float) -> None:
        from engine.monitor import SampleReader

        self.cli, self.ws, self.paths, self.interval = cli, ws, paths, interval
        # every refresh keeps the shared sampler alive (and restarts it if it died)
        self.reader = SampleReader(ws, max_age_s=max(3 * interval, 5.0), ensure_every_s=0.0,
                                   interval_s=min(interval, 1.0))
        self.local: tuple[SystemProbe, NvmlSource] | None = None

    def _go_local(self, why: str) -> None:
        from engine.monitor import NvmlSource, SystemProbe

        self.cli.echo_err(f"rollout monitor: {why}; sampling in this process instead")
        self.local = (SystemProbe(), NvmlSource())
        time.sleep(0.3)  # CPU percentages need an interval

    def next(self) -> dict[str, Any]:
        from engine.monitor import monitor_dir, take_sample

        if self.local is None:
            try:
                self.reader.keep_alive(self.paths or None)
            except OSError as exc:
                self._go_local(f"cannot run the shared sampler in {monitor_dir(self.ws)}: {exc.strerror or exc}")
        if self.local is None:
            sample = self.reader.wait(5.0)
            if sample is not None:
                return sample
            self._go_local(f"the shared sampler wrote nothing (see {monitor_dir(self.ws) / 'sampler.log'})")
        assert self.local is not None
        probe, source = self.local
        sample = take_sample(probe, source, {"workspace": str(self.ws), **self.paths}, self.interval)
        sample["age_s"] = 0.0
        return sample

    def close(self) -> None:
        if self.local is not None:
            self.local[1].close()


def _print_rules(cli: CliState, json_out: bool) -> None:
    from rich.table import Table
    from rich.text import Text

    from engine.alerts import clear_hold_s, clear_threshold, rules_from_config

    found = rules_from_config(cli.config)
    if json_out:
        print_json([{**r.model_dump(mode="json"), "clear_threshold": clear_threshold(r), "clear_hold_s": clear_hold_s(r)}
                    for r in found])
        return
    table = Table(title="Alert rules", title_justify="left", box=None, pad_edge=False)
    for col in ("name", "raises when", "clears below/above", "min samples", "hold/clear", "severity", "action"):
        table.add_column(col, overflow="fold")
    for r in found:
        table.add_row(r.name, f"{r.metric} {r.op} {r.threshold:g}", f"{clear_threshold(r):g}", str(r.min_samples),
                      f"{r.hold_s:g}s/{clear_hold_s(r):g}s",
                      Text(r.severity, style="bold red" if r.severity == "critical" else "yellow"), r.action)
    cli.out.print(table)


def _json_line(sample: dict[str, Any]) -> str:
    import json

    return json.dumps(versioned(sample), default=str, separators=(",", ":")) + "\n"


def _has_paths(sample: dict[str, Any], paths: dict[str, str]) -> bool:
    shown = {d.get("path") for d in (sample.get("system") or {}).get("disks") or []}
    return all(str(Path(p).expanduser().absolute()) in shown or p in shown for p in paths.values())


# -- rendering -------------------------------------------------------------------------------


def _level(figure: str, value: float | None) -> str:
    """The style of a figure at its level in engine.monitor's threshold table (the console's too)."""
    from engine.monitor import level

    if value is None:
        return ""
    return {"crit": "bold red", "warn": "yellow"}.get(level(figure, value), "green")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}%"


def _bytes_rate(bps: float | None) -> str:
    if bps is None:
        return "-"
    for unit, size in (("GB/s", 1e9), ("MB/s", 1e6), ("kB/s", 1e3)):
        if bps >= size:
            return f"{bps / size:.1f} {unit}"
    return f"{bps:.0f} B/s"


def plain_line(sample: dict[str, Any]) -> str:
    """One line for logs and pipes: cpu, mem, disk, GPU summary."""
    m = sample.get("metrics") or {}
    gpu = m.get("gpu") or {}
    gpu_text = (f"gpu {gpu.get('count')}x util max {_pct(gpu.get('max_util'))} mem max {_pct(gpu.get('max_mem_pct'))}"
                if gpu.get("count") else "no GPU")
    return (f"{fmt.timestamp(sample.get('time'))} cpu {_pct((m.get('cpu') or {}).get('total_pct'))} "
            f"mem {_pct((m.get('mem') or {}).get('used_pct'))} load {(m.get('load') or {}).get('1m')} "
            f"disk min free {_pct((m.get('disk') or {}).get('min_free_pct'))} {gpu_text}")


def render_sample(sample: dict[str, Any]) -> RenderableType:
    """The box as rich tables."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    from engine.monitor import GpuState, describe_gpu

    sys_ = sample.get("system") or {}
    parts: list[RenderableType] = []
    age = sample.get("age_s")
    head = Text(f"{sample.get('host', '?')}  {fmt.timestamp(sample.get('time'))}", style="bold")
    if sample.get("pid") and sample.get("interval_s"):
        head.append(f"  sampler pid {sample['pid']} every {sample['interval_s']:g}s", style="dim")
    if age is not None and age > 5:
        head.append(f"  (sample {age:.0f}s old)", style="yellow")
    parts.append(head)

    cores = sys_.get("cpu_per_core_pct") or []
    cpu = Text("CPU ")
    cpu.append(_pct(sys_.get("cpu_total_pct")), style=_level("cpu", sys_.get("cpu_total_pct")))
    cpu.append(f"  ({len(cores)} cores: ")
    for i, v in enumerate(cores):
        cpu.append(f"{v:.0f}", style=_level("cpu", v))
        cpu.append(" " if i < len(cores) - 1 else "")
    cpu.append(f")  load {sys_.get('load_1m')} {sys_.get('load_5m')} {sys_.get('load_15m')}")
    parts.append(cpu)
    mem = Text("Mem ")
    mem.append(f"{sys_.get('mem_used_gib', 0):.1f}/{sys_.get('mem_total_gib', 0):.1f} GiB "
               f"({_pct(sys_.get('mem_used_pct'))})", style=_level("mem", sys_.get("mem_used_pct")))
    mem.append(f"   Swap {sys_.get('swap_used_gib', 0):.1f}/{sys_.get('swap_total_gib', 0):.1f} GiB   "
               f"Net ↑ {_bytes_rate(sys_.get('net_sent_bps'))} ↓ {_bytes_rate(sys_.get('net_recv_bps'))}")
    parts.append(mem)

    disks = Table(title="Disks", title_justify="left", expand=False, box=None, pad_edge=False)
    for col in ("", "path", "free", "total", "free %"):
        disks.add_column(col, justify="right" if col in ("free", "total", "free %") else "left")
    for d in sys_.get("disks") or []:
        disks.add_row(d["label"], d["path"], f"{d['free_gib']:.1f} GiB", f"{d['total_gib']:.1f} GiB",
                      Text(_pct(d["free_pct"]), style=_level("disk_free", d["free_pct"])))
    parts.append(disks)

    gpu = GpuState.from_dict(sample.get("gpu") or {})
    if not gpu.available or not gpu.gpus:
        parts.append(Text(gpu.reason or "no GPU", style="dim"))
    else:
        table = Table(title=f"GPUs (driver {gpu.driver or '?'})", title_justify="left", box=None, pad_edge=False)
        for col in ("gpu", "name", "util", "memory", "power", "temp", "clocks", "processes"):
            table.add_column(col)
        for g in gpu.gpus:
            d = describe_gpu(g)
            table.add_row(d["gpu"], d["name"], Text(d["util"], style=_level("gpu_util", g.util_pct)),
                          Text(d["memory"], style=_level("gpu_mem", g.mem_pct)), d["power"],
                          Text(d["temp"], style=_level("gpu_temp", g.temp_c)), d["clocks"], d["processes"])
        parts.append(table)

    procs = Table(title="Top processes", title_justify="left", box=None, pad_edge=False)
    for col in ("pid", "user", "cpu", "rss", "command"):
        procs.add_column(col, justify="right" if col in ("pid", "cpu", "rss") else "left", no_wrap=True,
                         overflow="ellipsis", max_width=80 if col == "command" else None,
                         min_width={"pid": 7, "user": 4, "cpu": 4, "rss": 8}.get(col, 10))
    for p in sys_.get("top_processes") or []:
        procs.add_row(str(p["pid"]), p.get("user") or "", f"{p['cpu_pct']:.0f}%", f"{p['rss_mib']:.0f} MiB",
                      p.get("command") or p["name"])
    parts.append(procs)
    return Group(*parts)
