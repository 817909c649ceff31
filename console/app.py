"""The Textual console (placeholder until the app lands; see issue 2)."""

from __future__ import annotations

from console.output import CliState


def run_app(cli: CliState) -> None:
    from textual.app import App

    class _Shell(App[None]):
        pass

    _Shell().run()
