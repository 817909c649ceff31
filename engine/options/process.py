"""The option model of ``rollout process`` against an endpoint (``--serve``: engine/options/serve_process.py,
so that a plain ``process`` does not load the server's fields).

The endpoint's settings in the config (``--endpoint NAME`` or ``default_endpoint``: url, key
source, model, max_concurrency) are applied in :meth:`ProcessJob.config_defaults`, the one place
the concurrency default is decided.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, ClassVar, Literal, Mapping, Optional

from engine.options.base import JobLaunch, JobOptions, WorldCheck, option

DEFAULT_URL = "http://127.0.0.1:30000"
DEFAULT_CONCURRENCY = 64
Transport = Literal["auto", "pyreqwest", "aiohttp", "httpx-aiohttp", "httpx"]
#: how long the pre-launch check waits for GET /v1/models
CHECK_TIMEOUT_S = 5.0


class ProcessJob(JobOptions):
    job_name: ClassVar[str] = "process"
    title: ClassVar[str] = "Process an OpenAI Batch request file through an endpoint"
    cli_path: ClassVar[tuple[str, ...]] = ("process",)
    kind: ClassVar[str] = "process"

    input: str = option(..., "--input", "--input_file", "--input-file", "-i", path="file", exists=True,
                        help="OpenAI Batch request JSONL.")
    output: str = option(..., "--output", "--output_file", "--output-file", "-o", path="file",
                         help="Output JSONL (appended; a rerun resumes it).")
    url: Optional[str] = option(None, "--url", placeholder=DEFAULT_URL,
                                help="Endpoint base URL, or a full path that every request goes to "
                                "(default: the config's default_endpoint, else http://127.0.0.1:30000).")
    endpoint: Optional[str] = option(None, "--endpoint", placeholder="NAME",
                                     help="A named endpoint from the config ([endpoints.NAME]: url, key, model).")
    concurrency: Optional[int] = option(None, "--concurrency", ge=1,
                                        help=f"Requests in flight at once (default {DEFAULT_CONCURRENCY}, "
                                        "or the endpoint's max_concurrency).")
    timeout: float = option(7200.0, "--timeout", gt=0.0, help="Seconds per request (long generations need long).")
    model: Optional[str] = option(None, "--model", help="Override body.model of every request.")
    max_retries: int = option(5, "--max-retries", "--max_retries", ge=0, help="Retries of a failed request.")
    api_key_env: Optional[str] = option(None, "--api-key-env", placeholder="VAR",
                                        help="Environment variable holding the API key (default: OPENAI_API_KEY when set).")
    api_key_file: Optional[str] = option(None, "--api-key-file", path="file", exists=True, what="API key file",
                                         help="File holding the API key (read at start, never logged).")
    errors: Optional[str] = option(None, "--errors", path="file", help="Errors file (default: <output>.errors.jsonl).")
    restart: bool = option(False, "--restart", help="Move old outputs aside (never deleted) and start over.")
    no_preflight: bool = option(False, "--no-preflight", help="Skip the GET /v1/models check.")
    allow_duplicates: bool = option(False, "--allow-duplicates", help="Accept repeated custom_ids.")
    rpm: Optional[float] = option(None, "--rpm", gt=0.0, help="Client-side limit: requests per minute.")
    tpm: Optional[float] = option(None, "--tpm", ge=1.0, help="Client-side limit: tokens per minute (estimated).")
    cache: Optional[str] = option(None, "--cache", path="dir", help="Reuse 200 answers kept here (keyed by custom_id + body).")
    transport: Transport = option("auto", "--transport",
                                help="HTTP client: auto (pyreqwest when installed, else aiohttp), pyreqwest, "
                                "aiohttp, httpx-aiohttp, httpx.")
    max_wait_endpoint: float = option(1800.0, "--max-wait-endpoint", ge=0.0,
                                      help="Seconds to wait for a lost endpoint before stopping (exit 3).")
    max_prompt_tokens: Optional[int] = option(
        None, "--max-prompt-tokens", "--max_prompt_tokens", ge=0,
        help="Refuse (errors file, prompt_too_long, never sent) requests whose prompt is estimated above this; "
        "default: prompt + max_tokens must fit the model's context length (from the endpoint, the config, or "
        "--context-length); 0: no guard.")
    context_length: Optional[int] = option(
        None, "--context-length", ge=1,
        help="The model's context length for the prompt-size guard when the endpoint and the config do not say; "
        "with --serve also the server's max context length.")
    via: Literal["online", "batch"] = option("online", "--via", panel="Via batch",
                                             help="online (each request sent now) or batch (a hosted Batch API: submit, "
                                             "wait, fetch; half the price). See 'rollout batch --help'.")
    split_lines: int = option(50_000, "--split-lines", ge=1, panel="Via batch",
                              help="--via batch: at most N requests per part.")
    split_bytes: str = option("200MB", "--split-bytes", panel="Via batch", help="--via batch: at most this size per part.")
    poll_interval: float = option(5.0, "--poll-interval", ge=0.01, panel="Via batch",
                                  help="--via batch: first poll pause (s).")

    @classmethod
    def config_defaults(cls, config: Any, given: Mapping[str, Any]) -> dict[str, Any]:
        from engine.processor.endpoints import resolve_endpoint

        target = resolve_endpoint(config, url=given.get("url"), name=given.get("endpoint"))
        out: dict[str, Any] = {"url": target.url}
        if given.get("concurrency") is None:
            out["concurrency"] = min(DEFAULT_CONCURRENCY, target.max_concurrency or DEFAULT_CONCURRENCY)
        if given.get("model") is None and target.model:
            out["model"] = target.model
        if given.get("api_key_env") is None and given.get("api_key_file") is None:
            out["api_key_env"] = target.api_key_env
            out["api_key_file"] = str(target.api_key_file) if target.api_key_file else None
        return out

    def process_options(self, config: Any = None, *, url: str | None = None, preflight: bool | None = None) -> Any:
        from engine.processor.options import ProcessOptions
        from engine.promptguard import config_context_length

        return ProcessOptions(
            input=Path(self.input), output=Path(self.output), url=url or self.url or DEFAULT_URL,
            concurrency=self.concurrency or DEFAULT_CONCURRENCY, timeout=self.timeout, model=self.model,
            max_retries=self.max_retries, api_key_env=self.api_key_env,
            api_key_file=Path(self.api_key_file) if self.api_key_file else None,
            errors=Path(self.errors) if self.errors else None, restart=self.restart,
            preflight=(not self.no_preflight) if preflight is None else preflight,
            allow_duplicates=self.allow_duplicates, rpm=self.rpm, tpm=self.tpm,
            cache_dir=Path(self.cache) if self.cache else None, transport=self.transport,
            max_wait_endpoint=self.max_wait_endpoint, max_prompt_tokens=self.max_prompt_tokens,
            context_length=config_context_length(config, self.endpoint) or self.context_length,
        )

    @property
    def errors_path(self) -> Path:
        """Where this run's failed requests go (the retry-failures input)."""
        return Path(self.errors) if self.errors else Path(self.output).with_name(Path(self.output).name + ".errors.jsonl")

    def make_job(self, config: Any, *, warn: Callable[[str], None] = lambda _l: None,
                 notify: Callable[[str], None] | None = None) -> JobLaunch:
        from engine.processor import make_process_job, output_paths, prepare_run

        options = self.process_options(config)
        # every check (flags, the whole input, resume scan, pre-flight) before a run dir or output exists
        plan = prepare_run(options, warn=warn)
        return JobLaunch(kind=self.kind, job=make_process_job(options, plan),
                         title=f"process {Path(self.input).name} → {Path(self.output).name}",
                         inputs={"input": plan.fingerprint}, outputs=output_paths(options))

    def world_checks(self, config: Any) -> list[WorldCheck]:
        if self.via == "batch":
            return []  # the submit step checks the hosted API itself
        return [models_check(self.url or DEFAULT_URL, self.api_key_env, self.api_key_file)]


