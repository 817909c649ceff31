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
as git sees it (tracked and untracked files, ignored ones left out: what a fresh clone holds,
which is what Agentless walks). A dirty checkout is reported either way; a folder that is not a
git checkout is read whole only when asked (``use_git=False``, the CLI's ``--no-git``).

Beside Agentless's keys the object holds ``repo_paths`` (root files' real paths) and, when some
file needs it, ``file_formats`` (CRLF, no final newline, BOM, Latin-1): see
:mod:`engine.agentless.structure`. Agentless's readers ignore both.
"""

from __future__ import annotations

import ast
import codecs
import os
import posixpath
import subprocess
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import orjson

from engine.agentless.structure import FileFormat, parse_structure
from engine.errors import InputError


def split_text(content: str) -> list[str]:
    """The file split on "\\n" without line ends; a final newline adds no empty line."""
    if not content:
        return []
    lines = content.split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines


def decode_source(data: bytes) -> tuple[str, FileFormat]:
    """A file's text as the structure stores it, and how its bytes differ from that text.

    UTF-8 (a BOM is dropped from the text and recorded), else Latin-1 (old Python 2 files: never
    fails, and encodes back to the same bytes). Line ends become "\\n" as Agentless reads files
    (text mode, universal newlines); a file whose every line ends in "\\r\\n" (or "\\r") records
    it, so patches can be written in the file's own line ends. Only "\\n" splits lines here, so
    form feeds and Unicode separators stay inside their line (Agentless's splitlines() would
    split there and lose them).
    """
    try:
        text, encoding = data.decode("utf-8-sig"), "utf-8"
        bom = data.startswith(codecs.BOM_UTF8)
    except UnicodeDecodeError:
        text, encoding, bom = data.decode("latin-1"), "latin-1", False
    newline = "\n"
    if "\r" in text:
        crlf = text.count("\r\n")
        cr, lf = text.count("\r") - crlf, text.count("\n") - crlf
        newline = "\r\n" if not cr and not lf else "\r" if not crlf and not lf else "mixed"
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    final = not text or text.endswith("\n")
    return text, FileFormat(newline=newline, final_newline=final, bom=bom, encoding=encoding)


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


def _cat_blobs(repo_dir: Path, shas: list[str]) -> list[bytes]:
    """The contents of ``shas``, in order, from one ``git cat-file --batch`` (fast on big repos)."""
    if not shas:
        return []
    out = _git(repo_dir, "cat-file", "--batch", input=("\n".join(shas) + "\n").encode())
    blobs, pos = [], 0
    for _ in shas:
        nl = out.index(b"\n", pos)
        size = int(out[pos:nl].split()[2])
        blobs.append(out[nl + 1:nl + 1 + size])
        pos = nl + 1 + size + 1
    return blobs


def _iter_git_files(repo_dir: Path, commit: str) -> Iterator[tuple[str, bytes | None]]:
    """``(path, content or None for non-.py)`` of every blob at ``commit``.

    A ``.py`` symlink to a file of the repository reads as that file, as it does in a checkout
    (Agentless walks one); other symlinks are stored as non-Python files.
    """
    listing = _git(repo_dir, "ls-tree", "-r", "-z", "--full-tree", commit)
    entries: list[tuple[str, str, bool]] = []  # (path, sha, is a symlink)
    for rec in listing.split(b"\0"):
        if not rec:
            continue
        meta, path = rec.split(b"\t", 1)
        mode, kind, sha = meta.decode().split()
        if kind != "blob":  # submodules (commit entries) are not files of this repo
            continue
        entries.append((path.decode("utf-8", "surrogateescape"), sha, mode == "120000"))
    # os.walk's order, as Agentless builds it: a folder's files, then its subfolders
    entries.sort(key=lambda e: (e[0].split("/")[:-1], e[0].rsplit("/", 1)[-1]))
    py = [(p, sha) for p, sha, link in entries if p.endswith(".py") and not link]
    contents = dict(zip((p for p, _ in py), _cat_blobs(repo_dir, [sha for _, sha in py])))
    links = [(p, sha) for p, sha, link in entries if p.endswith(".py") and link]
    for (path, _sha), target in zip(links, _cat_blobs(repo_dir, [sha for _, sha in links])):
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(path), target.decode("utf-8", "surrogateescape")))
        if resolved in contents:
            contents[path] = contents[resolved]
    for path, _sha, _link in entries:
        yield path, contents.get(path)


def _iter_listed_files(repo_dir: Path, paths: list[str]) -> Iterator[tuple[str, bytes | None]]:
    """``(path, content or None for non-.py)`` of listed working-tree files, in os.walk's order."""
    paths.sort(key=lambda p: (p.split("/")[:-1], p.rsplit("/", 1)[-1]))
    for rel in paths:
        full = repo_dir / rel
        if rel.endswith(".py") and full.is_file():
            yield rel, full.read_bytes()
        elif full.exists() or full.is_symlink():  # tracked but deleted: not in the working tree
            yield rel, None


def _worktree_paths(repo_dir: Path, use_git: bool) -> list[str]:
    """The working tree's files: git's view (tracked + untracked, ignored ones left out, as in a
    fresh clone) or, with ``use_git`` False, every file under the folder (``.git`` skipped)."""
    if use_git:
        listing = _git(repo_dir, "ls-files", "-z", "-c", "-o", "--exclude-standard")
        return list(dict.fromkeys(p.decode("utf-8", "surrogateescape") for p in listing.split(b"\0") if p))
    out = []
    for root, dirs, files in os.walk(repo_dir):
        dirs[:] = [d for d in dirs if d != ".git"]
        rel_root = Path(root).relative_to(repo_dir)
        out += [(rel_root / name).as_posix() for name in files]
    return out


