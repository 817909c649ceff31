"""Stage 2 parsing of a localization answer: which files did the model name?

The answer's reasoning is dropped (``<think>``, ``◁think▷``, ``reasoning_content``); paths are
read from fenced blocks when there are any (else from the whole answer), one per line, with
bullets, numbering, quotes, backticks and trailing remarks removed; only paths the repository
structure has are kept (also trying them under a first-level folder, see
:meth:`RepoStructure.resolve_path`), in order, without duplicates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from engine.agentless.reasoning import fenced_blocks, split_reasoning
from engine.agentless.structure import RepoStructure

_BULLET_RE = re.compile(r"^\s*(?:[-*+•]|\d+[.)]|\(\d+\)|#+)\s+")
_PATHLIKE_RE = re.compile(r"[\w./\\-]+\.[A-Za-z0-9_]+")


@dataclass
class Localization:
    """The outcome of parsing one answer."""

    answer: str
    candidates: list[str] = field(default_factory=list)
    found: list[str] = field(default_factory=list)
    #: None when files were found, else why not: empty_response, reasoning_only, no_files_found
    reason: str | None = None


def is_test_path(path: str) -> bool:
    """Test files by the usual conventions: test_*.py, *_test.py, conftest.py, or under a tests folder."""
    name = path.rsplit("/", 1)[-1]
    parts = path.split("/")[:-1]
    return (name.startswith("test") or name.endswith("_test.py") or name == "conftest.py"
            or any(p in ("test", "tests", "testing") for p in parts))


def _clean_line(line: str) -> str | None:
    line = _BULLET_RE.sub("", line.strip())
    line = line.strip().strip("`'\"*,;:").strip()
    if not line:
        return None
    # "path/to/file.py  # because ..." or "path/to/file.py - the cause": keep the first path-like token
    m = _PATHLIKE_RE.search(line)
    if not m:
        return None
    return m.group(0).replace("\\", "/").removeprefix("./")


def candidate_paths(answer: str) -> list[str]:
    """Path-like strings named in an answer, fenced blocks first (the prompt asks for one)."""
    blocks = fenced_blocks(answer)
    source = "\n".join(blocks) if blocks else answer
    out: list[str] = []
    for line in source.splitlines():
        path = _clean_line(line)
        if path and path not in out:
            out.append(path)
    return out


def parse_localization(content: str | None, reasoning_content: str | None, structure: RepoStructure,
                       max_files: int = 5, python_only: bool = True) -> Localization:
    """Parse a stage-1 answer against a repository structure."""
    split = split_reasoning(content, reasoning_content)
    loc = Localization(answer=split.answer)
    if not split.answer:
        loc.reason = "reasoning_only" if split.reasoning else "empty_response"
        return loc
    loc.candidates = candidate_paths(split.answer)
    for cand in loc.candidates:
        if python_only and not cand.endswith(".py"):
            continue
        resolved = structure.resolve_path(cand)
        if resolved is not None and resolved not in loc.found:
            loc.found.append(resolved)
        if len(loc.found) >= max_files:
            break
    if not loc.found:
        loc.reason = "no_files_found"
    return loc
