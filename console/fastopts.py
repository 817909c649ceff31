"""Options of the commands that console/launcher.py answers without Typer (``status``, ``history``).

Each such command declares its options once, as a tuple of :class:`Opt`. The launcher parses a
plain invocation with :func:`parse_options` (no Typer, click or pydantic: Typer passes every
option through pydantic, ~100 ms of a 200 ms budget); anything else (``--help``, a typo, a value
that needs explaining, completion) goes to the Typer command, which :func:`typer_command` builds
from the same tuple, so both read the same flags, defaults and help.

Standard library only; Typer loads inside :func:`typer_command`, which only the Typer app calls.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up time)
if TYPE_CHECKING:
    from typing import Any, Callable, Mapping

#: the environment variable Typer's shell completion sets (``_<PROG>_COMPLETE``)
COMPLETE_ENV = "_ROLLOUT_COMPLETE"


class Opt:
    """One option: its parameter name, flags (the long one first), type (str, int or bool: a
    flag), default, help and metavar."""

    __slots__ = ("name", "flags", "type", "default", "help", "metavar")

    def __init__(self, name: str, flags: tuple[str, ...], type: type, default: Any, help: str,
                 metavar: str | None = None) -> None:
        self.name, self.flags, self.type, self.default, self.help, self.metavar = name, flags, type, default, help, metavar

    def __repr__(self) -> str:
        return f"Opt({self.name!r}, {self.flags!r})"


def _int(text: str) -> int | None:
    body = text[1:] if text[:1] == "-" else text
    return int(text) if body.isascii() and body.isdigit() else None


def flag_values(args: list[str], switches: Mapping[str, bool | None]) -> list[tuple[str, str | bool]] | None:
    """``(flag, value)`` of each option in ``args``, in order, or None when ``args`` is not a
    plain use of them: an unknown flag or argument, ``-x=v``, ``--switch=v``, a missing value.

    ``switches`` maps every flag to the bool it sets (a switch) or to None (it takes a value:
    ``--flag v`` or ``--flag=v``, given back as the string, which may start with ``-``).
    """
    out: list[tuple[str, str | bool]] = []
    i = 0
    while i < len(args):
        flag, eq, value = args[i].partition("=")
        if flag not in switches or (eq and not flag.startswith("--")):
            return None
        switch = switches[flag]
        if switch is not None:
            if eq:
                return None
            out.append((flag, switch))
            i += 1
            continue
        if not eq:
            if i + 1 >= len(args):
                return None
            value = args[i + 1]
            i += 1
        out.append((flag, value))
        i += 1
    return out


def parse_options(options: tuple[Opt, ...], args: list[str]) -> dict[str, Any] | None:
    """The values of ``args`` (every option's default where not given), or None when ``args`` is
    not a plain use of ``options``: an unknown flag or argument, ``--help``, a missing or odd
    value. Typer then parses it and explains any problem itself."""
    by_flag = {flag: opt for opt in options for flag in opt.flags}
    pairs = flag_values(args, {flag: (True if opt.type is bool else None) for flag, opt in by_flag.items()})
    if pairs is None:
        return None
    values: dict[str, Any] = {opt.name: opt.default for opt in options}
    for flag, value in pairs:
        opt = by_flag[flag]
        if isinstance(value, bool):
            values[opt.name] = value
        elif opt.type is int:
            number = _int(value)
            if number is None:
                return None
            values[opt.name] = number
        elif value.startswith("-"):
            return None  # click would read it as the value; a mistyped flag is likelier: let it say so
        else:
            values[opt.name] = value
    return values


def typer_command(options: tuple[Opt, ...], body: Callable[..., Any], doc: str) -> Callable[..., Any]:
    """A Typer command function taking ``ctx`` and ``options`` (as ``typer.Option`` s) that
    calls ``body(ctx, **values)``: what ``app.command(name)`` registers."""
    import inspect
    from typing import Optional

    import typer

    params = [inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context)]
    for opt in options:
        annotation = Optional[opt.type] if opt.default is None else opt.type
        params.append(inspect.Parameter(
            opt.name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation,
            default=typer.Option(opt.default, *opt.flags, help=opt.help, metavar=opt.metavar)))

    def command(ctx: typer.Context, **values: Any) -> Any:
        return body(ctx, **values)

    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in params}
    command.__doc__ = doc
    command.__name__ = command.__qualname__ = f"{body.__name__}_command"
    return command
