"""``rollout status``: every active run in one short line, for a glance or a tmux status line.

Plain text by default, tmux ``#[fg=…]`` styles with ``--tmux`` (never ANSI: tmux would print
the escapes), one JSON object with ``--json``. Imports only the standard library, console.format
and engine.status: console/launcher.py runs it without loading Typer.
"""

from __future__ import annotations

import json
import os
import sys
import time

from console import format as fmt
from console.fastopts import Opt
from engine.history_index import finished_run_ids
from engine.status import RECENT_PROBLEM_S, summarize

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import TextIO

    from engine.status import StatusSummary

SCHEMA_VERSION = 1
#: the options of ``rollout status`` (console/launcher.py parses them; the Typer command is built from them)
STATUS_OPTIONS = (
    Opt("tmux", ("--tmux",), bool, False, "tmux #[fg=...] styles, for status-right (never ANSI codes)."),
    Opt("json", ("--json",), bool, False, "One JSON object (schema_version, totals, one entry per run)."),
)
#: tmux colour of each worst status (anything else: yellow)
STATUS_COLOUR = {"running": "green", "serving": "green", "starting": "cyan", "failed": "red", "lost": "red"}
SEVERITY_COLOUR = {"critical": "red"}


def _tmux_escape(text: str) -> str:
    return text.replace("#", "##")  # a lone # starts a tmux format


def status_parts(summary: StatusSummary) -> list[tuple[str, str | None]]:
    """The line as (text, tmux colour or None) pieces, in order."""
    parts: list[tuple[str, str | None]] = []
    worst, active = summary["worst_status"], summary["active"]
    if active:
        head = f"{active} run{'s' if active != 1 else ''}"
        if worst not in (None, "running", "serving"):
            head += f" {worst}"
        parts.append((head, STATUS_COLOUR.get(worst or "", "yellow")))
        if summary["progress"] is not None:
            parts.append((f"{100 * summary['progress']:.0f}%", None))
        if summary["eta_s"] is not None:
            parts.append((f"eta {fmt.duration(summary['eta_s'])}", None))
        if summary["cost_usd"] is not None:
            parts.append((fmt.cost(summary["cost_usd"]), None))
    else:
        parts.append(("rollout idle", "colour244"))
    alert = summary["worst_alert"]
    if alert:
        more = f" +{summary['alert_count'] - 1}" if summary["alert_count"] > 1 else ""
        parts.append((f"⚠ {alert.get('name', '?')}{more}", SEVERITY_COLOUR.get(str(alert.get("severity")), "yellow")))
    if summary["recent_problems"]:
        parts.append((f"✖ {summary['recent_problems']} failed/lost", "red"))
    if summary["gpu_util_pct"] is not None:
        parts.append((f"gpu {summary['gpu_util_pct']:.0f}%", None))
    if summary["monitor_line"]:
        # seed 004's monitoring line of a SWE-bench evaluation (the newest one when several run)
        more = f" (+{summary['monitor_runs'] - 1} more)" if summary["monitor_runs"] > 1 else ""
        parts.append((f"| {summary['monitor_line']}{more}", None))
    return parts


def render_plain(summary: StatusSummary) -> str:
    return " ".join(text for text, _ in status_parts(summary))


def render_tmux(summary: StatusSummary) -> str:
    out = []
    for text, colour in status_parts(summary):
        text = _tmux_escape(text)
        out.append(f"#[fg={colour}]{text}#[default]" if colour else text)
    return " ".join(out)


def render_json(summary: StatusSummary) -> str:
    return json.dumps({"schema_version": SCHEMA_VERSION, **summary}, default=str, separators=(",", ":"))


def print_status(workspace: str | os.PathLike[str], *, tmux: bool = False, as_json: bool = False,
                 out: TextIO | None = None) -> int:
    """Print the status line of ``workspace``; returns the exit code (0: the line was printed)."""
    now = time.time()
    summary = summarize(workspace, now, skip=finished_run_ids(workspace, problems_since=now - RECENT_PROBLEM_S))
    text = render_json(summary) if as_json else (render_tmux(summary) if tmux else render_plain(summary))
    stream = out or sys.stdout
    stream.write(text + "\n")
    stream.flush()
    return 0
