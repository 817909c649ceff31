"""Settings of one ``rollout process`` run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import get_args

# the job's defaults are declared once, in its option model
from engine.options.process import DEFAULT_CONCURRENCY, DEFAULT_URL, Transport

TRANSPORTS = get_args(Transport)


@dataclass
class ProcessOptions:
    """Everything the processor needs; the CLI fills it from flags. No secrets here: only the
    *name* of the environment variable (or the path of the file) holding the API key."""

    input: Path
    output: Path
    url: str = DEFAULT_URL
    concurrency: int = DEFAULT_CONCURRENCY
    timeout: float = 7200.0
    model: str | None = None
    max_retries: int = 5
    api_key_env: str | None = None
    #: a file holding the API key (read at start, never copied anywhere)
    api_key_file: Path | None = None
    errors: Path | None = None
    restart: bool = False
    preflight: bool = True
    allow_duplicates: bool = False
    rpm: float | None = None
    tpm: float | None = None
    cache_dir: Path | None = None
    transport: str = "auto"
    #: how long an unreachable endpoint is waited for before the run stops (exit 3, resumable)
    max_wait_endpoint: float = 1800.0
    #: seconds between /v1/models probes while the endpoint is down
    probe_interval: float = 2.0
    #: first backoff step and its cap (seconds); full jitter on top
    backoff_base: float = 1.0
    backoff_max: float = 60.0
    #: after a stop request, how long in-flight requests may still finish (seconds)
    stop_grace: float = 5.0
    #: prompt-size guard (engine/promptguard): None = prompt + max_tokens must fit the context
    #: length; 0 = off; N = the estimated prompt must not exceed N
    max_prompt_tokens: int | None = None
    #: the context length when the endpoint does not say it (from the config, else the flag)
    context_length: int | None = None

    @property
    def errors_path(self) -> Path:
        return self.errors if self.errors is not None else self.output.with_name(self.output.name + ".errors.jsonl")

    @property
    def sidecar_path(self) -> Path:
        return self.output.with_name(self.output.name + ".rollout.json")