def _dirty(repo_dir: Path) -> str:
    """What ``git status`` reports as changed or untracked ("" when the checkout is clean)."""
    status = _git(repo_dir, "status", "--porcelain", "-z", "--untracked-files=normal")
    entries = [e for e in status.split(b"\0") if e[:2].strip()]
    if not entries:
        return ""
    untracked = sum(1 for e in entries if e.startswith(b"??"))
    return f"{len(entries) - untracked} changed, {untracked} untracked"


@dataclass
class StructureBuild:
    """A built structure JSON object and what the user should know about it."""

    obj: dict[str, Any]
    source: str  # "commit <sha>", "working tree" or "folder (no git)"
    warnings: list[str] = field(default_factory=list)
    #: files (and Python files) the reader finds in it
    files: int = 0
    python_files: int = 0


def build(repo_dir: str | os.PathLike[str], *, commit: str | None = None, repo: str | None = None,
          instance_id: str | None = None, nested: bool = False, use_git: bool = True) -> StructureBuild:
    """Build the Agentless structure of a checkout (at ``commit`` when given, else its working tree).

    A folder that is not a git checkout is refused unless ``use_git`` is False (then every file
    under it is read). A dirty checkout gives a warning saying which state the structure holds.
    """
    rd = Path(repo_dir).expanduser().resolve()
    if not rd.is_dir():
        raise InputError(f"{rd}: repository folder not found: check --repo-dir")
    warnings_: list[str] = []
    is_git = (rd / ".git").exists()
    if commit is not None:
        if not is_git:
            raise InputError(f"{rd}: not a git checkout (no .git): --commit needs a git repository")
        full_commit = _git(rd, "rev-parse", "--verify", f"{commit}^{{commit}}").decode().strip()
        files = _iter_git_files(rd, full_commit)
        source = f"commit {full_commit[:12]}"
        if dirty := _dirty(rd):
            warnings_.append(f"{rd}: the checkout is dirty ({dirty}); the structure is from {source} "
                             "(git objects), without the uncommitted changes")
    elif use_git:
        if not is_git:
            raise InputError(f"{rd}: not a git checkout (no .git): pass --no-git to read the folder as it is, "
                             "or point --repo-dir at a checkout")
        try:
            full_commit = _git(rd, "rev-parse", "--verify", "HEAD^{commit}").decode().strip()
        except InputError:
            full_commit = ""  # a repository without commits yet
        files = _iter_listed_files(rd, _worktree_paths(rd, True))
        source = "working tree"
        if dirty := _dirty(rd):
            warnings_.append(f"{rd}: the checkout is dirty ({dirty}); the structure is from the working tree, "
                             f"not HEAD{' ' + full_commit[:12] if full_commit else ''}: commit first or pass --commit HEAD")
    else:
        full_commit = ""
        files = _iter_listed_files(rd, _worktree_paths(rd, False))
        source = "folder (no git)"
    root_key = (repo or rd.name).rsplit("/", 1)[-1]
    structure: dict[str, Any] = {}
    formats: dict[str, Any] = {}
    repo_paths: dict[str, str] = {}
    written = 0
    for path, data in files:
        parts = path.split("/")
        folders = [root_key] if len(parts) == 1 else parts[:-1]
        spath = "/".join([*folders, parts[-1]])
        node = structure
        for part in folders:
            node = node.setdefault(part, {})
        if len(parts) == 1:
            repo_paths[spath] = path
        elif spath in repo_paths:
            # a package named like the repository merges into the root key (Agentless's layout):
            # its file of the same name hides the root file, as in Agentless's own walk
            warnings_.append(f"{path} hides the root file {repo_paths.pop(spath)} (a package named like the "
                             "repository shares its key): the root file is not in the structure")
        written += parts[-1] not in node
        if data is None:
            node[parts[-1]] = {}
            continue
        text, fmt = decode_source(data)
        node[parts[-1]] = parse_python(text, nested=nested)
        if not fmt.is_default:
            formats[spath] = fmt.to_json()
    obj: dict[str, Any] = {
        "repo": repo or rd.name,
        "base_commit": full_commit,
        "structure": structure,
        "instance_id": instance_id or rd.name,
        "repo_paths": repo_paths,
    }
    if formats:
        obj["file_formats"] = formats
    built = StructureBuild(obj, source, warnings_)
    # read back with the reader every stage uses: each file written must read as one
    read = parse_structure(obj)
    built.files = sum(1 for _ in read.iter_files())
    built.python_files = len(read.python_files())
    if built.files != written:
        warnings_.append(f"{written} files written but {built.files} read back as files: report this structure")
    return built


def build_structure(repo_dir: str | os.PathLike[str], **kw: Any) -> dict[str, Any]:
    """The Agentless structure JSON object of a checkout (see :func:`build`)."""
    return build(repo_dir, **kw).obj


def write_structure(obj: dict[str, Any], output: str | os.PathLike[str]) -> Path:
    """Write the structure JSON atomically (temp file + rename)."""
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_bytes(orjson.dumps(obj))
    os.replace(tmp, out)
    return out
