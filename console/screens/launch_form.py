"""A job's launch form, generated from its option model (engine/options).

One row per field the model shows in forms: choices become a Select, booleans a Checkbox (an
on/off/default Select when the flag has both spellings), paths an Input that completes file
names, everything else an Input with the default as placeholder. A field counts as *given* only
when the user set it (empty Input, blank Select, unchanged Checkbox: the default), exactly as
the CLI counts only the flags typed; the values go to ``Model.resolve(config, given)``.
"""

from __future__ import annotations

import os
import shlex
from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.suggester import Suggester
from textual.widget import Widget
from textual.widgets import Checkbox, Input, Label, Select, Static

from engine.options.base import JobOptions, OptionError, OptionMeta

#: at most this many directory entries are looked at for one completion
COMPLETE_SCAN_MAX = 2000


class PathSuggester(Suggester):
    """Completes the last path component from the file system (folders get a trailing /)."""

    def __init__(self, dirs_only: bool = False) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.dirs_only = dirs_only

    async def get_suggestion(self, value: str) -> str | None:
        import asyncio

        # a big folder (or a slow network mount) must not stall the keys typed meanwhile
        return await asyncio.to_thread(complete_path, value, self.dirs_only)


def complete_path(value: str, dirs_only: bool = False) -> str | None:
    """The first file-system completion of ``value`` (relative to the current folder), or None."""
    if not value:
        return None
    expanded = os.path.expanduser(value)
    folder, prefix = os.path.split(expanded)
    try:
        with os.scandir(folder or ".") as it:
            names = []
            for i, entry in enumerate(it):
                if i >= COMPLETE_SCAN_MAX:
                    break
                if entry.name.startswith(prefix) and (prefix.startswith(".") or not entry.name.startswith(".")):
                    is_dir = entry.is_dir()
                    if dirs_only and not is_dir:
                        continue
                    names.append(entry.name + ("/" if is_dir else ""))
    except OSError:
        return None
    if not names:
        return None
    best = sorted(names)[0]
    if best == prefix:
        return None
    return value[: len(value) - len(prefix)] + best


def field_id(name: str) -> str:
    return f"field-{name}"


def form_fields(model: type[JobOptions]) -> list[OptionMeta]:
    """The fields a launch form shows for ``model`` (CLI-only switches such as --json are left out)."""
    return [o for o in model.options() if o.form and not o.hidden and o.name not in model.form_hidden]


class FieldRow(Vertical):
    """Label, editor and the field's inline error."""

    DEFAULT_CSS = """
    FieldRow { height: auto; }
    FieldRow > Horizontal { height: auto; }
    FieldRow .field-label { width: 24; padding: 0 1 0 0; }
    FieldRow .field-editor { width: 1fr; }
    FieldRow .field-error { color: $error; padding-left: 24; display: none; }
    FieldRow.-invalid .field-error { display: block; }
    FieldRow .field-help { color: $text-muted; padding-left: 24; display: none; }
    FieldRow:focus-within .field-help { display: block; }
    """

    def __init__(self, meta: OptionMeta, editor: Widget) -> None:
        super().__init__(id=f"row-{meta.name}")
        self.meta = meta
        self.editor = editor

    def compose(self) -> ComposeResult:
        flag = ("-- (server args)" if self.meta.passthrough else
                self.meta.on_off()[0][0] if self.meta.is_bool else self.meta.flag)
        label = flag + (" *" if self.meta.required else "")
        with Horizontal():
            yield Label(label, classes="field-label")
            yield self.editor
        yield Static(self.meta.help, classes="field-help", markup=False)
        yield Static("", classes="field-error", markup=False)

    def show_error(self, message: str | None) -> None:
        self.query_one(".field-error", Static).update(message or "")
        self.set_class(bool(message), "-invalid")


