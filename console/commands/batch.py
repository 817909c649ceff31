"""``rollout batch submit|status|wait|fetch|resubmit|cancel`` and ``process --via batch``.

Thin over engine/batchapi: each command builds its option model (engine/batchapi/options.py,
where every flag's default and check live), calls the engine, prints. Data on stdout (the run
id of a submit, status tables), diagnostics on stderr.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, TypeVar

import typer
from pydantic import BaseModel, ValidationError

from console.output import CliState, print_json
from engine.batchapi.options import (DEFAULT_SPLIT_LINES, CancelOptions, FetchOptions, ResubmitOptions, StatusOptions,
                                     SubmitOptions, ViaBatchOptions, WaitOptions)
from engine.errors import InputError

batch_app = typer.Typer(
    help="Hosted Batch APIs (OpenAI Files + Batches and servers that copy it): submit a request file in parts, "
    "detach, and collect the answers later by run id. Half the online price, results within the window.",
    no_args_is_help=True,
)

M = TypeVar("M", bound=BaseModel)


def register(app: typer.Typer) -> None:
    app.add_typer(batch_app, name="batch")


def build(model: type[M], **values: Any) -> M:
    """The option model from the flags; a failed check is one line naming the flag."""
    try:
        return model(**{k: v for k, v in values.items() if v is not None})
    except ValidationError as exc:
        err = exc.errors()[0]
        flag = "--" + str(err["loc"][0]).replace("_", "-") if err["loc"] else model.__name__
        raise InputError(f"{flag}: {err['msg']}") from None


# shared flag declarations (Typer reads defaults from the signature, so they are repeated per command)
def _url() -> Any:
    return typer.Option(None, "--url", help="Batch API base URL (default: the run's, else the config's "
                        "default_endpoint, else http://127.0.0.1:30000).")


def _endpoint() -> Any:
    return typer.Option(None, "--endpoint", metavar="NAME", help="A named endpoint from the config.")


def _key_env() -> Any:
    return typer.Option(None, "--api-key-env", help="Environment variable holding the API key (default: the run's, "
                        "else OPENAI_API_KEY when set).")


def _key_file() -> Any:
    return typer.Option(None, "--api-key-file", metavar="PATH", help="File holding the API key (never copied).")


def _run_arg(default: Any = "last") -> Any:
    return typer.Argument(default, metavar="RUN", help="Batch run id, unique prefix, folder, or 'last'.")


def _plain() -> Any:
    return typer.Option(False, "--plain", help="Plain progress lines even on a terminal.")


def _poll() -> Any:
    return typer.Option(5.0, "--poll-interval", min=0.01, help="Seconds before the first poll; grows with backoff.")


def _poll_max() -> Any:
    return typer.Option(300.0, "--poll-max", min=0.01, help="Longest pause between two polls (seconds).")


@batch_app.command("submit")
def submit_cmd(
    ctx: typer.Context,
    input: Path = typer.Option(..., "--input", "--input_file", "--input-file", "-i", help="OpenAI Batch request JSONL."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Output JSONL fetch will append to "
                                          "(recorded; ids already answered in it are not sent)."),
    errors: Optional[Path] = typer.Option(None, "--errors", help="Errors file (default: <output>.errors.jsonl)."),
    url: Optional[str] = _url(), endpoint: Optional[str] = _endpoint(),
    api_key_env: Optional[str] = _key_env(), api_key_file: Optional[Path] = _key_file(),
    completion_window: str = typer.Option("24h", "--completion-window", help="The batches' completion window."),
    split_lines: int = typer.Option(DEFAULT_SPLIT_LINES, "--split-lines", min=1, help="At most N requests per part."),
    split_bytes: str = typer.Option("200MB", "--split-bytes", help="At most this size per part (200MB, 512kB, 1GiB)."),
    allow_duplicates: bool = typer.Option(False, "--allow-duplicates", help="Accept repeated custom_ids."),
    plain: bool = _plain(),
) -> None:
    """Check the request file, split it into parts within the limits, upload each part and create its batch, then exit.

    The run is then 'waiting' on the API, not on this process: close the terminal, and later 'rollout batch status RUN' / 'rollout batch fetch RUN'. Prints the run id on stdout. The estimated cost (batch price: the config's batch_* rates, else half the online price) is recorded in the run.
    """
    from console.jobrun import run_in_foreground
    from engine.batchapi.submit import make_submit_job, prepare_submit

    cli: CliState = ctx.obj
    opts = build(SubmitOptions, input=input, output=output, errors=errors, url=url, endpoint=endpoint,
                 api_key_env=api_key_env, api_key_file=api_key_file, completion_window=completion_window,
                 split_lines=split_lines, split_bytes=split_bytes, allow_duplicates=allow_duplicates)
    plan = prepare_submit(opts, cli.config)
    result = run_in_foreground(cli, "batch", make_submit_job(plan), plain=plain, title=f"batch {input.name}",
                               inputs={"input": plan.fingerprint},
                               outputs={"output": str(output)} if output else None)
    typer.echo(result.run.run_id)
    raise typer.Exit(result.exit_code)


def _status_table(cli: CliState, report: dict[str, Any]) -> None:
    from rich.table import Table

    from console import format as fmt

    c = report["counters"]
    cli.out.print(f"[bold]{report['run_id']}[/]  {report['status']}  {report['url']}  model={report['model']}  "
                  f"ok={c['ok']:,} failed={c['failed']:,} unanswered={report['unanswered']:,} of {c['total']:,}  "
                  f"estimate≤{fmt.cost(report['estimate_max_usd'])} cost={fmt.cost(report['cost_usd'])}"
                  + ("  (followed by another process)" if report["followed_by_another_process"] else ""))
    table = Table(box=None, header_style="bold")
    for col in ("PART", "BATCH", "STATUS", "LINES", "TOTAL", "COMPLETED", "FAILED", "FETCHED"):
        table.add_column(col, no_wrap=True)
    for p in report["parts"]:
        status = p["status"] + (f" → part {p['superseded_by']}" if p["superseded_by"] else "")
        table.add_row(str(p["part"]) + (f" (of {p['source']})" if p["source"] else ""), p["batch_id"] or "-", status,
                      f"{p['lines'][0]}-{p['lines'][1]}", f"{p['total']:,}", f"{p['completed']:,}", f"{p['failed']:,}",
                      "yes" if p["fetched"] else "no")
    cli.out.print(table)
    for p in report["parts"]:
        for e in p["errors"]:
            cli.echo_err(f"part {p['part']}: {e}")


@batch_app.command("status")
def status_cmd(
    ctx: typer.Context,
    run_ref: Optional[str] = _run_arg(None),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    url: Optional[str] = _url(), endpoint: Optional[str] = _endpoint(),
    api_key_env: Optional[str] = _key_env(), api_key_file: Optional[Path] = _key_file(),
) -> None:
    """Poll each part once: remote status and request counts (total, completed, failed). Without RUN: every waiting batch run."""
    from engine.batchapi.follow import batch_status

    cli: CliState = ctx.obj
    opts = build(StatusOptions, run=run_ref, json_out=as_json, url=url, endpoint=endpoint, api_key_env=api_key_env,
                 api_key_file=api_key_file)
    reports = batch_status(cli.workspace, opts, cli.config)
    if as_json:
        print_json(reports if run_ref is None else reports[0])
        return
    if not reports:
        cli.echo_err(f"no batch run is waiting in {cli.workspace / 'runs'}")
    for report in reports:
        _status_table(cli, report)


def _follow(cli: CliState, opts: WaitOptions | FetchOptions | ResubmitOptions, plain: bool) -> None:
    from console.jobrun import run_in_foreground
    from engine.batchapi.connect import resolve_target
    from engine.batchapi.follow import make_follow_job, make_resubmit_job, paths_for
    from engine.batchapi.record import load_record, lock_record
    from engine.processor.plan import read_key
    from engine.runs import find_run

    run = find_run(cli.workspace, opts.run)
    record = load_record(run)
    with lock_record(run):  # checked before the run is touched: another follower → one line, exit 2
        pass
    target = resolve_target(cli.config, opts, record)
    read_key(target)  # type: ignore[arg-type]  # an empty named key source: one line now
    if isinstance(opts, (FetchOptions, ResubmitOptions)):
        paths_for(record, opts.output, opts.errors)
    job = make_resubmit_job(opts, target) if isinstance(opts, ResubmitOptions) else make_follow_job(opts, target)
    result = run_in_foreground(cli, "batch", job, plain=plain, run=run)
    raise typer.Exit(result.exit_code)


@batch_app.command("wait")
def wait_cmd(
    ctx: typer.Context,
    run_ref: str = _run_arg(),
    timeout: Optional[float] = typer.Option(None, "--timeout", min=0.01, help="Stop following after S seconds "
                                            "(the batches go on)."),
    poll_interval: float = _poll(), poll_max: float = _poll_max(),
    url: Optional[str] = _url(), endpoint: Optional[str] = _endpoint(),
    api_key_env: Optional[str] = _key_env(), api_key_file: Optional[Path] = _key_file(),
    plain: bool = _plain(),
) -> None:
    """Follow the run's batches (polled with backoff) until every part has ended; then 'rollout batch fetch RUN'."""
    cli: CliState = ctx.obj
    _follow(cli, build(WaitOptions, run=run_ref, timeout=timeout, poll_interval=poll_interval, poll_max=poll_max,
                       url=url, endpoint=endpoint, api_key_env=api_key_env, api_key_file=api_key_file), plain)


@batch_app.command("fetch")
def fetch_cmd(
    ctx: typer.Context,
    run_ref: str = _run_arg(),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Output JSONL (default: the one given at submit)."),
    errors: Optional[Path] = typer.Option(None, "--errors", help="Errors file (default: <output>.errors.jsonl)."),
    wait: bool = typer.Option(False, "--wait", help="Wait for the parts still running and fetch them too."),
    poll_interval: float = _poll(), poll_max: float = _poll_max(),
    url: Optional[str] = _url(), endpoint: Optional[str] = _endpoint(),
    api_key_env: Optional[str] = _key_env(), api_key_file: Optional[Path] = _key_file(),
    plain: bool = _plain(),
) -> None:
    """Download every ended part's output and error files and append them to the output and errors files, once per custom_id.

    A rerun fetches nothing twice. Requests an expired or cancelled batch never ran are not failures: 'rollout batch resubmit RUN' sends them. Exit 0 all answered, 1 some failed or unanswered, 3 the API is unreachable.
    """
    cli: CliState = ctx.obj
    _follow(cli, build(FetchOptions, run=run_ref, output=output, errors=errors, wait=wait, poll_interval=poll_interval,
                       poll_max=poll_max, url=url, endpoint=endpoint, api_key_env=api_key_env,
                       api_key_file=api_key_file), plain)


@batch_app.command("resubmit")
def resubmit_cmd(
    ctx: typer.Context,
    run_ref: str = _run_arg(),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Output JSONL (default: the run's)."),
    errors: Optional[Path] = typer.Option(None, "--errors", help="Errors file (default: the run's)."),
    url: Optional[str] = _url(), endpoint: Optional[str] = _endpoint(),
    api_key_env: Optional[str] = _key_env(), api_key_file: Optional[Path] = _key_file(),
    plain: bool = _plain(),
) -> None:
    """Send again, as new parts, only the requests expired or cancelled batches never ran (never an answered id)."""
    cli: CliState = ctx.obj
    _follow(cli, build(ResubmitOptions, run=run_ref, output=output, errors=errors, url=url, endpoint=endpoint,
                       api_key_env=api_key_env, api_key_file=api_key_file), plain)


@batch_app.command("cancel")
def cancel_cmd(
    ctx: typer.Context,
    run_ref: str = _run_arg(...),
    url: Optional[str] = _url(), endpoint: Optional[str] = _endpoint(),
    api_key_env: Optional[str] = _key_env(), api_key_file: Optional[Path] = _key_file(),
) -> None:
    """Cancel every part still running; what they answered so far stays fetchable ('rollout batch fetch RUN')."""
    from engine.batchapi.follow import cancel_batches
    from engine.runs import find_run

    cli: CliState = ctx.obj
    opts = build(CancelOptions, run=run_ref, url=url, endpoint=endpoint, api_key_env=api_key_env,
                 api_key_file=api_key_file)
    report = cancel_batches(find_run(cli.workspace, run_ref), opts, cli.config)
    _status_table(cli, report)
    cli.echo_err(f"cancel requested; 'rollout batch fetch {report['run_id']}' collects what was answered")


def process_via_batch(cli: CliState, *, input: Path, output: Path, errors: Optional[Path], url: Optional[str],
                      endpoint: Optional[str], api_key_env: Optional[str], api_key_file: Optional[Path],
                      allow_duplicates: bool, plain: bool, **batch_flags: Any) -> int:
    """``rollout process --via batch``: the exit code of submit → wait → fetch as one job."""
    from console.jobrun import run_in_foreground
    from engine.batchapi.via import make_via_batch_job, prepare_via_batch

    opts = build(ViaBatchOptions, input=input, output=output, errors=errors, url=url, endpoint=endpoint,
                 api_key_env=api_key_env, api_key_file=api_key_file, allow_duplicates=allow_duplicates, **batch_flags)
    plan = prepare_via_batch(opts, cli.config)
    result = run_in_foreground(cli, "batch", make_via_batch_job(plan), plain=plain, inputs={"input": plan.fingerprint},
                               outputs={"output": str(output)}, title=f"process {input.name} → {output.name} via batch")
    return result.exit_code
