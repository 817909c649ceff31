"""The one adapter from a job's option model (engine/options) to a Typer command.

``job_command(parent, "gen-step1", Stage1Job)`` adds a command whose options are the model's
fields, with every flag spelling, help and default taken from the model; values are handed to
``Model.resolve(config, given)`` (only the flags the user typed count as given), so types,
ranges, paths and flags that exclude each other are checked once, by the model. Several models
can share one command when tag flags tell them apart (``process`` / ``process --serve``).

Two parsing habits of the seed scripts are kept: ``--flag a b c`` for list fields marked
``nargs_plus`` (argparse's nargs="+"), and the words after ``--`` for a ``passthrough`` field.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, List, Optional, Sequence

import typer
from typer.core import TyperCommand, TyperGroup

# running a model is Typer-free (console/jobrun.py): the launcher runs `process` without Typer
from console.jobrun import job_record, run_model  # noqa: F401  (re-exported)
from console.output import CliState
from engine.errors import InputError
from engine.options.base import JobOptions, OptionMeta

#: ctx.meta key of the words after ``--`` (shared by a group and its sub-commands)
EXTRA_KEY = "rollout.job.extra_args"
Runner = Callable[[CliState, JobOptions, bool], int]


def split_passthrough(ctx: Any, args: list[str]) -> list[str]:
    """Keep the words after ``--`` out of click's parsing (ctx.meta[EXTRA_KEY])."""
    args = list(args)
    if "--" in args:
        cut = args.index("--")
        ctx.meta[EXTRA_KEY] = args[cut + 1:]
        args = args[:cut]
    return args


def expand_multi(args: list[str], flags: Sequence[str]) -> list[str]:
    """``--flag a b c`` → ``--flag a --flag b --flag c`` for the given flags (click takes one value per flag)."""
    out: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in flags:
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


def multi_flags(*models: type[JobOptions]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(f for m in models for o in m.options() if o.nargs_plus for f in o.flags))


class JobCommand(TyperCommand):
    """A generated command: ``--`` words kept aside, ``--flag a b c`` expanded."""

    multi: tuple[str, ...] = ()

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, expand_multi(split_passthrough(ctx, args), self.multi))


class JobGroup(TyperGroup):
    """A group whose callback is a job (``serve``), with sub-commands (``serve router``)."""

    multi: tuple[str, ...] = ()

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, expand_multi(split_passthrough(ctx, args), self.multi))


def job_group(*models: type[JobOptions]) -> type[JobGroup]:
    """A JobGroup class for a Typer app whose callback and sub-commands are these models' jobs."""
    return type("JobGroup", (JobGroup,), {"multi": multi_flags(*models)})


# -- building the command ------------------------------------------------------------------------
def _metavar(o: OptionMeta) -> str | None:
    if o.choices:
        return "[" + "|".join(o.choices) + "]"
    t = o.base_type
    if o.path:
        return "DIR" if o.path == "dir" else "FILE"
    if o.placeholder and o.placeholder.isupper():
        return o.placeholder
    return {int: "INTEGER", float: "FLOAT"}.get(t, "TEXT")


def _completer(name: str | None) -> Callable[..., list[str]] | None:
    """The shell completer a field names (engine/options stays free of Typer)."""
    if name is None:
        return None
    from console import completion

    return {"checkpoint_dir": completion.complete_checkpoint_dir, "run_id": completion.complete_run_id}[name]


def _typer_param(o: OptionMeta, panel: str | None) -> inspect.Parameter:
    help_text = o.help + (" (required)" if o.required else "")
    common: dict[str, Any] = {"help": help_text, "hidden": o.hidden, "rich_help_panel": panel or o.panel}
    if o.complete:
        common["autocompletion"] = _completer(o.complete)
    if o.is_bool:
        annotation: Any = Optional[bool] if o.tristate or o.default is None else bool
        default = typer.Option(o.default, *o.flags, **common)
    elif o.is_list:
        annotation = Optional[List[str]]
        default = typer.Option(None, *o.flags, metavar=(o.placeholder or "TEXT") + (" ..." if o.nargs_plus else ""),
                               **common)
    else:
        annotation = Optional[str]
        shown = None if o.default is None else str(o.default)
        default = typer.Option(shown, *o.flags, metavar=_metavar(o), show_default=shown is not None, **common)
    return inspect.Parameter(o.name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)


def _tag_name(tag: str) -> str:
    return tag.lstrip("-").replace("-", "_")


