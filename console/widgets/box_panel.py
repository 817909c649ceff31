"""The box panel: CPU, memory, disks, load, network and GPUs of this machine, with short histories.

It renders the shared monitor sample (engine.monitor.read_latest) that the runs screen's poll
brings; it never queries psutil or NVML itself. Figures past a threshold turn the theme's warning
or error colour, like nvitop and btop do.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Iterable

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Sparkline, Static

from console.widgets.quiet import set_title, update_static
from engine.monitor import thresholds

#: samples kept for the sparklines (~1 per second from the sampler)
HISTORY = 60
#: the panel's figures are redrawn at most this often (seconds); every sample still joins the history
REDRAW_S = 5.0
def level(figure: str, value: float | None) -> str:
    """``ok``, ``warn`` or ``crit`` for a figure's value: engine.monitor's one threshold table."""
    return thresholds.level(figure, value)


@dataclass(frozen=True)
class Palette:
    """Colours for levels, from the app's theme."""

    ok: str = ""
    warn: str = "yellow"
    crit: str = "red"
    bar: str = "cyan"

    def of(self, lvl: str) -> str:
        return {"warn": f"bold {self.warn}", "crit": f"bold {self.crit}"}.get(lvl, self.ok)

    def bar_style(self, lvl: str) -> str:
        return {"warn": self.warn, "crit": self.crit}.get(lvl, self.bar)


def palette_from_theme(theme: Any) -> Palette:
    if theme is None:
        return Palette()
    return Palette(ok="", warn=theme.warning or "yellow", crit=theme.error or "red", bar=theme.primary or "cyan")


def bar(pct: float | None, width: int, style: str) -> Text:
    """``█████░░░``: a horizontal bar of ``pct`` percent."""
    if pct is None:
        return Text("·" * width, style="dim")
    filled = round(min(max(pct, 0.0), 100.0) / 100.0 * width)
    return Text.assemble(("█" * filled, style), ("░" * (width - filled), "dim"))


_BLOCKS = " ▁▂▃▄▅▆▇█"


def block(pct: float | None) -> str:
    """One character whose height shows a percentage (for many cores in one line)."""
    if pct is None:
        return "·"
    return _BLOCKS[round(min(max(pct, 0.0), 100.0) / 100.0 * (len(_BLOCKS) - 1))]


def bytes_rate(bps: float | None) -> str:
    if bps is None:
        return "-"
    for unit in ("B/s", "KB/s", "MB/s", "GB/s"):
        if abs(bps) < 1000 or unit == "GB/s":
            return f"{bps:.0f} {unit}" if unit == "B/s" else f"{bps:.1f} {unit}"
        bps /= 1000.0
    return "-"  # pragma: no cover


def _pct(value: float | None) -> str:
    return "  -%" if value is None else f"{value:3.0f}%"


def _gib(mib: float | None) -> str:
    return "-" if mib is None else f"{mib / 1024:.1f}"


def cpu_line(system: dict[str, Any], pal: Palette) -> Text:
    total = system.get("cpu_total_pct")
    lvl = level("cpu", total)
    count = system.get("cpu_count") or len(system.get("cpu_per_core_pct") or [])
    text = Text.assemble(("CPU  ", "bold"), bar(total, 16, pal.bar_style(lvl)), " ",
                         (f"{total:5.1f}%" if total is not None else "    -", pal.of(lvl)), f"  {count} cores")
    loads = [system.get(k) for k in ("load_1m", "load_5m", "load_15m")]
    if loads[0] is not None:
        per_core = loads[0] / count if count else None
        text.append("  load ", style="dim")
        text.append(" ".join(f"{v:.2f}" for v in loads if v is not None), style=pal.of(level("load_per_core", per_core)))
    return text


def cores_line(system: dict[str, Any], pal: Palette, width: int) -> Text:
    cores = system.get("cpu_per_core_pct") or []
    text = Text("cores ", style="bold")
    cell_w = 11  # "c12 ███ 85%"
    if cores and len(cores) * cell_w <= max(width - 6, 0):
        for i, pct in enumerate(cores):
            lvl = level("cpu", pct)
            text.append(f"c{i} ", style="dim")
            text.append_text(bar(pct, 3, pal.bar_style(lvl)))
            text.append(f"{_pct(pct)} ", style=pal.of(lvl))
    else:  # many cores: one block per core, its height the load (btop's compact mode)
        for pct in cores:
            text.append(block(pct), style=pal.bar_style(level("cpu", pct)))
    return text


