"""Test writer: turn a step-2 answer into a reproduction test patch.

The answer either holds a fenced ```python script (the seed's reproduce_bug.py that prints
"Issue reproduced" / "Issue resolved" / "Other issues") or SEARCH/REPLACE blocks on the test file
chosen in step 1 (``--step1_file``). The result is a patch: a new-file patch for
``reproduce_bug.py``, or the diff of the edited test file; ``test_func_name`` is the test function
the script defines (first top-level ``test_*`` function, else the first function, else "").

Failure reasons (as the seed): step1_request_failed, step2_request_failed, structure_not_found,
no_test_files_found, target_file_not_in_contents, timeout, exception; and, shared with the bug
fixer, reasoning_only / empty_response / no_test_found (empty), truncated, search_not_found,
ambiguous_search, syntax_error.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import Any

from engine.batchio import BatchResponse
from engine.agentless.extract.apply import apply_edits
from engine.agentless.extract.diffs import new_file_diff, syntax_error
from engine.agentless.extract.repo_patch import repo_file_diff
from engine.agentless.extract.edits import parse_edits
from engine.agentless.gen.localize import is_test_path, parse_localization
from engine.agentless.reasoning import fenced_blocks, split_reasoning
from engine.agentless.structure import RepoStructure

REPRODUCE_FILE = "reproduce_bug.py"
_MARKERS = ("Issue reproduced", "Issue resolved", "Other issues")
_UNCLOSED_FENCE_RE = re.compile(r"```[ \t]*python[^\n]*\n(?![\s\S]*```)", re.IGNORECASE)


@dataclass
class Step1Choice:
    """What step 1 said for an instance: the chosen test file, or why there is none."""

    test_file: str | None = None
    reason: str | None = None
    detail: str = ""


@dataclass
class ReproResult:
    """The outcome of one test-writer sample."""

    status: str  # valid | empty | failed
    reason: str | None = None
    detail: str = ""
    test_patch: str = ""
    raw_test_patch: str = ""
    test_func_name: str = ""
    edited_files: list[str] = field(default_factory=list)
    original_file_content: list[str] = field(default_factory=list)
    new_file_content: list[str] = field(default_factory=list)
    edits: list[dict[str, Any]] = field(default_factory=list)


def choose_test_file(step1: BatchResponse | None, structure: RepoStructure) -> Step1Choice:
    """The top test file of a step-1 answer (the file the step-2 prompt showed)."""
    if step1 is None:
        return Step1Choice(reason="step1_request_failed", detail="no step-1 response for this instance")
    if not step1.ok:
        msg = (step1.error or {}).get("message") if step1.error else f"status {step1.status_code}"
        return Step1Choice(reason="step1_request_failed", detail=str(msg))
    loc = parse_localization(step1.content(), step1.reasoning(), structure)
    # the same choice stage 2 made for the prompt: the first named test file that has text
    tests = [p for p in loc.found if is_test_path(p) and structure.file_text(p) is not None]
    if not tests:
        return Step1Choice(reason="no_test_files_found", detail=f"named: {', '.join(loc.candidates[:5]) or '(nothing path-like)'}")
    return Step1Choice(test_file=tests[0])


def _functions(code: str) -> list[str]:
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return re.findall(r"^\s*(?:async\s+)?def (\w+)", code, re.MULTILINE)
    return [n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]


def find_test_func_name(code: str, original: str = "") -> str:
    """The test function the code adds: the first ``test*`` function (methods too) not in
    ``original``, else the first new function, else ""."""
    before = set(_functions(original)) if original else set()
    funcs = [f for f in _functions(code) if f not in before]
    tests = [f for f in funcs if f.startswith("test")]
    return (tests or funcs or [""])[0]


def _pick_script(answer: str) -> tuple[str | None, bool]:
    """``(script, truncated)``: the python block that prints the seed's markers, else the last one."""
    blocks = [b for b in fenced_blocks(answer, "python") if b.strip()] or [b for b in fenced_blocks(answer) if b.strip()]
    if not blocks:
        return None, False
    marked = [b for b in blocks if any(m in b for m in _MARKERS)]
    script = (marked or blocks)[-1]
    # fenced_blocks accepts an unclosed last fence: that is an answer cut off by max_tokens
    truncated = script == blocks[-1] and bool(_UNCLOSED_FENCE_RE.search(answer))
    return script, truncated


def extract_test(resp: BatchResponse, structure: RepoStructure | None, choice: Step1Choice | None) -> ReproResult:
    """Extract one reproduction test. ``choice`` is None when no step-1 file was given."""
    if not resp.ok:
        msg = (resp.error or {}).get("message") if resp.error else f"status {resp.status_code}"
        return ReproResult("failed", "step2_request_failed", str(msg))
    if structure is None:
        return ReproResult("failed", "structure_not_found")
    if choice is not None and choice.reason:
        return ReproResult("failed", choice.reason, choice.detail)
    split = split_reasoning(resp.content(), resp.reasoning())
    if not split.answer:
        return ReproResult("empty", "reasoning_only" if split.reasoning else "empty_response")
    parsed = parse_edits(split.answer)
    if parsed.edits:
        target = choice.test_file if choice else None
        for e in parsed.edits:
            resolved = structure.resolve_path(e.path) if e.path else None
            if e.path is None and target:
                e.path = target
            elif target and resolved != target and e.search.strip():
                return ReproResult("failed", "target_file_not_in_contents",
                                  f"the answer edits {e.path!r}, the prompt showed {target!r}")
        applied = apply_edits(parsed.edits, structure.file_text, structure.resolve_path)
        edits = [dict(e.to_dict(), **o.to_dict()) for e, o in zip(parsed.edits, applied.outcomes)]
        if applied.failures:
            first = applied.failures[0]
            return ReproResult("failed", first.reason, first.detail, edits=edits)
        changed = applied.changed_paths
        if not changed:
            return ReproResult("empty", "no_change", edits=edits)
        parts, originals, news = [], [], []
        for path in changed:
            new = applied.new_contents[path]
            if path.endswith(".py") and (err := syntax_error(path, new)):
                return ReproResult("failed", "syntax_error", f"{path}: {err}", edits=edits)
            is_new = path in applied.new_files
            parts.append(new_file_diff(path, new) if is_new else repo_file_diff(structure, path, applied.originals[path], new))
            originals.append(applied.originals.get(path, ""))
            news.append(new)
        patch = "".join(parts)
        name = find_test_func_name(news[0], originals[0])
        return ReproResult("valid", None, "", patch, patch, name, list(changed), originals, news, edits)
    script, truncated = _pick_script(split.answer)
    if script is None:
        return ReproResult("empty", "no_test_found", "no fenced python block and no SEARCH/REPLACE block")
    if truncated:
        return ReproResult("failed", "truncated", "the answer ends inside the python block")
    code = script if script.endswith("\n") else script + "\n"
    if err := syntax_error(REPRODUCE_FILE, code):
        return ReproResult("failed", "syntax_error", f"{REPRODUCE_FILE}: {err}")
    patch = new_file_diff(REPRODUCE_FILE, code)
    return ReproResult("valid", None, "", patch, patch, find_test_func_name(code), [REPRODUCE_FILE], [""], [code])
