"""One TOML config, validated, with environment and flag overrides.

Found in this order (the first that exists wins): ``--config FILE``, ``./rollout.toml``,
``<user config dir>/rollout/config.toml``. Environment variables ``ROLLOUT_<KEY>`` (nested keys
joined by ``__``, e.g. ``ROLLOUT_ENDPOINTS__LOCAL__URL``) override the file; flags override both.
Loading and precedence are pydantic-settings'; validation errors become one line naming the file
and the key.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

from engine.errors import InputError
# the config file's location lives in engine.locations (cheap to import); re-exported here
from engine.keys import read_api_key  # noqa: F401  (re-exported)
from engine.locations import CONFIG_FILENAME, find_config_file, resolve_workspace, user_config_path  # noqa: F401


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Endpoint(_Strict):
    """An OpenAI-compatible endpoint. The key is read from ``api_key_env`` or ``api_key_file``."""

    url: str
    api_key_env: str | None = None
    api_key_file: str | None = None
    model: str | None = None
    max_concurrency: int | None = Field(default=None, ge=1)
    #: the served model's context length, when the endpoint does not say it (engine/promptguard)
    context_length: int | None = Field(default=None, ge=1)


class Price(_Strict):
    """Per-model price: USD per 1M tokens, or a self-hosted GPU-hour price times GPUs."""

    input_per_1m: float | None = Field(default=None, ge=0)
    cached_input_per_1m: float | None = Field(default=None, ge=0)
    output_per_1m: float | None = Field(default=None, ge=0)
    gpu_hour_usd: float | None = Field(default=None, ge=0)
    gpus: int = Field(default=1, ge=1)
    #: hosted Batch API rates (default: half the rates above, the providers' usual batch discount)
    batch_input_per_1m: float | None = Field(default=None, ge=0)
    batch_cached_input_per_1m: float | None = Field(default=None, ge=0)
    batch_output_per_1m: float | None = Field(default=None, ge=0)


class AlertRule(_Strict):
    """A threshold rule evaluated on job state and monitor samples (engine/alerts).

    It raises once ``metric op threshold`` has held for ``hold_s`` seconds, and clears once the
    value is back past ``clear_threshold`` (default: 10% of the threshold on the good side) for
    ``clear_hold_s`` seconds (default: ``hold_s``), so a figure hovering at its threshold raises
    once and clears once.
    """

    name: str
    metric: str
    op: Literal[">", ">=", "<", "<=", "==", "!="]
    threshold: float
    clear_threshold: float | None = None
    min_samples: int = Field(default=1, ge=1)
    hold_s: float = Field(default=0.0, ge=0)
    clear_hold_s: float | None = Field(default=None, ge=0)
    severity: Literal["warn", "critical"] = "warn"
    action: str = ""
    enabled: bool = True


class AlertTuning(_Strict):
    """``[alert_tuning.<rule>]``: change some fields of a built-in rule without restating it."""

    threshold: float | None = None
    clear_threshold: float | None = None
    min_samples: int | None = Field(default=None, ge=1)
    hold_s: float | None = Field(default=None, ge=0)
    clear_hold_s: float | None = Field(default=None, ge=0)
    severity: Literal["warn", "critical"] | None = None
    action: str | None = None
    enabled: bool | None = None


class ServerEngine(_Strict):
    """How to launch an OpenAI-compatible server: an argv template with {model_path}, {host}, {port}..."""

    command: list[str]
    ready_path: str = "/health_generate"


class ScorecardWeights(_Strict):
    """Weights of a SWE-bench instance's Overall score (engine/report/scorecard.py).

    Overall = sum(weight * figure) / sum(weight) over the figures the instance has (an instance
    without a reproduction test has no BRS: its Overall rests on the others).
    """

    hfs: float = Field(default=0.4, ge=0)
    tss: float = Field(default=0.3, ge=0)
    brs: float = Field(default=0.2, ge=0)
    resolved: float = Field(default=0.1, ge=0)


class ScorecardSettings(_Strict):
    """How the scale-up scorecard (seed 004) is computed: test split, success line, Overall weights."""

    #: share of an instance's FAIL_TO_PASS + PASS_TO_PASS tests that is public (the rest is hidden)
    public_ratio: float = Field(default=0.7, gt=0, lt=1)
    #: seed of the hash that splits the tests: change it to draw another split
    split_seed: str = "rollout-scorecard-v1"
    #: an instance succeeds when its Overall is at least this
    success_threshold: float = Field(default=0.5, ge=0, le=1)
    weights: ScorecardWeights = Field(default_factory=ScorecardWeights)


class Config(BaseSettings):
    """The merged configuration (file < environment < flags)."""

    model_config = SettingsConfigDict(
        extra="forbid",
        env_prefix="ROLLOUT_",
        env_nested_delimiter="__",
        validate_default=True,
    )

    workspace: str | None = None
    theme: str = "rollout-dark"
    refresh_interval: float = Field(default=1.0, gt=0, le=60)
    #: console key overrides: binding id -> keys ("runs.filter" = "slash,f"); see the console's ? overlay
    keymap: dict[str, str] = Field(default_factory=dict)
    endpoints: dict[str, Endpoint] = Field(default_factory=dict)
    default_endpoint: str | None = None
    #: context length for the prompt-size guard when neither the endpoint nor its entry says
    context_length: int | None = Field(default=None, ge=1)
    prices: dict[str, Price] = Field(default_factory=dict)
    budget_usd: float | None = Field(default=None, ge=0)
    alerts: list[AlertRule] = Field(default_factory=list)
    alert_tuning: dict[str, AlertTuning] = Field(default_factory=dict)
    use_default_alerts: bool = True
    on_alert: str | None = None
    on_alert_timeout_s: float = Field(default=10.0, gt=0)
    bell: bool = False
    engines: dict[str, ServerEngine] = Field(default_factory=dict)
    scorecard: ScorecardSettings = Field(default_factory=ScorecardSettings)

    # set by load_config, not by users
    toml_path: ClassVar[Path | None] = None
    source_file: str | None = Field(default=None, exclude=True)

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

    def workspace_path(self, flag: str | os.PathLike[str] | None = None) -> Path:
        """The workspace: ``--workspace`` flag, ROLLOUT_HOME, this config, or the per-user default."""
        return resolve_workspace(flag, self.workspace)

    def redacted(self) -> dict[str, Any]:
        """The merged config as a dict, safe to print: keys are only named (env var, file), never held."""
        return self.model_dump(mode="json", exclude={"source_file"})


def load_config(explicit: str | os.PathLike[str] | None = None, overrides: dict[str, Any] | None = None) -> Config:
    """Load and validate the config; raise InputError with file and key on any problem."""
    path = find_config_file(explicit)
    if path is not None:
        _check_toml_syntax(path)
    # The file has to reach settings_customise_sources (a classmethod): a subclass per load
    # carries it without any module-level mutable state.
    settings_cls = type("Config", (Config,), {"toml_path": path})
    try:
        cfg = settings_cls(**{k: v for k, v in (overrides or {}).items() if v is not None})
    except ValidationError as exc:
        raise InputError(_format_validation_error(exc, path)) from None
    cfg.source_file = str(path) if path else None
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