def make_editor(o: OptionMeta, defaults: dict[str, Any]) -> Widget:
    """The editor widget for one field."""
    wid = field_id(o.name)
    default = defaults.get(o.name, o.default)
    if o.choices:
        return Select([(c, c) for c in o.choices], prompt=f"{default} (default)" if default is not None else "(none)",
                      allow_blank=True, id=wid, classes="field-editor", compact=True)
    if o.is_bool and (o.tristate or o.default is None):
        return Select([("on", "on"), ("off", "off")], prompt="(default)", allow_blank=True, id=wid,
                      classes="field-editor", compact=True)
    if o.is_bool:
        return Checkbox("", value=bool(o.default), id=wid, classes="field-editor", compact=True)
    if o.passthrough:
        hint = "server arguments, as on a command line"
    elif o.is_list:
        hint = o.placeholder or "space-separated"
    elif default not in (None, "", []):
        hint = f"{default}"
    else:
        hint = o.placeholder or ("required" if o.required else "")
    suggester = PathSuggester(dirs_only=o.path == "dir") if o.path else None
    return Input(placeholder=hint, id=wid, classes="field-editor", suggester=suggester, compact=True)


class JobForm(VerticalScroll):
    """Every form field of one job; ``given()`` reads what the user set, ``fill()`` sets it."""

    DEFAULT_CSS = """
    JobForm { height: 1fr; padding: 0 1; }
    """

    def __init__(self, model: type[JobOptions], config: Any = None, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.model = model
        self.config = config
        self.fields = form_fields(model)
        #: True from mount (every editor there) until the form is being taken down
        self.ready = False
        #: fields the user has edited: only these show their errors while typing (all on launch)
        self.touched: set[str] = set()
        try:
            self.config_values = model.config_defaults(config, {})
        except Exception:  # an undefined default endpoint: resolve() reports it as the form's error
            self.config_values = {}

    def compose(self) -> ComposeResult:
        for o in self.fields:
            yield FieldRow(o, make_editor(o, self.config_values))

    def on_mount(self) -> None:
        self.ready = True  # every field is mounted: the form can be read

    def on_unmount(self) -> None:
        self.ready = False

    def editor(self, name: str) -> Widget:
        return self.query_one(f"#{field_id(name)}")

    def given(self) -> dict[str, Any]:
        """The values the user set, as the CLI would pass them (strings, bools, lists)."""
        out: dict[str, Any] = {}
        for o in self.fields:
            w = self.editor(o.name)
            if isinstance(w, Select):
                v = w.value
                if v is Select.NULL or v is None:
                    continue
                out[o.name] = (v == "on") if o.is_bool else str(v)
            elif isinstance(w, Checkbox):
                if w.value != bool(o.default):
                    out[o.name] = w.value
            elif isinstance(w, Input):
                text = w.value.strip()
                if not text:
                    continue
                if o.is_list or o.passthrough:
                    try:
                        out[o.name] = shlex.split(text)
                    except ValueError:
                        out[o.name] = text.split()
                else:
                    out[o.name] = text
        return out

    def fill(self, given: dict[str, Any]) -> None:
        """Set the editors to ``given`` (a recent launch, a rerun's options)."""
        for o in self.fields:
            if o.name not in given:
                continue
            value = given[o.name]
            w = self.editor(o.name)
            if isinstance(w, Select):
                if o.is_bool:
                    w.value = "on" if value else "off"
                elif value is not None:
                    w.value = str(value)
            elif isinstance(w, Checkbox):
                w.value = bool(value)
            elif isinstance(w, Input):
                if isinstance(value, list):
                    w.value = shlex.join(str(v) for v in value)
                else:
                    w.value = "" if value is None else str(value)

    def touch(self, widget_id: str | None, all_fields: bool = False) -> None:
        if all_fields:
            self.touched = {o.name for o in self.fields}
        elif widget_id and widget_id.startswith("field-"):
            self.touched.add(widget_id.removeprefix("field-"))

    def check(self) -> tuple[JobOptions | None, dict[str | None, str]]:
        """The resolved model, or the problems by field (shown inline for the fields touched)."""
        given = self.given()
        try:
            model = self.model.resolve(self.config, given)
        except OptionError as exc:
            problems = exc.by_field()
        except Exception as exc:  # config_defaults' own errors (an endpoint name not in the config)
            problems = {None: str(exc)}
        else:
            problems = {}
            for row in self.query(FieldRow):
                row.show_error(None)
            return model, problems
        for row in self.query(FieldRow):
            row.show_error(problems.get(row.meta.name) if row.meta.name in self.touched else None)
        return None, problems

    def draft_argv(self) -> list[str]:
        """The command the current values give, even when some are not valid yet."""
        draft = self.model.model_construct(**self.given())
        draft._given = frozenset(self.given())
        return draft.argv()

