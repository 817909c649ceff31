"""``rollout history``: finished runs with totals, as JSON Lines, tab-separated lines or a table.

One implementation for both ways in: console/launcher.py answers a plain ``rollout history ...``
with it before Typer is imported (10,000 runs must list in ≤ 200 ms as a whole process), and the
Typer command (console/commands/history.py, built from :data:`HISTORY_OPTIONS`) calls it for
everything else. Standard library, console.format and engine.history_index only: no Typer,
rich, pydantic, pathlib or dataclasses.

What goes where: ``--json`` prints one ``run`` object per run, then one ``totals`` object; piped,
tab-separated lines (:data:`engine.history_index.TSV_COLUMNS`) on stdout and the totals on
stderr; on a terminal, a table that fits its width (the least needed columns are left out of a
narrow one) and the totals under it.
"""

from __future__ import annotations

import json
import os
import time

from console import format as fmt
from console.fastopts import Opt
from engine import history_index as ix

#: the version of every JSON object a reading command prints (console.output.SCHEMA_VERSION)
SCHEMA_VERSION = 1

HISTORY_OPTIONS = (
    Opt("since", ("--since",), str, None, "Only runs that finished in the last SPAN (90m, 12h, 7d, 2w).", "SPAN"),
    Opt("kind", ("--kind",), str, None, "Only runs of this kind (process, serve, eval, ...)."),
    Opt("limit", ("--limit", "-n"), int, 0, "At most N runs (newest first); 0 = all."),
    Opt("json", ("--json",), bool, False, "JSON Lines: one 'run' object per run, then one 'totals' object."),
)

HISTORY_HELP = """Finished runs, newest first: items, failures, tokens, cost, duration, with totals.

Served from an index in the workspace (history.sqlite3) that every finishing run updates and
that is rebuilt from the run directories when missing or stale. Piped: tab-separated lines
(run_id kind status items failed tokens_prompt tokens_completion cost_usd duration_s finished),
totals on stderr.
"""

#: the table: header, right-aligned, how early it is left out of a narrow terminal (0: never)
_TABLE = (("RUN", False, 0), ("KIND", False, 5), ("STATUS", False, 0), ("ITEMS", True, 0), ("FAILED", True, 0),
          ("TOKENS IN/OUT", True, 4), ("COST", True, 1), ("DURATION", True, 2), ("FINISHED", False, 3))
_TABLE_SQL = ("run_id, kind, status, items, failed, tokens_prompt, tokens_completion, cost_usd, duration_s, "
              "strftime('%Y-%m-%d %H:%M', finished, 'unixepoch', 'localtime')")
_GAP = "  "
#: SGR codes of the words of console.format.STATUS_STYLE (rich's style names)
_SGR = {"bold": "1", "red": "31", "green": "32", "yellow": "33", "magenta": "35", "cyan": "36"}
_RESET = "\x1b[0m"


class HistoryOutput:
    """What ``rollout history`` prints: bytes for stdout, text for stderr, and its exit code."""

    __slots__ = ("stdout", "stderr", "exit_code")

    def __init__(self, stdout: bytes = b"", stderr: str = "", exit_code: int = 0) -> None:
        self.stdout, self.stderr, self.exit_code = stdout, stderr, exit_code


def history_output(workspace: str | os.PathLike[str], *, since: str | None = None, kind: str | None = None,
                   limit: int = 0, json: bool = False, terminal: bool = False, width: int = 80,
                   colour: bool = False) -> HistoryOutput:
    """Everything ``rollout history`` prints for these options, computed before anything is
    written (so a caller can still let another path explain an error). Raises InputError for a
    bad ``since`` and OSError when the workspace cannot be read."""
    since_s = None
    if since:
        from engine.durations import parse_span

        since_s = parse_span(since, "--since")
    now = time.time()
    conn = ix.connect(workspace)
    try:
        ix.sync(conn, workspace, now)
        flt = {"since_s": since_s, "kind": kind, "limit": limit or None, "now": now}
        if json:  # the run objects come straight from SQLite (rendered when each row was added)
            text = ix.json_text(conn, **flt, schema_version=SCHEMA_VERSION)
            totals = ix.totals(conn, **flt)  # after the rows: their pages are read already
            return HistoryOutput(text + _json_dumps({"schema_version": SCHEMA_VERSION, "type": "totals", **totals})
                                 .encode() + b"\n")
        if not terminal:
            text = ix.tsv_text(conn, **flt)
            return HistoryOutput(text, total_line(ix.totals(conn, **flt)) + "\n")
        rows = ix.query(conn, _TABLE_SQL, **flt)
        totals = ix.totals(conn, **flt)
    finally:
        conn.close()
    if not rows:
        where = os.path.join(os.fspath(workspace), "runs")
        return HistoryOutput(b"", f"no finished runs in {where}" + (f" in the last {since}" if since else "") + "\n")
    table = render_table(rows, width, colour)
    bold = ("\x1b[1m", _RESET) if colour else ("", "")
    return HistoryOutput(f"{table}{bold[0]}total{bold[1]} {total_line(totals)}\n".encode())


