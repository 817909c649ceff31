"""Incremental syntax check and normalization of edited Python files (stage 3's hot path).

:class:`PythonAnalyzer` gives, per sample, the same syntax verdict as compiling the whole new
file and the same grouping as Agentless's normalization (:mod:`engine.agentless.extract.normalize`), but
works on the changed regions only, against a parse of the original file made once per process.
"""

from __future__ import annotations

import ast
import bisect
import copy
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from engine.agentless.extract.diffs import LineDiff, line_diff, split_lines
from engine.agentless.extract.normalize import normalize_code, patch_key, strip_docstrings

# --- incremental analysis of edited Python files -------------------------------------------------
#
# A sample edits a few lines of a big file. Parsing the whole file (syntax check) and unparsing it
# (normalization) per sample costs tens of milliseconds; here both are done on the changed region
# only, against a parse of the ORIGINAL file made once per process.
#
# Blocks are the module body and the bodies of classes and functions. A block's statements are cut
# into segments at statements that begin a line at the block's indentation, after a statement that
# ended on an earlier line and a line not ending in a backslash; there the tokenizer is in a clean
# state (no open bracket, string or continuation). Each hunk of the line diff is located in the
# deepest block where it falls inside one segment range; overlapping regions merge (into the outer
# block's when they lie in different ones). The new text of a region's segments is compiled on its
# own: as is for the module, after ``class _:`` and a ``pass`` at the block's indentation for a
# body. If every region parses (a body's as exactly that one class, no body left empty), the whole
# new file parses: unchanged complete statements before and after each region, joined at clean
# boundaries at the same indentation, one region after the other. A region that leaves its block
# (an IndentationError, statements after the wrapper class, an emptied body: typically code added
# after a function's end) is retried with regions cut one level higher. Any other failure compiles
# the whole new file, so a reported error is always the whole-file verdict with its real line
# number (a region can fail where the file would not, e.g. a lone ``else:`` continuing the
# statement before it). tests/rollout_extract/test_extract_analyzer.py checks verdicts and
# normalized changes against whole-file ones on random edits of real files (~40k such edits
# were checked while writing this, none disagreed).
#
# Normalization is a tree: a class or function is (header, normalized body statements), any other
# statement is its ``ast.unparse`` with docstrings stripped; a block's leading bare string (its
# docstring) is left out. The new tree is the original's with the region's statements swapped in,
# and the change is stated canonically (descending while exactly one class/function with an equal
# header differs, then first differing statement, statements removed, statements inserted), so
# equal normalized files give equal changes however the regions were cut.

_PARSE_ERRORS = (SyntaxError, ValueError, MemoryError, RecursionError, OverflowError)
_BLOCK_TYPES = (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
_NOT_A_STATEMENT_START = ("", " ", "\t", "\f", "\n", "\r", "#", "\\")


def _compile(text: str, path: str) -> ast.Module:
    with warnings.catch_warnings():
        # invalid escape sequences etc. are warnings, not errors; keep them off stderr
        warnings.simplefilter("ignore")
        return compile(text, path, "exec", ast.PyCF_ONLY_AST, dont_inherit=True)


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, SyntaxError):
        return f"line {exc.lineno}: {exc.msg}"
    return f"{type(exc).__name__}: {exc}"


def _is_bare_string(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str)


def _norm_stmt(stmt: ast.stmt, child: Callable[[ast.stmt], Any] | None = None) -> Any:
    """A statement's normalized form: ``("block", header, body)`` for classes and functions, else
    text. ``child`` normalizes a block's statements (default: this function)."""
    if isinstance(stmt, _BLOCK_TYPES):
        head = copy.copy(stmt)  # shallow: the original keeps its body (the layout reads it)
        head.body = [ast.Pass()]
        return ("block", ast.unparse(head), _children([(child or _norm_stmt)(s) for s in stmt.body],
                                                       [_is_bare_string(s) for s in stmt.body]))
    return ast.unparse(strip_docstrings(stmt))


