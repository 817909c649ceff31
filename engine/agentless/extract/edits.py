"""Parse SEARCH/REPLACE edit blocks out of a model's answer.

The Agentless repair format::

    ```python
    ### path/to/file.py
    <<<<<<< SEARCH
    ...exact lines...
    =======
    ...replacement...
    >>>>>>> REPLACE
    ```

Blocks may come with or without fences and ``### path`` headers, several per answer and for
several files. A block without its own header belongs to the last header seen before it; a block
with no header at all keeps ``path=None`` (the applier decides what that means). CRLF answers are
read as LF. A block the answer ends inside (cut off by max_tokens) is returned with
``complete=False`` so callers can fail the sample as truncated instead of applying half an edit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

_SEARCH_RE = re.compile(r"^\s*<{5,9} ?SEARCH\b.*$")
_DIVIDER_RE = re.compile(r"^={7}[ \t]*$")  # column 0 only: RST underlines in docstrings are indented
_REPLACE_RE = re.compile(r"^\s*>{5,9} ?REPLACE\b.*$")
_HEADER_RE = re.compile(r"^\s*#{2,4}\s+(?P<path>\S.*?)\s*$")
_FENCE_RE = re.compile(r"^\s*(```|~~~)")
# a header that is really prose ("### Explanation") is not a path: paths have a dot or a slash
_PATHLIKE_RE = re.compile(r"^[\w.\-/\\]+$")


@dataclass
class Edit:
    """One SEARCH/REPLACE block. ``search``/``replace`` are whole lines, each ending in "\\n"."""

    path: str | None
    search: str
    replace: str
    complete: bool = True
    index: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "search": self.search, "replace": self.replace,
                "complete": self.complete, "index": self.index}


@dataclass
class ParsedEdits:
    """All blocks of one answer, in order, plus whether the answer was cut off inside one."""

    edits: list[Edit] = field(default_factory=list)
    truncated: bool = False

    @property
    def complete_edits(self) -> list[Edit]:
        return [e for e in self.edits if e.complete]

    @property
    def paths(self) -> list[str]:
        """Distinct header paths in order of first appearance."""
        seen: dict[str, None] = {}
        for e in self.edits:
            if e.path:
                seen.setdefault(e.path, None)
        return list(seen)


def _clean_path(raw: str) -> str | None:
    path = raw.strip().strip("`'\"*").strip()
    # "### File: path" and "### `path`:" are common variants of the header
    path = re.sub(r"^(?:file|path)\s*:\s*", "", path, flags=re.IGNORECASE).strip("`'\"*:").strip()
    path = path.removeprefix("a/").removeprefix("b/") if path.startswith(("a/", "b/")) and "/" in path[2:] else path
    path = path.removeprefix("./").replace("\\", "/")
    if not path or not _PATHLIKE_RE.match(path) or ("." not in path and "/" not in path):
        return None
    return path


def _joined(lines: list[str]) -> str:
    return "".join(line + "\n" for line in lines)


def parse_edits(answer: str) -> ParsedEdits:
    """Every SEARCH/REPLACE block of ``answer`` (reasoning already stripped), in order."""
    text = answer.replace("\r\n", "\n").replace("\r", "\n")
    out = ParsedEdits()
    header: str | None = None
    state = "out"  # out | search | replace
    search: list[str] = []
    replace: list[str] = []
    for line in text.split("\n"):
        if state == "out":
            if _SEARCH_RE.match(line):
                state, search, replace = "search", [], []
                continue
            if _FENCE_RE.match(line):
                continue
            m = _HEADER_RE.match(line)
            if m:
                path = _clean_path(m.group("path"))
                if path is not None:
                    header = path
        elif state == "search":
            if _DIVIDER_RE.match(line):
                state = "replace"
            else:
                search.append(line)
        else:
            if _REPLACE_RE.match(line):
                out.edits.append(Edit(header, _joined(search), _joined(replace), True, len(out.edits)))
                state = "out"
            else:
                replace.append(line)
    if state != "out":
        # cut off inside a block: keep it (marked) so the caller can report it, never apply it
        out.truncated = True
        # a trailing closing fence the model never wrote is not part of the code
        body = replace if state == "replace" else search
        while body and (body[-1] == "" or _FENCE_RE.match(body[-1])):
            body.pop()
        out.edits.append(Edit(header, _joined(search), _joined(replace), False, len(out.edits)))
    return out


_MENTION_RE = re.compile(r"[\w.\-/]*[\w\-]+\.(?:py|pyi|pyx|cfg|toml|ini|txt|rst|md|json|yaml|yml)\b")


def mentioned_paths(text: str) -> list[str]:
    """File-like tokens named anywhere in ``text`` (prose, backticks), in order, without repeats.

    Used to place a header-less block: it goes to a mentioned file only when its SEARCH text
    occurs there exactly once and in no other mentioned file.
    """
    seen: dict[str, None] = {}
    for m in _MENTION_RE.finditer(text.replace("\\", "/")):
        seen.setdefault(m.group(0).removeprefix("./"), None)
    return list(seen)
