"""`rollout eval repro`: the derived dataset and patches, outcomes, BRS, and a real harness run."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from engine.report.sources import read_brs
from engine.swebench.dataset import load_eval_instances
from engine.options.swebench import ReproJob
from engine.swebench.repro import (OTHER, REPRODUCED, RESOLVED, combine_patches, outcome_from_output, prepare_repro,
                                   repro_eval_script)
from swebench_helpers import LITE_TEST

IID = "psf__requests-1963"
TEST_PATCH = ("diff --git a/reproduce_bug.py b/reproduce_bug.py\nnew file mode 100644\n--- /dev/null\n"
              "+++ b/reproduce_bug.py\n@@ -0,0 +1,2 @@\n+import requests\n+print('Issue reproduced')\n")
MODEL_PATCH = ("diff --git a/requests/sessions.py b/requests/sessions.py\n--- a/requests/sessions.py\n"
               "+++ b/requests/sessions.py\n@@ -1 +1 @@\n-a\n+b\n")


def _files(tmp_path: Path) -> tuple[Path, Path]:
    tests, preds = tmp_path / "tests.jsonl", tmp_path / "preds.jsonl"
    tests.write_text(json.dumps({"instance_id": IID, "model_name_or_path": "tw", "model_patch": TEST_PATCH}) + "\n")
    preds.write_text(json.dumps({"instance_id": IID, "model_name_or_path": "m", "model_patch": MODEL_PATCH}) + "\n")
    return tests, preds


def test_eval_script_keeps_the_environment_and_runs_the_test() -> None:
    row = load_eval_instances(str(LITE_TEST), keep_rows=True)[IID].row
    script = repro_eval_script(row["eval_script"], row["base_commit"], 120)
    assert "conda activate testbed" in script and "python -m pip install ." in script
    assert f"git checkout {row['base_commit']}" not in script and "pytest -rA" not in script
    assert script.index(": '>>>>> Start Test Output'") < script.index("timeout 120 python reproduce_bug.py") \
        < script.index(": '>>>>> End Test Output'")


def test_outcomes_from_test_output() -> None:
    def out(body: str) -> str:
        return f"+ cd /testbed\n: '>>>>> Start Test Output'\n+ grep -q 'Issue resolved' x\n{body}\n: '>>>>> End Test Output'\n"

    assert outcome_from_output(out("Issue reproduced\nFAILED reproduce_bug.py")) == REPRODUCED
    assert outcome_from_output(out("Issue resolved\nPASSED reproduce_bug.py")) == RESOLVED
    assert outcome_from_output(out("Traceback (most recent call last):\nOther issues")) == OTHER
    assert combine_patches(MODEL_PATCH, TEST_PATCH) == MODEL_PATCH + TEST_PATCH
    assert combine_patches("", TEST_PATCH) == TEST_PATCH


def test_prepare_writes_derived_dataset_and_both_sides(tmp_path: Path) -> None:
    tests, preds = _files(tmp_path)
    plan = prepare_repro(ReproJob(tests=str(tests), predictions=str(preds), dataset=str(LITE_TEST),
                                  work_dir=str(tmp_path), run_id="rp"))
    [row] = [json.loads(ln) for ln in plan.dataset_file.read_text().splitlines()]
    assert row["instance_id"] == IID and json.loads(row["FAIL_TO_PASS"]) == ["reproduce_bug.py"]
    assert row["image"] and "python reproduce_bug.py" in row["eval_script"]
    [before] = [json.loads(ln) for ln in plan.before_preds.read_text().splitlines()]
    [after] = [json.loads(ln) for ln in plan.after_preds.read_text().splitlines()]
    assert before["model_patch"] == TEST_PATCH and after["model_patch"] == MODEL_PATCH + TEST_PATCH


def test_brs_from_repro_results(tmp_path: Path, workspace: Path) -> None:
    res = tmp_path / "repro.jsonl"
    res.write_text("\n".join(json.dumps(d) for d in [
        {"instance_id": "a__a-1", "before": "reproduced", "after": "resolved"},
        {"instance_id": "b__b-1", "before": "reproduced", "after": "reproduced"},
        {"instance_id": "c__c-1", "brs": 0.0}, {"instance_id": "c__c-1", "brs": 1.0}]) + "\n")
    assert read_brs([str(res)], workspace) == {"a__a-1": 1.0, "b__b-1": 0.0, "c__c-1": 1.0}


@pytest.mark.timeout(300)
def test_real_harness_run_fails_clearly_without_images(tmp_path: Path, workspace: Path, rollout_cmd: list[str],
                                                       child_env: dict[str, str]) -> None:
    tests, preds = _files(tmp_path)
    r = subprocess.run(rollout_cmd + ["eval", "repro", "--tests", str(tests), "--predictions", str(preds),
                                      "--dataset", str(LITE_TEST), "--work-dir", str(tmp_path), "--plain"],
                       env={**child_env, "HF_DATASETS_OFFLINE": "1"}, capture_output=True, text=True, timeout=240)
    assert r.returncode == 3 and "Traceback" not in r.stderr
    assert [ln for ln in r.stderr.splitlines() if ln.startswith("rollout: error:")][0].endswith(
        "check that the instance images exist")
    [run] = list((workspace / "runs").glob("repro-*"))
    events = [json.loads(ln) for ln in (run / "events.jsonl").read_text().splitlines()]
    [err] = [e for e in events if e["type"] == "instance_error"]
    assert err["side"] == "before" and err["reason"] == "image_unavailable" and err["instance_id"] == IID
