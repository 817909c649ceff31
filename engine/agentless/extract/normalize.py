"""Patch normalization (Agentless) and majority voting across passes.

Two patches are equivalent when they differ only in comments, docstrings, blank lines or
formatting: each edited file is parsed, its docstrings removed and ``ast.unparse``-d, and the
normalized original and new texts are compared. Files whose normalized texts are equal drop
out, so a comment-only patch normalizes to "". :func:`normalize_patch` states this as Agentless
does (the normalized texts diffed again); stage 3 gets the same grouping much cheaper from
:class:`engine.agentless.extract.analyzer.PythonAnalyzer`, which also syntax-checks the edited files: per-file normalized changes
computed from the changed regions only, hashed together by its :func:`normalized_key`.

Voting, per instance: valid samples are grouped by normalized patch; the biggest group wins,
ties go to the group whose first member came in the earliest pass, and the prediction is that
first member's raw patch. Valid samples whose normalized patch is "" (only comments/docstrings
changed) win only when no other valid sample exists; empty and failed samples never win over a
valid one (an instance with no valid sample gets an empty prediction).
"""

from __future__ import annotations

import ast
import hashlib
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from engine.agentless.extract.diffs import file_diff

_DOC_OWNERS = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
#: the fields that hold statement lists (of a module, statement, except handler or match case):
#: classes and functions stand only in these, never inside an expression
_STATEMENT_LISTS = ("body", "orelse", "finalbody", "handlers", "cases")


def strip_docstrings(tree: ast.AST) -> ast.AST:
    """Remove every module/class/function docstring in place (a body left empty gets ``pass``)."""
    # only statement lists are walked (ast.walk would visit every expression node too: most of
    # the time of normalizing a statement went there)
    todo = [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, _DOC_OWNERS):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
                    and isinstance(body[0].value.value, str):
                del body[0]
                if not body:
                    body.append(ast.Pass())
        for name in _STATEMENT_LISTS:
            children = getattr(node, name, None)
            if isinstance(children, list):
                todo.extend(children)
    return tree


def normalize_code(text: str) -> str:
    """Source without comments, docstrings, blank lines or formatting differences.

    Text that does not parse (Python 2 files, non-Python files) is normalized by dropping blank
    lines and trailing whitespace only.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(text)
        return ast.unparse(strip_docstrings(tree)) + "\n"
    except (SyntaxError, ValueError, RecursionError):
        lines = (line.rstrip() for line in text.split("\n"))
        return "\n".join(line for line in lines if line) + "\n"


def normalize_patch(originals: dict[str, str], new_contents: dict[str, str],
                    normalize_original: Callable[[str, str], str] | None = None) -> str:
    """The diff between normalized originals and normalized new texts, files in path order.

    ``normalize_original(path, text)`` may memoize the originals' normalization (they are the same
    for every pass of an instance).
    """
    parts = []
    for path in sorted(new_contents):
        old = originals.get(path, "")
        new = new_contents[path]
        if old == new:
            continue
        norm_old = (normalize_original(path, old) if normalize_original else normalize_code(old)) if old else ""
        norm_new = normalize_code(new)
        if norm_old != norm_new:
            parts.append(file_diff(path, norm_old, norm_new))
    return "".join(parts)


def patch_key(text: str) -> str:
    """A short stable key for a patch text (for grouping without keeping the text)."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


@dataclass
class Candidate:
    """One sample as the vote sees it. ``status`` is valid, empty or failed."""

    pass_index: int
    custom_id: str
    status: str
    patch_key: str = ""


@dataclass
class VoteResult:
    """The winner (None when no sample is valid) and the size of its group."""

    winner: Candidate | None
    votes: int = 0
    groups: int = 0
    tally: dict[str, int] = field(default_factory=dict)


def majority_vote(candidates: Iterable[Candidate], normalized: Callable[[Candidate], str]) -> VoteResult:
    """Pick one sample per instance (see the module docstring).

    ``normalized(candidate)`` gives a candidate's normalized patch; it is called once per distinct
    raw patch and only when the valid samples disagree, so voting over identical passes is free.
    """
    valid = sorted((c for c in candidates if c.status == "valid"), key=lambda c: (c.pass_index, c.custom_id))
    if not valid:
        return VoteResult(None)
    by_raw: dict[str, list[Candidate]] = {}
    for c in valid:
        by_raw.setdefault(c.patch_key, []).append(c)
    if len(by_raw) == 1:
        return VoteResult(valid[0], len(valid), 1, {valid[0].patch_key: len(valid)})
    groups: dict[str, list[Candidate]] = {}
    for members in by_raw.values():
        norm = normalized(members[0])
        groups.setdefault(patch_key(norm) if norm.strip() else "", []).extend(members)
    tally = {k: len(v) for k, v in groups.items()}
    substantive = {k: v for k, v in groups.items() if k} or groups

    def rank(item: tuple[str, list[Candidate]]) -> tuple[int, int, str]:
        members = item[1]
        first = min(members, key=lambda c: (c.pass_index, c.custom_id))
        return (-len(members), first.pass_index, first.custom_id)

    _, members = min(substantive.items(), key=rank)
    winner = min(members, key=lambda c: (c.pass_index, c.custom_id))
    return VoteResult(winner, len(members), len(groups), tally)
