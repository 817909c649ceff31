"""Unified diffs for edited files, checked by parsing them back, plus in-process syntax checks.

One ``diff --git a/<path> b/<path>`` section per file, each file exactly once (the seed wrote
each file's diff twice). Lines are split on "\\n" only, as git does, so form feeds and Unicode
line separators inside a line stay inside it. A missing final newline gets git's
``\\ No newline at end of file`` marker. Only the changed region (plus context) goes through
difflib: the common head and tail of the two texts are skipped, which keeps big files cheap.
"""

from __future__ import annotations

import ast
import bisect
import difflib
import re
import warnings
from collections import Counter
from dataclasses import dataclass

import unidiff

CONTEXT = 3
NO_NEWLINE = "\\ No newline at end of file\n"


def split_lines(text: str) -> list[str]:
    """``text`` as lines that keep their "\\n" (the last one may lack it)."""
    if not text:
        return []
    parts = text.split("\n")
    lines = [p + "\n" for p in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def common_ends(a: list[str], b: list[str]) -> tuple[int, int]:
    """``(head, tail)``: how many leading and trailing lines ``a`` and ``b`` share (not overlapping)."""
    limit = min(len(a), len(b))
    head = 0
    while head < limit and a[head] == b[head]:
        head += 1
    tail = 0
    while tail < limit - head and a[-1 - tail] == b[-1 - tail]:
        tail += 1
    return head, tail


def _range(start: int, length: int) -> str:
    # difflib's _format_range_unified: 1-based start; an empty range names the line before it
    beginning = start + 1
    if length == 1:
        return f"{beginning}"
    if not length:
        beginning -= 1
    return f"{beginning},{length}"


def _emit(out: list[str], prefix: str, line: str) -> None:
    if line.endswith("\n"):
        out.append(prefix + line)
    else:
        out.append(prefix + line + "\n")
        out.append(NO_NEWLINE)


def _lis_pairs(pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The longest run of pairs increasing in both coordinates (pairs come sorted by the first)."""
    tails: list[int] = []  # index into pairs of the smallest tail of each run length
    prev: list[int] = [-1] * len(pairs)
    tail_js: list[int] = []
    for k, (_, j) in enumerate(pairs):
        pos = bisect.bisect_left(tail_js, j)
        if pos > 0:
            prev[k] = tails[pos - 1]
        if pos == len(tails):
            tails.append(k)
            tail_js.append(j)
        else:
            tails[pos] = k
            tail_js[pos] = j
    out: list[tuple[int, int]] = []
    k = tails[-1] if tails else -1
    while k >= 0:
        out.append(pairs[k])
        k = prev[k]
    return out[::-1]


class _AnchoredMatcher(difflib.SequenceMatcher):
    """difflib's grouping over a patience-style match: lines unique in both texts anchor the
    alignment and difflib only runs on the small gaps between anchors (edits are local, files are
    big). The output is an ordinary, valid line diff; it is checked by parsing it back."""

    def __init__(self, a: list[str], b: list[str]) -> None:  # noqa: D107
        # no SequenceMatcher.__init__: its index of ``b`` (set_seqs) is never used here, only the
        # opcodes computed below, and building it costs as much as the matching
        self.isjunk, self.autojunk = None, False
        self.a, self.b = a, b
        self._ops: list[tuple[str, int, int, int, int]] | None = None

    def get_opcodes(self) -> list[tuple[str, int, int, int, int]]:  # type: ignore[override]
        if self._ops is None:
            self._ops = self._anchored_opcodes()
        return self._ops

    def _anchored_opcodes(self) -> list[tuple[str, int, int, int, int]]:
        a, b = self.a, self.b
        count_a, count_b = Counter(a), Counter(b)  # counted in C
        pos_b = {line: j for j, line in enumerate(b)}  # the last position: only unique lines are used
        pairs = [(i, pos_b[line]) for i, line in enumerate(a)
                 if count_a[line] == 1 and count_b.get(line) == 1]
        js = [j for _, j in pairs]
        # edits rarely move lines: then every unique pair is in order and the LIS is all of them
        anchors = pairs if js == sorted(js) else _lis_pairs(pairs)
        ops: list[tuple[str, int, int, int, int]] = []

        def add(tag: str, i1: int, i2: int, j1: int, j2: int) -> None:
            if i1 == i2 and j1 == j2:
                return
            if ops and tag == "equal" and ops[-1][0] == "equal":
                ops[-1] = ("equal", ops[-1][1], i2, ops[-1][3], j2)
            else:
                ops.append((tag, i1, i2, j1, j2))

        # runs of consecutive anchors (ai, bj, length): long unchanged stretches cost one step
        runs: list[tuple[int, int, int]] = []
        for ai, bj in anchors:
            if runs and runs[-1][0] + runs[-1][2] == ai and runs[-1][1] + runs[-1][2] == bj:
                runs[-1] = (runs[-1][0], runs[-1][1], runs[-1][2] + 1)
            else:
                runs.append((ai, bj, 1))
        runs.append((len(a), len(b), 0))
        pi = pj = 0
        for ai, bj, length in runs:
            if pi == ai or pj == bj:
                add("delete" if pj == bj else "insert", pi, ai, pj, bj)
            elif a[pi:ai] == b[pj:bj]:
                add("equal", pi, ai, pj, bj)
            else:
                sub = difflib.SequenceMatcher(None, a[pi:ai], b[pj:bj], autojunk=False)
                for tag, i1, i2, j1, j2 in sub.get_opcodes():
                    add(tag, i1 + pi, i2 + pi, j1 + pj, j2 + pj)
            if length:
                add("equal", ai, ai + length, bj, bj + length)
            pi, pj = ai + length, bj + length
        if not ops:
            ops.append(("equal", 0, len(a), 0, len(b)))
        return ops


@dataclass
class LineDiff:
    """Two texts as lines and the line diff between them, computed once for the patch text and the
    syntax check / normalization of the edited file (:mod:`engine.agentless.extract.normalize`)."""

    a: list[str]
    b: list[str]
    lo: int  # where the matcher's window starts in both texts
    matcher: difflib.SequenceMatcher

    def hunks(self) -> list[tuple[int, int, int, int]]:
        """The changed line ranges ``(i1, i2, j1, j2)`` (``a[i1:i2]`` became ``b[j1:j2]``), in order."""
        lo = self.lo
        return [(i1 + lo, i2 + lo, j1 + lo, j2 + lo)
                for tag, i1, i2, j1, j2 in self.matcher.get_opcodes() if tag != "equal"]


def line_diff(old: str, new: str, context: int = CONTEXT) -> LineDiff:
    """Split ``old`` and ``new`` into lines and match them (only the changed window plus context)."""
    a, b = split_lines(old), split_lines(new)
    # skip the common head and tail (keeping room for context) so difflib sees only the change
    head, tail = common_ends(a, b)
    lo = max(0, head - context)
    a_hi, b_hi = len(a) - max(0, tail - context), len(b) - max(0, tail - context)
    return LineDiff(a, b, lo, _AnchoredMatcher(a[lo:a_hi], b[lo:b_hi]))


def file_diff(path: str, old: str, new: str, *, new_file: bool = False, context: int = CONTEXT,
              diff: LineDiff | None = None) -> str:
    """The ``diff --git`` section turning ``old`` into ``new`` for ``path``; "" when equal.

    ``diff`` is ``line_diff(old, new)`` when the caller has it already.
    """
    if old == new and not new_file:
        return ""
    d = diff or line_diff(old, new, context)
    a, b, lo = d.a, d.b, d.lo
    out = [f"diff --git a/{path} b/{path}\n"]
    if new_file:
        out += ["new file mode 100644\n", "--- /dev/null\n", f"+++ b/{path}\n"]
    else:
        out += [f"--- a/{path}\n", f"+++ b/{path}\n"]
    for group in d.matcher.get_grouped_opcodes(context):
        i1, i2, j1, j2 = group[0][1] + lo, group[-1][2] + lo, group[0][3] + lo, group[-1][4] + lo
        out.append(f"@@ -{_range(i1, i2 - i1)} +{_range(j1, j2 - j1)} @@\n")
        for tag, s1, s2, t1, t2 in group:
            if tag == "equal":
                for line in a[s1 + lo: s2 + lo]:
                    _emit(out, " ", line)
                continue
            if tag in ("replace", "delete"):
                for line in a[s1 + lo: s2 + lo]:
                    _emit(out, "-", line)
            if tag in ("replace", "insert"):
                for line in b[t1 + lo: t2 + lo]:
                    _emit(out, "+", line)
    return "".join(out)


def new_file_diff(path: str, content: str) -> str:
    """A patch creating ``path`` with ``content`` (reproduction scripts)."""
    return file_diff(path, "", content, new_file=True)


_HUNK_HEADER_RE = re.compile(r"^@@ -(\d+)(,\d+)? \+(\d+)(,\d+)? @@", re.MULTILINE)


def canonical_hunk_headers(patch: str) -> str:
    """Hunk headers with explicit lengths (``@@ -5 +5 @@`` → ``@@ -5,1 +5,1 @@``), as unidiff prints them.

    This is the one thing unidiff normalizes when a patch is printed back; comparing canonical
    forms makes "round-trips unchanged" exact about everything else.
    """
    return _HUNK_HEADER_RE.sub(lambda m: f"@@ -{m.group(1)}{m.group(2) or ',1'} +{m.group(3)}{m.group(4) or ',1'} @@", patch)


@dataclass
class PatchCheck:
    """The result of parsing a patch back: files in order, and a problem or None."""

    files: list[str]
    problem: str | None = None


def check_patch(patch: str, expected_files: list[str] | None = None) -> PatchCheck:
    """Parse ``patch`` with unidiff; it must round-trip unchanged and name each file once."""
    if not patch:
        return PatchCheck([], None)
    try:
        parsed = unidiff.PatchSet(patch)
    except unidiff.UnidiffParseError as exc:
        return PatchCheck([], f"unidiff cannot parse the patch: {exc}")
    files = [pf.path for pf in parsed]
    if len(set(files)) != len(files):
        return PatchCheck(files, "a file appears more than once in the patch")
    if expected_files is not None and files != expected_files:
        return PatchCheck(files, f"the patch names {files}, expected {expected_files}")
    if str(parsed) != patch and str(parsed) != canonical_hunk_headers(patch):
        return PatchCheck(files, "the patch does not round-trip through unidiff")
    return PatchCheck(files, None)


def syntax_error(path: str, text: str) -> str | None:
    """Why ``text`` is not valid Python 3 (``"line N: message"``), or None. In-process, no subprocess."""
    try:
        with warnings.catch_warnings():
            # invalid escape sequences etc. are warnings, not errors; keep them off stderr
            warnings.simplefilter("ignore")
            compile(text, path, "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
    except SyntaxError as exc:
        return f"line {exc.lineno}: {exc.msg}"
    except (ValueError, MemoryError, RecursionError) as exc:  # null bytes, absurd nesting
        return f"{type(exc).__name__}: {exc}"
    return None
