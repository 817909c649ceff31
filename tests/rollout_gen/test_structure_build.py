"""The structure builder: a small git repo made here vs a hand-checked structure; fixture ranges vs ast."""

from __future__ import annotations

import ast
import json
import subprocess
from pathlib import Path

import pytest

from engine.errors import InputError
from engine.agentless.structure import load_structure, load_structure_file
from engine.agentless.structure_build import build_structure, parse_python

MOD = '''import os


class Greeter:
    """Says hello."""

    def __init__(self, name):
        self.name = name

    async def greet(self):
        def inner():
            return 1
        return f"hi {self.name}"


def helper(x):
    return x + 1
'''

BROKEN = "print 'python 2'\n"


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def small_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "demo"
    (repo / "demo").mkdir(parents=True)
    (repo / "docs").mkdir()
    (repo / "setup.py").write_text("X = 1\n")
    (repo / "README.md").write_text("# demo\n")
    (repo / "demo" / "mod.py").write_text(MOD)
    (repo / "docs" / "broken.py").write_text(BROKEN)
    (repo / "docs" / "notes.txt").write_text("n\n")
    _git(repo, "init", "-q")
    _git(repo, "-c", "user.email=t@e", "-c", "user.name=t", "add", "-A")
    _git(repo, "-c", "user.email=t@e", "-c", "user.name=t", "commit", "-q", "-m", "one")
    return repo


def _expected(commit: str) -> dict:
    mod_lines = MOD.split("\n")[:-1]
    return {
        "repo": "owner/demo",
        "base_commit": commit,
        "instance_id": "owner__demo-1",
        # the root's files are stored under the repo name; their real paths are kept beside
        "repo_paths": {"demo/README.md": "README.md", "demo/setup.py": "setup.py"},
        "structure": {
            # root files under the repo name; the top-level demo/ folder merges into it
            "demo": {
                "README.md": {},
                "setup.py": {"classes": [], "functions": [], "text": ["X = 1"]},
                "mod.py": {
                    "classes": [{
                        "name": "Greeter", "start_line": 4, "end_line": 13, "text": mod_lines[3:13],
                        "methods": [
                            {"name": "__init__", "start_line": 7, "end_line": 8, "text": mod_lines[6:8]},
                            {"name": "greet", "start_line": 10, "end_line": 13, "text": mod_lines[9:13]},
                        ],
                    }],
                    "functions": [{"name": "helper", "start_line": 16, "end_line": 17, "text": mod_lines[15:17]}],
                    "text": mod_lines,
                },
            },
            "docs": {
                "broken.py": {"classes": [], "functions": [], "text": ["print 'python 2'"]},
                "notes.txt": {},
            },
        },
    }


def test_build_from_commit_matches_hand_checked(small_repo: Path, tmp_path: Path, cli) -> None:
    commit = _git(small_repo, "rev-parse", "HEAD")
    # a later working-tree change must not show when reading at the commit
    (small_repo / "setup.py").write_text("X = 2\n")
    out = tmp_path / "structures" / "owner__demo-1.json"
    res = cli("agentless", "structure", "--repo-dir", small_repo, "--commit", commit[:10], "--instance-id",
              "owner__demo-1", "--repo", "owner/demo", "--output", out)
    assert res.exit_code == 0, res.output
    # the working tree changed after the commit: said, with which state the structure holds
    assert "dirty (1 changed, 0 untracked)" in res.output and f"from commit {commit[:12]}" in res.output
    got = json.loads(out.read_text())
    assert got == _expected(commit)
    # and the reader understands it
    st = load_structure(out.parent, "owner__demo-1")
    assert st is not None
    assert st.resolve_path("setup.py") == "demo/setup.py"
    assert st.repo_path("demo/setup.py") == "setup.py" and st.repo_path("demo/mod.py") == "demo/mod.py"
    assert st.file_text("demo/mod.py") == MOD
    assert st.python_files() == ["demo/setup.py", "demo/mod.py", "docs/broken.py"]


def test_working_tree_and_nested(small_repo: Path) -> None:
    (small_repo / "setup.py").write_text("X = 2\n")
    obj = build_structure(small_repo, repo="owner/demo", instance_id="owner__demo-1")
    assert obj["structure"]["demo"]["setup.py"]["text"] == ["X = 2"]
    assert ".git" not in obj["structure"]
    nested = build_structure(small_repo, repo="owner/demo", nested=True)
    names = [f["name"] for f in nested["structure"]["demo"]["mod.py"]["functions"]]
    assert sorted(names) == ["helper", "inner"]


