"""What to launch: server options and the argv (never a shell string) for each engine."""

from __future__ import annotations

import os
import socket
import sys
from dataclasses import dataclass, field
from typing import Any

from engine.errors import InputError

SGLANG_MODULE = "sglang.launch_server"
ROUTER_MODULE = "sglang_router.launch_router"
#: the child reads the API key from this variable (never from its command line)
API_KEY_CHILD_ENV = "ROLLOUT_SERVER_API_KEY"

#: SGLang has no environment variable for --api-key, so a tiny bootstrap appends the flag inside
#: the child's own sys.argv: `ps` and /proc/<pid>/cmdline show the bootstrap, never the key.
_KEY_BOOTSTRAP = (
    "import os, runpy, sys; "
    "mod = sys.argv[1]; "
    f"sys.argv = [mod] + sys.argv[2:] + ['--api-key', os.environ.pop({API_KEY_CHILD_ENV!r})]; "
    "runpy.run_module(mod, run_name='__main__', alter_sys=True)"
)

#: ready paths tried in order; a 404 moves on to the next one
SGLANG_READY_PATHS = ("/health_generate", "/v1/models")
#: the router's /readiness is 503 until a worker is healthy; older routers have only /health
ROUTER_READY_PATHS = ("/readiness", "/health", "/v1/models")


@dataclass
class ServerOptions:
    """Everything ``rollout serve`` (or ``rollout process --serve``) needs to start or attach to a server."""

    model_path: str | None = None
    engine: str = "sglang"  # sglang | router | a name from config `engines` (vllm, custom...)
    tp_size: int | None = None
    dp_size: int | None = None
    host: str = "127.0.0.1"
    port: int | str = "auto"  # a number or "auto"
    reasoning_parser: str | None = None
    mem_fraction_static: float | None = None
    context_length: int | None = None
    enable_metrics: bool = True
    api_key_env: str | None = None
    startup_timeout_s: float = 1800.0
    stop_grace_s: float = 30.0
    python: str | None = None
    module: str | None = None  # override the module run with `python -m` (sglang / router)
    attach_url: str | None = None
    extra_args: list[str] = field(default_factory=list)
    # router
    worker_urls: list[str] = field(default_factory=list)
    policy: str | None = None
    #: the router's Prometheus port ("auto": a free one; its default 29000 clashes between routers)
    prometheus_port: int | str | None = "auto"
    # engines from config: name -> engine.config.ServerEngine (command template, ready_path)
    engines: dict[str, Any] = field(default_factory=dict)
    metrics_interval_s: float = 1.0
    log_max_bytes: int = 50 * 1024 * 1024


@dataclass
class LaunchSpec:
    """A resolved launch: the argv list, extra environment, where to poll, and the URL."""

    argv: list[str]
    env: dict[str, str]
    ready_paths: tuple[str, ...]
    host: str
    port: int
    api_key: str | None = None

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"http://{host}:{self.port}"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now (the OS picks it)."""
    bind_host = "127.0.0.1" if host in ("0.0.0.0", "") else host
    family = socket.AF_INET6 if ":" in bind_host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((bind_host, 0))
        return int(sock.getsockname()[1])


def port_available(host: str, port: int) -> bool:
    """Can a server bind ``host:port`` now? (SO_REUSEADDR: a TIME_WAIT leftover does not count.)"""
    bind_host = "0.0.0.0" if host == "" else host
    family = socket.AF_INET6 if ":" in bind_host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((bind_host, port))
        except OSError:
            return False
    return True


def resolve_port(port: int | str, host: str) -> int:
    """``auto`` (or 0) picks a free port; anything else must be a port number."""
    if isinstance(port, str):
        if port.strip().lower() in ("auto", "0", ""):
            return free_port(host)
        try:
            port = int(port)
        except ValueError:
            raise InputError(f"--port {port!r} is not a port number: give 1-65535 or 'auto'") from None
    if port == 0:
        return free_port(host)
    if not 1 <= port <= 65535:
        raise InputError(f"--port {port} is out of range: give 1-65535 or 'auto'")
    return port


def read_api_key(env_var: str | None) -> str | None:
    """The API key from the named environment variable (None when no variable was named)."""
    if not env_var:
        return None
    value = os.environ.get(env_var)
    if not value:
        raise InputError(f"--api-key-env {env_var}: that environment variable is not set or empty: export it first")
    return value


def _fmt_num(value: float) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def sglang_args(opts: ServerOptions, port: int) -> list[str]:
    """SGLang's flags, exactly the ones given, in a fixed order, then the extra args verbatim."""
    if not opts.model_path:
        raise InputError("rollout serve needs --model-path (a local folder or a Hugging Face id)")
    args = ["--model-path", opts.model_path]
    if opts.tp_size is not None:
        args += ["--tp-size", str(opts.tp_size)]
    if opts.dp_size is not None:
        args += ["--dp-size", str(opts.dp_size)]
    args += ["--host", opts.host, "--port", str(port)]
    if opts.reasoning_parser:
        args += ["--reasoning-parser", opts.reasoning_parser]
    if opts.mem_fraction_static is not None:
        args += ["--mem-fraction-static", _fmt_num(opts.mem_fraction_static)]
    if opts.context_length is not None:
        args += ["--context-length", str(opts.context_length)]
    if opts.enable_metrics:
        args.append("--enable-metrics")
    return args + list(opts.extra_args)