def job_command(
    parent: typer.Typer,
    name: str | None,
    *models: type[JobOptions],
    run: Runner | None = None,
    help: str | None = None,
    panels: dict[str, str] | None = None,
) -> Callable[..., None]:
    """Add the command for ``models`` to ``parent`` (``name`` None: as the group's callback).

    ``run(cli, model, plain)`` runs the resolved model and returns the exit code (default:
    :func:`run_model`). ``panels`` names the help panel of the fields a tag brings
    (``{"--serve": "Serve and process"}``).
    """
    base = models[0]
    params: list[inspect.Parameter] = [
        inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context)]
    seen: set[str] = set()
    tags: list[tuple[str, type[JobOptions]]] = []
    for model in models:
        panel = None
        for tag in model.tag_args:
            tags.append((tag, model))
            panel = (panels or {}).get(tag, f"With {tag}")
            params.append(inspect.Parameter(
                _tag_name(tag), inspect.Parameter.KEYWORD_ONLY, annotation=bool,
                default=typer.Option(False, tag, help=model.title + ".", rich_help_panel=panel)))
        for o in model.options():
            if o.name in seen or o.passthrough:
                continue
            seen.add(o.name)
            params.append(_typer_param(o, panel if model is not base else None))
    params.append(inspect.Parameter("plain", inspect.Parameter.KEYWORD_ONLY, annotation=bool,
                                    default=typer.Option(False, "--plain", help="Plain progress lines even on a terminal.")))
    is_callback = name is None

    def command(ctx: typer.Context, **values: Any) -> None:
        if is_callback and ctx.invoked_subcommand is not None:
            return
        cli: CliState = ctx.obj
        model = model_from_values(ctx, models, values, cli.config)
        raise typer.Exit((run or run_model)(cli, model, bool(values.get("plain"))))

    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__name__ = (name or base.job_name).replace("-", "_") + "_cmd"
    command.__doc__ = help or base.title + "."
    command.job_models = models  # type: ignore[attr-defined]
    if is_callback:
        parent.callback(invoke_without_command=True)(command)
    else:
        cls = type("JobCommand", (JobCommand,), {"multi": multi_flags(*models)})
        parent.command(name, cls=cls)(command)
    return command


def model_from_values(ctx: Any, models: Sequence[type[JobOptions]], values: dict[str, Any], config: Any) -> JobOptions:
    """The model a parsed command line means: pick the model by its tag flags, then resolve it."""
    from typer._click.core import ParameterSource

    def given_on_line(name: str) -> bool:
        src = ctx.get_parameter_source(name)
        return src is not None and src not in (ParameterSource.DEFAULT, ParameterSource.DEFAULT_MAP)

    tagged = {tag for m in models for tag in m.tag_args if values.get(_tag_name(tag))}
    chosen = max((m for m in models if set(m.tag_args) <= tagged), key=lambda m: len(m.tag_args))
    given: dict[str, Any] = {}
    strays: list[str] = []
    for m in models:
        for o in m.options():
            if o.passthrough or o.name in given or o.name not in values or not given_on_line(o.name):
                continue
            if o.name not in chosen.model_fields:
                strays.append(o.flag)
                continue
            value = values[o.name]
            given[o.name] = list(value) if o.is_list else value
    extra = list(ctx.meta.get(EXTRA_KEY) or [])
    owner = next((m for m in models if any(o.passthrough for o in m.options())), None)
    if strays:
        found = next(((t, m) for t, m in _tags(models) if any(f in [o.flag for o in m.options()] for f in strays)),
                     None)
        flags = list(dict.fromkeys(strays))
        verb = "goes" if len(flags) == 1 else "go"
        if found is None:
            raise InputError(f"{', '.join(flags)}: not an option of this command")
        tag, model = found
        raise InputError(f"{' and '.join(flags)} {verb} with {tag}: add {tag} to {model.title[0].lower()}"
                         f"{model.title[1:]}")
    if extra:
        field = next((o.name for o in chosen.options() if o.passthrough), None)
        if field is None:
            need = " ".join(owner.tag_args) if owner is not None else None
            raise InputError(f"unexpected arguments {' '.join(extra)!r}: " +
                             (f"arguments after -- need {need}" if need else "this command takes no arguments after --"))
        given[field] = extra
    return chosen.resolve(config, given)


def _tags(models: Sequence[type[JobOptions]]) -> list[tuple[str, type[JobOptions]]]:
    return [(t, m) for m in models for t in m.tag_args]


def parse_job_argv(app: typer.Typer, argv: Sequence[str], config: Any = None) -> JobOptions:
    """The model the CLI builds from ``rollout ...`` words, without running the job (parity tests, retries).

    Walks the command tree as click does (root options, then each sub-command) and resolves the
    job command's values exactly as the command would. Usage errors raise click's UsageError,
    bad values OptionError.
    """
    from typer.main import get_command

    words = list(argv[1:] if argv and str(argv[0]).endswith("rollout") else argv)
    cmd: Any = get_command(app)
    ctx = cmd.make_context("rollout", words)
    while isinstance(cmd, TyperGroup):
        args = [*ctx._protected_args, *ctx.args]
        if not args:
            break
        ctx.args, ctx._protected_args = [], []
        name, sub, rest = cmd.resolve_command(ctx, args)
        ctx = sub.make_context(name, rest, parent=ctx)
        cmd = sub
    models = getattr(cmd.callback, "job_models", None)
    if not models:
        raise InputError(f"{' '.join(words)!r} is not a job command")
    return model_from_values(ctx, models, dict(ctx.params), config)