def _json_dumps(data: dict) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def total_line(totals: dict) -> str:
    """The totals in words: ``3 runs, 113 items, 2 failed, tokens 5,000 in / 0 out, cost $1.50, ...``."""
    return (f"{totals['runs']} runs, {fmt.count(totals['items'])} items, {fmt.count(totals['failed'])} failed, "
            f"tokens {fmt.count(totals['tokens_prompt'])} in / {fmt.count(totals['tokens_completion'])} out, "
            f"cost {fmt.cost(totals['cost_usd'])}, {fmt.duration(totals['duration_s'])} of run time")


def render_table(rows: list[tuple], width: int, colour: bool) -> str:
    """Rows of ``_TABLE_SQL`` as a table no wider than ``width`` where it can be: columns are
    left out, least needed first, rather than cut (run ids must stay whole to be pasted back)."""
    count, cost, duration = fmt.count, fmt.cost, fmt.duration
    cells = [(r[0], r[1], r[2], count(r[3]), count(r[4]), f"{count(r[5])}/{count(r[6])}", cost(r[7]),
              duration(r[8]), r[9] or "-") for r in rows]
    columns = list(zip(*cells))
    widths = [max(len(h), *map(len, col)) for (h, _, _), col in zip(_TABLE, columns)]
    shown = list(range(len(_TABLE)))
    for drop in sorted((i for i, (_, _, rank) in enumerate(_TABLE) if rank), key=lambda i: -_TABLE[i][2]):
        if sum(widths[i] for i in shown) + len(_GAP) * (len(shown) - 1) <= width:
            break
        shown.remove(drop)
    status = _TABLE.index(("STATUS", False, 0))
    if colour:  # the status cell coloured and padded once per status, not once per row
        padded = {}
        for text in set(columns[status]):
            codes = [_SGR[w] for w in fmt.STATUS_STYLE.get(text, "").split() if w in _SGR]
            pad = " " * (widths[status] - len(text))
            padded[text] = f"\x1b[{';'.join(codes)}m{text}{_RESET}{pad}" if codes else text + pad
        columns[status] = tuple(padded[t] for t in columns[status])
    # one format string for every line: a field per shown column, aligned; the last one unpadded
    fields = []
    for n, i in enumerate(shown):
        if (i == status and colour) or (n == len(shown) - 1 and not _TABLE[i][1]):
            fields.append(f"{{{n}}}")
        else:
            fields.append(f"{{{n}:{'>' if _TABLE[i][1] else '<'}{widths[i]}}}")
    line = _GAP.join(fields).format
    head = _GAP.join(f"{_TABLE[i][0]:{'>' if _TABLE[i][1] else '<'}{widths[i]}}" for i in shown).rstrip()
    body = "\n".join(line(*row) for row in zip(*(columns[i] for i in shown)))
    return (f"\x1b[1m{head}{_RESET}" if colour else head) + "\n" + body + "\n"


def colour_wanted(color: str) -> bool:
    """``--color`` as console.output.make_console reads it, for a stream that is a terminal."""
    if color == "never":
        return False
    if color == "always":
        return True
    return not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


def terminal_width(fd: int) -> int:
    """Columns of the terminal on ``fd`` (``COLUMNS`` first, as shutil and rich read it)."""
    try:
        return int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        pass
    try:
        return os.get_terminal_size(fd).columns or 80
    except OSError:
        return 80
