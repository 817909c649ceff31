"""``rollout process``: stream an OpenAI Batch request file through an OpenAI-compatible endpoint.

Generated from two option models (engine/options/process.py): ``process`` against an endpoint and
``process --serve``, which launches the server first with the same flags as ``rollout serve``.
"""

from __future__ import annotations

import typer

from console.commands.jobcommand import job_command
from engine.options.process import ProcessJob, ServeProcessJob

HELP = """Send every request of an OpenAI Batch file to an endpoint: streamed, resumable, exactly once per custom_id.

Answers (status 200) are appended to --output as OpenAI Batch output lines; requests that still fail after retries go to the errors file with a reason. Rerun the same command to resume: ids already answered are skipped, everything else is sent again. Ctrl-C (or SIGTERM) stops cleanly.

With --serve --model-path PATH \\[server flags] [-- EXTRA SERVER ARGS] the server is launched first (its log and server.json in the run folder), the file processed against it, and the server stopped at the end (--keep-server leaves it up).

Exit codes: 0 all answered, 1 some failed, 2 bad input or flag, 3 endpoint unreachable or server failed to start, 130 stopped.
"""


def register(app: typer.Typer) -> None:
    job_command(app, "process", ProcessJob, ServeProcessJob, help=HELP, panels={"--serve": "Serve and process"})
