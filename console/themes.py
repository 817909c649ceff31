"""Console themes as data: TOML files turned into ``textual.theme.Theme`` objects.

The shipped themes and the base stylesheet live in the ``themes`` package (found by absolute path,
so they work from a wheel or a checkout). Users add ``*.toml`` files to
``<user config dir>/rollout/themes/``; a user theme with the name of a shipped one replaces it.
A theme file names the fields of ``textual.theme.Theme`` (name, primary, secondary, accent,
foreground, background, surface, panel, boost, success, warning, error, dark, luminosity_spread,
text_alpha) and an optional ``[variables]`` table.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator
from textual.color import Color, ColorParseError
from textual.theme import Theme

import themes as _themes_pkg
from engine.errors import InputError

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib

# __path__, not __file__: works for the package in a wheel, a checkout and an editable install
THEMES_DIR = Path(next(iter(_themes_pkg.__path__))).resolve()
BASE_TCSS = THEMES_DIR / "base.tcss"
DEFAULT_THEME = "rollout-dark"

#: status -> the theme field its colour falls back to when the theme has no ``status-<name>`` variable
_STATUS_FALLBACK: dict[str, str] = {
    "running": "accent", "starting": "accent", "serving": "success", "done": "success",
    "failed": "error", "lost": "error", "cancelled": "secondary", "stopping": "warning",
    "paused": "warning", "waiting": "warning", "stale": "warning",
}

_COLOR_FIELDS = ("primary", "secondary", "accent", "foreground", "background", "surface", "panel",
                 "boost", "success", "warning", "error")


class ThemeFile(BaseModel):
    """The schema of a theme file; unknown keys are errors so typos don't pass silently."""

    model_config = ConfigDict(extra="forbid")

    name: str
    primary: str
    secondary: str | None = None
    accent: str | None = None
    foreground: str | None = None
    background: str | None = None
    surface: str | None = None
    panel: str | None = None
    boost: str | None = None
    success: str | None = None
    warning: str | None = None
    error: str | None = None
    dark: bool = True
    luminosity_spread: float = 0.15
    text_alpha: float = 0.95
    variables: dict[str, str] = {}

    @field_validator(*_COLOR_FIELDS)
    @classmethod
    def _is_colour(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                Color.parse(value)
            except ColorParseError:
                raise ValueError(f"'{value}' is not a colour (use #rrggbb, rgb(...) or a colour name)") from None
        return value

    def to_theme(self) -> Theme:
        return Theme(**self.model_dump())


def status_color(theme: Theme, status: str) -> str | None:
    """The colour a theme gives a run status: its ``status-<name>`` variable, else a theme colour."""
    own = theme.variables.get(f"status-{status}")
    if own:
        return own
    fallback = _STATUS_FALLBACK.get(status)
    return getattr(theme, fallback) if fallback else None


def user_themes_dir() -> Path:
    """Where users put theme files of their own."""
    return Path(platformdirs.user_config_dir("rollout", appauthor=False)) / "themes"


def theme_from_toml(path: Path) -> Theme:
    """Read one theme file; raise InputError naming the file and the key on any problem."""
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"theme file {path}: invalid TOML: {exc}: fix or remove the file") from None
    except UnicodeDecodeError:
        raise InputError(f"theme file {path}: not UTF-8 text: save it as UTF-8") from None
    except OSError as exc:
        raise InputError(f"theme file {path}: cannot read: {exc.strerror}") from None
    try:
        return ThemeFile.model_validate(data).to_theme()
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        what = "unknown key" if err["type"] == "extra_forbidden" else err["msg"].removeprefix("Value error, ")
        more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise InputError(f"theme file {path}: key '{key}': {what}{more}: fix or remove the file") from None


@dataclass
class ThemeSet:
    """Every theme found, by name, and one line per theme file that could not be used."""

    themes: dict[str, Theme] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def load_themes(user_dir: Path | None = None, extra_files: list[Path] | None = None) -> ThemeSet:
    """The shipped themes, then the user's (``user_dir``, default :func:`user_themes_dir`).

    A broken user file is reported in ``problems`` and skipped; a broken shipped file is a bug and raises.
    """
    found = ThemeSet()
    for path in sorted(THEMES_DIR.glob("*.toml")):
        theme = theme_from_toml(path)
        found.themes[theme.name] = theme
    user_dir = user_dir if user_dir is not None else user_themes_dir()
    user_files = sorted(user_dir.glob("*.toml")) if user_dir.is_dir() else []
    for path in user_files + list(extra_files or []):
        try:
            theme = theme_from_toml(path)
        except InputError as exc:
            found.problems.append(str(exc))
            continue
        found.themes[theme.name] = theme
    return found
