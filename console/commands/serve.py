"""``rollout serve``: launch SGLang (or vLLM / any OpenAI-compatible server), watch it, stop it cleanly.

    rollout serve --model-path PATH [--tp-size N] [--port auto] ... [-- EXTRA SERVER ARGS]
    rollout serve --attach URL
    rollout serve router --worker-urls URL [URL ...] [--policy cache_aware]
    rollout serve stop RUN
"""

from __future__ import annotations

import typer

from console.commands.jobcommand import job_command, job_group
from console.output import CliState
from engine.runs import find_run
from engine.options.serve import RouterJob, ServeJob

serve_app = typer.Typer(
    cls=job_group(ServeJob, RouterJob),
    invoke_without_command=True,
    no_args_is_help=False,
    help="Launch an SGLang (or vLLM / custom) server as a job: phases, readiness, metrics, clean stop. "
    "Arguments after -- go to the server verbatim.",
)


def register(app: typer.Typer) -> None:
    app.add_typer(serve_app, name="serve")


# ``serve`` is both a command (launch: the group's callback) and a group (router, stop)
job_command(serve_app, None, ServeJob,
            help="Launch an SGLang server (python -m sglang.launch_server ...) and watch it until stopped.")
job_command(serve_app, "router", RouterJob,
            help="Launch sglang-router in front of several workers (python -m sglang_router.launch_router).")


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
