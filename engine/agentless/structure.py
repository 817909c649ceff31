"""Read Agentless repo-structure JSON: ``{"repo", "base_commit", "structure", "instance_id"}``.

``structure`` is a tree of dicts: a folder maps names to children; a ``.py`` file is
``{"classes", "functions", "text"}``; other files are ``{}``. The top-level keys are the repo's
top-level folders plus a key named after the checkout (the repo name) holding the root's files;
a top-level folder with that same name merges into it. A file's path is its key path.
``text`` is the file split on "\\n" (a list) or "" when Agentless could not parse it.

A node is a file only by its shape, as Agentless's own reader decides
(``get_full_file_paths_and_classes_and_functions``): exactly the keys classes, functions and text,
classes and functions lists, text a list (or the "" Agentless stores for a file it could not
parse); ``{}`` is a non-Python file. Anything else is a folder, so real folders named
``classes``, ``functions`` or ``text`` stay folders.

Two optional top-level keys, written by ``rollout agentless structure`` and ignored by Agentless,
let stage 3 write patches that apply to the real files byte for byte:

* ``file_formats``: ``{path: {"newline": "\\r\\n", "final_newline": false, "bom": true,
  "encoding": "latin-1"}}`` for the files whose bytes are not their text with "\\n" line ends
  and a final newline (only the fields that differ);
* ``repo_paths``: ``{path: repo-relative path}`` where the two differ (the root's files, stored
  under the repo-name key).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import orjson

from engine.errors import InputError

FILE_KEYS = frozenset(("classes", "functions", "text"))
BOM = "\ufeff"


class StructureInvalid(InputError):
    """A structure file that exists but cannot be read as one (bad JSON, wrong shape)."""


def is_file_node(node: Any) -> bool:
    """Agentless's rule: ``{}``, or exactly classes/functions/text with list values (text may be "")."""
    if not isinstance(node, dict):
        return False
    if not node:
        return True
    return (node.keys() == FILE_KEYS and isinstance(node["classes"], list)
            and isinstance(node["functions"], list) and isinstance(node["text"], (list, str)))


def node_text(node: dict[str, Any]) -> str | None:
    """A file node's content: lines joined with "\\n" plus the final newline; None when not stored."""
    text = node.get("text")
    if isinstance(text, list):
        return "\n".join(text) + "\n" if text else ""
    if isinstance(text, str) and text:
        return text
    return None


@dataclass(frozen=True)
class FileFormat:
    """How a file's bytes differ from its structure text (``"\\n"`` line ends, a final newline)."""

    newline: str = "\n"  # "\r\n" or "\r" when every line ends so; "mixed" is recorded, not restored
    final_newline: bool = True
    bom: bool = False
    encoding: str = "utf-8"

    @classmethod
    def from_json(cls, obj: Any) -> FileFormat:
        if not isinstance(obj, dict):
            return DEFAULT_FORMAT
        return cls(newline=str(obj.get("newline", "\n")), final_newline=bool(obj.get("final_newline", True)),
                   bom=bool(obj.get("bom", False)), encoding=str(obj.get("encoding", "utf-8")))

    def to_json(self) -> dict[str, Any]:
        """Only the fields that differ from the default."""
        default = DEFAULT_FORMAT
        return {k: v for k, v in (("newline", self.newline), ("final_newline", self.final_newline),
                                  ("bom", self.bom), ("encoding", self.encoding)) if getattr(default, k) != v}

    @property
    def is_default(self) -> bool:
        return self == DEFAULT_FORMAT

    def to_disk(self, text: str) -> str:
        """The file as it is on disk, for a text in the structure's form (decoded, "\\n" ends)."""
        if self.is_default:
            return text
        if not self.final_newline and text.endswith("\n"):
            text = text[:-1]
        if self.newline in ("\r\n", "\r"):
            text = text.replace("\n", self.newline)
        return BOM + text if self.bom else text


DEFAULT_FORMAT = FileFormat()


