"""Diffs: one section per file, exact round trip through unidiff, git accepts them, syntax checks."""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

import unidiff

from engine.agentless.extract.diffs import check_patch, file_diff, new_file_diff, syntax_error

from .helpers import git_repo_with, structure_for


def rebuild(old: str, patch: str) -> str:
    """Apply a single-file patch with unidiff's parsed hunks (an independent reading of the diff)."""
    (pf,) = unidiff.PatchSet(patch)
    lines = old.split("\n")
    src = [line + "\n" for line in lines[:-1]] + ([lines[-1]] if lines[-1] else [])
    out: list[str] = []
    pos = 0
    for hunk in pf:
        start = max(hunk.source_start - 1, 0) if hunk.source_length else hunk.source_start
        out.extend(src[pos:start])
        pos = start
        for line in hunk:
            if line.is_context:
                assert src[pos].rstrip("\n") == line.value.rstrip("\n")
                out.append(src[pos])
                pos += 1
            elif line.is_removed:
                assert src[pos].rstrip("\n") == line.value.rstrip("\n")
                pos += 1
            elif line.is_added:
                out.append(line.value)
    out.extend(src[pos:])
    return "".join(out)


def test_random_edits_round_trip(fixtures_dir: Path) -> None:
    structure = structure_for(fixtures_dir, "psf__requests-2148")
    old = structure.file_text("requests/models.py")
    rng = random.Random(5)
    lines = old.split("\n")
    for _ in range(60):
        new_lines = list(lines)
        for _ in range(rng.randint(1, 6)):
            i = rng.randrange(len(new_lines))
            op = rng.choice(["del", "ins", "rep", "dup"])
            if op == "del":
                del new_lines[i]
            elif op == "ins":
                new_lines.insert(i, f"    x_{rng.randint(0, 9)} = {i}")
            elif op == "rep":
                new_lines[i] = new_lines[i] + "  # changed"
            else:
                new_lines.insert(i, "")  # blank lines are the non-unique lines that stress alignment
        new = "\n".join(new_lines)
        patch = file_diff("requests/models.py", old, new)
        if new == old:
            assert patch == ""
            continue
        assert check_patch(patch, ["requests/models.py"]).problem is None
        assert rebuild(old, patch) == new


def test_missing_final_newline_and_new_files_apply_with_git(tmp_path: Path) -> None:
    old = "a = 1\nb = 2\nc = 3"
    new = "a = 1\nb = 20\nc = 3\n"
    patch = file_diff("pkg/m.py", old, new) + new_file_diff("reproduce_bug.py", "print('Issue reproduced')\n")
    assert "\\ No newline at end of file\n" in patch
    assert patch.count("diff --git") == 2 and "new file mode 100644\n--- /dev/null\n+++ b/reproduce_bug.py" in patch
    assert check_patch(patch).problem is None
    repo = git_repo_with(tmp_path, {"pkg/m.py": old})
    (tmp_path / "p.diff").write_text(patch)
    subprocess.run(["git", "-C", str(repo), "apply", str(tmp_path / "p.diff")], check=True)
    assert (repo / "pkg/m.py").read_text() == new
    assert (repo / "reproduce_bug.py").read_text() == "print('Issue reproduced')\n"


def test_form_feed_stays_inside_its_line(tmp_path: Path) -> None:
    old = "x = 1\n\x0c\ny = 2\n"
    new = "x = 1\n\x0c\ny = 3\n"
    patch = file_diff("f.py", old, new)
    repo = git_repo_with(tmp_path, {"f.py": old})
    (tmp_path / "p.diff").write_text(patch)
    subprocess.run(["git", "-C", str(repo), "apply", str(tmp_path / "p.diff")], check=True)
    assert (repo / "f.py").read_text() == new


def test_check_patch_flags_a_file_twice() -> None:
    one = file_diff("a.py", "x = 1\n", "x = 2\n")
    assert check_patch(one + one).problem == "a file appears more than once in the patch"
    assert "expected" in (check_patch(one, ["b.py"]).problem or "")


def test_syntax_error_is_in_process_and_names_the_line() -> None:
    assert syntax_error("ok.py", "def f():\n    return 1\n") is None
    assert syntax_error("bad.py", "def f(:\n    pass\n").startswith("line 1:")
    assert syntax_error("nul.py", "x = 1\x00\n") is not None
    # invalid escapes are warnings, not errors
    assert syntax_error("w.py", "x = '\\d'\n") is None