def router_args(opts: ServerOptions, port: int) -> list[str]:
    """sglang-router's flags: the workers, the policy, host and port, then the extra args."""
    if not opts.worker_urls:
        raise InputError("rollout serve router needs --worker-urls URL [URL ...]")
    args = ["--worker-urls", *opts.worker_urls]
    if opts.policy:
        args += ["--policy", opts.policy]
    args += ["--host", opts.host, "--port", str(port)]
    if opts.prometheus_port is not None:
        # on the router's own address (its default is 0.0.0.0:29000, shared by every router of a box)
        args += ["--prometheus-host", opts.host, "--prometheus-port", str(resolve_port(opts.prometheus_port, opts.host))]
    return args + list(opts.extra_args)


def _template_values(opts: ServerOptions, port: int) -> dict[str, str]:
    return {
        "model_path": opts.model_path or "",
        "host": opts.host,
        "port": str(port),
        "tp_size": str(opts.tp_size if opts.tp_size is not None else 1),
        "dp_size": str(opts.dp_size if opts.dp_size is not None else 1),
        "python": opts.python or sys.executable,
        "context_length": str(opts.context_length or ""),
        "mem_fraction_static": str(opts.mem_fraction_static or ""),
        "reasoning_parser": opts.reasoning_parser or "",
    }


def template_args(template: list[str], opts: ServerOptions, port: int) -> list[str]:
    """Fill an engine's argv template ({model_path} {host} {port} {tp_size} ...), one item per item."""
    values = _template_values(opts, port)
    out: list[str] = []
    for item in template:
        try:
            out.append(item.format(**values))
        except (KeyError, IndexError, ValueError) as exc:
            raise InputError(
                f"engine command template item {item!r} uses an unknown placeholder {exc}: "
                f"known ones are {', '.join('{' + k + '}' for k in values)}"
            ) from None
    return out + list(opts.extra_args)


def build_launch(opts: ServerOptions, port: int | None = None) -> LaunchSpec:
    """Resolve options into a :class:`LaunchSpec` (argv list, env, ready paths, URL).

    sglang: ``[python, -m, sglang.launch_server, <flags given>]``; router:
    ``[python, -m, sglang_router.launch_router, ...]``; other engines: the config template.
    With an API key the key travels in the environment only (see ``_KEY_BOOTSTRAP``; vLLM reads
    ``VLLM_API_KEY`` itself).
    """
    resolved_port = port if port is not None else resolve_port(opts.port, opts.host)
    api_key = read_api_key(opts.api_key_env)
    python = opts.python or sys.executable
    env: dict[str, str] = {}
    if opts.engine in ("sglang", "router"):
        if opts.engine == "sglang":
            module, args, ready = opts.module or SGLANG_MODULE, sglang_args(opts, resolved_port), SGLANG_READY_PATHS
        else:
            module, args, ready = opts.module or ROUTER_MODULE, router_args(opts, resolved_port), ROUTER_READY_PATHS
        if api_key:
            argv = [python, "-c", _KEY_BOOTSTRAP, module, *args]
            env[API_KEY_CHILD_ENV] = api_key
        else:
            argv = [python, "-m", module, *args]
        return LaunchSpec(argv, env, ready, opts.host, resolved_port, api_key)
    engine = opts.engines.get(opts.engine)
    if engine is None:
        known = ", ".join(["sglang", *sorted(opts.engines)])
        raise InputError(
            f"--engine {opts.engine}: no such engine: known are {known} "
            f"(add [engines.{opts.engine}] command = [...] to your rollout.toml)"
        )
    command = list(getattr(engine, "command", None) or engine["command"])
    ready_path = getattr(engine, "ready_path", None) or (engine.get("ready_path") if isinstance(engine, dict) else None)
    argv = template_args(command, opts, resolved_port)
    if api_key:
        # vLLM and most OpenAI-compatible servers read a key from the environment
        env["VLLM_API_KEY"] = api_key
        env["OPENAI_API_KEY"] = api_key
    ready_paths = tuple(p for p in (ready_path or "/health_generate", "/v1/models") if p)
    return LaunchSpec(argv, env, tuple(dict.fromkeys(ready_paths)), opts.host, resolved_port, api_key)
