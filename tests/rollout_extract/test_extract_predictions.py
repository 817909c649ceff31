"""validate-preds on real Agentless prediction files and on crafted bad ones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import unidiff
from typer.testing import CliRunner

from console.cli import app
from engine.agentless.extract.diffs import file_diff
from engine.agentless.predictions import iter_predictions, validate_predictions

REAL = ["catcoin777-agentless-all_preds.jsonl", "repograph-all_preds.jsonl"]


@pytest.mark.parametrize("name", REAL)
def test_real_predictions_are_valid_and_round_trip_exactly(name: str, shared_data: Path) -> None:
    path = shared_data / "agentless-preds" / name
    report = validate_predictions(path)
    assert report.ok, [str(p) for p in report.problems[:5]]
    assert report.predictions == {"catcoin777-agentless-all_preds.jsonl": 122, "repograph-all_preds.jsonl": 23}[name]
    assert report.empty_patches == 0
    for _, obj, problem in iter_predictions(path):
        assert problem is None
        patch = obj["model_patch"]
        # exact: unidiff prints these git-made patches back byte for byte (no hunk header uses the
        # short "-N" form, which is the one thing unidiff would normalize)
        assert str(unidiff.PatchSet(patch)) == patch


@pytest.mark.parametrize("name", REAL)
def test_validate_preds_cli_accepts_real_files(name: str, shared_data: Path, workspace: Path) -> None:
    result = CliRunner().invoke(app, ["agentless", "validate-preds", str(shared_data / "agentless-preds" / name)])
    assert result.exit_code == 0, result.output
    assert ": ok" in result.output


def _pred(iid: str, patch: str, **extra: object) -> dict:
    return {"instance_id": iid, "model_name_or_path": "m", "model_patch": patch, **extra}


def test_seed_bug_each_file_twice_is_reported_with_lines(tmp_path: Path) -> None:
    one = file_diff("pkg/a.py", "x = 1\ny = 2\n", "x = 1\ny = 3\n")
    two = file_diff("pkg/b.py", "z = 1\n", "z = 2\n")
    good = _pred("i-1", one + two)
    doubled = _pred("i-2", one + one + two + two)
    path = tmp_path / "preds.jsonl"
    path.write_text("\n".join(json.dumps(p) for p in (good, doubled)) + "\n")
    report = validate_predictions(path)
    msgs = [str(p) for p in report.problems]
    assert any(m.startswith(f"{path}:2: i-2: pkg/a.py appears 2 times") and "patch lines 1, 8" in m for m in msgs), msgs
    assert any("pkg/b.py appears 2 times" in m for m in msgs)
    assert not any(":1:" in m for m in msgs)


def test_fields_duplicates_bad_json_and_bad_hunks(tmp_path: Path) -> None:
    ok = file_diff("a.py", "x = 1\n", "x = 2\n")
    longer = ok.replace("+x = 2\n", "+x = 2\n+y = 3\n")  # a line the header does not count
    lines = [
        json.dumps(_pred("a", ok)),
        json.dumps({"instance_id": "b", "model_patch": ok}),
        json.dumps(_pred("a", ok)),
        "{not json",
        json.dumps(_pred("c", "")),
        json.dumps(_pred("d", "just text, no diff")),
        json.dumps(_pred("e", longer)),
        json.dumps(_pred("f", "--- a/x\n+++ b/x\n@@ -1,3 +1,3 @@\n a\n")),
    ]
    path = tmp_path / "p.jsonl"
    path.write_text("\n".join(lines) + "\n")
    report = validate_predictions(path)
    by_line = {p.line: p.message for p in report.problems}
    assert "missing 'model_name_or_path'" in by_line[2]
    assert "duplicate instance_id 'a' (first on line 1)" in by_line[3]
    assert "invalid JSON" in by_line[4]
    assert 5 not in by_line and report.empty_patches == 1 and report.warnings[0].line == 5
    assert "no file diff" in by_line[6]
    assert "model_patch line 7" in by_line[7] and "'+y = 3'" in by_line[7]
    assert "does not parse" in by_line[8]
    result = CliRunner().invoke(app, ["agentless", "validate-preds", str(path)])
    assert result.exit_code == 2
    assert f"{path}:3: duplicate instance_id" in result.output


def test_json_list_form_and_repeated_hunk(tmp_path: Path) -> None:
    ok = file_diff("a.py", "x = 1\n", "x = 2\n")
    header, hunk = ok.split("@@", 1)
    repeated = header + "@@" + hunk + "@@" + hunk
    path = tmp_path / "preds.json"
    path.write_text(json.dumps([_pred("a", ok), _pred("b", repeated)], indent=2))
    report = validate_predictions(path)
    assert report.predictions == 2
    assert [p.line for p in report.problems] == [7]
    assert "repeats" in report.problems[0].message


def test_missing_file_is_one_line_exit_2(tmp_path: Path, workspace: Path) -> None:
    result = CliRunner().invoke(app, ["agentless", "validate-preds", str(tmp_path / "nope.jsonl")])
    assert result.exit_code == 2
    assert "predictions file not found" in result.output
