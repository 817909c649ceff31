"""Apply SEARCH/REPLACE edits to file contents: exact first, then a whitespace-tolerant line match.

Rules (each edit independently, in answer order, on the content the previous edits left):

* exact: SEARCH occurs at a line start exactly once → replaced. More than once → failure
  ``ambiguous_search`` (never applied to a guess).
* otherwise whitespace-tolerant: line windows whose lines equal SEARCH's after dropping trailing
  whitespace and with one constant indentation shift (the model indented the whole block wrong);
  exactly one window → replaced, the replacement re-indented by the same shift and its trailing
  whitespace dropped; several → ``ambiguous_search``; none → ``search_not_found``.
* empty SEARCH on a file the repository does not have → the file is created with REPLACE;
  on an existing file → ``empty_search``.
* a block with no ``### path`` header anywhere before it goes to the one file named in the
  answer whose text contains SEARCH exactly once (see :func:`engine.agentless.extract.edits.mentioned_paths`);
  otherwise ``missing_file_header``. A header naming no file of the repository with a non-empty
  SEARCH is ``file_not_in_structure``. A block cut off by the end of the answer is ``truncated``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from engine.agentless.extract.edits import Edit


@dataclass
class EditOutcome:
    """What happened to one edit block."""

    index: int
    path: str | None
    ok: bool
    mode: str = ""  # exact | whitespace | new_file
    reason: str | None = None
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "path": self.path, "ok": self.ok, "mode": self.mode,
                "reason": self.reason, "detail": self.detail}


@dataclass
class ApplyResult:
    """Edited files (original and new text by path, answer order) and every edit's outcome."""

    originals: dict[str, str] = field(default_factory=dict)
    new_contents: dict[str, str] = field(default_factory=dict)
    new_files: list[str] = field(default_factory=list)
    outcomes: list[EditOutcome] = field(default_factory=list)

    @property
    def failures(self) -> list[EditOutcome]:
        return [o for o in self.outcomes if not o.ok]

    @property
    def changed_paths(self) -> list[str]:
        """Files whose new text differs from the original (new files included)."""
        return [p for p, new in self.new_contents.items() if new != self.originals.get(p, "")]


