"""The base of every job's option model: fields with their flags, one-line errors, ``argv()``.

A job's parameters live once, here in engine/, as a pydantic model (subclass :class:`JobOptions`).
Each field is declared with :func:`option`: its type (the annotation), default, help, choices
(a ``Literal`` annotation), ranges (``ge``/``le``...), whether it is a path that must exist, and
every flag spelling the CLI accepts (the first is the canonical one ``argv()`` writes).
Checks that involve several fields (flags that exclude each other) are ``model_validator``s
whose message names the flag first (``--serve launches its own server: ...``), so a form can
show the error beside that field.

The console builds both the Typer command (console/commands/jobcommand.py) and the launch form
from the model; ``resolve(config, given)`` is the one place config-file defaults are applied.

Import cost matters (``rollout --help`` imports every model): this module and the models import
pydantic and the standard library only; a job's engine code is imported inside ``make_job``.
"""

from __future__ import annotations

import shlex
from functools import lru_cache
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Literal, Mapping, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, ValidationInfo, field_validator

from engine.errors import InputError

PathKind = Literal["file", "dir"]


@dataclass(frozen=True)
class OptionMeta:
    """What the CLI and the form need to know about one field, beyond pydantic's own."""

    name: str
    flags: tuple[str, ...]
    help: str
    default: Any
    required: bool
    annotation: Any
    #: "file" / "dir" for paths; ``exists`` says it must exist when the job starts
    path: PathKind | None = None
    exists: bool = False
    #: words for the "not found" message ("step-1 responses file")
    what: str | None = None
    #: the whole "not found" message, with {value} and {flag} (when ``what`` is not enough)
    missing: str | None = None
    #: ``--flag a b c`` takes the following words (the seed's argparse nargs="+")
    nargs_plus: bool = False
    #: the words after ``--`` (given verbatim to a server)
    passthrough: bool = False
    #: shown in the launch form (CLI-only output switches such as --json are not)
    form: bool = True
    hidden: bool = False
    panel: str | None = None
    #: a value that suggests the field's form (placeholder)
    placeholder: str | None = None
    #: shell completion beyond paths: a completer's name (``checkpoint_dir``), mapped by the CLI
    complete: str | None = None

    @property
    def flag(self) -> str:
        return self.flags[0]

    @property
    def base_type(self) -> Any:
        """The annotation without ``None``: int, float, str, bool, list[str] or a Literal."""
        return strip_optional(self.annotation)

    @property
    def choices(self) -> tuple[str, ...]:
        t = self.base_type
        return tuple(str(v) for v in get_args(t)) if get_origin(t) is Literal else ()

    @property
    def is_bool(self) -> bool:
        return self.base_type is bool

    @property
    def is_list(self) -> bool:
        return get_origin(self.base_type) is list

    @property
    def tristate(self) -> bool:
        """An optional bool with on/off spellings (``--enable_thinking/--disable_thinking``)."""
        return self.is_bool and any("/" in f for f in self.flags)

    def on_off(self) -> tuple[list[str], list[str]]:
        on, off = [], []
        for f in self.flags:
            if "/" in f:
                a, b = f.split("/", 1)
                on.append(a)
                off.append(b)
            else:
                on.append(f)
        return on, off


def strip_optional(annotation: Any) -> Any:
    args = get_args(annotation)
    if args and type(None) in args and get_origin(annotation) is not Literal:
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1:
            return rest[0]
    return annotation


def seed_flags(*names: str) -> tuple[str, ...]:
    """The seed's underscore spelling (``--output_file``) first, then the hyphenated alias."""
    flags = list(names)
    for n in names:
        if n.startswith("--") and "_" in n:
            flags.append(n.replace("_", "-"))
    return tuple(dict.fromkeys(flags))


def option(
    default: Any = ...,
    *flags: str,
    help: str,
    default_factory: Callable[[], Any] | None = None,
    path: PathKind | None = None,
    exists: bool = False,
    what: str | None = None,
    missing: str | None = None,
    nargs_plus: bool = False,
    passthrough: bool = False,
    form: bool = True,
    hidden: bool = False,
    panel: str | None = None,
    placeholder: str | None = None,
    complete: str | None = None,
    **constraints: Any,
) -> Any:
    """A field of a job model: pydantic's ``Field`` plus the CLI's flag spellings and hints.

    ``constraints`` are pydantic's (``ge``, ``gt``, ``le``, ``lt``, ``min_length``...).
    """
    extra = {
        "flags": list(flags), "path": path, "exists": exists, "what": what, "missing": missing, "nargs_plus": nargs_plus,
        "passthrough": passthrough, "form": form, "hidden": hidden, "panel": panel, "placeholder": placeholder,
        "complete": complete,
    }
    if default_factory is not None:
        return Field(default_factory=default_factory, description=help, json_schema_extra=extra, **constraints)
    return Field(default, description=help, json_schema_extra=extra, **constraints)


