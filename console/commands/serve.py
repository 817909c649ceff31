"""``rollout serve``: launch SGLang (or vLLM / any OpenAI-compatible server), watch it, stop it cleanly.

    rollout serve --model-path PATH [--tp-size N] [--port auto] ... [-- EXTRA SERVER ARGS]
    rollout serve --attach URL
    rollout serve router --worker-urls URL [URL ...] | --worker-file FILE [--policy cache_aware]
    rollout serve stop RUN
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, List, Optional

import typer
from typer.core import TyperGroup

from console.jobrun import run_in_foreground
from console.output import CliState
from engine.errors import InputError
from engine.runs import find_run

if TYPE_CHECKING:
    import click

    from engine.server import ServerOptions

EXTRA_KEY = "rollout.serve.extra_args"
#: options that take several values after one flag (click options take one value per flag)
_MULTI_VALUE = ("--worker-urls",)


class ServeGroup(TyperGroup):
    """``serve`` is both a command (launch) and a group (router, stop).

    Everything after ``--`` is passed verbatim to the server (kept out of click's parsing, where a
    group would take it for a sub-command name), and ``--worker-urls A B C`` is accepted as well as
    repeated flags.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        args = list(args)
        if "--" in args:
            cut = args.index("--")
            ctx.meta[EXTRA_KEY] = args[cut + 1:]
            args = args[:cut]
        return super().parse_args(ctx, _expand_multi(args))