@dataclass
class RepoStructure:
    """One instance's repository structure, with path lookups and prompt-ready trees."""

    repo: str
    instance_id: str
    base_commit: str
    structure: dict[str, Any]
    file_formats: dict[str, FileFormat] = field(default_factory=dict)
    repo_paths: dict[str, str] = field(default_factory=dict)

    @property
    def root_key(self) -> str:
        """The key holding the repo root's files (the checkout folder's name, e.g. ``requests``)."""
        return self.repo.rsplit("/", 1)[-1]

    def iter_files(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """``(path, node)`` for every file, depth-first in key order (a folder's files first)."""
        stack: list[tuple[str, dict[str, Any]]] = [("", self.structure)]
        while stack:
            prefix, folder = stack.pop()
            folders = []
            for name, child in folder.items():
                if is_file_node(child):
                    yield f"{prefix}{name}", child
                elif isinstance(child, dict):
                    folders.append((f"{prefix}{name}/", child))
            stack.extend(reversed(folders))

    def python_files(self) -> list[str]:
        return [p for p, _ in self.iter_files() if p.endswith(".py")]

    def get(self, path: str) -> dict[str, Any] | None:
        """The file node at a path of the structure, or None (folders are not files)."""
        node: Any = self.structure
        for part in path.strip("/").split("/"):
            if not isinstance(node, dict) or is_file_node(node) or part not in node:
                return None
            node = node[part]
        return node if is_file_node(node) else None

    def resolve_path(self, path: str) -> str | None:
        """A path as the structure knows it: exact; else a repo path (a root file is stored under
        the repo-name key); else the path under a first-level folder."""
        path = path.strip().strip("/").removeprefix("./")
        if not path:
            return None
        if self.get(path) is not None:
            return path
        for spath, rpath in self.repo_paths.items():
            if rpath == path:
                return spath
        for top, child in self.structure.items():
            if isinstance(child, dict) and not is_file_node(child) and self.get(f"{top}/{path}") is not None:
                return f"{top}/{path}"
        return None

    def repo_path(self, path: str) -> str:
        """The repository-relative path of a structure path (what a patch names).

        Builder-written structures say it (``repo_paths``). For others: a file directly under the
        repo-name key is a root file when that key holds no package (no ``__init__.py``, no
        subfolder), as with flask's src layout; where a package named like the repository merged
        into it, the structure cannot tell the two apart and the path stays as stored (Agentless's
        own behaviour).
        """
        if path in self.repo_paths:
            return self.repo_paths[path]
        if self.repo_paths or "/" not in path:
            return path
        top, rest = path.split("/", 1)
        if top != self.root_key or "/" in rest:
            return path
        folder = self.structure.get(top)
        if isinstance(folder, dict) and "__init__.py" not in folder and all(is_file_node(c) for c in folder.values()):
            return rest
        return path

    def file_format(self, path: str) -> FileFormat:
        """How ``path``'s bytes differ from its text (the default: "\\n" ends, final newline)."""
        return self.file_formats.get(path, DEFAULT_FORMAT)

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
        """An indented tree of folders and (Python) files, as localization prompts show it.

        Folders end in "/"; folders with no file shown are left out.
        """
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


def tree_paths(tree: str, indent: str = "    ") -> list[str]:
    """The file paths an indented tree (:meth:`RepoStructure.tree_text`) shows, in order."""
    stack: list[str] = []
    out: list[str] = []
    for line in tree.splitlines():
        name = line.lstrip(" ")
        depth = (len(line) - len(name)) // len(indent)
        del stack[depth:]
        if name.endswith("/"):
            stack.append(name[:-1])
        else:
            out.append("/".join([*stack, name]))
    return out


def parse_structure(data: Any, source: str = "<structure>") -> RepoStructure:
    """Check and wrap a loaded structure JSON object."""
    if not isinstance(data, dict) or not isinstance(data.get("structure"), dict):
        raise StructureInvalid(f"{source}: not an Agentless repo structure (no 'structure' object): regenerate it with 'rollout agentless structure'")
    formats = data.get("file_formats")
    paths = data.get("repo_paths")
    return RepoStructure(
        repo=str(data.get("repo") or ""),
        instance_id=str(data.get("instance_id") or Path(source).stem),
        base_commit=str(data.get("base_commit") or ""),
        structure=data["structure"],
        file_formats={str(k): FileFormat.from_json(v) for k, v in formats.items()} if isinstance(formats, dict) else {},
        repo_paths={str(k): str(v) for k, v in paths.items()} if isinstance(paths, dict) else {},
    )


def load_structure_file(path: str | os.PathLike[str]) -> RepoStructure:
    """Load one structure JSON file; InputError (one line) when missing or malformed."""
    p = Path(path)
    try:
        data = orjson.loads(p.read_bytes())
    except FileNotFoundError:
        raise InputError(f"{p}: structure file not found: build it with 'rollout agentless structure' or check --repostructure_dir") from None
    except orjson.JSONDecodeError as exc:
        raise StructureInvalid(f"{p}: invalid JSON ({exc}): regenerate the structure file") from None
    return parse_structure(data, str(p))


def structure_path(repostructure_dir: str | os.PathLike[str], instance_id: str) -> Path:
    return Path(repostructure_dir) / f"{instance_id}.json"


def load_structure(repostructure_dir: str | os.PathLike[str], instance_id: str) -> RepoStructure | None:
    """The structure of ``instance_id`` from ``<dir>/<instance_id>.json``; None when it has none.

    Raises :class:`StructureInvalid` when the file is there but unreadable.
    """
    p = structure_path(repostructure_dir, instance_id)
    if not p.is_file():
        return None
    return load_structure_file(p)
