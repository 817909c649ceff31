"""Fidelity on the real fixtures: every extracted patch rebuilds the gold file, and git accepts it."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path
from typing import Any

import pytest
import unidiff

from engine.agentless.extract.diffs import check_patch
from engine.agentless.extract.stage3 import extract_bugfix

from .helpers import as_response, git_repo_with, structure_for

INSTANCES = ["psf__requests-1963", "psf__requests-2148", "psf__requests-2317", "psf__requests-2674",
             "psf__requests-3362", "psf__requests-863", "pallets__flask-4045", "pallets__flask-4992",
             "pallets__flask-5063"]


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_the_fixture_set_is_what_the_test_expects(manifest: dict[str, Any], step2_lines: dict[str, Any]) -> None:
    assert sorted(manifest) == sorted(INSTANCES) == sorted(step2_lines)


@pytest.mark.parametrize("instance_id", INSTANCES)
def test_patch_rebuilds_gold_and_git_applies_it(instance_id: str, fixtures_dir: Path, manifest: dict[str, Any],
                                               step2_lines: dict[str, Any], tmp_path: Path) -> None:
    facts = manifest[instance_id]
    structure = structure_for(fixtures_dir, instance_id)
    result = extract_bugfix(as_response(step2_lines[instance_id]), structure)
    assert result.status == "valid", (result.reason, result.detail)
    assert result.edited_files == facts["files_touched"]
    assert len(result.edits) == facts["num_edit_blocks"]
    assert all(e["mode"] == "exact" for e in result.edits)

    # the in-memory new texts are exactly the post-gold files, and the originals the structure's
    for path, original, new in zip(result.edited_files, result.original_file_content, result.new_file_content):
        assert sha(original) == facts["original_sha256"][path]
        assert sha(new) == facts["gold_after_sha256"][path]

    # one diff --git section per file, parsed back unchanged
    patch = result.model_patch
    assert patch.count("diff --git ") == len(facts["files_touched"])
    assert check_patch(patch, facts["files_touched"]).problem is None
    parsed = unidiff.PatchSet(patch)
    assert [f.path for f in parsed] == facts["files_touched"]
    assert str(parsed) == patch

    # git: --check accepts it on the structure's files, and applying it gives the gold files
    repo = git_repo_with(tmp_path, {p: structure.file_text(p) for p in facts["files_touched"]})
    (tmp_path / "fix.patch").write_text(patch)
    check = subprocess.run(["git", "-C", str(repo), "apply", "--check", str(tmp_path / "fix.patch")],
                           capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stderr
    subprocess.run(["git", "-C", str(repo), "apply", str(tmp_path / "fix.patch")], check=True)
    for path in facts["files_touched"]:
        assert hashlib.sha256((repo / path).read_bytes()).hexdigest() == facts["gold_after_sha256"][path]
