"""The whole chain on a small real git checkout with the awkward shapes real repositories have.

Folders named ``classes``, ``functions`` and ``text`` (one folder holding exactly those three),
a package named like the repository (whose ``utils.py`` hides the root's), a file that does not
parse, CRLF, no final newline, a BOM, Latin-1 bytes, a symlink. Built with ``rollout agentless structure``,
then: stage 1 lists every Python file, stage 2 shows the chosen files whole, and stage 3's
patches apply with ``git apply`` and give the edited files byte for byte.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from engine.agentless.fidelity import apply_and_compare, check_files, plan_edit, response_line
from engine.agentless.structure import is_file_node, load_structure, tree_paths

from .conftest import read_jsonl

IID = "owner__demo-1"

FILES: dict[str, bytes] = {
    "setup.py": b"from setuptools import setup\n\nsetup(name='demo')\n",
    "utils.py": b"ROOT = 'hidden by demo/utils.py'\n",
    "demo/__init__.py": b"",
    "demo/utils.py": b"def helper(x):\n    return x + 1\n",
    "demo/checkers/classes/__init__.py": b"from .base import Checker\n",
    "demo/checkers/classes/base.py": b"class Checker:\n    def run(self):\n        return True\n",
    "demo/checkers/functions/helpers.py": b"def check(x):\n    return bool(x)\n",
    "demo/text/render.py": b"def render(s):\n    return s.upper()\n",
    # a folder holding exactly classes/, functions/ and text/: the shape of a file node, with dict values
    "odd/classes/a.py": b"A = 1\n",
    "odd/functions/b.py": b"B = 2\n",
    "odd/text/c.py": b"C = 3\n",
    "odd/classes/functions/text/deep.py": b"def deep():\n    x = 1\n    y = 2\n    return x + y\n",
    "demo/legacy.py": b"print 'python 2'\nx = 1\n",
    "demo/crlf.py": b"def crlf():\r\n    a = 1\r\n    b = 2\r\n    return a + b\r\n",
    "demo/nofinal.py": b"def nofinal():\n    p = 1\n    q = 2\n    return p + q",
    "demo/bom.py": b"\xef\xbb\xbfdef bom():\n    m = 1\n    n = 2\n    return m + n\n",
    "demo/latin1.py": b"# -*- coding: latin-1 -*-\nNAME = 'caf\xe9'\n\n\ndef f():\n    u = 1\n    v = 2\n    w = 3\n    return u + v + w\n",
    "docs/notes.txt": b"notes\n",
}


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.email=t@e", "-c", "user.name=t", "-c", "core.autocrlf=false",
                           *args], check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def awkward_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "demo"
    for rel, data in FILES.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_bytes(data)
    (repo / "demo" / "link.py").symlink_to("text/render.py")  # reads as its target, as in a checkout
    _git(repo, "init", "-q")
    (repo / ".git" / "info" / "attributes").write_text("* -text\n")  # keep CRLF bytes as they are
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "awkward")
    return repo


@pytest.fixture
def built(awkward_repo: Path, tmp_path: Path, cli):
    out = tmp_path / "structures" / f"{IID}.json"
    res = cli("agentless", "structure", "--repo-dir", awkward_repo, "--commit", "HEAD", "--repo", "owner/demo",
              "--instance-id", IID, "--output", out)
    assert res.exit_code == 0, res.output
    assert "demo/utils.py hides the root file utils.py" in res.output
    st = load_structure(out.parent, IID)
    # the builder reads its output back with the stages' reader: every file written is a file
    assert f"{len(list(st.iter_files()))} files, {len(st.python_files())} Python" in res.output
    assert len(list(st.iter_files())) == len(FILES)  # + demo/link.py - the hidden utils.py
    return st


def test_structure_reads_every_file_right(awkward_repo: Path, built) -> None:
    st = built
    odd = st.structure["odd"]
    assert set(odd) == {"classes", "functions", "text"} and not is_file_node(odd)
    check = check_files(awkward_repo, st)
    py = [p for p in FILES if p.endswith(".py")] + ["demo/link.py"]
    assert check.py_files == len(py) and check.hidden_root_files == ["utils.py"]
    assert check.listed == len(py) - 1 and check.not_listed == []
    assert check.text_equal == check.listed and check.bytes_exact == check.listed, (check.text_differs, check.bytes_differ)
    assert st.file_format("demo/crlf.py").newline == "\r\n" and not st.file_format("demo/nofinal.py").final_newline
    assert st.file_format("demo/bom.py").bom and st.file_format("demo/latin1.py").encoding == "latin-1"
    assert st.file_text("demo/link.py") == st.file_text("demo/text/render.py")
    assert st.get("demo/legacy.py")["classes"] == [] and st.file_text("demo/legacy.py") == "print 'python 2'\nx = 1\n"
    assert st.repo_path("demo/setup.py") == "setup.py" and st.resolve_path("setup.py") == "demo/setup.py"
    listed = tree_paths(st.tree_text())
    assert "odd/classes/functions/text/deep.py" in listed and "demo/checkers/classes/base.py" in listed


def _dataset(tmp_path: Path) -> Path:
    ds = tmp_path / "instances.jsonl"
    ds.write_text(json.dumps({"instance_id": IID, "repo": "owner/demo", "base_commit": "x", "problem_statement":
                              "The checkers misbehave.", "hints_text": "", "patch": "", "test_patch": ""}) + "\n")
    return ds


def test_stage1_lists_and_stage2_shows_whole(built, tmp_path: Path, cli) -> None:
    sdir = tmp_path / "structures"
    ds = _dataset(tmp_path)
    out1 = tmp_path / "step1.jsonl"
    res = cli("agentless", "gen-step1", "--dataset", ds, "--repostructure_dir", sdir, "--output_file", out1,
              "--model_name", "m", "--num_workers", "1", "--plain")
    assert res.exit_code == 0, res.output
    prompt = read_jsonl(out1)[0]["body"]["messages"][0]["content"]
    tree = built.tree_text()
    assert tree in prompt
    assert {p for p in tree_paths(tree)} == {p for p in built.python_files()}
    chosen = ["demo/checkers/classes/base.py", "odd/classes/functions/text/deep.py", "demo/crlf.py", "setup.py"]
    answer = "```\n" + "\n".join(chosen) + "\n```"
    step1_out = tmp_path / "step1_out.jsonl"
    step1_out.write_text(json.dumps(response_line(IID, answer)) + "\n")
    out2 = tmp_path / "step2.jsonl"
    res = cli("agentless", "gen-step2", "--input_file", step1_out, "--dataset", ds, "--repostructure_dir", sdir,
              "--output_file", out2, "--model_name", "m", "--num_workers", "1", "--plain")
    assert res.exit_code == 0, res.output
    prompt2 = read_jsonl(out2)[0]["body"]["messages"][0]["content"]
    for path in chosen:
        spath = built.resolve_path(path)
        assert f"### {spath}" in prompt2 and built.file_text(spath) in prompt2, path


@pytest.mark.parametrize("path", [None, "demo/crlf.py", "demo/nofinal.py", "demo/bom.py", "demo/latin1.py",
                                  "demo/setup.py", "demo/legacy.py", "demo/checkers/classes/base.py"])
def test_stage3_patch_applies_byte_for_byte(awkward_repo: Path, built, tmp_path: Path, cli, path) -> None:
    edit = plan_edit(built, path)
    assert edit is not None
    if path is None:  # the deepest folder's file
        assert edit.path == "odd/classes/functions/text/deep.py"
    inp = tmp_path / "step2_out.jsonl"
    inp.write_text(json.dumps(response_line(IID, edit.answer)) + "\n")
    save = tmp_path / "extract"
    res = cli("agentless", "extract", "--input_file", inp, "--repostructure_dir", tmp_path / "structures",
              "--save_dir", save, "--num_workers", "0", "--plain")
    assert res.exit_code == 0, res.output
    pred = read_jsonl(save / "predictions.jsonl")[0]
    assert pred["model_patch"].startswith(f"diff --git a/{edit.repo_path} b/{edit.repo_path}\n")
    assert apply_and_compare(awkward_repo, pred["model_patch"], edit) is None
    assert read_jsonl(save / "all_preds.jsonl") == read_jsonl(save / "predictions.jsonl")
