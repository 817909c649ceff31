"""``rollout process``: stream an OpenAI Batch request file through an OpenAI-compatible endpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from console.jobrun import run_in_foreground
from console.output import CliState
from engine.errors import InputError
from engine.processor import ProcessOptions, make_process_job, output_paths, prepare_run
from engine.processor.options import DEFAULT_URL, TRANSPORTS


def register(app: typer.Typer) -> None:
    app.command("process")(process_cmd)


def process_cmd(
    ctx: typer.Context,
    input: Path = typer.Option(..., "--input", "--input_file", "--input-file", "-i", help="OpenAI Batch request JSONL."),
    output: Path = typer.Option(..., "--output", "--output_file", "--output-file", "-o",
                                help="Output JSONL (appended; a rerun resumes it)."),
    url: str = typer.Option(DEFAULT_URL, "--url", help="Endpoint base URL, or a full path that every request goes to."),
    concurrency: int = typer.Option(64, "--concurrency", min=1, help="Requests in flight at once."),
    timeout: float = typer.Option(7200.0, "--timeout", min=0.001, help="Seconds per request (long generations need long)."),
    model: Optional[str] = typer.Option(None, "--model", help="Override body.model of every request."),
    max_retries: int = typer.Option(5, "--max-retries", "--max_retries", min=0, help="Retries of a failed request."),
    api_key_env: Optional[str] = typer.Option(None, "--api-key-env", help="Environment variable holding the API key "
                                              "(default: OPENAI_API_KEY when set)."),
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
) -> None:
    """Send every request of an OpenAI Batch file to an endpoint: streamed, resumable, exactly once per custom_id.

    Answers (status 200) are appended to --output as OpenAI Batch output lines; requests that still fail after retries go to the errors file with a reason. Rerun the same command to resume: ids already answered are skipped, everything else is sent again. Ctrl-C (or SIGTERM) stops cleanly.

    Exit codes: 0 all answered, 1 some failed, 2 bad input or flag, 3 endpoint unreachable, 130 stopped.
    """
    cli: CliState = ctx.obj
    if transport not in TRANSPORTS:
        raise InputError(f"--transport {transport!r}: choose one of {', '.join(TRANSPORTS)}")
    options = ProcessOptions(
        input=input, output=output, url=url, concurrency=concurrency, timeout=timeout, model=model,
        max_retries=max_retries, api_key_env=api_key_env, errors=errors, restart=restart,
        preflight=not no_preflight, allow_duplicates=allow_duplicates, rpm=rpm, tpm=tpm, cache_dir=cache,
        transport=transport, max_wait_endpoint=max_wait_endpoint,
    )
    # every check (flags, the whole input, resume scan, pre-flight) before a run dir or output exists
    plan = prepare_run(options, warn=lambda line: cli.echo_err(f"warning: {line}"))
    result = run_in_foreground(
        cli, "process", make_process_job(options, plan), inputs={"input": plan.fingerprint}, plain=plain, outputs=output_paths(options),
        title=f"process {input.name} → {output.name}",
    )
    raise typer.Exit(result.exit_code)