def _expand_multi(args: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in _MULTI_VALUE:
            j = i + 1
            while j < len(args) and not args[j].startswith("-"):
                out += [arg, args[j]]
                j += 1
            if j == i + 1:
                out.append(arg)  # let click report the missing value
            i = j
            continue
        out.append(arg)
        i += 1
    return out


serve_app = typer.Typer(
    cls=ServeGroup,
    invoke_without_command=True,
    no_args_is_help=False,
    help="Launch an SGLang (or vLLM / custom) server as a job: phases, readiness, metrics, clean stop. "
    "Arguments after -- go to the server verbatim.",
)


def register(app: typer.Typer) -> None:
    app.add_typer(serve_app, name="serve")


def _extra(ctx: typer.Context) -> list[str]:
    return list(ctx.meta.get(EXTRA_KEY) or [])


def _run(ctx: typer.Context, opts: ServerOptions, title: str, plain: bool) -> None:
    from engine.server import make_serve_job  # the server engine loads when a server runs

    cli: CliState = ctx.obj
    # the live view shows the URL itself; plain output gets one "serving at URL" line
    notify = cli.echo_err if plain or not cli.err.is_terminal else None
    result = run_in_foreground(cli, "serve", make_serve_job(opts, notify=notify), title=title, plain=plain)
    raise typer.Exit(result.exit_code)


@serve_app.callback()
def serve_cmd(
    ctx: typer.Context,
    model_path: Optional[str] = typer.Option(None, "--model-path", help="Model folder or Hugging Face id."),
    tp_size: Optional[int] = typer.Option(None, "--tp-size", min=1, help="Tensor parallel size."),
    dp_size: Optional[int] = typer.Option(None, "--dp-size", min=1, help="Data parallel size."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address the server binds."),
    port: str = typer.Option("auto", "--port", help="Port number, or 'auto' to pick a free one."),
    reasoning_parser: Optional[str] = typer.Option(None, "--reasoning-parser", help="e.g. deepseek-r1, qwen3."),
    mem_fraction_static: Optional[float] = typer.Option(None, "--mem-fraction-static", min=0.0, max=1.0,
                                                        help="GPU memory fraction for weights + KV cache."),
    context_length: Optional[int] = typer.Option(None, "--context-length", min=1, help="Max context length."),
    api_key_env: Optional[str] = typer.Option(None, "--api-key-env", metavar="VAR",
                                              help="Environment variable holding the API key (never on the command line)."),
    startup_timeout: float = typer.Option(1800.0, "--startup-timeout", min=1.0, help="Seconds to wait for readiness."),
    stop_grace: float = typer.Option(30.0, "--stop-grace", min=0.0, help="Seconds between SIGTERM and SIGKILL."),
    engine: str = typer.Option("sglang", "--engine", help="sglang, or an engine named in the config table engines.NAME (vllm, custom)."),
    python: Optional[str] = typer.Option(None, "--python", help="Python that has the engine installed (default: this one)."),
    module: Optional[str] = typer.Option(None, "--module", hidden=True, help="Module run with python -m (default sglang.launch_server)."),
    attach: Optional[str] = typer.Option(None, "--attach", metavar="URL", help="Watch a server started elsewhere (no launch, no stop)."),
    metrics: bool = typer.Option(True, "--metrics/--no-metrics", help="Pass --enable-metrics and scrape /metrics."),
    plain: bool = typer.Option(False, "--plain", help="Plain progress lines even on a terminal."),
) -> None:
    """Launch an SGLang server (python -m sglang.launch_server ...) and watch it until stopped."""
    if ctx.invoked_subcommand is not None:
        return
    from engine.server import ServerOptions

    cli: CliState = ctx.obj
    if not model_path and not attach:
        raise InputError("rollout serve needs --model-path PATH (or --attach URL to watch a running server)")
    opts = ServerOptions(
        model_path=model_path, engine=engine, tp_size=tp_size, dp_size=dp_size, host=host, port=port,
        reasoning_parser=reasoning_parser, mem_fraction_static=mem_fraction_static, context_length=context_length,
        enable_metrics=metrics, api_key_env=api_key_env, startup_timeout_s=startup_timeout, stop_grace_s=stop_grace,
        python=python, module=module, attach_url=attach, extra_args=_extra(ctx), engines=dict(cli.config.engines),
    )
    title = f"serve {attach}" if attach else f"serve {model_path}"
    _run(ctx, opts, title, plain)


@serve_app.command("router")
def router_cmd(
    ctx: typer.Context,
    worker_urls: List[str] = typer.Option([], "--worker-urls", metavar="URL ...", help="Worker server URLs."),
    worker_file: Optional[Path] = typer.Option(None, "--worker-file", metavar="FILE",
                                               help="Worker URLs, one per line (# comments); with or instead of --worker-urls."),
    policy: str = typer.Option("cache_aware", "--policy", help="cache_aware, round_robin, random, power_of_two."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address the router binds."),
    port: str = typer.Option("auto", "--port", help="Port number, or 'auto'."),
    startup_timeout: float = typer.Option(300.0, "--startup-timeout", min=1.0, help="Seconds to wait for readiness."),
    stop_grace: float = typer.Option(30.0, "--stop-grace", min=0.0, help="Seconds between SIGTERM and SIGKILL."),
    python: Optional[str] = typer.Option(None, "--python", help="Python that has sglang-router installed."),
    module: Optional[str] = typer.Option(None, "--module", hidden=True, help="Module run with python -m."),
    plain: bool = typer.Option(False, "--plain", help="Plain progress lines even on a terminal."),
) -> None:
    """Launch sglang-router in front of several workers (python -m sglang_router.launch_router)."""
    from engine.server import ServerOptions
    from engine.server.router import worker_urls as resolve_workers

    urls = resolve_workers(list(worker_urls), worker_file)
    opts = ServerOptions(
        engine="router", worker_urls=urls, policy=policy, host=host, port=port, startup_timeout_s=startup_timeout,
        stop_grace_s=stop_grace, python=python, module=module, extra_args=_extra(ctx), enable_metrics=False,
    )
    _run(ctx, opts, f"router over {len(urls)} workers", plain)


@serve_app.command("stop")
def stop_cmd(
    ctx: typer.Context,
    run_ref: str = typer.Argument(..., metavar="RUN", help="Serve run id, unique prefix, folder, or 'last'."),
    grace: float = typer.Option(30.0, "--grace", min=0.0, help="Seconds between SIGTERM and SIGKILL."),
) -> None:
    """Stop a serve run's server, even when its job or console was killed (uses the run's server.json)."""
    from engine.server import stop_server_run

    cli: CliState = ctx.obj
    run = find_run(cli.workspace, run_ref)
    result = stop_server_run(run, grace_s=grace)
    cli.echo_err(result.message)
