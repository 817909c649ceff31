"""Build an Agentless repo-structure JSON from a git checkout, with no network.

Layout (REFERENCE.md, as Agentless's ``get_repo_structure`` writes it): the top-level keys are
the repository's top-level folders plus a key named after the repository (``--repo owner/name``,
else the checkout folder's name) holding the root's files; a top-level folder with that same
name merges into it (requests' ``requests/`` package). A ``.py`` file is ``{"classes",
"functions", "text"}``: classes with their methods, functions, 1-based inclusive line ranges,
``text`` the file split on "\\n" without line ends. Other files are ``{}``. A ``.py`` file that
does not parse keeps its text with empty classes/functions.

By default classes and functions are the top-level ones (``ast.iter_child_nodes`` of the module,
as the shared fixture structures list them); ``nested=True`` lists every class and function
found by ``ast.walk`` like upstream Agentless (methods are never repeated as functions).

Reading: with ``commit`` the files come from git objects (``git ls-tree`` + ``git cat-file
--batch``), so the checkout's working tree is not touched; without it the working tree is read
(``.git`` skipped), as Agentless does after a checkout.
"""

from __future__ import annotations

import ast
import os
import subprocess
import warnings
from pathlib import Path
from typing import Any, Iterator

import orjson

from engine.errors import InputError


def split_text(content: str) -> list[str]:
    """The file split on "\\n" without line ends; a final newline adds no empty line."""
    if not content:
        return []
    lines = content.split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines


def decode_source(data: bytes) -> str:
    """UTF-8 (with or without BOM), else Latin-1 (old Python 2 files); never fails."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _entry(node: ast.AST, lines: list[str]) -> dict[str, Any]:
    start, end = node.lineno, node.end_lineno or node.lineno  # type: ignore[attr-defined]
    return {"name": node.name, "start_line": start, "end_line": end, "text": lines[start - 1:end]}  # type: ignore[attr-defined]


def parse_python(content: str, nested: bool = False) -> dict[str, Any]:
    """``{"classes", "functions", "text"}`` of one Python file (empty lists when it does not parse)."""
    lines = split_text(content)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SyntaxWarning for odd escapes in old code
            tree = ast.parse(content)
    except (SyntaxError, ValueError):
        return {"classes": [], "functions": [], "text": lines}
    funcs = (ast.FunctionDef, ast.AsyncFunctionDef)
    classes: list[dict[str, Any]] = []
    functions: list[dict[str, Any]] = []
    method_nodes: set[int] = set()
    nodes = list(ast.walk(tree)) if nested else list(ast.iter_child_nodes(tree))
    for node in nodes:
        if isinstance(node, ast.ClassDef):
            methods = []
            for child in node.body:
                if isinstance(child, funcs):
                    methods.append(_entry(child, lines))
                    method_nodes.add(id(child))
            item = _entry(node, lines)
            item["methods"] = methods
            classes.append(item)
    for node in nodes:
        if isinstance(node, funcs) and id(node) not in method_nodes:
            functions.append(_entry(node, lines))
    return {"classes": classes, "functions": functions, "text": lines}


def _git(repo_dir: Path, *args: str, input: bytes | None = None) -> bytes:
    try:
        proc = subprocess.run(["git", "-C", str(repo_dir), *args], input=input, capture_output=True, check=False)
    except FileNotFoundError:
        raise InputError("git is not installed: install git to build structures from a checkout") from None
    if proc.returncode != 0:
        msg = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise InputError(f"{repo_dir}: git {args[0]} failed ({msg[-1] if msg else 'exit ' + str(proc.returncode)}): check --repo-dir and --commit")
    return proc.stdout


def _iter_git_files(repo_dir: Path, commit: str) -> Iterator[tuple[str, bytes | None]]:
    """``(path, content or None for non-.py)`` of every blob at ``commit``."""
    listing = _git(repo_dir, "ls-tree", "-r", "-z", "--full-tree", commit)
    entries: list[tuple[str, str]] = []
    for rec in listing.split(b"\0"):
        if not rec:
            continue
        meta, path = rec.split(b"\t", 1)
        mode, kind, sha = meta.decode().split()
        if kind != "blob":  # submodules (commit entries) are not files of this repo
            continue
        entries.append((path.decode("utf-8", "surrogateescape"), sha if mode != "120000" else ""))
    # os.walk's order, as Agentless builds it: a folder's files, then its subfolders
    entries.sort(key=lambda e: (e[0].split("/")[:-1], e[0].rsplit("/", 1)[-1]))
    py = [(p, sha) for p, sha in entries if p.endswith(".py") and sha]
    contents: dict[str, bytes] = {}
    if py:
        # one cat-file process for every blob: fast even on large repos
        out = _git(repo_dir, "cat-file", "--batch", input=("\n".join(sha for _, sha in py) + "\n").encode())
        pos = 0
        for path, _sha in py:
            nl = out.index(b"\n", pos)
            header = out[pos:nl].split()
            size = int(header[2])
            contents[path] = out[nl + 1:nl + 1 + size]
            pos = nl + 1 + size + 1
    for path, _sha in entries:
        yield path, contents.get(path)


def _iter_worktree_files(repo_dir: Path) -> Iterator[tuple[str, bytes | None]]:
    for root, dirs, files in os.walk(repo_dir):
        dirs[:] = sorted(d for d in dirs if d != ".git")
        for name in sorted(files):
            full = Path(root) / name
            rel = full.relative_to(repo_dir).as_posix()
            if name.endswith(".py") and full.is_file():
                yield rel, full.read_bytes()
            else:
                yield rel, None


def build_structure(repo_dir: str | os.PathLike[str], *, commit: str | None = None, repo: str | None = None,
                    instance_id: str | None = None, nested: bool = False) -> dict[str, Any]:
    """The Agentless structure JSON object of a checkout (at ``commit`` when given)."""
    rd = Path(repo_dir).expanduser().resolve()
    if not rd.is_dir():
        raise InputError(f"{rd}: repository folder not found: check --repo-dir")
    if commit is not None:
        if not (rd / ".git").exists():
            raise InputError(f"{rd}: not a git checkout (no .git): --commit needs a git repository")
        full_commit = _git(rd, "rev-parse", "--verify", f"{commit}^{{commit}}").decode().strip()
        files = _iter_git_files(rd, full_commit)
    else:
        full_commit = ""
        if (rd / ".git").exists():
            try:
                full_commit = _git(rd, "rev-parse", "HEAD").decode().strip()
            except InputError:
                full_commit = ""  # a repo without commits yet
        files = _iter_worktree_files(rd)
    root_key = (repo or rd.name).rsplit("/", 1)[-1]
    structure: dict[str, Any] = {}
    for path, data in files:
        parts = path.split("/")
        folders = [root_key] if len(parts) == 1 else parts[:-1]
        node = structure
        for part in folders:
            node = node.setdefault(part, {})
        node[parts[-1]] = parse_python(decode_source(data), nested=nested) if data is not None else {}
    return {
        "repo": repo or rd.name,
        "base_commit": full_commit,
        "structure": structure,
        "instance_id": instance_id or rd.name,
    }


def write_structure(obj: dict[str, Any], output: str | os.PathLike[str]) -> Path:
    """Write the structure JSON atomically (temp file + rename)."""
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_bytes(orjson.dumps(obj))
    os.replace(tmp, out)
    return out
