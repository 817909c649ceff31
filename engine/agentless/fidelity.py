"""Check a structure against the checkout it was built from, and an edit's round trip to a patch.

What "the structure reads the repository right" means, file by file:

* every ``.py`` file of the checkout is listed in stage 1's tree text (:meth:`RepoStructure.tree_text`),
  except a root file hidden by a same-named file of a package named like the repository (Agentless's
  layout stores both under one key; the builder warns about it);
* its lines from the structure equal the file's lines as Agentless reads them (decoded, universal
  newlines, a UTF-8 BOM dropped), and with the recorded :class:`FileFormat` its text gives back
  the file's exact bytes.

:func:`plan_edit` makes a SEARCH/REPLACE answer that inserts a comment line in a file of the
deepest folder, and the bytes the file must have after the patch; :func:`apply_and_compare`
applies a patch with ``git apply`` and compares. Used by ``bench/check_real_trees.py`` and the tests.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.agentless.structure import RepoStructure, tree_paths

MARK = "# rollout fidelity check"


@dataclass
class FileCheck:
    """Counts over the checkout's ``.py`` files, and the paths that failed each check."""

    py_files: int = 0
    listed: int = 0
    text_equal: int = 0
    bytes_exact: int = 0
    hidden_root_files: list[str] = field(default_factory=list)
    not_listed: list[str] = field(default_factory=list)
    text_differs: list[str] = field(default_factory=list)
    bytes_differ: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every file not hidden by Agentless's layout is listed and reads the same."""
        return not (self.not_listed or self.text_differs)


def checkout_py_files(repo_dir: str | os.PathLike[str]) -> list[str]:
    """Every ``.py`` file under ``repo_dir`` (``.git`` skipped), repo-relative, sorted."""
    root = Path(repo_dir)
    out = []
    for base, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != ".git"]
        rel = Path(base).relative_to(root)
        out += [(rel / f).as_posix() for f in files if f.endswith(".py") and (Path(base) / f).is_file()]
    return sorted(out)


def structure_path_of(structure: RepoStructure, rel: str) -> str:
    """Where a repo-relative path lives in the structure (root files go under the repo-name key)."""
    return rel if "/" in rel else f"{structure.root_key}/{rel}"


def agentless_lines(data: bytes) -> list[str]:
    """A file's lines as Agentless reads them (text mode: universal newlines; no line for a final
    newline), decoded as the builder does."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    return _lines(text.replace("\r\n", "\n").replace("\r", "\n"))


def _lines(text: str) -> list[str]:
    return text.removesuffix("\n").split("\n") if text else []


def check_files(repo_dir: str | os.PathLike[str], structure: RepoStructure) -> FileCheck:
    """Compare every ``.py`` file of the checkout with the structure (see the module docstring)."""
    listed = set(tree_paths(structure.tree_text(only_py=True)))
    result = FileCheck()
    for rel in checkout_py_files(repo_dir):
        result.py_files += 1
        spath = structure_path_of(structure, rel)
        if "/" not in rel and structure.repo_path(spath) != rel:
            result.hidden_root_files.append(rel)
            continue
        if spath not in listed:
            result.not_listed.append(rel)
            continue
        result.listed += 1
        data = (Path(repo_dir) / rel).read_bytes()
        text = structure.file_text(spath) or ""
        if _lines(text) == agentless_lines(data):
            result.text_equal += 1
        else:
            result.text_differs.append(rel)
        fmt = structure.file_format(spath)
        if fmt.to_disk(text).encode(fmt.encoding) == data:
            result.bytes_exact += 1
        else:
            result.bytes_differ.append(rel)
    return result


@dataclass
class PlannedEdit:
    """A one-block answer editing ``path`` and the bytes the file must have after its patch."""

    path: str  # structure path, as the answer names it
    repo_path: str
    answer: str
    expected: bytes


def _edit_line(lines: list[str], ascii_context: bool) -> int | None:
    """A line that occurs once, ends no continuation, and (for Latin-1 files) has ASCII around it."""
    counts: dict[str, int] = {}
    for line in lines:
        counts[line] = counts.get(line, 0) + 1
    picks = [i for i, line in enumerate(lines)
             if line.strip() and counts[line] == 1 and not line.rstrip().endswith("\\")
             and (not ascii_context or all(x.isascii() for x in lines[max(0, i - 4): i + 5]))]
    return picks[len(picks) // 2] if picks else None


def plan_edit(structure: RepoStructure, path: str | None = None) -> PlannedEdit | None:
    """An edit of ``path``, else of a file in the deepest folder that has a usable line."""
    files = [path] if path else sorted(structure.python_files(), key=lambda p: (-p.count("/"), p))
    for path in files:
        text = structure.file_text(path)
        if not text:
            continue
        fmt = structure.file_format(path)
        lines = _lines(text)
        i = _edit_line(lines, ascii_context=fmt.encoding != "utf-8")
        if i is None:
            continue
        line = lines[i]
        indent = line[: len(line) - len(line.lstrip())]
        answer = (f"Inserting a comment.\n\n### {path}\n```python\n<<<<<<< SEARCH\n{line}\n=======\n"
                  f"{line}\n{indent}{MARK}\n>>>>>>> REPLACE\n```\n")
        new_lines = lines[: i + 1] + [indent + MARK] + lines[i + 1:]
        new_text = "\n".join(new_lines) + ("\n" if text.endswith("\n") else "")
        return PlannedEdit(path, structure.repo_path(path), answer, fmt.to_disk(new_text).encode(fmt.encoding))
    return None


def response_line(custom_id: str, answer: str, model: str = "fidelity-check") -> dict[str, Any]:
    """An OpenAI Batch output line whose answer is ``answer``."""
    body = {"id": "chatcmpl-check", "object": "chat.completion", "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}]}
    return {"id": f"batch_req_{custom_id}", "custom_id": custom_id,
            "response": {"status_code": 200, "request_id": "", "body": body}, "error": None}


def apply_and_compare(repo_dir: str | os.PathLike[str], patch: str, edit: PlannedEdit) -> str | None:
    """Apply ``patch`` with ``git apply`` in ``repo_dir``; None when it applies and the edited file
    has the expected bytes, else what went wrong. The file is put back as it was either way."""
    target = Path(repo_dir) / edit.repo_path
    before = target.read_bytes()
    proc = subprocess.run(["git", "apply", "--whitespace=nowarn", "-"], cwd=repo_dir, input=patch.encode("utf-8"),
                          capture_output=True, check=False)
    if proc.returncode != 0:
        return f"git apply refused the patch: {proc.stderr.decode('utf-8', 'replace').strip()}"
    try:
        after = target.read_bytes()
        return None if after == edit.expected else f"{edit.repo_path}: the patched file differs from the expected bytes"
    finally:
        target.write_bytes(before)