def test_bad_repo_dir(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        build_structure(tmp_path / "nope")
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(InputError, match="not a git checkout"):
        build_structure(plain, commit="HEAD")
    (plain / "a.py").write_text("A = 1\n")
    with pytest.raises(InputError, match="pass --no-git"):
        build_structure(plain)
    assert build_structure(plain, use_git=False)["structure"] == {"plain": {"a.py": {"classes": [], "functions": [], "text": ["A = 1"]}}}


def test_dirty_working_tree_is_said(small_repo: Path, tmp_path: Path, cli) -> None:
    (small_repo / "docs" / "new.py").write_text("N = 1\n")
    (small_repo / "build").mkdir()
    (small_repo / ".gitignore").write_text("build/\n")
    (small_repo / "build" / "junk.py").write_text("J = 1\n")
    out = tmp_path / "s.json"
    res = cli("agentless", "structure", "--repo-dir", small_repo, "--instance-id", "x", "--output", out)
    assert res.exit_code == 0, res.output
    assert "dirty (0 changed, 2 untracked)" in res.output and "from the working tree, not HEAD" in res.output
    got = json.loads(out.read_text())["structure"]
    # untracked files are in, ignored ones are not (a fresh clone has no build/ either)
    assert "new.py" in got["docs"] and "build" not in got and ".gitignore" in got["demo"]


def test_unknown_commit_is_one_line(small_repo: Path, tmp_path: Path, cli) -> None:
    res = cli("agentless", "structure", "--repo-dir", small_repo, "--commit", "deadbeef", "--instance-id", "x",
              "--output", tmp_path / "x.json")
    assert res.exit_code == 2 and "Traceback" not in res.output and "--commit" in res.output


def _ranges(src: str) -> tuple[list, list]:
    tree = ast.parse(src)
    classes = [(n.name, n.lineno, n.end_lineno,
                [(m.name, m.lineno, m.end_lineno) for m in n.body if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))])
               for n in tree.body if isinstance(n, ast.ClassDef)]
    funcs = [(n.name, n.lineno, n.end_lineno) for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    return classes, funcs


@pytest.mark.parametrize("instance_id", ["pallets__flask-5063", "psf__requests-863"])
def test_fixture_ranges_match_ast(fixtures: Path, instance_id: str) -> None:
    st = load_structure_file(fixtures / "structures" / f"{instance_id}.json")
    checked = 0
    for path, node in st.iter_files():
        if not path.endswith(".py"):
            continue
        text = st.file_text(path) or ""
        built = parse_python(text)
        assert built == node, path
        try:
            classes, funcs = _ranges(text)
        except SyntaxError:
            assert node["classes"] == [] and node["functions"] == []
            continue
        assert [(c["name"], c["start_line"], c["end_line"], [(m["name"], m["start_line"], m["end_line"]) for m in c["methods"]])
                for c in node["classes"]] == classes
        assert [(f["name"], f["start_line"], f["end_line"]) for f in node["functions"]] == funcs
        checked += 1
    assert checked > 20


def test_reader_tells_files_by_their_shape() -> None:
    from engine.agentless.structure import parse_structure

    f = {"classes": [], "functions": [], "text": ["X = 1"]}
    st = parse_structure({"repo": "o/r", "structure": {
        "r": {"setup.py": f},
        # folders named like the keys of a file node; one holds exactly those three names
        "pkg": {"classes": {"functions": {"a.py": f}}, "text": {"t.py": f}, "functions": {"b.py": f},
                "unparsable.py": {"classes": [], "functions": [], "text": ""}, "data.json": {}},
        "lib": {"classes": {"c.py": f}, "functions": {"d.py": f}, "text": {"e.py": f}},
    }})
    assert sorted(st.python_files()) == ["lib/classes/c.py", "lib/functions/d.py", "lib/text/e.py",
                                         "pkg/classes/functions/a.py", "pkg/functions/b.py", "pkg/text/t.py",
                                         "pkg/unparsable.py", "r/setup.py"]
    assert st.get("lib") is None and st.get("pkg/text") is None and st.get("pkg/data.json") == {}
    assert st.file_text("pkg/text/t.py") == "X = 1\n" and st.file_text("pkg/unparsable.py") is None
    assert "    classes/\n        functions/\n            a.py\n" in st.tree_text()
