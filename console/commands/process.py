"""``rollout process``: stream an OpenAI Batch request file through an OpenAI-compatible endpoint.

Generated from two option models (engine/options/process.py): ``process`` against an endpoint and
``process --serve``, which launches the server first with the same flags as ``rollout serve``.
"""

from __future__ import annotations

from pathlib import Path

import typer

from console.commands.jobcommand import job_command, run_model
from console.output import CliState
from engine.options.base import JobOptions
from engine.options.process import ProcessJob
from engine.options.serve_process import ServeProcessJob

HELP = """Send every request of an OpenAI Batch file to an endpoint: streamed, resumable, exactly once per custom_id.

Answers (status 200) are appended to --output as OpenAI Batch output lines; requests that still fail after retries go to the errors file with a reason. Rerun the same command to resume: ids already answered are skipped, everything else is sent again. Ctrl-C (or SIGTERM) stops cleanly.

With --serve --model-path PATH \\[server flags] [-- EXTRA SERVER ARGS] the server is launched first (its log and server.json in the run folder), the file processed against it, and the server stopped at the end (--keep-server leaves it up).

With --via batch the file goes to a hosted Batch API instead (submit, wait, fetch; see 'rollout batch --help').

Exit codes: 0 all answered, 1 some failed, 2 bad input or flag, 3 endpoint unreachable or server failed to start, 130 stopped.
"""


def run_process(cli: CliState, model: JobOptions, plain: bool) -> int:
    """``process`` online (the default runner), or ``--via batch`` through a hosted Batch API."""
    if isinstance(model, ProcessJob) and model.via == "batch":
        from console.commands.batch import process_via_batch

        given = model.given
        return process_via_batch(
            cli, input=Path(model.input), output=Path(model.output), errors=Path(model.errors) if model.errors else None,
            url=model.url if "url" in given else None, endpoint=model.endpoint,
            api_key_env=model.api_key_env if "api_key_env" in given else None,
            api_key_file=Path(model.api_key_file) if "api_key_file" in given and model.api_key_file else None,
            allow_duplicates=model.allow_duplicates, plain=plain, split_lines=model.split_lines,
            split_bytes=model.split_bytes, poll_interval=model.poll_interval)
    return run_model(cli, model, plain)


def register(app: typer.Typer) -> None:
    job_command(app, "process", ProcessJob, ServeProcessJob, run=run_process, help=HELP,
                panels={"--serve": "Serve and process"})
