"""Test writer: reproduction scripts and test-file edits → test patches, with the seed's failure reasons."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from console.cli import app
from engine.agentless.extract.testwriter import find_test_func_name

from .helpers import git_repo_with, structure_for, with_content, write_jsonl

SCRIPT = '''```python
import requests


def test_redirect_keeps_method():
    try:
        pass
    except Exception:
        print("Other issues")
        return
    print("Issue reproduced")


test_redirect_keeps_method()
```'''

TEST_EDIT = '''```python
### requests/test_requests.py
<<<<<<< SEARCH
class RequestsTestCase(unittest.TestCase):
=======
class RequestsTestCase(unittest.TestCase):

    def test_connection_error_is_wrapped(self):
        assert True
>>>>>>> REPLACE
```'''


def step1(template: dict[str, Any], iid: str, answer: str) -> dict[str, Any]:
    return with_content(template, answer, custom_id=iid)


def test_reproduction_tests_and_failure_reasons(fixtures_dir: Path, step2_lines: dict[str, Any],
                                                workspace: Path, tmp_path: Path) -> None:
    tpl = step2_lines["psf__requests-1963"]
    fixture_step1 = {json.loads(l)["custom_id"]: json.loads(l)
                     for l in (fixtures_dir / "responses_step1.jsonl").read_text().splitlines() if l.strip()}
    tests_named = "```\ntest_requests.py\nrequests/sessions.py\n```"
    s1 = [
        step1(tpl, "psf__requests-1963", tests_named),
        step1(tpl, "psf__requests-2148", tests_named),
        fixture_step1["psf__requests-2317"],  # names only source files
        dict(tpl, custom_id="psf__requests-2674", response={"status_code": 500, "request_id": "", "body": {}}),
        # psf__requests-3362: no step-1 line at all
    ]
    s2 = [
        with_content(tpl, "Here is a test:\n" + SCRIPT, custom_id="psf__requests-1963__pass0"),
        with_content(tpl, TEST_EDIT, custom_id="psf__requests-2148__pass0"),
        with_content(tpl, TEST_EDIT.replace("requests/test_requests.py", "requests/models.py"), custom_id="psf__requests-2148__pass1"),
        with_content(tpl, SCRIPT, custom_id="psf__requests-2317__pass0"),
        with_content(tpl, SCRIPT, custom_id="psf__requests-2674__pass0"),
        with_content(tpl, SCRIPT, custom_id="psf__requests-3362__pass0"),
        with_content(tpl, SCRIPT[:-30], custom_id="psf__requests-1963__pass1"),
    ]
    save = tmp_path / "out"
    result = CliRunner().invoke(app, [
        "agentless", "extract", "--role", "testwriter", "--input_file", str(write_jsonl(tmp_path / "s2.jsonl", s2)),
        "--step1_file", str(write_jsonl(tmp_path / "s1.jsonl", s1)), "--repostructure_dir", str(fixtures_dir / "structures"),
        "--save_dir", str(save), "--num_workers", "1"])
    assert result.exit_code == 1, result.output
    summary = json.loads((save / "summary.json").read_text())
    assert summary["valid"] == 2
    assert summary["failed_by_reason"] == {"no_test_files_found": 1, "step1_request_failed": 2,
                                           "target_file_not_in_contents": 1, "truncated": 1}
    preds = {p["instance_id"]: p for p in map(json.loads, (save / "predictions.jsonl").read_text().splitlines())}

    repro = preds["psf__requests-1963"]
    assert repro["test_func_name"] == "test_redirect_keeps_method"
    assert repro["test_patch"].startswith("diff --git a/reproduce_bug.py b/reproduce_bug.py\nnew file mode 100644\n--- /dev/null\n")
    edit = preds["psf__requests-2148"]
    assert edit["test_func_name"] == "test_connection_error_is_wrapped"
    assert edit["test_patch"].startswith("diff --git a/requests/test_requests.py b/requests/test_requests.py\n")

    # both patches apply with git on the instance's files
    structure = structure_for(fixtures_dir, "psf__requests-2148")
    repo = git_repo_with(tmp_path, {"requests/test_requests.py": structure.file_text("requests/test_requests.py")})
    for name, patch in (("a.diff", repro["test_patch"]), ("b.diff", edit["test_patch"])):
        (tmp_path / name).write_text(patch)
        subprocess.run(["git", "-C", str(repo), "apply", str(tmp_path / name)], check=True)
    assert "Issue reproduced" in (repo / "reproduce_bug.py").read_text()
    assert "def test_connection_error_is_wrapped" in (repo / "requests/test_requests.py").read_text()

    sample = json.loads((save / "samples" / "psf__requests-2148__pass1.json").read_text())
    assert sample["reason"] == "target_file_not_in_contents" and "requests/models.py" in sample["detail"]


def test_find_test_func_name() -> None:
    assert find_test_func_name("def helper():\n    pass\n\ndef test_a():\n    pass\n") == "test_a"
    assert find_test_func_name("def main():\n    pass\n") == "main"
    assert find_test_func_name("print('x')\n") == ""
    original = "class T:\n    def test_old(self):\n        pass\n"
    assert find_test_func_name(original + "    def test_new(self):\n        pass\n", original) == "test_new"