def memory_line(system: dict[str, Any], pal: Palette) -> Text:
    used_pct = system.get("mem_used_pct")
    lvl = level("mem", used_pct)
    used = f"{system.get('mem_used_gib', 0):.1f}/{system.get('mem_total_gib', 0):.1f} GiB {_pct(used_pct).strip()}"
    text = Text.assemble(("MEM  ", "bold"), bar(used_pct, 16, pal.bar_style(lvl)), " ", (used, pal.of(lvl)))
    text.append("   SWAP ", style="bold")
    if not system.get("swap_total_gib"):
        text.append("none", style="dim")
    else:
        spct = system.get("swap_used_pct")
        slvl = level("swap", spct)
        text.append_text(bar(spct, 8, pal.bar_style(slvl)))
        text.append(f" {system.get('swap_used_gib', 0):.1f}/{system['swap_total_gib']:.1f} GiB {_pct(spct).strip()}",
                    style=pal.of(slvl))
    return text


def disk_lines(system: dict[str, Any], pal: Palette) -> list[Text]:
    """One line per file system: its mount point, free space, and which watched folders are on it
    (``workspace +3``: the folders are many, the file systems few)."""
    groups: dict[Any, list[dict[str, Any]]] = {}
    for d in system.get("disks") or []:
        # samples from before mount points were recorded: same size and free space = same file system
        groups.setdefault(d.get("mount") or (d.get("total_gib"), d.get("free_gib")), []).append(d)
    if not groups:
        return [Text.assemble(("DISK ", "bold"), ("-", "dim"))]
    lines = []
    width = max((len(str(d[0].get("mount") or "")) for d in groups.values()), default=1)
    for same in groups.values():
        d = same[0]
        free_pct = d.get("free_pct")
        text = Text("DISK ", style="bold")
        mount = str(d.get("mount") or d.get("path") or "?")
        text.append(f"{mount:<{width}} ")
        text.append(f"{d.get('free_gib', 0):.1f} GiB free ({free_pct:.0f}%)" if free_pct is not None else "?",
                    style=pal.of(level("disk_free", free_pct)))
        labels = [str(x.get("label")) for x in same]
        text.append(f"  {labels[0]}" + (f" +{len(labels) - 1}" if len(labels) > 1 else ""), style="dim")
        lines.append(text)
    return lines


def net_text(system: dict[str, Any]) -> Text:
    return Text.assemble(("   NET ", "bold"),
                         f"↑ {bytes_rate(system.get('net_sent_bps'))}  ↓ {bytes_rate(system.get('net_recv_bps'))}")


def top_line(system: dict[str, Any], width: int) -> Text:
    """``TOP  python 69% 62M (6770) · sglang 40% 3.1G (812)``: the busiest processes that fit."""
    text = Text("TOP  ", style="bold")
    procs = system.get("top_processes") or []
    if not procs:
        text.append("-", style="dim")
    for i, p in enumerate(procs):
        rss = p.get("rss_mib") or 0.0
        cell = Text.assemble((str(p.get("name") or "?")[:16], ""), f" {p.get('cpu_pct', 0):.0f}% ",
                             (f"{rss / 1024:.1f}G" if rss >= 1024 else f"{rss:.0f}M", "dim"),
                             (f" ({p.get('pid')})", "dim"))
        sep = Text(" · ", style="dim") if i else Text("")
        if len(text) + len(sep) + len(cell) > width:
            break
        text.append_text(sep)
        text.append_text(cell)
    return text