def _children(norms: list[Any], bare: list[bool]) -> tuple[Any, ...]:
    """A block's normalized statements without its docstring (a body that was only a docstring
    becomes ``pass``, as :func:`strip_docstrings` makes it)."""
    if bare and bare[0]:
        return tuple(norms[1:]) if len(norms) > 1 else ("pass",)
    return tuple(norms)


def _stmt_line(stmt: ast.stmt) -> int:
    """0-based first line of a statement, its decorators included."""
    return min([stmt.lineno] + [d.lineno for d in getattr(stmt, "decorator_list", ())]) - 1


@dataclass
class _Block:
    """A statement list of the original (module or class/function body) with its segments."""

    stmts: list[ast.stmt]
    norms: list[Any]
    bare: list[bool]
    starts: list[int]  # segment start line indexes, ascending; starts[0] is the block's first line
    first_stmt: list[int]  # per segment, index of its first statement
    end: int  # line index just past the block's last segment
    indent: str
    subs: dict[int, _Block | None] = field(default_factory=dict)

    @classmethod
    def build(cls, stmts: list[ast.stmt], norms: list[Any], lines: list[str], first_line: int, end: int,
              indent: str) -> _Block:
        starts, first, prev_end = [first_line], [0], 0
        width = len(indent)
        for idx, stmt in enumerate(stmts):
            line = _stmt_line(stmt)
            text = lines[line] if line < len(lines) else ""
            starts_line = stmt.col_offset == width if not getattr(stmt, "decorator_list", None) else text[width:width + 1] == "@"
            if (line > starts[-1] and line >= prev_end and text.startswith(indent) and starts_line
                    and text[width:width + 1] not in _NOT_A_STATEMENT_START
                    and not lines[line - 1].rstrip("\n").endswith("\\")):
                starts.append(line)
                first.append(idx)
            prev_end = max(prev_end, stmt.end_lineno or stmt.lineno)
        return cls(stmts, norms, [_is_bare_string(s) for s in stmts], starts, first, end, indent)

    def sub(self, segment: int, lines: list[str]) -> _Block | None:
        """The body block of the one class/function making up ``segment`` (None if there is none)."""
        idx = self.first_stmt[segment]
        if idx in self.subs:
            return self.subs[idx]
        block = None
        stmt = self.stmts[idx]
        last = self.first_stmt[segment + 1] if segment + 1 < len(self.starts) else len(self.stmts)
        if last == idx + 1 and isinstance(stmt, _BLOCK_TYPES) and stmt.body:
            line = _stmt_line(stmt.body[0])
            text = lines[line] if line < len(lines) else ""
            indent = text[: len(text) - len(text.lstrip(" \t"))]
            # the body must start on a line of its own, deeper than the header, in spaces/tabs only
            if line > _stmt_line(stmt) and len(indent) > len(self.indent) and stmt.body[0].col_offset == len(indent):
                end = self.starts[segment + 1] if segment + 1 < len(self.starts) else self.end
                block = _Block.build(stmt.body, self._body_norms(idx), lines, line, end, indent)
        self.subs[idx] = block
        return block

    def _body_norms(self, idx: int) -> list[Any]:
        """The normalized body statements of statement ``idx``, one per statement (docstring too)."""
        children = self.norms[idx][2]
        stmts = self.stmts[idx].body  # type: ignore[attr-defined]
        if not (stmts and _is_bare_string(stmts[0])):
            return list(children)
        # the children lack the docstring (a body of only a docstring reads "pass"): put it back
        return [ast.unparse(stmts[0]), *(children if len(stmts) > 1 else ())]


@dataclass
class _Original:
    """An original file parsed once (or found not to parse)."""

    text: str
    parses: bool
    lines: list[str] = field(default_factory=list)
    root: _Block | None = None  # None: no region checks (the file does not parse, or has lone CRs)
    tree: tuple[Any, ...] = ()
    _norm_text: str | None = None

    def norm_text(self) -> str:
        if self._norm_text is None:
            self._norm_text = normalize_code(self.text)
        return self._norm_text