class EditFailure(Exception):
    """One edit could not be applied; ``reason`` is a stable machine-readable word."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(detail or reason)
        self.reason = reason
        self.detail = detail


def _line_start_positions(content: str, needle: str) -> list[int]:
    out: list[int] = []
    start = 0
    while True:
        pos = content.find(needle, start)
        if pos < 0:
            return out
        if pos == 0 or content[pos - 1] == "\n":
            out.append(pos)
        start = pos + 1


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def _fuzzy_windows(file_lines: list[str], search_lines: list[str]) -> list[tuple[int, int]]:
    """``(start line, indentation shift)`` of every window matching SEARCH up to whitespace."""
    s_rs = [s.rstrip() for s in search_lines]
    s_body = [s.lstrip(" \t") for s in s_rs]
    anchor = next((j for j, s in enumerate(s_rs) if s), None)
    if anchor is None:
        return []
    s_ind = [len(_indent(s)) for s in s_rs]
    n = len(s_rs)
    out: list[tuple[int, int]] = []
    target = s_body[anchor]
    for i in range(len(file_lines) - n + 1):
        f_anchor = file_lines[i + anchor].rstrip()
        if f_anchor.lstrip(" \t") != target:
            continue
        shift = len(_indent(f_anchor)) - s_ind[anchor]
        ok = True
        for j in range(n):
            f = file_lines[i + j].rstrip()
            if not s_rs[j]:
                if f:
                    ok = False
                    break
                continue
            if f.lstrip(" \t") != s_body[j] or len(_indent(f)) - s_ind[j] != shift:
                ok = False
                break
        if ok:
            out.append((i, shift))
    return out


def _shift_line(line: str, shift: int, pad: str) -> str:
    line = line.rstrip()
    if not line:
        return ""
    if shift > 0:
        return pad * shift + line
    if shift < 0:
        cut = min(-shift, len(_indent(line)))
        return line[cut:]
    return line


def apply_edit(content: str, search: str, replace: str) -> tuple[str, str]:
    """``(new content, mode)`` for one edit; raises :class:`EditFailure` with the reason."""
    if not search.strip():
        raise EditFailure("empty_search", "SEARCH is empty but the file exists")
    hits = _line_start_positions(content, search)
    if len(hits) == 1:
        pos = hits[0]
        return content[:pos] + replace + content[pos + len(search):], "exact"
    if len(hits) > 1:
        raise EditFailure("ambiguous_search", f"SEARCH occurs {len(hits)} times")
    file_lines = content.split("\n")
    search_lines = search.split("\n")[:-1] if search.endswith("\n") else search.split("\n")
    windows = _fuzzy_windows(file_lines, search_lines)
    if not windows:
        raise EditFailure("search_not_found", "SEARCH matches no lines, even ignoring whitespace")
    if len(windows) > 1:
        raise EditFailure("ambiguous_search", f"SEARCH matches {len(windows)} places ignoring whitespace")
    start, shift = windows[0]
    window = file_lines[start: start + len(search_lines)]
    pad = next((_indent(line)[:1] for line in window if _indent(line)), " ") or " "
    repl_lines = replace.split("\n")[:-1] if replace.endswith("\n") else replace.split("\n")
    new_lines = [_shift_line(line, shift, pad) for line in repl_lines]
    merged = file_lines[:start] + new_lines + file_lines[start + len(search_lines):]
    return "\n".join(merged), "whitespace"


def _count_matches(content: str, search: str) -> int:
    hits = len(_line_start_positions(content, search))
    if hits:
        return hits
    lines = search.split("\n")[:-1] if search.endswith("\n") else search.split("\n")
    return len(_fuzzy_windows(content.split("\n"), lines))


def apply_edits(
    edits: Iterable[Edit],
    file_text: Callable[[str], str | None],
    resolve_path: Callable[[str], str | None] = lambda p: p,
    mentioned: Iterable[str] | Callable[[], Iterable[str]] = (),
) -> ApplyResult:
    """Apply every edit to the files it names; ``file_text(path)`` gives a file's original text.

    ``resolve_path`` maps a header path onto the repository's (e.g. a path missing its first-level
    folder); ``mentioned`` are file names from the answer's prose (or a function giving them, called
    only if a block lacks a header), used only to place header-less blocks whose SEARCH text
    identifies a single file.
    """
    result = ApplyResult()
    resolved: list[str] | None = None

    def candidates() -> list[str]:
        nonlocal resolved
        if resolved is None:
            resolved = []
            for m in (mentioned() if callable(mentioned) else mentioned):
                p = resolve_path(m)
                if p is not None and p not in resolved:
                    resolved.append(p)
        return resolved

    def current(path: str) -> str | None:
        if path in result.new_contents:
            return result.new_contents[path]
        text = file_text(path)
        if text is not None:
            result.originals[path] = text
            result.new_contents[path] = text
        return text

    for edit in edits:
        if not edit.complete:
            result.outcomes.append(EditOutcome(edit.index, edit.path, False, reason="truncated",
                                               detail="the answer ends inside this block"))
            continue
        path = None
        if edit.path is None:
            fits = [c for c in candidates() if (t := current(c)) is not None and _count_matches(t, edit.search) == 1]
            if len(fits) != 1:
                result.outcomes.append(EditOutcome(
                    edit.index, None, False, reason="missing_file_header",
                    detail=f"no '### path' header and {len(fits)} named files contain SEARCH once"))
                continue
            path = fits[0]
        else:
            path = resolve_path(edit.path)
        if path is None or (path not in result.new_files and current(path) is None):
            new_path = edit.path or ""
            if not edit.search.strip() and new_path:
                # creating a file the repository does not have (reproduction scripts, new modules)
                if new_path not in result.new_files:
                    result.new_files.append(new_path)
                    result.originals[new_path] = ""
                    result.new_contents[new_path] = ""
                result.new_contents[new_path] += edit.replace
                result.outcomes.append(EditOutcome(edit.index, new_path, True, mode="new_file"))
            else:
                result.outcomes.append(EditOutcome(edit.index, edit.path, False, reason="file_not_in_structure",
                                                   detail=f"{edit.path!r} is not a file of the repository"))
            continue
        try:
            if path in result.new_files:
                new_text, mode = result.new_contents[path] + edit.replace, "new_file"
                if edit.search.strip():
                    new_text, mode = apply_edit(result.new_contents[path], edit.search, edit.replace)
            else:
                new_text, mode = apply_edit(result.new_contents[path], edit.search, edit.replace)
        except EditFailure as exc:
            result.outcomes.append(EditOutcome(edit.index, path, False, reason=exc.reason, detail=exc.detail))
            continue
        result.new_contents[path] = new_text
        result.outcomes.append(EditOutcome(edit.index, path, True, mode=mode))
    return result