def gpu_line(gpu: dict[str, Any], pal: Palette) -> Text:
    """``GPU0 A100  util ███ 95%  mem ███ 78.1/80.0 GiB 97%  300/400 W  71°C``."""
    util = gpu.get("util_pct")
    mem_pct = gpu.get("mem_pct")
    if mem_pct is None and gpu.get("mem_used_mib") is not None and gpu.get("mem_total_mib"):
        mem_pct = 100.0 * gpu["mem_used_mib"] / gpu["mem_total_mib"]
    mlvl = level("gpu_mem", mem_pct)
    text = Text.assemble((f"GPU{gpu.get('index', '?')} ", "bold"),
                         (f"{(gpu.get('name') or '')[:18]:<18} ", "dim"), ("util ", "dim"),
                         bar(util, 8, pal.bar_style("ok")), f" {_pct(util)}  ", ("mem ", "dim"),
                         bar(mem_pct, 8, pal.bar_style(mlvl)),
                         (f" {_gib(gpu.get('mem_used_mib'))}/{_gib(gpu.get('mem_total_mib'))} GiB {_pct(mem_pct)}",
                          pal.of(mlvl)))
    power, limit = gpu.get("power_w"), gpu.get("power_limit_w")
    if power is not None:
        plvl = level("gpu_power", 100.0 * power / limit if limit else None)
        text.append(f"  {power:.0f}" + (f"/{limit:.0f}" if limit else "") + " W", style=pal.of(plvl))
    temp = gpu.get("temp_c")
    if temp is not None:
        text.append(f"  {temp:.0f}°C", style=pal.of(level("gpu_temp", temp)))
    return text


class PercentSparkline(Sparkline):
    """A Sparkline on an absolute 0–100 % scale, one cell per sample, newest at the right.

    Textual's Sparkline scales between the data's own min and max and stretches few samples over
    its width: a CPU pinned at 100 % would draw as a flat floor. Utilisation wants a fixed scale.
    """

    def render(self) -> Text:
        data = list(self.data or [])[-max(self.size.width, 1):]
        _, base = self.background_colors
        low = base + self.get_component_styles("sparkline--min-color").color
        high = base + self.get_component_styles("sparkline--max-color").color
        text = Text(" " * (self.size.width - len(data)))
        for value in data:
            ratio = min(max(value, 0.0), 100.0) / 100.0
            text.append(block(value) if value > 0 else "▁", style=Style(color=low.blend(high, ratio).rich_color))
        return text


