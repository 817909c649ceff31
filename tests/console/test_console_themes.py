"""Themes are data: TOML files turned into textual Themes, with clear errors and a safe fallback."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.theme import Theme

from console.app import RolloutApp
from console.themes import BASE_TCSS, THEMES_DIR, load_themes, status_color, theme_from_toml
from engine.errors import ExitCode, InputError

GOOD = """
name = "midnight"
primary = "#336699"
background = "#000010"
dark = true
[variables]
status-running = "#00ffff"
"""


def test_shipped_themes_parse(tmp_path: Path) -> None:
    found = load_themes(tmp_path / "none")
    assert found.problems == []
    assert {"rollout-dark", "rollout-light"} <= set(found.themes)
    dark, light = found.themes["rollout-dark"], found.themes["rollout-light"]
    assert isinstance(dark, Theme) and isinstance(light, Theme)
    assert dark.dark is True and light.dark is False
    for theme in (dark, light):
        assert theme.primary and theme.background and theme.success and theme.error
        theme.to_color_system()  # every colour is one Textual understands
        assert status_color(theme, "failed") and status_color(theme, "running")
    assert BASE_TCSS.is_file() and BASE_TCSS.parent == THEMES_DIR


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('name = "x"\nprimary = "#123456"\ncolour = "red"\n', "key 'colour': unknown key"),
        ('name = "x"\nprimary = "not-a-colour"\n', "key 'primary': 'not-a-colour' is not a colour"),
        ('name = "x"\n', "key 'primary': Field required"),
        ('name = "x"\nprimary = "#123456"\ndark = "maybe"\n', "key 'dark'"),
        ('name = "x\nprimary = 1', "invalid TOML"),
    ],
)
def test_broken_theme_file_gives_one_clear_line(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "broken.toml"
    path.write_text(text)
    with pytest.raises(InputError) as info:
        theme_from_toml(path)
    message = str(info.value)
    assert str(path) in message and expected in message and "\n" not in message
    assert info.value.exit_code == ExitCode.USAGE


def test_user_themes_are_added_and_broken_ones_reported(tmp_path: Path) -> None:
    user = tmp_path / "themes"
    user.mkdir()
    (user / "midnight.toml").write_text(GOOD)
    (user / "bad.toml").write_text('name = "bad"\nprimary = "#12"\n')
    found = load_themes(user)
    assert "midnight" in found.themes and "rollout-dark" in found.themes and "bad" not in found.themes
    assert found.themes["midnight"].variables["status-running"] == "#00ffff"
    assert len(found.problems) == 1 and "bad.toml" in found.problems[0]


async def test_app_uses_configured_theme(tmp_path: Path) -> None:
    app = RolloutApp(tmp_path, theme_name="rollout-light", user_themes_dir=tmp_path / "none", monitor=False)
    async with app.run_test() as pilot:
        await pilot.pause()
        assert app.theme == "rollout-light"
        assert app.current_theme.dark is False
        await pilot.press("t")  # cycles through the themes from files
        assert app.theme == "rollout-dark"


async def test_app_loads_user_theme_and_falls_back_on_unknown_name(tmp_path: Path) -> None:
    user = tmp_path / "themes"
    user.mkdir()
    (user / "midnight.toml").write_text(GOOD)
    (user / "bad.toml").write_text("this is not toml")
    app = RolloutApp(tmp_path, theme_name="midnight", user_themes_dir=user, monitor=False)
    async with app.run_test() as pilot:
        await pilot.pause()
        assert app.theme == "midnight"
        assert any("bad.toml" in n.message for n in app._notifications)

    app = RolloutApp(tmp_path, theme_name="no-such-theme", user_themes_dir=user, monitor=False)
    async with app.run_test() as pilot:
        await pilot.pause()
        assert app.theme == "rollout-dark"
        assert any("no-such-theme" in n.message and "rollout-dark" in n.message for n in app._notifications)


async def test_app_accepts_a_theme_file_path(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(GOOD)
    app = RolloutApp(tmp_path, theme_name=str(path), user_themes_dir=tmp_path / "none", monitor=False)
    async with app.run_test() as pilot:
        await pilot.pause()
        assert app.theme == "midnight"

