"""``rollout process``: stream an OpenAI Batch request file through an OpenAI-compatible endpoint."""

from __future__ import annotations

import os
from pathlib import Path
from typing import List, Optional

import typer

from console.jobrun import run_in_foreground
from console.output import CliState
from engine.errors import InputError
from engine.config import read_api_key
from engine.processor import ProcessOptions, make_process_job, output_paths, prepare_run
from engine.processor.endpoints import ResolvedEndpoint, resolve_endpoint
from engine.processor.options import TRANSPORTS
from engine.processor.serve import SERVE_KEY_ENV, ServeSettings, make_serve_process_job
from engine.server import ServerOptions

DEFAULT_CONCURRENCY = 64


def register(app: typer.Typer) -> None:
    app.command("process")(process_cmd)


def process_cmd(
    ctx: typer.Context,
    input: Path = typer.Option(..., "--input", "--input_file", "--input-file", "-i", help="OpenAI Batch request JSONL."),
    output: Path = typer.Option(..., "--output", "--output_file", "--output-file", "-o",
                                help="Output JSONL (appended; a rerun resumes it)."),
    url: Optional[str] = typer.Option(None, "--url", help="Endpoint base URL, or a full path that every request goes to "
                                      "(default: the config's default_endpoint, else http://127.0.0.1:30000)."),
    endpoint: Optional[str] = typer.Option(None, "--endpoint", metavar="NAME",
                                           help="A named endpoint from the config ([endpoints.NAME]: url, key, model)."),
    concurrency: Optional[int] = typer.Option(None, "--concurrency", min=1,
                                              help=f"Requests in flight at once (default {DEFAULT_CONCURRENCY}, "
                                              "or the endpoint's max_concurrency)."),
    timeout: float = typer.Option(7200.0, "--timeout", min=0.001, help="Seconds per request (long generations need long)."),
    model: Optional[str] = typer.Option(None, "--model", help="Override body.model of every request."),
    max_retries: int = typer.Option(5, "--max-retries", "--max_retries", min=0, help="Retries of a failed request."),
    api_key_env: Optional[str] = typer.Option(None, "--api-key-env", help="Environment variable holding the API key "
                                              "(default: OPENAI_API_KEY when set)."),
    api_key_file: Optional[Path] = typer.Option(None, "--api-key-file", metavar="PATH",
                                                help="File holding the API key (read at start, never logged)."),
    errors: Optional[Path] = typer.Option(None, "--errors", help="Errors file (default: <output>.errors.jsonl)."),
    restart: bool = typer.Option(False, "--restart", help="Move old outputs aside (never deleted) and start over."),
    no_preflight: bool = typer.Option(False, "--no-preflight", help="Skip the GET /v1/models check."),
    allow_duplicates: bool = typer.Option(False, "--allow-duplicates", help="Accept repeated custom_ids."),
    rpm: Optional[float] = typer.Option(None, "--rpm", min=0.001, help="Client-side limit: requests per minute."),
    tpm: Optional[float] = typer.Option(None, "--tpm", min=1, help="Client-side limit: tokens per minute (estimated)."),
    cache: Optional[Path] = typer.Option(None, "--cache", help="Reuse 200 answers kept here (keyed by custom_id + body)."),
    transport: str = typer.Option("aiohttp", "--transport", help=f"HTTP client: {', '.join(TRANSPORTS)}."),
    max_wait_endpoint: float = typer.Option(1800.0, "--max-wait-endpoint", min=0.0,
                                            help="Seconds to wait for a lost endpoint before stopping (exit 3)."),
    plain: bool = typer.Option(False, "--plain", help="Plain progress lines even on a terminal."),
    serve: bool = typer.Option(False, "--serve", help="Launch a server (SGLang by default), process against it, stop it.",
                               rich_help_panel="Serve and process"),
    model_path: Optional[str] = typer.Option(None, "--model-path", help="--serve: model folder or Hugging Face id.",
                                             rich_help_panel="Serve and process"),
    tp_size: Optional[int] = typer.Option(None, "--tp-size", min=1, help="--serve: tensor parallel size.",
                                          rich_help_panel="Serve and process"),
    dp_size: Optional[int] = typer.Option(None, "--dp-size", min=1, help="--serve: data parallel size.",
                                          rich_help_panel="Serve and process"),
    port: str = typer.Option("auto", "--port", help="--serve: port number, or 'auto'.", rich_help_panel="Serve and process"),
    reasoning_parser: Optional[str] = typer.Option(None, "--reasoning-parser", help="--serve: e.g. deepseek-r1, qwen3.",
                                                   rich_help_panel="Serve and process"),
    mem_fraction_static: Optional[float] = typer.Option(None, "--mem-fraction-static", min=0.0, max=1.0,
                                                        help="--serve: GPU memory fraction for weights + KV cache.",
                                                        rich_help_panel="Serve and process"),
    context_length: Optional[int] = typer.Option(None, "--context-length", min=1, help="--serve: max context length.",
                                                 rich_help_panel="Serve and process"),
    engine: str = typer.Option("sglang", "--engine", help="--serve: sglang, or an engine from the config (engines.NAME).",
                               rich_help_panel="Serve and process"),
    python: Optional[str] = typer.Option(None, "--python", help="--serve: Python that has the engine installed.",
                                         rich_help_panel="Serve and process"),
    module: Optional[str] = typer.Option(None, "--module", hidden=True, help="--serve: module run with python -m."),
    startup_timeout: float = typer.Option(1800.0, "--startup-timeout", min=1.0, help="--serve: seconds to wait for readiness.",
                                          rich_help_panel="Serve and process"),
    stop_grace: float = typer.Option(30.0, "--stop-grace", min=0.0, help="--serve: seconds between SIGTERM and SIGKILL.",
                                     rich_help_panel="Serve and process"),
    keep_server: bool = typer.Option(False, "--keep-server", help="--serve: leave the server running after the file is done.",
                                     rich_help_panel="Serve and process"),
    server_args: Optional[List[str]] = typer.Argument(None, hidden=True, metavar="[-- SERVER ARGS]",
                                                      help="--serve: arguments after -- go to the server verbatim."),
    via: str = typer.Option("online", "--via", help="online (each request sent now) or batch (a hosted Batch API: "
                            "submit, wait, fetch; half the price). See 'rollout batch --help'.", rich_help_panel="Via batch"),
    split_lines: int = typer.Option(50_000, "--split-lines", min=1, help="--via batch: at most N requests per part.",
                                    rich_help_panel="Via batch"),
    split_bytes: str = typer.Option("200MB", "--split-bytes", help="--via batch: at most this size per part.",
                                    rich_help_panel="Via batch"),
    poll_interval: float = typer.Option(5.0, "--poll-interval", min=0.01, help="--via batch: first poll pause (s).",
                                        rich_help_panel="Via batch"),
) -> None:
    """Send every request of an OpenAI Batch file to an endpoint: streamed, resumable, exactly once per custom_id.

    Answers (status 200) are appended to --output as OpenAI Batch output lines; requests that still fail after retries go to the errors file with a reason. Rerun the same command to resume: ids already answered are skipped, everything else is sent again. Ctrl-C (or SIGTERM) stops cleanly.

    With --serve --model-path PATH [server flags] [-- EXTRA SERVER ARGS] the server is launched first (its log and server.json in the run folder), the file processed against it, and the server stopped at the end (--keep-server leaves it up).

    Exit codes: 0 all answered, 1 some failed, 2 bad input or flag, 3 endpoint unreachable or server failed to start, 130 stopped.
    """
    cli: CliState = ctx.obj
    if via not in ("online", "batch"):
        raise InputError(f"--via {via!r}: choose online or batch")
    if via == "batch":
        if serve:
            raise InputError("--via batch sends the file to a hosted Batch API: drop --serve (or --via batch)")
        from console.commands.batch import process_via_batch

        raise typer.Exit(process_via_batch(
            cli, input=input, output=output, errors=errors, url=url, endpoint=endpoint, api_key_env=api_key_env,
            api_key_file=api_key_file, allow_duplicates=allow_duplicates, plain=plain, split_lines=split_lines,
            split_bytes=split_bytes, poll_interval=poll_interval))
    if transport not in TRANSPORTS:
        raise InputError(f"--transport {transport!r}: choose one of {', '.join(TRANSPORTS)}")
    extra = list(server_args or [])
    if not serve:
        if extra:
            raise InputError(f"unexpected arguments {' '.join(extra)!r}: server arguments (after --) need --serve")
        if keep_server or model_path:
            raise InputError("--model-path and --keep-server go with --serve: add --serve to launch a server")
        target = resolve_endpoint(cli.config, url=url, name=endpoint)
    else:
        if url or endpoint:
            raise InputError("--serve launches its own server: drop --url/--endpoint (or drop --serve to use them)")
        if not model_path:
            raise InputError("--serve needs --model-path PATH (the model the server loads)")
        target = ResolvedEndpoint(url="http://127.0.0.1:0")  # replaced by the launched server's URL
    options = ProcessOptions(
        input=input, output=output, url=target.url,
        concurrency=concurrency or min(DEFAULT_CONCURRENCY, target.max_concurrency or DEFAULT_CONCURRENCY),
        timeout=timeout, model=model or target.model, max_retries=max_retries,
        api_key_env=api_key_env or (None if api_key_file else target.api_key_env),
        api_key_file=api_key_file or (None if api_key_env else target.api_key_file),
        errors=errors, restart=restart, preflight=not no_preflight and not serve, allow_duplicates=allow_duplicates,
        rpm=rpm, tpm=tpm, cache_dir=cache, transport=transport, max_wait_endpoint=max_wait_endpoint,
    )
    if not serve:
        # every check (flags, the whole input, resume scan, pre-flight) before a run dir or output exists
        plan = prepare_run(options, warn=lambda line: cli.echo_err(f"warning: {line}"))
        job = make_process_job(options, plan)
        title = f"process {input.name} → {output.name}"
    else:
        server_key_env = api_key_env
        if api_key_file is not None:
            key = read_api_key(None, str(api_key_file))
            if not key:
                raise InputError(f"--api-key-file {api_key_file} is empty: put the key in it or drop the flag")
            os.environ[SERVE_KEY_ENV] = key  # this process only; the launcher hands it on by environment
            server_key_env = SERVE_KEY_ENV
        elif api_key_env and not read_api_key(api_key_env):
            raise InputError(f"--api-key-env {api_key_env}: the variable is not set: export it or drop the flag")
        server = ServerOptions(
            model_path=model_path, engine=engine, tp_size=tp_size, dp_size=dp_size, port=port,
            reasoning_parser=reasoning_parser, mem_fraction_static=mem_fraction_static, context_length=context_length,
            api_key_env=server_key_env, startup_timeout_s=startup_timeout, stop_grace_s=stop_grace, python=python,
            module=module, extra_args=extra, engines=dict(cli.config.engines),
        )
        # the input, resume scan and output lock before anything is launched (no pre-flight: no server yet)
        plan = prepare_run(options, warn=lambda line: cli.echo_err(f"warning: {line}"))
        job = make_serve_process_job(options, ServeSettings(server, keep_server=keep_server), plan)
        title = f"serve {model_path} + process {input.name} → {output.name}"
    result = run_in_foreground(
        cli, "process", job, inputs={"input": plan.fingerprint}, plain=plain, outputs=output_paths(options), title=title,
    )
    raise typer.Exit(result.exit_code)