def _build_original(path: str, text: str) -> _Original:
    try:
        module = _compile(text, path)
    except _PARSE_ERRORS:
        return _Original(text, False)
    norms = [_norm_stmt(s) for s in module.body]
    orig = _Original(text, True, tree=_children(norms, [_is_bare_string(s) for s in module.body]))
    if "\r" not in text:  # the tokenizer counts a lone CR as a line break, split_lines does not
        orig.lines = split_lines(text)
        orig.root = _Block.build(module.body, norms, orig.lines, 0, len(orig.lines), "")
    return orig


@dataclass
class FileAnalysis:
    """One edited file: why its new text is not valid Python (None if it is), whether the original
    parsed, and the normalized change (None when old and new normalize alike)."""

    error: str | None
    original_parses: bool
    change: tuple[Any, ...] | None


class PythonAnalyzer:
    """Syntax checks and normalized changes of edited files, parsing each original once per process.

    Verdicts equal those of compiling the whole new file (:func:`engine.agentless.extract.diffs.syntax_error`);
    only the region around the change is compiled when that is enough to know (see above).
    It keeps up to ``max_originals`` parsed originals and ``max_norms`` normalized statements of
    the samples' regions (by source text; 0 keeps none).
    """

    def __init__(self, max_originals: int = 64, max_norms: int = 4096) -> None:
        self._originals: OrderedDict[tuple[str, str], _Original] = OrderedDict()
        self._max = max_originals
        self._norms: dict[tuple[str, int | None, int | None], Any] = {}
        self._max_norms = max_norms

    def _original(self, path: str, text: str) -> _Original:
        key = (path, text)  # str hashes are cached on the (shared) structure text: a cheap lookup
        orig = self._originals.get(key)
        if orig is None:
            orig = _build_original(path, text)
            self._originals[key] = orig
            if len(self._originals) > self._max:
                self._originals.popitem(last=False)
        else:
            self._originals.move_to_end(key)
        return orig

    def _norm(self, stmt: ast.stmt, lines: list[str], first: int) -> Any:
        """:func:`_norm_stmt` of a statement compiled from ``lines`` (compiled line n is
        ``lines[n - first]``), memoized by its source text (the lines it spans and where in them it
        starts and ends), for the statements of a class or function too: the statements around an
        edit recur unchanged from sample to sample."""
        key = ("".join(lines[_stmt_line(stmt) + 1 - first: (stmt.end_lineno or stmt.lineno) + 1 - first]),
               stmt.col_offset, stmt.end_col_offset)
        norm = self._norms.get(key)
        if norm is None:
            norm = self._norms[key] = _norm_stmt(stmt, lambda s: self._norm(s, lines, first))
            if len(self._norms) > self._max_norms:
                del self._norms[next(iter(self._norms))]  # the oldest (first in, first out is enough here)
        return norm

    def analyze(self, path: str, old: str, new: str, diff: LineDiff | None = None, *,
                regions: bool = True) -> FileAnalysis:
        """Syntax verdict and normalized change of ``new`` (``old`` is the original, "" for a new
        file); ``diff`` is ``line_diff(old, new)`` when the caller has it already.
        ``regions=False`` compiles and normalizes the whole new file (the reference the region
        path must agree with)."""
        orig = self._original(path, old)
        new_tree: tuple[Any, ...] | None = None
        error: str | None = None
        if orig.root is not None and regions:
            d = diff or line_diff(old, new)
            found = self._by_region(orig, path, d, None)
            while isinstance(found, int):  # a region left its block: cut regions one level higher
                found = self._by_region(orig, path, d, found - 1)
            new_tree = found
        if new_tree is None:
            try:
                module = _compile(new, path)
            except _PARSE_ERRORS as exc:
                error = _error_text(exc)
            else:
                new_tree = _children([_norm_stmt(s) for s in module.body], [_is_bare_string(s) for s in module.body])
        change: tuple[Any, ...] | None
        if new_tree is not None and orig.parses:
            change = _tree_change(orig.tree, new_tree, ())
        else:
            norm_new = normalize_code(new)
            change = None if norm_new == orig.norm_text() else ("text", norm_new)
        return FileAnalysis(error, orig.parses, change)

    def _by_region(self, orig: _Original, path: str, diff: LineDiff,
                   max_depth: int | None) -> tuple[Any, ...] | int | None:
        """The new file's normalized tree from its changed regions (in blocks at most ``max_depth``
        deep); None when a region does not parse (the caller compiles the whole file), or the
        depth of a region that left its block (code added after a function's end, a body emptied):
        the caller retries with regions cut higher up."""
        assert orig.root is not None
        a, b = orig.lines, diff.b
        hunks = diff.hunks()
        merged: list[_Region] = []
        for k, (i1, i2, j1, j2) in enumerate(hunks):
            region = _locate(orig.root, a, i1, i2, k, max_depth)
            while merged and (region.lo < merged[-1].hi or (region.lo == merged[-1].hi and region.block is merged[-1].block)):
                region = _merge(merged.pop(), region)
            merged.append(region)
        # where each original line lands in the new text: shifted by the hunks before it
        shift = [0]
        for i1, i2, j1, j2 in hunks:
            shift.append(shift[-1] + (j2 - j1) - (i2 - i1))
        edits: dict[tuple[int, ...], list[_Splice]] = {}
        for r in merged:
            lines = b[r.lo + shift[r.first_hunk]: r.hi + shift[r.last_hunk + 1]]
            text = "".join(lines)
            block = r.block
            p = block.first_stmt[r.i]
            q = block.first_stmt[r.j] if r.j < len(block.starts) else len(block.stmts)
            try:
                if not r.path:
                    stmts = _compile(text, path).body
                else:
                    wrapped = _compile(f"class _:\n{block.indent}pass\n{text}", path).body
                    if len(wrapped) != 1 or not isinstance(wrapped[0], ast.ClassDef):
                        return len(r.path)  # the region left the block's indentation
                    stmts = wrapped[0].body[1:]
            except IndentationError:
                # most often a region that leaves its block (a method added after another's end)
                return len(r.path) if r.path else None
            except _PARSE_ERRORS:
                return None
            # compiled line n is lines[n - first]: after the wrapper's two lines for a body
            first = 3 if r.path else 1
            edits.setdefault(r.path, []).append(
                _Splice(p, q, [self._norm(s, lines, first) for s in stmts], [_is_bare_string(s) for s in stmts]))
        for where, splices in edits.items():
            block = _block_at(orig.root, where)
            if where and len(block.stmts) + sum(len(sp.norms) - (sp.q - sp.p) for sp in splices) == 0:
                return len(where)  # an emptied body: a syntax error the wrappers' pass hides, or
                # a statement removed with its body (seen one level up)
        inner: dict[tuple[int, ...], set[int]] = {}
        for where in edits:
            for depth in range(len(where)):
                inner.setdefault(where[:depth], set()).add(where[depth])
        return _rebuild(orig.root, (), edits, inner)


