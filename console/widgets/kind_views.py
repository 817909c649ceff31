"""The views of a run by what it is (eval, server, process), as the dashboard's detail pane and the
run view both embed them: which apply, and feeding them the run's latest state."""

from __future__ import annotations

from typing import Any, Iterator

from textual.dom import DOMNode
from textual.widget import Widget

from console.widgets.eval_view import EvalView
from console.widgets.process_view import ProcessView, is_process_run
from console.widgets.server_view import ServerView, is_server_run


def kind_views(prefix: str) -> Iterator[Widget]:
    """The three views, hidden until a run they apply to is shown (ids ``<prefix>-eval`` ...)."""
    for view in (EvalView(id=f"{prefix}-eval"), ServerView(id=f"{prefix}-server"),
                 ProcessView(id=f"{prefix}-process")):
        view.display = False
        yield view


def show_kind_views(node: DOMNode, prefix: str, state: dict[str, Any] | None,
                    checkpoints: list[dict[str, Any]], server_log: list[str]) -> None:
    """Show the views that apply to the run whose ``state`` this is (None: no run), hide the others."""
    state = state or {}
    shown = bool(state)
    wanted = {
        "eval": shown and (state.get("kind") == "eval" or bool(checkpoints)),
        "server": shown and is_server_run(state),
        "process": shown and is_process_run(state),
    }
    for name, show in wanted.items():
        view = node.query_one(f"#{prefix}-{name}")
        if view.display != show:
            view.display = show
    if wanted["eval"]:
        node.query_one(f"#{prefix}-eval", EvalView).show(state, checkpoints)
    if wanted["server"]:
        node.query_one(f"#{prefix}-server", ServerView).show(state, server_log)
    if wanted["process"]:
        node.query_one(f"#{prefix}-process", ProcessView).show(state)
