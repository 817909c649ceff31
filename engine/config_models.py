"""The config's values, as plain pydantic models (no file or environment loading here).

:class:`ConfigValues` holds every key of the config; engine/config.py's ``Config`` adds how they
are loaded (pydantic-settings: file < environment < flags). Code that only reads a config (the
alert rules, prices, endpoints) imports from here, so that a run whose config is memoized
(engine/config.py) never loads pydantic-settings.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from engine.locations import resolve_workspace


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


class ConfigValues(_Strict):
    """The merged configuration's values (what ``load_config`` returns)."""

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

    #: the file the values came from (set by load_config, not by users)
    source_file: str | None = Field(default=None, exclude=True)

    def workspace_path(self, flag: str | os.PathLike[str] | None = None) -> Path:
        """The workspace: ``--workspace`` flag, ROLLOUT_HOME, this config, or the per-user default."""
        return resolve_workspace(flag, self.workspace)

    def redacted(self) -> dict[str, Any]:
        """The merged config as a dict, safe to print: keys are only named (env var, file), never held."""
        return self.model_dump(mode="json", exclude={"source_file"})