@dataclass
class _Splice:
    """Statements ``[p, q)`` of a block replaced by new normalized statements."""

    p: int
    q: int
    norms: list[Any]
    bare: list[bool]


def _block_at(root: _Block, where: tuple[int, ...]) -> _Block:
    block = root
    for idx in where:
        sub = block.subs[idx]
        assert sub is not None
        block = sub
    return block


@dataclass
class _Region:
    """Whole segments ``[i, j)`` of one block (lines ``[lo, hi)`` of the original) and the hunks in them."""

    block: _Block
    path: tuple[int, ...]  # statement indexes from the module down to the block
    i: int
    j: int
    first_hunk: int
    last_hunk: int

    @property
    def lo(self) -> int:
        return self.block.starts[self.i]

    @property
    def hi(self) -> int:
        return self.block.starts[self.j] if self.j < len(self.block.starts) else self.block.end


def _locate(root: _Block, lines: list[str], head: int, last: int, hunk: int, max_depth: int | None) -> _Region:
    """The segments of the deepest block (at most ``max_depth`` deep) holding original lines
    ``[head, last)`` (an insertion when equal)."""
    block, path = root, ()
    while True:
        i = bisect.bisect_right(block.starts, head) - 1
        j = bisect.bisect_left(block.starts, last)
        if j == i + 1 and (max_depth is None or len(path) < max_depth):
            sub = block.sub(i, lines)
            if sub is not None and head >= sub.starts[0]:
                path = (*path, block.first_stmt[i])
                block = sub
                continue
        return _Region(block, path, i, max(i, j), hunk, hunk)


