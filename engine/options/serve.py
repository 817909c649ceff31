"""Option models of server launches: ``rollout serve`` and ``rollout serve router``.

:class:`ServerFields` are the flags a launched server takes; ``rollout process --serve`` uses the
same declarations (engine/options/process.py), so each is declared once.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from typing import Any, Callable, ClassVar, Optional

from pydantic import field_validator, model_validator

from engine.options.base import JobLaunch, JobOptions, WorldCheck, option

SGLANG_MODULE = "sglang.launch_server"
ROUTER_MODULE = "sglang_router.launch_router"
ROUTER_POLICIES = ("cache_aware", "round_robin", "random", "power_of_two")


def check_port(value: str) -> str:
    """``auto`` or a port number 1-65535 (the same rule the launcher applies)."""
    text = str(value).strip()
    if text.lower() in ("auto", "0", ""):
        return text or "auto"
    try:
        port = int(text)
    except ValueError:
        raise ValueError(f"--port {value!r} is not a port number: give 1-65535 or 'auto'") from None
    if not 1 <= port <= 65535:
        raise ValueError(f"--port {value} is out of range: give 1-65535 or 'auto'")
    return text


class _Launcher(JobOptions):
    """Fields of every launched server process (sglang, router, config engines)."""

    port: str = option("auto", "--port", help="Port number, or 'auto' to pick a free one.")
    startup_timeout: float = option(1800.0, "--startup-timeout", ge=1.0, help="Seconds to wait for readiness.")
    stop_grace: float = option(30.0, "--stop-grace", ge=0.0, help="Seconds between SIGTERM and SIGKILL.")
    python: Optional[str] = option(None, "--python", help="Python that has the engine installed (default: this one).")
    module: Optional[str] = option(None, "--module", hidden=True, form=False,
                                   help="Module run with python -m (default sglang.launch_server).")
    extra_args: list[str] = option(..., default_factory=list, passthrough=True,
                                   help="Arguments after -- go to the server verbatim.")

    @field_validator("port")
    @classmethod
    def _valid_port(cls, v: str) -> str:
        return check_port(v)

    def python_has(self, module: str) -> WorldCheck:
        """Can the server's Python import ``module``? (finds it without importing it)."""
        python = self.python or sys.executable
        top = module.split(".")[0]
        code = f"import importlib.util, sys; sys.exit(0 if importlib.util.find_spec({top!r}) else 1)"
        try:
            res = subprocess.run([python, "-c", code], capture_output=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return WorldCheck("engine", False, f"{python}: cannot run it ({exc}): check --python", "python")
        if res.returncode != 0:
            pkg = {"sglang": "'sglang[all]'"}.get(top, top.replace("_", "-"))
            return WorldCheck("engine", False, f"{top} is not installed in {python}: pip install {pkg} there, "
                              "or point --python at a Python that has it", "python")
        return WorldCheck("engine", True, f"{top} found in {python}", "python")


class ServerFields(_Launcher):
    """The model server's own flags (``serve`` and ``process --serve``)."""

    model_path: Optional[str] = option(None, "--model-path", placeholder="Qwen/Qwen3-8B",
                                       help="Model folder or Hugging Face id.")
    tp_size: Optional[int] = option(None, "--tp-size", ge=1, help="Tensor parallel size.")
    dp_size: Optional[int] = option(None, "--dp-size", ge=1, help="Data parallel size.")
    reasoning_parser: Optional[str] = option(None, "--reasoning-parser", help="e.g. deepseek-r1, qwen3.")
    mem_fraction_static: Optional[float] = option(None, "--mem-fraction-static", ge=0.0, le=1.0,
                                                  help="GPU memory fraction for weights + KV cache.")
    context_length: Optional[int] = option(None, "--context-length", ge=1, help="Max context length.")
    engine: str = option("sglang", "--engine",
                         help="sglang, or an engine named in the config table engines.NAME (vllm, custom).")

    def server_kwargs(self) -> dict[str, Any]:
        return dict(model_path=self.model_path, engine=self.engine, tp_size=self.tp_size, dp_size=self.dp_size,
                    port=self.port, reasoning_parser=self.reasoning_parser,
                    mem_fraction_static=self.mem_fraction_static, context_length=self.context_length,
                    startup_timeout_s=self.startup_timeout, stop_grace_s=self.stop_grace, python=self.python,
                    module=self.module, extra_args=list(self.extra_args))

    def engine_check(self, config: Any) -> WorldCheck:
        if self.engine == "sglang":
            return self.python_has(self.module or SGLANG_MODULE)
        engines = dict(getattr(config, "engines", None) or {})
        eng = engines.get(self.engine)
        if eng is None:
            known = ", ".join(["sglang", *sorted(engines)])
            return WorldCheck("engine", False, f"--engine {self.engine}: no such engine: known are {known} "
                              f"(add [engines.{self.engine}] to your rollout.toml)", "engine")
        program = list(eng.command)[0] if eng.command else ""
        if program and not (shutil.which(program) or "{" in program):
            return WorldCheck("engine", False, f"--engine {self.engine}: {program} is not on PATH", "engine")
        return WorldCheck("engine", True, f"engine {self.engine}: {program or 'command'} found", "engine")


class ServeJob(ServerFields):
    job_name: ClassVar[str] = "serve"
    title: ClassVar[str] = "Launch an SGLang (or vLLM / custom) server and watch it"
    cli_path: ClassVar[tuple[str, ...]] = ("serve",)
    kind: ClassVar[str] = "serve"
    field_order: ClassVar[tuple[str, ...]] = ("model_path", "tp_size", "dp_size", "host", "port")

    host: str = option("127.0.0.1", "--host", help="Address the server binds.")
    api_key_env: Optional[str] = option(None, "--api-key-env", placeholder="VAR",
                                        help="Environment variable holding the API key (never on the command line).")
    attach: Optional[str] = option(None, "--attach", placeholder="http://host:30000",
                                   help="Watch a server started elsewhere (no launch, no stop).")
    metrics: bool = option(True, "--metrics/--no-metrics", help="Pass --enable-metrics and scrape /metrics.")

    @model_validator(mode="after")
    def _what_to_serve(self) -> "ServeJob":
        if not self.model_path and not self.attach:
            raise ValueError("--model-path is required: rollout serve needs --model-path PATH "
                             "(or --attach URL to watch a running server)")
        return self

    def make_job(self, config: Any, *, warn: Callable[[str], None] = lambda _l: None,
                 notify: Callable[[str], None] | None = None) -> JobLaunch:
        from engine.server import ServerOptions, make_serve_job

        opts = ServerOptions(host=self.host, enable_metrics=self.metrics, api_key_env=self.api_key_env,
                             attach_url=self.attach, engines=dict(getattr(config, "engines", None) or {}),
                             **self.server_kwargs())
        title = f"serve {self.attach}" if self.attach else f"serve {self.model_path}"
        return JobLaunch(kind=self.kind, job=make_serve_job(opts, notify=notify), title=title)

    def world_checks(self, config: Any) -> list[WorldCheck]:
        if self.attach:
            from engine.options.process import models_check

            return [models_check(self.attach, self.api_key_env, None, field="attach")]
        return [self.engine_check(config)]


class RouterJob(_Launcher):
    job_name: ClassVar[str] = "serve-router"
    title: ClassVar[str] = "Launch sglang-router in front of several workers"
    cli_path: ClassVar[tuple[str, ...]] = ("serve", "router")
    kind: ClassVar[str] = "serve"
    field_order: ClassVar[tuple[str, ...]] = ("worker_urls", "worker_file", "policy", "host", "port")

    worker_urls: list[str] = option(..., "--worker-urls", default_factory=list, nargs_plus=True,
                                    placeholder="http://h1:30000 http://h2:30000",
                                    help="Worker server URLs (space- or comma-separated, or repeat the flag).")
    worker_file: Optional[str] = option(None, "--worker-file", path="file", exists=True, what="worker file",
                                        help="Worker URLs, one per line (# comments); with or instead of --worker-urls.")
    policy: str = option("cache_aware", "--policy", help="cache_aware, round_robin, random, power_of_two.")
    host: str = option("127.0.0.1", "--host", help="Address the router binds.")
    startup_timeout: float = option(300.0, "--startup-timeout", ge=1.0, help="Seconds to wait for readiness.")
    python: Optional[str] = option(None, "--python", help="Python that has sglang-router installed.")

    @field_validator("worker_urls")
    @classmethod
    def _split_urls(cls, v: list[str]) -> list[str]:
        return [u.strip() for item in v for u in str(item).split(",") if u.strip()]

    @model_validator(mode="after")
    def _some_workers(self) -> "RouterJob":
        if not self.worker_urls and not self.worker_file:
            raise ValueError("--worker-urls is required: rollout serve router needs workers: "
                             "--worker-urls URL [URL ...] or --worker-file FILE")
        return self

    def resolved_workers(self) -> list[str]:
        """Every worker URL: the flags' and the file's, normalized and deduplicated."""
        from pathlib import Path

        from engine.server.router import worker_urls

        return worker_urls(list(self.worker_urls), Path(self.worker_file) if self.worker_file else None)

    def make_job(self, config: Any, *, warn: Callable[[str], None] = lambda _l: None,
                 notify: Callable[[str], None] | None = None) -> JobLaunch:
        from engine.server import ServerOptions, make_serve_job

        urls = self.resolved_workers()
        opts = ServerOptions(engine="router", worker_urls=urls, policy=self.policy, host=self.host,
                             port=self.port, startup_timeout_s=self.startup_timeout, stop_grace_s=self.stop_grace,
                             python=self.python, module=self.module, extra_args=list(self.extra_args),
                             enable_metrics=False)
        return JobLaunch(kind=self.kind, job=make_serve_job(opts, notify=notify),
                         title=f"router over {len(urls)} workers")

    def world_checks(self, config: Any) -> list[WorldCheck]:
        return [self.python_has(self.module or ROUTER_MODULE)]
