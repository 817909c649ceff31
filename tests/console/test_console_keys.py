"""Keys as data: the action registry, [keymap] overrides from a config file, the palette, the ?
overlay at 80x24, --read-only, NO_COLOR."""

from __future__ import annotations

import os
import time
from pathlib import Path

from textual.filter import Monochrome

from console.actions import ACTIONS, BY_ID
from console.app import RolloutApp
from console.output import CliState
from console.screens.confirm import ConfirmScreen
from console.screens.help import HelpScreen
from console.screens.runs import RunsScreen
from console_helpers import wait_until
from engine.runs import create_run

PUNCTUATION = {"slash", "question_mark", "plus", "minus", "equals", "space"}


def live_run(workspace: Path):
    run = create_run(workspace, "demo", ["rollout", "demo"])
    run.update_run(pid=os.getpid())
    run.write_state({"status": "running", "heartbeat": time.time(), "counters": {"total": 10, "done": 1, "ok": 1}})
    return run


def test_every_keyed_action_has_a_letter_key_and_an_id() -> None:
    ids = [a.id for a in ACTIONS]
    assert len(ids) == len(set(ids))
    for action in ACTIONS:
        if not action.keys:
            continue
        keys = action.keys.split(",")
        assert any(len(k) == 1 or k in PUNCTUATION for k in keys), f"{action.id}: only {keys} (Home/End fail in tmux)"
    for needed in ("runs.stop", "runs.filter", "runs.alerts", "app.theme", "app.launch", "runs.open", "run.retry"):
        assert needed in BY_ID
    assert BY_ID["runs.stop"].cli == "rollout stop RUN" and BY_ID["runs.stop"].mutates


async def test_keymap_from_the_config_file_moves_a_key(workspace: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "rollout.toml"
    cfg.write_text('[keymap]\n"runs.filter" = "f"\n"runs.no_such_action" = "z"\n')
    app = RolloutApp.from_cli(CliState(workspace_flag=str(workspace), config_path=str(cfg)))
    app.monitor = False
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        assert isinstance(screen, RunsScreen)
        filt = screen.query_one("#filter")
        await pilot.press("slash")
        assert not filt.display  # "/" no longer filters...
        await pilot.press("f")
        assert filt.display and filt.has_focus  # ..."f" does
        await pilot.press("escape")
        await wait_until(pilot, lambda: any("runs.no_such_action" in n.message for n in app._notifications),
                         what="the unknown keymap id reported")


async def test_palette_lists_every_action_of_the_screen_with_its_command(workspace: Path, tmp_path: Path) -> None:
    app = RolloutApp(workspace, user_themes_dir=tmp_path / "none", monitor=False)
    async with app.run_test(size=(80, 24)):
        titles = {c.title: c.help for c in app.get_system_commands(app.screen)}
        for action in ACTIONS:
            if action.palette and action.scope in ("app", "runs", "table"):
                assert action.title in titles, action.id
        assert "rollout stop RUN" in titles["Stop run"] and "key s" in titles["Stop run"]
        assert "key n" in titles["Launch"]
        from console.screens.launch import LaunchCommands

        jobs_listed = [name for name, _h, _cb in LaunchCommands(app.screen)._entries()]
        assert "Launch process" in jobs_listed and "Launch eval-checkpoints" in jobs_listed


async def test_read_only_console_neither_stops_nor_launches(workspace: Path, tmp_path: Path) -> None:
    run = live_run(workspace)
    app = RolloutApp(workspace, user_themes_dir=tmp_path / "none", monitor=False, read_only=True,
                     refresh_interval=0.2)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: run.run_id in screen.query_one("RunsTable").run_ids, what="the run")
        await pilot.press("s")
        await pilot.pause(0.3)
        assert not isinstance(app.screen, ConfirmScreen)
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert "Stop run" not in titles and not any(t.startswith("Launch") for t in titles)
        from console.screens.launch import LaunchCommands, LaunchScreen

        assert not list(LaunchCommands(app.screen)._entries())  # no "Launch <job>" in the palette either
        await pilot.press("n")
        await pilot.pause(0.2)
        assert not isinstance(app.screen, LaunchScreen)
        screen.action_stop_run()  # even when reached another way
        await wait_until(pilot, lambda: any("read-only" in n.message for n in app._notifications), what="refusal")
        assert "read-only" in app.sub_title


async def test_help_overlay_is_generated_from_bindings_and_scrolls_at_80x24(workspace: Path, tmp_path: Path) -> None:
    app = RolloutApp(workspace, user_themes_dir=tmp_path / "none", monitor=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        await pilot.pause()
        rows = {desc: keys for keys, desc in help_screen.rows}
        assert rows["Filter"] == "/" and help_screen.ids["Filter"] == "runs.filter"
        box = help_screen.query_one("#help-box")
        assert box.region.bottom <= 24 and box.region.right <= 80  # nothing cut off
        table = help_screen.query_one("#help-keys")
        assert table.virtual_size.height > table.size.height  # more keys than lines: it scrolls
        await pilot.press("j", "j", "j")
        assert table.scroll_y > 0
        await pilot.press("G")
        assert table.scroll_y == table.max_scroll_y
        await pilot.press("g")
        assert table.scroll_y == 0
        await pilot.press("q")
        assert isinstance(app.screen, RunsScreen)


async def test_theme_choice_persists_and_no_color_is_honoured(workspace: Path, tmp_path: Path, monkeypatch) -> None:
    app = RolloutApp(workspace, user_themes_dir=tmp_path / "none", monitor=False)
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.theme == "rollout-dark"
        await pilot.press("t")
        chosen = app.theme
        assert chosen != "rollout-dark"
    again = RolloutApp(workspace, user_themes_dir=tmp_path / "none", monitor=False)
    assert again.theme == chosen  # the next console opens with the theme picked last
    assert {"rollout-dark", "rollout-light", "rollout-high-contrast"} <= set(again.own_themes)
    monkeypatch.delenv("NO_COLOR", raising=False)
    coloured = RolloutApp(workspace, user_themes_dir=tmp_path / "none", monitor=False)
    assert not coloured.no_color and not any(isinstance(f, Monochrome) for f in coloured._filters)
    monkeypatch.setenv("NO_COLOR", "1")
    plain = RolloutApp(workspace, user_themes_dir=tmp_path / "none", monitor=False)
    assert plain.no_color and any(isinstance(f, Monochrome) for f in plain._filters)
