"""SWE-bench predictions: read (JSONL or a JSON list) and validate.

A prediction is ``{"instance_id", "model_name_or_path", "model_patch"}``. Validation checks the
fields, that each instance appears once, that ``model_patch`` parses with unidiff and reproduces
itself exactly when printed back (so no line was silently dropped, e.g. a hunk longer than its
header says), and that no file appears twice in one patch and no hunk repeats (the seed's stage 3
appended each file's diff twice). Empty patches are warnings: the harness counts them as
``empty_patch``. Every problem names the file line (and the patch line when it is about the patch).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import unidiff

from engine.batchio import Problem
from engine.errors import InputError
from engine.agentless.extract.diffs import canonical_hunk_headers

REQUIRED_FIELDS = ("instance_id", "model_name_or_path", "model_patch")


@dataclass
class PredictionsReport:
    """Everything validate found: hard problems, warnings, and counts."""

    path: str
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    predictions: int = 0
    empty_patches: int = 0
    files_in_patches: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def _is_json_list(path: Path) -> bool:
    with open(path, "rb") as fh:
        while True:
            chunk = fh.read(4096)
            if not chunk:
                return False
            stripped = chunk.lstrip()
            if stripped:
                return stripped.startswith(b"[")


def iter_predictions(path: str | os.PathLike[str]) -> Iterator[tuple[int, Any, Problem | None]]:
    """``(line, object, problem)`` for each prediction of a JSONL file or a JSON list file.

    For a JSON list, ``line`` is where the element starts. A line that is not JSON yields
    ``(line, None, problem)``.
    """
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: predictions file not found: check the path")
    if _is_json_list(p):
        text = p.read_text(encoding="utf-8", errors="surrogateescape")
        decoder = json.JSONDecoder()
        pos = text.index("[") + 1
        while True:
            while pos < len(text) and text[pos] in " \t\r\n,":
                pos += 1
            if pos >= len(text):
                yield text.count("\n", 0, pos) + 1, None, Problem(str(p), text.count("\n") + 1, "the JSON list is not closed", "end it with ']'")
                return
            if text[pos] == "]":
                return
            line = text.count("\n", 0, pos) + 1
            try:
                obj, pos = decoder.raw_decode(text, pos)
            except json.JSONDecodeError as exc:
                yield line, None, Problem(str(p), exc.lineno, f"invalid JSON ({exc.msg})", "fix the list element")
                return
            yield line, obj, None
    else:
        with open(p, "rb") as fh:
            for lineno, raw in enumerate(fh, 1):
                if not raw.strip():
                    continue
                try:
                    yield lineno, json.loads(raw), None
                except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                    yield lineno, None, Problem(str(p), lineno, f"invalid JSON ({exc})", "each line must be one prediction object")


def patch_problems(patch: str) -> list[str]:
    """What is wrong with one ``model_patch`` (empty list when fine); messages name patch lines."""
    try:
        parsed = unidiff.PatchSet(patch)
    except unidiff.UnidiffParseError as exc:
        return [f"model_patch does not parse as a unified diff ({exc})"]
    if len(parsed) == 0:
        return ["model_patch holds no file diff (no '--- a/... +++ b/...' headers)"]
    out: list[str] = []
    # where each file's header starts, to name the patch lines of duplicates
    header_lines: dict[str, list[int]] = {}
    lines = patch.split("\n")
    for i, line in enumerate(lines, 1):
        if line.startswith("+++ "):
            target = line[4:].split("\t")[0].strip()
            name = target.removeprefix("b/")
            if name == "/dev/null" and i >= 2 and lines[i - 2].startswith("--- "):
                src = lines[i - 2][4:].split("\t")[0].strip()
                name = src.removeprefix("a/")
            # name the section's first line: "diff --git" when present, else "---"
            start = i - 2 if i >= 3 and lines[i - 3].startswith("diff --git ") else i - 1
            header_lines.setdefault(name, []).append(start)
    seen: dict[str, int] = {}
    for pf in parsed:
        seen[pf.path] = seen.get(pf.path, 0) + 1
    for path, count in seen.items():
        if count > 1:
            at = header_lines.get(path, [])
            where = f" (headers at patch lines {', '.join(map(str, at))})" if at else ""
            out.append(f"{path} appears {count} times in model_patch{where}: each file's diff must appear once")
    for pf in parsed:
        hunks: dict[str, int] = {}
        for hunk in pf:
            body = str(hunk)
            if body in hunks:
                out.append(f"{pf.path}: hunk '@@ -{hunk.source_start},{hunk.source_length} "
                           f"+{hunk.target_start},{hunk.target_length} @@' repeats (first as hunk {hunks[body] + 1})")
            hunks.setdefault(body, len(hunks))
    printed = str(parsed)
    canonical = canonical_hunk_headers(patch)
    if printed != canonical and printed != canonical.rstrip("\n") and printed + "\n" != canonical:
        a, b = canonical.split("\n"), printed.split("\n")
        first = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
        out.append(f"model_patch line {first + 1}: lines not covered by any hunk header count "
                   f"({a[first][:60]!r} is dropped when parsed): fix the hunk lengths")
    return out


def validate_predictions(path: str | os.PathLike[str]) -> PredictionsReport:
    """Check every prediction of ``path``; streaming for JSONL."""
    report = PredictionsReport(str(path))
    first_line: dict[str, int] = {}
    for lineno, obj, problem in iter_predictions(path):
        if problem is not None:
            report.problems.append(problem)
            continue
        report.predictions += 1
        if not isinstance(obj, dict):
            report.problems.append(Problem(str(path), lineno, f"not a JSON object (got {type(obj).__name__})",
                                           'a prediction is {"instance_id", "model_name_or_path", "model_patch"}'))
            continue
        missing = [k for k in REQUIRED_FIELDS if k not in obj]
        if missing:
            report.problems.append(Problem(str(path), lineno, f"missing {', '.join(repr(k) for k in missing)}",
                                           'a prediction is {"instance_id", "model_name_or_path", "model_patch"}'))
        iid = obj.get("instance_id")
        if "instance_id" in obj and (not isinstance(iid, str) or not iid):
            report.problems.append(Problem(str(path), lineno, "instance_id must be a non-empty string"))
            iid = None
        if "model_name_or_path" in obj and (not isinstance(obj["model_name_or_path"], str) or not obj["model_name_or_path"]):
            report.problems.append(Problem(str(path), lineno, "model_name_or_path must be a non-empty string"))
        if isinstance(iid, str):
            first = first_line.setdefault(iid, lineno)
            if first != lineno:
                report.problems.append(Problem(str(path), lineno, f"duplicate instance_id {iid!r} (first on line {first})",
                                               "keep one prediction per instance: the harness keeps only the last"))
        label = f"{iid}: " if isinstance(iid, str) else ""
        patch = obj.get("model_patch")
        if "model_patch" not in obj:
            continue
        if patch is None or patch == "":
            report.empty_patches += 1
            report.warnings.append(Problem(str(path), lineno, f"{label}empty model_patch (counted as empty_patch by the harness)"))
            continue
        if not isinstance(patch, str):
            report.problems.append(Problem(str(path), lineno, f"{label}model_patch must be a string"))
            continue
        if "\r\n" in patch:
            report.warnings.append(Problem(str(path), lineno, f"{label}model_patch has CRLF line ends"))
        for msg in patch_problems(patch):
            report.problems.append(Problem(str(path), lineno, label + msg))
        try:
            report.files_in_patches += len(unidiff.PatchSet(patch))
        except unidiff.UnidiffParseError:
            pass
    if report.predictions == 0 and not report.problems:
        report.problems.append(Problem(str(path), 0, "no predictions in the file", "write one prediction per line"))
    return report
