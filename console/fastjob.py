"""``rollout process`` without Typer: its first request is out in about half the time.

Typer builds and parses a command of 25 options in ~120 ms (it coerces each one through
pydantic), more than a third of the start-up budget of issue 13. A plain invocation (the global
``--workspace/--config/--color`` before the command, then only the job model's own flags) is
parsed here straight from the option model (:meth:`JobOptions.options`: the same flags, bool
spellings and types), converted as click converts (``int()``, ``float()``), and handed to
``Model.resolve(config, given)`` like the Typer command's values, then run by the same
:func:`console.jobrun.run_model`. Anything else (``--help``, a typo, a tag flag such as
``--serve``, ``--via batch``, a value that does not convert or validate, ``--`` words) returns
None before anything is written, and the Typer command parses it and explains any problem.
"""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING, Any, Iterator

if TYPE_CHECKING:
    from console.output import CliState
    from engine.options.base import JobOptions, OptionMeta

#: the flag every job command adds beside its model's fields (jobcommand.job_command)
PLAIN_FLAG = "--plain"


def parse_job_args(model: type[JobOptions], args: list[str]) -> tuple[dict[str, Any], bool] | None:
    """``(given, plain)`` of a plain use of ``model``'s flags, or None when Typer should parse
    ``args``. ``given`` holds only the flags on the line, converted as click would."""
    from console.fastopts import flag_values

    by_flag: dict[str, OptionMeta] = {}
    switches: dict[str, bool | None] = {PLAIN_FLAG: True}
    for o in model.options():
        if o.passthrough or o.is_list:
            continue  # lists (``--flag a b c``) and ``--`` words: the Typer command's parsing
        on, off = o.on_off() if o.is_bool else (list(o.flags), [])
        for flags, switch in ((on, True if o.is_bool else None), (off, False)):
            by_flag.update(dict.fromkeys(flags, o))
            switches.update(dict.fromkeys(flags, switch))
    pairs = flag_values(args, switches)
    if pairs is None:
        return None
    given: dict[str, Any] = {}
    plain = False
    for flag, value in pairs:
        if flag == PLAIN_FLAG:
            plain = True
        elif isinstance(value, bool):
            given[by_flag[flag].name] = value
        elif value.startswith("-"):
            return None  # a missing value or a mistyped flag: click says which
        else:
            converted = _convert(by_flag[flag], value)
            if converted is None:
                return None
            given[by_flag[flag].name] = converted
    return given, plain


def _convert(o: OptionMeta, text: str) -> Any:
    """``text`` as click's INTEGER/FLOAT/TEXT would give it, or None when click would refuse it."""
    kind = o.base_type
    try:
        if kind is int:
            return int(text)
        if kind is float:
            return float(text)
    except ValueError:
        return None
    return text


def fast_process(global_opts: dict[str, str | None], args: list[str]) -> int | None:
    """Run a plain ``rollout process`` (against an endpoint): its exit code, or None (nothing
    was written) when the Typer command must parse ``args``."""
    from console.output import CliState
    from engine.errors import RolloutError
    from engine.options.base import OptionError
    from engine.options.process import ProcessJob

    parsed = parse_job_args(ProcessJob, args)
    if parsed is None:
        return None
    given, plain = parsed
    cli = CliState(workspace_flag=global_opts["workspace"], config_path=global_opts["config"],
                   color=global_opts.get("color") or "auto")
    try:
        with pydantic_plugins_off():
            model = ProcessJob.resolve(cli.config, given)
    except (OptionError, RolloutError):
        return None  # the Typer command says what is wrong with the flags or the config, in its words
    if model.via != "online":
        return None  # --via batch: the Typer command's runner (console/commands/batch.py)
    return run_reporting_errors(cli, model, plain)


@contextlib.contextmanager
def pydantic_plugins_off() -> Iterator[None]:
    """pydantic's plugin discovery skipped while the option model and the config are built.

    pydantic scans every installed distribution's entry points for plugins the first time it
    builds a model (~15 ms here, more in a GPU box's large environment); rollout uses none.
    PYDANTIC_DISABLE_PLUGINS is pydantic's own switch; a user's setting is kept, and the
    variable is gone again before any child process could inherit it.
    """
    if "PYDANTIC_DISABLE_PLUGINS" in os.environ:
        yield
        return
    os.environ["PYDANTIC_DISABLE_PLUGINS"] = "__all__"
    try:
        yield
    finally:
        os.environ.pop("PYDANTIC_DISABLE_PLUGINS", None)


def run_reporting_errors(cli: CliState, model: JobOptions, plain: bool) -> int:
    """:func:`console.jobrun.run_model`, with an engine error (or an OSError it explains) as one
    ``rollout: error:`` line and its exit code, as the Typer app reports them."""
    from console.jobrun import run_model
    from console.output import error_line
    from engine.errors import RolloutError

    try:
        return run_model(cli, model, plain)
    except BrokenPipeError:
        raise  # the launcher ends quietly with 141
    except RolloutError as exc:
        error_line(cli.color, str(exc))
        return int(exc.exit_code)
    except OSError as exc:
        from engine.oserrors import explain

        err = explain(exc)
        if err is None:
            raise
        error_line(cli.color, str(err))
        return int(err.exit_code)