def models_check(url: str, api_key_env: str | None, api_key_file: str | None, field: str = "url") -> WorldCheck:
    """Does the endpoint answer ``GET /v1/models``? (the processor's own pre-flight, run early)."""
    import httpx

    from engine.config import read_api_key

    base = url.strip().rstrip("/")
    idx = base.find("/v1/")
    if idx >= 0:
        base = base[:idx]
    base = base.removesuffix("/v1")
    headers = {}
    try:
        key = read_api_key(api_key_env or ("OPENAI_API_KEY" if not api_key_file else None), api_key_file)
    except Exception:
        key = None
    if key:
        headers["Authorization"] = f"Bearer {key}"
    try:
        res = httpx.get(base + "/v1/models", headers=headers, timeout=CHECK_TIMEOUT_S)
    except httpx.HTTPError as exc:
        return WorldCheck("endpoint", False, f"{base}/v1/models: unreachable ({type(exc).__name__}): "
                          "start the server or fix --url", field)
    if res.status_code in (401, 403):
        return WorldCheck("endpoint", False, f"{base}/v1/models: HTTP {res.status_code}: check the API key", field)
    if res.status_code != 200:
        return WorldCheck("endpoint", False, f"{base}/v1/models: HTTP {res.status_code}", field)
    try:
        names = [m.get("id") for m in res.json().get("data", [])]
    except Exception:
        names = []
    return WorldCheck("endpoint", True, f"{base} answers; models: {', '.join(map(str, names[:3])) or 'none listed'}",
                      field)