class _SparkRow(Horizontal):
    """A line of text with a sparkline of its history to the right."""

    DEFAULT_CSS = """
    _SparkRow { height: 1; }
    _SparkRow > Static { width: auto; }
    _SparkRow > Sparkline { width: 1fr; min-width: 10; max-width: 60; margin-left: 2; }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.text = Static("", classes="spark-text")
        self.spark = PercentSparkline([])

    def compose(self) -> ComposeResult:
        yield self.text
        yield self.spark

    def show(self, text: Text, history: Iterable[float]) -> None:
        update_static(self.text, text, text)
        data = list(history)
        if data != list(self.spark.data or []):
            self.spark.data = data


class BoxPanel(Vertical):
    """This machine at a glance; toggled with ``m`` on the runs screen.

    Figures are redrawn at most every :data:`REDRAW_S` seconds, line by line, and only the lines
    whose text changed: the box always moves a little, and every redraw is bytes on the link.
    """

    def __init__(self, redraw_s: float = REDRAW_S, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.border_title = "box"
        self.redraw_s = redraw_s
        self.sample: dict[str, Any] | None = None
        self.history: dict[str, deque[float]] = {}
        self._last_time: float | None = None
        self._drawn_at: float | None = None
        self._gpu_keys: tuple[int, ...] | None = None
        self._disk_count = 0
        self.text_lines: list[str] = []
        self.gpu_lines: list[str] = []

    def compose(self) -> ComposeResult:
        yield _SparkRow(id="box-cpu")
        yield Static("", id="box-cores")
        yield Static("", id="box-mem")
        yield Vertical(id="box-disks")
        yield Static("", id="box-top")
        yield Vertical(id="box-gpus")

    @property
    def plain(self) -> str:
        """Everything the panel shows, as plain text (tests read it)."""
        return "\n".join(self.text_lines + self.gpu_lines)

    def _remember(self, key: str, value: float | None) -> None:
        if value is not None:
            self.history.setdefault(key, deque(maxlen=HISTORY)).append(float(value))

    def show(self, sample: dict[str, Any] | None, pal: Palette, now: float | None = None) -> None:
        """Take a monitor sample (None: no sampler has written one yet); redraw when due."""
        now = time.monotonic() if now is None else now
        if sample is not None and sample.get("time") != self._last_time:  # one history point per sample
            self._last_time = sample.get("time")
            system = sample.get("system") or {}
            self._remember("cpu", system.get("cpu_total_pct"))
            for g in (sample.get("gpu") or {}).get("gpus") or []:
                self._remember(f"gpu{g.get('index')}", g.get("util_pct"))
        first = self.sample is None and sample is not None or (self.sample is not None and sample is None)
        self.sample = sample
        if not first and self._drawn_at is not None and now - self._drawn_at < self.redraw_s:
            return
        self._drawn_at = now
        self.redraw(pal)

    def redraw(self, pal: Palette) -> None:
        sample = self.sample
        cpu = self.query_one("#box-cpu", _SparkRow)
        if sample is None:
            set_title(self, "box")
            waiting = Text("waiting for the box sampler (engine.monitor)…", style="dim")
            cpu.show(waiting, [])
            for wid in ("#box-cores", "#box-mem", "#box-top"):
                update_static(self.query_one(wid, Static), "", "")
            self._set_disks([])
            self.text_lines = [waiting.plain]
            self._set_gpus(None, pal)
            return
        system = sample.get("system") or {}
        gpu_state = sample.get("gpu") or {}
        age = sample.get("age_s")
        set_title(self, f"box · {sample.get('host', '?')}" + (f" · {age:.0f}s ago" if age and age >= 3 else ""))
        width = self.content_region.width or 120
        head = cpu_line(system, pal)
        cores, mem, top = cores_line(system, pal, width), memory_line(system, pal), top_line(system, width)
        mem.append_text(net_text(system))
        disks = disk_lines(system, pal)
        cpu.show(head, self.history.get("cpu", []))
        update_static(self.query_one("#box-cores", Static), cores, cores)
        update_static(self.query_one("#box-mem", Static), mem, mem)
        update_static(self.query_one("#box-top", Static), top, top)
        self._set_disks(disks)
        self.text_lines = [t.plain for t in [head, cores, mem, *disks, top]]
        self._set_gpus(gpu_state, pal)

    def _set_disks(self, lines: list[Text]) -> None:
        box = self.query_one("#box-disks", Vertical)
        if len(lines) != self._disk_count:
            self._disk_count = len(lines)
            box.remove_children()
            box.mount_all([Static(line, classes="box-disk") for line in lines])
            return
        for static, line in zip(box.query(".box-disk").results(Static), lines):
            update_static(static, line, line)

    def _set_gpus(self, gpu_state: dict[str, Any] | None, pal: Palette) -> None:
        box = self.query_one("#box-gpus", Vertical)
        gpus = (gpu_state or {}).get("gpus") or [] if gpu_state and gpu_state.get("available") else []
        keys = tuple(int(g.get("index", i)) for i, g in enumerate(gpus))
        if keys != self._gpu_keys:
            self._gpu_keys = keys
            box.remove_children()
            if keys:
                box.mount_all([_SparkRow(id=f"box-gpu{k}") for k in keys])
            else:
                box.mount(Static("", id="box-nogpu"))
            # freshly mounted rows compose on the next refresh: fill them then
            self.call_after_refresh(self._fill_gpus, gpu_state, pal)
            return
        self._fill_gpus(gpu_state, pal)

    def _fill_gpus(self, gpu_state: dict[str, Any] | None, pal: Palette) -> None:
        gpus = (gpu_state or {}).get("gpus") or [] if gpu_state and gpu_state.get("available") else []
        if not gpus:
            line = Text("")
            if gpu_state is not None:
                line = Text.assemble(("GPU  ", "bold dim"), (gpu_state.get("reason") or "no GPU", "dim"))
            for w in self.query("#box-nogpu"):
                if isinstance(w, Static):
                    update_static(w, line, line)
            self.gpu_lines = [line.plain] if line.plain else []
            return
        self.gpu_lines = []
        for g in gpus:
            text = gpu_line(g, pal)
            self.gpu_lines.append(text.plain)
            for row in self.query(f"#box-gpu{int(g.get('index', 0))}"):
                if isinstance(row, _SparkRow):
                    row.show(text, self.history.get(f"gpu{g.get('index')}", []))
