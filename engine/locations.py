"""Where things live: the workspace and the config file.

Kept apart from :mod:`engine.config` (pydantic-settings) so that the fast readers (``rollout
status --tmux`` in a status line, shell completion) find the workspace without loading the
validated config. The string-returning functions import neither pathlib nor platformdirs on Linux
(the per-user folders are the XDG ones there, as platformdirs computes them; a test compares).
"""

from __future__ import annotations

import os
import sys

from engine.errors import InputError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from pathlib import Path

CONFIG_FILENAME = "rollout.toml"
#: the environment variable that names the workspace outright (over the config's ``workspace``)
HOME_ENV = "ROLLOUT_HOME"
#: pydantic-settings' spelling of the config key ``workspace`` (env_prefix ROLLOUT_)
WORKSPACE_ENV = "ROLLOUT_WORKSPACE"
APP_NAME = "rollout"


def _xdg(var: str, fallback: str) -> str | None:
    """platformdirs' Unix rule: $VAR when set and not blank, else ~/<fallback>; None off Linux."""
    if not sys.platform.startswith("linux"):
        return None
    value = os.environ.get(var, "").strip()
    return os.path.join(value or os.path.expanduser(fallback), APP_NAME)


def default_workspace_dir() -> str:
    """The per-user state directory where every run of this user lives."""
    found = _xdg("XDG_STATE_HOME", "~/.local/state")
    if found is None:
        import platformdirs

        found = platformdirs.user_state_dir(APP_NAME, appauthor=False)
    return found


def user_config_file() -> str:
    """The per-user config file (it may not exist)."""
    folder = _xdg("XDG_CONFIG_HOME", "~/.config")
    if folder is None:
        import platformdirs

        folder = platformdirs.user_config_dir(APP_NAME, appauthor=False)
    return os.path.join(folder, "config.toml")


def workspace_dir(flag: str | os.PathLike[str] | None = None, config_value: str | None = None) -> str:
    """Workspace in precedence order: ``--workspace``, ``ROLLOUT_HOME``, config, per-user default."""
    for candidate in (flag, os.environ.get(HOME_ENV) or None, config_value):
        if candidate:
            return os.path.realpath(os.path.expanduser(os.fspath(candidate)))
    return default_workspace_dir()


def default_workspace() -> Path:
    """:func:`default_workspace_dir` as a Path."""
    from pathlib import Path

    return Path(default_workspace_dir())


def resolve_workspace(flag: str | os.PathLike[str] | None = None, config_value: str | None = None) -> Path:
    """:func:`workspace_dir` as a Path."""
    from pathlib import Path

    return Path(workspace_dir(flag, config_value))


def user_config_path() -> Path:
    """:func:`user_config_file` as a Path."""
    from pathlib import Path

    return Path(user_config_file())


def find_config_file(explicit: str | os.PathLike[str] | None = None, cwd: Path | None = None) -> Path | None:
    """The config file to use, or None when there is none (defaults apply)."""
    from pathlib import Path

    found = find_config(explicit, os.fspath(cwd) if cwd is not None else None)
    return Path(found) if found is not None else None


def find_config(explicit: str | os.PathLike[str] | None = None, cwd: str | None = None) -> str | None:
    """:func:`find_config_file` without pathlib: ``--config``, ./rollout.toml, the user config."""
    if explicit:
        path = os.path.expanduser(os.fspath(explicit))
        if not os.path.isfile(path):
            raise InputError(f"config file {path} does not exist: check --config, or run 'rollout config init'")
        return path
    local = os.path.join(cwd or os.getcwd(), CONFIG_FILENAME)
    if os.path.isfile(local):
        return local
    user = user_config_file()
    return user if os.path.isfile(user) else None


def quick_workspace(flag: str | None = None, config_path: str | None = None) -> str:
    """The workspace as :meth:`engine.config.Config.workspace_path` finds it, without validating the config.

    Same precedence (flag, ROLLOUT_HOME, ROLLOUT_WORKSPACE, the config file's ``workspace`` key,
    the per-user default). Raises InputError when the config file cannot be read, so a caller can
    fall back to the full loader, which explains the problem.
    """
    if flag or os.environ.get(HOME_ENV):
        return workspace_dir(flag)
    value = os.environ.get(WORKSPACE_ENV) or None
    if value is None:
        path = find_config(config_path)
        if path is not None:
            value = _toml_workspace(path)
    return workspace_dir(None, value)


def _toml_workspace(path: str) -> str | None:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except (OSError, ValueError) as exc:  # TOMLDecodeError and UnicodeDecodeError are ValueErrors
        raise InputError(f"{path}: cannot read the config: {exc}") from None
    value = data.get("workspace")
    return value if isinstance(value, str) and value else None
