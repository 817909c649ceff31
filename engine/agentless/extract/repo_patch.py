"""Patch sections in the repository's own terms: its real paths and its files' own bytes.

The structure stores every file as text with "\\n" line ends and a final newline, and the root's
files under the repo-name key. A patch must name the real path and match the file's bytes, so
a section is written for the file as it is on disk: CRLF line ends, no final newline, a BOM
(:class:`engine.agentless.structure.FileFormat`). Files of the default form (nearly all) take
the fast path with the line diff the caller already has.
"""

from __future__ import annotations

from engine.agentless.extract.diffs import LineDiff, file_diff
from engine.agentless.structure import RepoStructure


def repo_file_diff(structure: RepoStructure, path: str, old: str, new: str, *, new_file: bool = False,
                   diff: LineDiff | None = None) -> str:
    """The ``diff --git`` section for structure path ``path``, named and shaped as in the checkout.

    ``diff`` (``line_diff(old, new)``) is reused when the file's bytes are its text.
    """
    if new_file:
        return file_diff(path, old, new, new_file=True, diff=diff)
    fmt = structure.file_format(path)
    real = structure.repo_path(path)
    if fmt.is_default:
        return file_diff(real, old, new, diff=diff)
    return file_diff(real, fmt.to_disk(old), fmt.to_disk(new))


def repo_paths(structure: RepoStructure, paths: list[str], new_files: list[str]) -> list[str]:
    """The real paths a patch of ``paths`` names (new files are named as the answer gave them)."""
    return [p if p in new_files else structure.repo_path(p) for p in paths]
