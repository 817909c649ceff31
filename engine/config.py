"""One TOML config, validated, with environment and flag overrides.

Found in this order (the first that exists wins): ``--config FILE``, ``./rollout.toml``,
``<user config dir>/rollout/config.toml``. Environment variables ``ROLLOUT_<KEY>`` (nested keys
joined by ``__``, e.g. ``ROLLOUT_ENDPOINTS__LOCAL__URL``) override the file; flags override both.
Loading and precedence are pydantic-settings'; validation errors become one line naming the file
and the key. The values' models are in engine/config_models.py (re-exported here); ``Config``,
the pydantic-settings class, loads on first use.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from engine.config_models import (AlertRule, AlertTuning, ConfigValues, Endpoint, Price,  # noqa: F401  (re-exported)
                                  ScorecardSettings, ScorecardWeights, ServerEngine)
from engine.errors import InputError
# the config file's location lives in engine.locations (cheap to import); re-exported here
from engine.keys import read_api_key  # noqa: F401  (re-exported)
from engine.locations import CONFIG_FILENAME, find_config_file, resolve_workspace, user_config_path  # noqa: F401

if TYPE_CHECKING:
    from pydantic_settings import BaseSettings

    Config = ConfigValues


@functools.cache  # one class per process, like an import
def settings_class() -> type[BaseSettings]:
    """``Config``: the values loaded by pydantic-settings (file < environment < flags)."""
    from typing import ClassVar

    from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

    class Config(BaseSettings, ConfigValues):
        """The merged configuration (file < environment < flags)."""

        model_config = SettingsConfigDict(
            extra="forbid",
            env_prefix="ROLLOUT_",
            env_nested_delimiter="__",
            validate_default=True,
        )

        # set by load_config, not by users
        toml_path: ClassVar[Path | None] = None

        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            toml_file = getattr(settings_cls, "toml_path", None)
            sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
            if toml_file is not None:
                sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
            return tuple(sources)

    Config.__qualname__ = "Config"  # as if defined at module level: engine.config.Config
    return Config


def __getattr__(name: str) -> Any:
    if name == "Config":  # pydantic-settings loads when the class is used, not with this module
        return settings_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load_config(explicit: str | os.PathLike[str] | None = None, overrides: dict[str, Any] | None = None) -> ConfigValues:
    """Load and validate the config; raise InputError with file and key on any problem.

    The merge of file and environment is memoized (:mod:`engine.config_memo`): a later load
    with the same file bytes and ROLLOUT_* environment re-validates the kept values with the
    plain models, without loading pydantic-settings (a processing run's start-up, issue 13).
    """
    from engine import config_memo

    path = find_config_file(explicit)
    extra = {k: v for k, v in (overrides or {}).items() if v is not None}
    key = None if extra else config_memo.memo_key(path)
    if key is not None:
        kept = config_memo.recall(key)
        if kept is not None:
            return kept
    if path is not None:
        _check_toml_syntax(path)
    # The file has to reach settings_customise_sources (a classmethod): a subclass per load
    # carries it without any module-level mutable state.
    settings_cls = type("Config", (settings_class(),), {"toml_path": path})
    try:
        cfg = settings_cls(**extra)
    except ValidationError as exc:
        raise InputError(_format_validation_error(exc, path)) from None
    cfg.source_file = str(path) if path else None
    if key is not None:
        config_memo.keep(key, cfg)
    return cfg


def _check_toml_syntax(path: Path) -> None:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        with open(path, "rb") as fh:
            tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: invalid TOML: {exc}: fix the file or pass another --config") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text: save the config as UTF-8") from None


def _format_validation_error(exc: ValidationError, path: Path | None) -> str:
    where = str(path) if path else "environment"
    problems = []
    for err in exc.errors()[:3]:
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        if err["type"] == "extra_forbidden":
            problems.append(f"unknown key '{key}'")
        else:
            problems.append(f"key '{key}': {err['msg']}")
    more = f" (+{exc.error_count() - 3} more)" if exc.error_count() > 3 else ""
    return f"{where}: {'; '.join(problems)}{more}: fix the config (see 'rollout config init' for every key)"


CONFIG_TEMPLATE = '''\
# rollout configuration. Found as --config FILE, ./rollout.toml, or the per-user config file.
# Environment variables override it: ROLLOUT_<KEY>, nested keys joined by "__"
# (ROLLOUT_THEME=rollout-light, ROLLOUT_ENDPOINTS__LOCAL__URL=http://127.0.0.1:30000).
# Flags override both.

# Where runs are kept (default: the per-user state directory; ROLLOUT_HOME overrides).
# workspace = "~/rollout"

# Console look and refresh (seconds).
theme = "rollout-dark"          # or "rollout-light", or a theme file of your own
refresh_interval = 1.0

# Console keys: binding id = keys (comma-separated). Ids are listed by the console's ? overlay.
# [keymap]
# "runs.filter" = "slash,f"
# "runs.stop" = "x"

# Stop spending: alert when the projected cost of a run passes this (USD).
# budget_usd = 500.0

# OpenAI-compatible endpoints by name. Keys come from the environment or a key file, never here.
# default_endpoint = "local"
# [endpoints.local]
# url = "http://127.0.0.1:30000"
# api_key_env = "SGLANG_API_KEY"
# context_length = 32768        # prompt-size guard, when the server does not report max_model_len

# Prices per model: USD per 1M tokens for hosted APIs...
# [prices."gpt-4o-mini"]
# input_per_1m = 0.15
# cached_input_per_1m = 0.075
# output_per_1m = 0.60
# batch_input_per_1m = 0.075    # hosted Batch API rates ('rollout batch'); default: half the above
# batch_output_per_1m = 0.30
# ...or a GPU-hour price times GPUs for a self-hosted server.
# [prices."Qwen/Qwen3-32B"]
# gpu_hour_usd = 2.50
# gpus = 8

# Alert rules (added to the defaults unless use_default_alerts = false).
# [[alerts]]
# name = "slow_requests"
# metric = "figures.latency_p95_s"
# op = ">"
# threshold = 600
# hold_s = 120
# severity = "warn"
# action = "check the server's queue"

# Tune a built-in rule without restating it (`rollout monitor --rules` lists them):
# a rule raises after `hold_s` seconds past `threshold` and clears after `clear_hold_s`
# seconds back past `clear_threshold`.
# [alert_tuning.success_rate_low]
# threshold = 0.4
# clear_threshold = 0.5
# hold_s = 60

# A command run with each alert as JSON on stdin (Slack, email...), killed after the timeout.
# on_alert = "~/bin/notify-slack"
# on_alert_timeout_s = 10
# bell = false

# SWE-bench scorecard (seed 004): public/hidden test split, success line, Overall weights.
# [scorecard]
# public_ratio = 0.7
# split_seed = "rollout-scorecard-v1"
# success_threshold = 0.5
# [scorecard.weights]
# hfs = 0.4
# tss = 0.3
# brs = 0.2
# resolved = 0.1

# Server engines besides sglang: an argv template.
# [engines.vllm]
# command = ["vllm", "serve", "{model_path}", "--host", "{host}", "--port", "{port}"]
# ready_path = "/v1/models"
'''