def _merge(left: _Region, right: _Region) -> _Region:
    """One region covering two that overlap (or touch in the same block)."""
    first, last = min(left.first_hunk, right.first_hunk), max(left.last_hunk, right.last_hunk)
    if left.block is right.block:
        return _Region(left.block, left.path, min(left.i, right.i), max(left.j, right.j), first, last)
    # overlapping regions of different blocks: one lies inside a segment of the other's block
    outer = left if len(left.path) < len(right.path) else right
    return _Region(outer.block, outer.path, outer.i, outer.j, first, last)


def _rebuild(block: _Block, where: tuple[int, ...], edits: dict[tuple[int, ...], list[_Splice]],
             inner: dict[tuple[int, ...], set[int]]) -> tuple[Any, ...]:
    """A block's new normalized statements: edited bodies below it rebuilt, its own region swapped in."""
    norms, bare = block.norms, block.bare
    kids = inner.get(where, ())
    if kids:
        norms = list(norms)
        for idx in kids:
            kind, header, _ = norms[idx]
            sub = block.subs[idx]
            assert sub is not None
            norms[idx] = (kind, header, _rebuild(sub, (*where, idx), edits, inner))
    # from the back, so indexes stay valid (an insertion before a replacement at the same index last)
    for sp in sorted(edits.get(where, ()), key=lambda sp: (-sp.p, -sp.q)):
        norms = [*norms[:sp.p], *sp.norms, *norms[sp.q:]]
        bare = [*bare[:sp.p], *sp.bare, *bare[sp.q:]]
    return _children(norms, bare)


def _tree_change(old: tuple[Any, ...], new: tuple[Any, ...], where: tuple[int, ...]) -> tuple[Any, ...] | None:
    """Canonical difference of two normalized statement lists, or None when they are equal."""
    limit = min(len(old), len(new))
    head = 0
    while head < limit and (old[head] is new[head] or old[head] == new[head]):
        head += 1
    if head == len(old) == len(new):
        return None
    tail = 0
    while tail < limit - head and (old[-1 - tail] is new[-1 - tail] or old[-1 - tail] == new[-1 - tail]):
        tail += 1
    removed, inserted = old[head: len(old) - tail], new[head: len(new) - tail]
    if len(removed) == len(inserted) == 1 and isinstance(removed[0], tuple) and isinstance(inserted[0], tuple) \
            and removed[0][:2] == inserted[0][:2]:
        return _tree_change(removed[0][2], inserted[0][2], (*where, head))
    return ("ast", where, head, len(removed), inserted)


def normalized_key(changes: Iterable[tuple[str, tuple[Any, ...] | None]]) -> str:
    """The vote key of a sample from its files' ``(path, normalized change)``; "" when nothing
    but comments, docstrings or formatting changed."""
    parts = sorted((path, change) for path, change in changes if change is not None)
    return patch_key(repr(parts)) if parts else ""