class OptionError(InputError):
    """Bad job options: one line for the CLI, and each problem by field for a form."""

    def __init__(self, problems: list[tuple[str | None, str]]) -> None:
        self.problems = problems
        first = problems[0][1] if problems else "invalid options"
        more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(first + more)

    def by_field(self) -> dict[str | None, str]:
        out: dict[str | None, str] = {}
        for name, msg in self.problems:
            out.setdefault(name, msg)
        return out


@dataclass
class JobLaunch:
    """A job ready to run: what ``engine.jobs.run_job`` needs, built by a model's ``make_job``."""

    kind: str
    job: Callable[..., Any]
    title: str
    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    #: a closing line from the final state (``wrote 40 requests to ...``), or None
    summary: Callable[[dict[str, Any]], str | None] | None = None


@dataclass(frozen=True)
class WorldCheck:
    """The outcome of one check that needs the world (an endpoint, an installed package, a path)."""

    name: str
    ok: bool
    message: str
    #: the field the check is about, for a form
    field: str | None = None


class JobOptions(BaseModel):
    """One job's parameters. Subclasses set the ClassVars and declare fields with :func:`option`."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    #: registry name ("process"), one-line title, the command path under ``rollout``
    job_name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    cli_path: ClassVar[tuple[str, ...]] = ()
    #: fixed words after the command path that select this job (``process --serve``)
    tag_args: ClassVar[tuple[str, ...]] = ()
    #: the run kind its run directory is named after
    kind: ClassVar[str] = ""
    #: fields shown (and written) first, before the others in declaration order
    field_order: ClassVar[tuple[str, ...]] = ()
    #: inherited fields this job's launch form leaves out (they do not apply to it)
    form_hidden: ClassVar[tuple[str, ...]] = ()

    _given: frozenset[str] | None = PrivateAttr(default=None)

    # -- the fields -------------------------------------------------------------------------
    @classmethod
    def options(cls) -> list[OptionMeta]:
        """Every field's metadata, in form order (``field_order`` first, then declaration order)."""
        return list(_options_of(cls))

    @classmethod
    def _build_options(cls) -> tuple[OptionMeta, ...]:
        out = []
        declared = list(cls.model_fields)
        names = sorted(declared, key=lambda n: (cls.field_order.index(n) if n in cls.field_order
                                                else len(cls.field_order), declared.index(n)))
        for name in names:
            info = cls.model_fields[name]
            extra = dict(info.json_schema_extra or {})  # type: ignore[arg-type]
            flags = tuple(extra.get("flags") or ()) or ("--" + name.replace("_", "-"),)
            out.append(OptionMeta(
                name=name, flags=flags, help=info.description or "",
                default=None if info.is_required() else info.get_default(call_default_factory=True),
                required=info.is_required(), annotation=info.annotation, path=extra.get("path"),
                exists=bool(extra.get("exists")), what=extra.get("what"), missing=extra.get("missing"),
                nargs_plus=bool(extra.get("nargs_plus")), passthrough=bool(extra.get("passthrough")), form=bool(extra.get("form", True)),
                hidden=bool(extra.get("hidden")), panel=extra.get("panel"), placeholder=extra.get("placeholder"),
                complete=extra.get("complete"),
            ))
        return tuple(out)

    @classmethod
    def option(cls, name: str) -> OptionMeta:
        meta = cls._meta(name)
        if meta is None:
            raise KeyError(f"{cls.__name__} has no option {name!r}")
        return meta

    @classmethod
    def field_for_flag(cls, flag: str) -> str | None:
        for o in cls.options():
            on, off = o.on_off()
            if flag in on or flag in off:
                return o.name
        return None

    # -- building ---------------------------------------------------------------------------
    @classmethod
    def config_defaults(cls, config: Any, given: Mapping[str, Any]) -> dict[str, Any]:
        """Defaults that come from the config file for fields the user did not give (override)."""
        return {}

    @classmethod
    def resolve(cls, config: Any, given: Mapping[str, Any]) -> "JobOptions":
        """The job's options from what the user gave (flags or form fields) and the config.

        ``given`` holds only the values the user set; config defaults fill the others, then the
        field defaults. Raises :class:`OptionError` (one line, and the problems by field).
        """
        given = {k: v for k, v in given.items() if k in cls.model_fields}
        data = {**cls.config_defaults(config, given), **given}
        try:
            model = cls.model_validate(data)
        except ValidationError as exc:
            raise OptionError(cls.problems_of(exc)) from None
        model._given = frozenset(given)
        return model

    @property
    def given(self) -> frozenset[str]:
        """The fields the user set (``argv()`` writes these); built directly: the ones passed."""
        return self._given if self._given is not None else frozenset(self.model_fields_set)

    def given_values(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.given}

    # -- the equivalent command -------------------------------------------------------------
    def argv(self) -> list[str]:
        """The equivalent command: ``["rollout", *cli_path, *tag_args, --flag value ...]``."""
        out = ["rollout", *self.cli_path, *self.tag_args]
        tail: list[str] = []
        given = self.given
        for o in self.options():
            if o.name not in given and not o.required:
                continue
            value = getattr(self, o.name, None)  # a draft (model_construct) may lack required fields
            if o.passthrough:
                tail = [str(v) for v in value or []]
                continue
            out += _flag_words(o, value)
        if tail:
            out += ["--", *tail]
        return out

    def command_line(self) -> str:
        return shlex.join(self.argv())

    # -- running (override) -----------------------------------------------------------------
    def make_job(self, config: Any, *, warn: Callable[[str], None] = lambda _l: None,
                 notify: Callable[[str], None] | None = None) -> JobLaunch:
        """Every check, then the job. Heavy engine modules are imported here, not at module level."""
        raise NotImplementedError

    def world_checks(self, config: Any) -> list[WorldCheck]:
        """Checks that need the world (endpoints, packages, datasets), run before a launch (override)."""
        return []

    # -- validation shared by every job -----------------------------------------------------
    @field_validator("*")
    @classmethod
    def _path_exists(cls, value: Any, info: ValidationInfo) -> Any:
        """Paths marked ``exists`` must be there (checked per field, so a form shows each one)."""
        o = cls._meta(info.field_name or "")
        if o is None or not (o.path and o.exists) or value in (None, ""):
            return value
        p = Path(str(value)).expanduser()
        ok = p.is_dir() if o.path == "dir" else p.is_file()
        if not ok and o.missing:
            raise ValueError(o.missing.format(value=value, flag=o.flag))
        if not ok:
            what = o.what or ("folder" if o.path == "dir" else "file")
            raise ValueError(f"{value}: {what} not found: check {o.flag}")
        return value

    @classmethod
    def _meta(cls, name: str) -> OptionMeta | None:
        return next((o for o in cls.options() if o.name == name), None)

    @classmethod
    def problems_of(cls, exc: ValidationError) -> list[tuple[str | None, str]]:
        """pydantic's errors as (field, one line naming the flag) pairs."""
        problems: list[tuple[str | None, str]] = []
        for err in exc.errors():
            loc = err.get("loc") or ()
            name = str(loc[0]) if loc and str(loc[0]) in cls.model_fields else None
            msg = str(err.get("msg", "invalid value"))
            if err.get("type") == "value_error":
                msg = msg.removeprefix("Value error, ")
                if name is None:
                    name = _field_named_in(cls, msg)
                problems.append((name, msg))
                continue
            if name is None:
                problems.append((None, msg))
                continue
            o = cls.option(name)
            if err.get("type") == "missing":
                problems.append((name, f"{o.flag} is required: {o.help.rstrip('.')}"))
            elif err.get("type") == "extra_forbidden":
                problems.append((name, f"unknown option {name!r}"))
            elif o.choices:
                problems.append((name, f"{o.flag} {err.get('input')!r}: choose one of {', '.join(o.choices)}"))
            else:
                problems.append((name, f"{o.flag} {err.get('input')!r}: {msg.removeprefix('Input ')}"))
        return problems or [(None, str(exc))]


@lru_cache(maxsize=None)
def _options_of(cls: type[JobOptions]) -> tuple[OptionMeta, ...]:
    return cls._build_options()


def _field_named_in(cls: type[JobOptions], message: str) -> str | None:
    """The field whose flag a model-level message names first (for inline errors)."""
    for word in message.replace(",", " ").replace(":", " ").replace("/", " ").split():
        if word.startswith("--"):
            name = cls.field_for_flag(word)
            if name:
                return name
    return None


def _flag_words(o: OptionMeta, value: Any) -> list[str]:
    if o.is_bool:
        on, off = o.on_off()
        if value is True:
            return [on[0]]
        if value is False and off:
            return [off[0]]
        return []
    if value is None:
        return []
    if o.is_list:
        values = [str(v) for v in value]
        if not values:
            return []
        if o.nargs_plus and not any(v.startswith("-") for v in values):
            return [o.flag, *values]
        return [w for v in values for w in (o.flag, v)]
    return [o.flag, _scalar(value)]


def _scalar(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value)) if abs(value) < 1e15 else repr(value)
    return str(value)
