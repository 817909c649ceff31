"""The eval view: one row per checkpoint (step, files, samples, pass@1, pass@k, status counts,
time) and the learning curve plotted with textual-plotext, live while the evaluation runs; the
best checkpoint is marked in both."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Static
from textual_plotext import PlotextPlot

from console import format as fmt

COLUMNS = (("best", "", 1), ("step", "step", 8), ("name", "checkpoint", None), ("files", "files", 5),
           ("samples", "samples", 8), ("pass1", "pass@1", 7), ("passk", "pass@k", 9), ("statuses", "statuses", None),
           ("status", "status", 11), ("time", "time", 8))


def _pct(v: Any) -> str:
    return f"{100 * v:.1f}%" if isinstance(v, (int, float)) and not isinstance(v, bool) else "-"


def status_counts_text(counts: dict[str, Any] | None) -> str:
    """``AC 120 WA 30 TLE 2``: the verdicts, most common first."""
    if not counts:
        return "-"
    return " ".join(f"{k} {fmt.count(int(v))}" for k, v in sorted(counts.items(), key=lambda kv: -int(kv[1] or 0)))


def k_of(row: dict[str, Any]) -> int | None:
    """The largest k > 1 a checkpoint row has a ``pass@k`` for."""
    ks = [int(key[5:]) for key in row if key.startswith("pass@") and key[5:].isdigit() and int(key[5:]) > 1]
    return max(ks) if ks else None


def best_of(rows: list[dict[str, Any]], metric: str = "pass@1") -> dict[str, Any] | None:
    scored = [r for r in rows if isinstance(r.get(metric), (int, float)) and r.get("status") in ("done", "skipped")]
    return max(scored, key=lambda r: (r[metric], -int(r.get("step") or 0))) if scored else None


class LearningCurve(PlotextPlot):
    """pass@1 (and pass@k) against step; the best checkpoint is a marked point."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.points: tuple[tuple[int, float], ...] = ()
        self.points_k: tuple[tuple[int, float], ...] = ()
        self.k_label = "pass@k"

    def show(self, points: list[tuple[int, float]], points_k: list[tuple[int, float]] | None = None,
             k_label: str = "pass@k") -> None:
        new, new_k = tuple(points), tuple(points_k or ())
        if (new, new_k, k_label) == (self.points, self.points_k, self.k_label):
            return  # nothing new: no redraw
        self.points, self.points_k, self.k_label = new, new_k, k_label
        plt = self.plt
        plt.clear_figure()
        plt.title("learning curve")
        plt.xlabel("step")
        if new:
            xs, ys = [p[0] for p in new], [p[1] for p in new]
            plt.plot(xs, ys, marker="braille", label="pass@1")
            if new_k:
                plt.plot([p[0] for p in new_k], [p[1] for p in new_k], marker="braille", label=k_label)
            best = max(new, key=lambda p: (p[1], -p[0]))
            plt.scatter([best[0]], [best[1]], marker="★", label=f"best: step {best[0]}")
            top = max([*ys, *(p[1] for p in new_k)] or [1.0])
            plt.ylim(0, max(top * 1.1, 0.05))
        self.refresh()


class EvalView(Vertical):
    """Embeddable in a run view or the dashboard's detail pane: ``show(state, checkpoints)``."""

    DEFAULT_CSS = """
    EvalView { height: auto; }
    EvalView > #eval-head { height: auto; }
    EvalView > DataTable { height: auto; max-height: 14; }
    EvalView > LearningCurve { height: 14; min-height: 8; }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._cells: dict[str, tuple[Text, ...]] = {}

    def compose(self) -> ComposeResult:
        yield Static("", id="eval-head")
        yield DataTable(id="eval-checkpoints", cursor_type="row", zebra_stripes=True)
        yield LearningCurve(id="eval-curve")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for key, label, width in COLUMNS:
            table.add_column(label, key=key, width=width)

    def show(self, state: dict[str, Any], checkpoints: list[dict[str, Any]]) -> None:
        figures = state.get("figures") if isinstance(state.get("figures"), dict) else {}
        head = Text.assemble(("evaluation ", "bold"), (str(figures.get("suite") or ""), "dim"))
        if figures.get("checkpoint") and state.get("status") in ("running", "stopping"):
            head.append(f"  now: {figures['checkpoint']}", style="bold")
        if figures.get("tests_per_s") is not None:
            head.append(f"  {fmt.rate(figures.get('tests_per_s'), ' tests/s')}", style="dim")
        self.query_one("#eval-head", Static).update(head)
        rows = sorted(checkpoints, key=lambda r: (int(r.get("step") or 0), str(r.get("name") or "")))
        best = best_of(rows)
        table = self.query_one(DataTable)
        keys = []
        for r in rows:
            key = f"{r.get('step')}:{r.get('name')}"
            keys.append(key)
            cells = self._row(r, r is best)
            old = self._cells.get(key)
            if old is None:
                table.add_row(*cells, key=key)
            else:
                for (col, _l, _w), new, prev in zip(COLUMNS, cells, old):
                    if new != prev:
                        table.update_cell(key, col, new)
            self._cells[key] = cells
        for gone in [k for k in self._cells if k not in keys]:
            table.remove_row(gone)
            del self._cells[gone]
        k = max((k_of(r) or 0 for r in rows), default=0) or None
        pts = [(int(r["step"]), float(r["pass@1"])) for r in rows
               if isinstance(r.get("pass@1"), (int, float)) and r.get("status") in ("done", "skipped")]
        pts_k = [(int(r["step"]), float(r[f"pass@{k}"])) for r in rows
                 if k and isinstance(r.get(f"pass@{k}"), (int, float)) and r.get("status") in ("done", "skipped")]
        if not pts and isinstance(figures.get("curve"), list):  # no checkpoint table yet: the job's own curve
            pts = [(int(p["step"]), float(p["value"])) for p in figures["curve"] if isinstance(p, dict)
                   and isinstance(p.get("value"), (int, float)) and "step" in p]
        self.query_one(LearningCurve).show(pts, pts_k, f"pass@{k}" if k else "pass@k")

    @staticmethod
    def _row(r: dict[str, Any], best: bool) -> tuple[Text, ...]:
        k = k_of(r)
        status = str(r.get("status") or "-")
        style = {"done": "green", "skipped": "green", "incomplete": "yellow", "stopped": "yellow",
                 "running": "bold"}.get(status, "dim")
        when = r.get("elapsed_s")
        return (
            Text("★" if best else "", style="bold yellow"),
            Text(str(r.get("step", "-")), justify="right"),
            Text(str(r.get("name") or ""), style="bold" if best else ""),
            Text(str(r.get("files", "-")), justify="right"),
            Text(fmt.count(r.get("samples")) if isinstance(r.get("samples"), int) else "-", justify="right"),
            Text(_pct(r.get("pass@1")), justify="right", style="bold" if best else ""),
            Text(f"{_pct(r.get(f'pass@{k}'))} @{k}" if k else "-", justify="right"),
            Text(status_counts_text(r.get("status_counts")), style="dim"),
            Text(status, style=style),
            Text(fmt.duration(when) if isinstance(when, (int, float)) else
                 (fmt.timestamp(r.get("evaluated_at"))[11:] if r.get("evaluated_at") else "-"), style="dim"),
        )
