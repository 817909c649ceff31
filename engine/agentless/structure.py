"""Read Agentless repo-structure JSON: ``{"repo", "base_commit", "structure", "instance_id"}``.

``structure`` is a tree of dicts: a folder maps names to children; a ``.py`` file is
``{"classes", "functions", "text"}``; other files are ``{}``. The top-level keys are the repo's
top-level folders plus a key named after the checkout (the repo name) holding the root's files;
a top-level folder with that same name merges into it. A file's repo-relative path is its key path.
``text`` is the file split on "\\n" (a list) or "" when Agentless could not parse it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import orjson

from engine.errors import InputError


def is_file_node(node: Any) -> bool:
    """Files are ``{}`` (non-Python) or dicts with a ``text`` key; folders are other dicts."""
    return isinstance(node, dict) and (not node or "text" in node or "classes" in node or "functions" in node)


def node_text(node: dict[str, Any]) -> str | None:
    """A file node's content: lines joined with "\\n" plus the final newline; None when not stored."""
    text = node.get("text")
    if isinstance(text, list):
        return "\n".join(text) + "\n" if text else ""
    if isinstance(text, str) and text:
        return text
    return None


@dataclass
class RepoStructure:
    """One instance's repository structure, with path lookups and prompt-ready trees."""

    repo: str
    instance_id: str
    base_commit: str
    structure: dict[str, Any]

    @property
    def root_key(self) -> str:
        """The key holding the repo root's files (the checkout folder's name, e.g. ``requests``)."""
        return self.repo.rsplit("/", 1)[-1]

    def iter_files(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """``(path, node)`` for every file, depth-first in key order."""
        stack: list[tuple[str, dict[str, Any]]] = [("", self.structure)]
        while stack:
            prefix, folder = stack.pop()
            children = []
            for name, child in folder.items():
                path = f"{prefix}{name}"
                if is_file_node(child):
                    children.append((path, child, True))
                elif isinstance(child, dict):
                    children.append((path, child, False))
            for path, child, is_file in children:
                if is_file:
                    yield path, child
            for path, child, is_file in reversed(children):
                if not is_file:
                    stack.append((path + "/", child))

    def python_files(self) -> list[str]:
        return [p for p, _ in self.iter_files() if p.endswith(".py")]

    def get(self, path: str) -> dict[str, Any] | None:
        """The node at a repo-relative path, or None."""
        node: Any = self.structure
        for part in path.strip("/").split("/"):
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
        return node if isinstance(node, dict) and is_file_node(node) else None

    def resolve_path(self, path: str) -> str | None:
        """A path as the structure knows it: exact, else under a first-level folder (root files)."""
        path = path.strip().strip("/").removeprefix("./")
        if not path:
            return None
        if self.get(path) is not None:
            return path
        for top, child in self.structure.items():
            if isinstance(child, dict) and not is_file_node(child) and self.get(f"{top}/{path}") is not None:
                return f"{top}/{path}"
        return None

    def file_text(self, path: str) -> str | None:
        node = self.get(path)
        return node_text(node) if node is not None else None

    def files_text(self, only_py: bool = True) -> dict[str, str]:
        """Every (Python) file's content by path; files stored without text are left out."""
        out: dict[str, str] = {}
        for path, node in self.iter_files():
            if only_py and not path.endswith(".py"):
                continue
            text = node_text(node)
            if text is not None:
                out[path] = text
        return out

    def tree_text(self, only_py: bool = True, indent: str = "    ") -> str:
        """An indented tree of folders and (Python) files, as localization prompts show it."""
        lines: list[str] = []

        def walk(folder: dict[str, Any], depth: int) -> bool:
            shown = False
            for name in sorted(folder):
                child = folder[name]
                if is_file_node(child):
                    if not only_py or name.endswith(".py"):
                        lines.append(f"{indent * depth}{name}")
                        shown = True
                elif isinstance(child, dict):
                    mark = len(lines)
                    lines.append(f"{indent * depth}{name}/")
                    if walk(child, depth + 1):
                        shown = True
                    else:
                        del lines[mark:]
            return shown

        walk(self.structure, 0)
        return "\n".join(lines) + ("\n" if lines else "")


def parse_structure(data: Any, source: str = "<structure>") -> RepoStructure:
    """Check and wrap a loaded structure JSON object."""
    if not isinstance(data, dict) or not isinstance(data.get("structure"), dict):
        raise InputError(f"{source}: not an Agentless repo structure (no 'structure' object): regenerate it with 'rollout agentless structure'")
    return RepoStructure(
        repo=str(data.get("repo") or ""),
        instance_id=str(data.get("instance_id") or Path(source).stem),
        base_commit=str(data.get("base_commit") or ""),
        structure=data["structure"],
    )


def load_structure_file(path: str | os.PathLike[str]) -> RepoStructure:
    """Load one structure JSON file; InputError (one line) when missing or malformed."""
    p = Path(path)
    try:
        data = orjson.loads(p.read_bytes())
    except FileNotFoundError:
        raise InputError(f"{p}: structure file not found: build it with 'rollout agentless structure' or check --repostructure_dir") from None
    except orjson.JSONDecodeError as exc:
        raise InputError(f"{p}: invalid JSON ({exc.msg}): regenerate the structure file") from None
    return parse_structure(data, str(p))


def structure_path(repostructure_dir: str | os.PathLike[str], instance_id: str) -> Path:
    return Path(repostructure_dir) / f"{instance_id}.json"


def load_structure(repostructure_dir: str | os.PathLike[str], instance_id: str) -> RepoStructure | None:
    """The structure of ``instance_id`` from ``<dir>/<instance_id>.json``; None when it has none."""
    p = structure_path(repostructure_dir, instance_id)
    if not p.is_file():
        return None
    return load_structure_file(p)
