"""End to end through the real CLI: step-2 answers → samples, processed outputs, predictions, summary."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from console.cli import app
from engine.agentless.predictions import validate_predictions

from .helpers import content_of, with_content, write_jsonl

AGENTLESS_FIELDS = {"model_name_or_path", "instance_id", "model_patch", "raw_model_patch",
                    "original_file_content", "edited_files", "new_file_content"}


def invoke(*args: str):
    return CliRunner().invoke(app, ["agentless", "extract", *args])


def jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def run_state(workspace: Path) -> dict[str, Any]:
    states = sorted((workspace / "runs").glob("extract-*/state.json"))
    return json.loads(states[-1].read_text())


def test_fixture_answers_to_valid_predictions(fixtures_dir: Path, workspace: Path, tmp_path: Path) -> None:
    save = tmp_path / "out"
    result = invoke("--role", "bugfixer", "--input_file", str(fixtures_dir / "responses_step2_repair.jsonl"),
                    "--dataset", str(fixtures_dir / "instances.jsonl"), "--repostructure_dir", str(fixtures_dir / "structures"),
                    "--save_dir", str(save), "--num_workers", "2")
    assert result.exit_code == 0, result.output
    assert "9 valid, 0 empty, 0 failed" in result.output
    preds = jsonl(save / "predictions.jsonl")
    assert len(preds) == 9 and all(p["model_patch"].startswith("diff --git a/") for p in preds)
    assert all(p["model_name_or_path"] == "fixture-model" for p in preds)
    assert validate_predictions(save / "predictions.jsonl").ok
    check = CliRunner().invoke(app, ["agentless", "validate-preds", str(save / "predictions.jsonl")])
    assert check.exit_code == 0, check.output
    processed = jsonl(save / "output_0_processed.jsonl")
    assert len(processed) == 9 and all(AGENTLESS_FIELDS <= set(p) for p in processed)
    sample = json.loads((save / "samples" / "psf__requests-1963.json").read_text())
    assert sample["status"] == "valid" and sample["raw_output"] and sample["edits"][0]["mode"] == "exact"
    figures = run_state(workspace)["figures"]["extract"]
    assert (figures["valid"], figures["empty"], figures["failed"], figures["predictions"]) == (9, 0, 0, 9)
    assert (save / "failures.jsonl").read_text() == ""


def test_passes_vote_failures_by_reason_and_resume(fixtures_dir: Path, step2_lines: dict[str, Any],
                                                   workspace: Path, tmp_path: Path) -> None:
    lines = []
    for iid, line in step2_lines.items():
        answer = content_of(line)
        lines.append(with_content(line, answer, custom_id=f"{iid}__pass0"))
        # the same fix with a different comment: another raw patch, the same normalized one
        lines.append(with_content(line, re.sub(r"(\n>>>>>>> REPLACE)", r"\n# note\1", answer, count=1), custom_id=f"{iid}__pass1"))
        lines.append(with_content(line, answer[: answer.rindex("=======") - 5], custom_id=f"{iid}__pass2"))
    gold_1963 = content_of(step2_lines["psf__requests-1963"])
    # an instance whose first pass is a different valid fix: the two equivalent later passes win
    other = gold_1963.replace("req = prepared_request", "req = prepared_request.copy()")
    lines[0] = with_content(step2_lines["psf__requests-1963"], other, custom_id="psf__requests-1963__pass0")
    lines.append(with_content(step2_lines["psf__requests-1963"], gold_1963, custom_id="psf__requests-1963__pass3"))
    lines.append(dict(lines[3], custom_id="psf__requests-2148__pass3",
                      response={"status_code": 500, "request_id": "", "body": {"error": {"message": "overloaded"}}}))
    lines.append(with_content(step2_lines["psf__requests-2148"], "<think>" + content_of(step2_lines["psf__requests-2148"]) + "</think>",
                              custom_id="psf__requests-2148__pass4"))
    lines.append(with_content(step2_lines["psf__requests-2148"], "x", custom_id="nosuch__repo-1__pass0"))
    inp = write_jsonl(tmp_path / "step2.jsonl", lines)
    (tmp_path / "step2.jsonl").write_bytes(inp.read_bytes() + b"this is not json\n")
    save = tmp_path / "out"
    args = ["--input-file", str(inp), "--repostructure-dir", str(fixtures_dir / "structures"), "--save-dir", str(save),
            "--num-workers", "2", "--passk", "5"]
    result = invoke(*args)
    assert result.exit_code == 1, result.output  # some samples failed
    summary = json.loads((save / "summary.json").read_text())
    assert summary["valid"] == 19 and summary["samples"] == 32
    assert summary["failed_by_reason"] == {"malformed_line": 1, "step2_request_failed": 1,
                                           "structure_not_found": 1, "truncated": 9}
    assert summary["empty_by_reason"] == {"reasoning_only": 1}
    assert run_state(workspace)["figures"]["extract"]["failed_by_reason"] == summary["failed_by_reason"]
    failures = jsonl(save / "failures.jsonl")
    assert len(failures) == 13 and {f["reason"] for f in failures} >= {"truncated", "reasoning_only"}
    assert all({"instance_id", "custom_id", "reason"} <= set(f) for f in failures)

    preds = {p["instance_id"]: p for p in jsonl(save / "predictions.jsonl")}
    assert all(set(p) == {"instance_id", "model_name_or_path", "model_patch"} for p in preds.values())
    votes = {v["instance_id"]: v for v in jsonl(save / "votes.jsonl")}
    assert votes["psf__requests-1963"]["custom_id"] == "psf__requests-1963__pass1"
    assert votes["psf__requests-1963"]["votes"] == 2 and votes["psf__requests-1963"]["groups"] == 2
    assert "req = prepared_request\n" in preds["psf__requests-1963"]["model_patch"]
    assert set(preds) == set(step2_lines) | {"nosuch__repo-1"}
    assert all(v["custom_id"].endswith("__pass0") for iid, v in votes.items() if iid not in ("psf__requests-1963", "nosuch__repo-1"))
    assert votes["nosuch__repo-1"]["custom_id"] is None
    assert preds["nosuch__repo-1"]["model_patch"] == ""
    report = validate_predictions(save / "predictions.jsonl")
    assert report.ok and report.empty_patches == 1
    for k in range(5):
        assert (save / f"output_{k}_processed.jsonl").exists()
    assert len(jsonl(save / "output_2_processed.jsonl")) == 9
    truncated = jsonl(save / "output_2_processed.jsonl")
    assert all(p["model_patch"] == "" and p["status"] == "failed" for p in truncated)
    # blocks before the cut applied: their diff is kept as raw_model_patch (single-block answers have none)
    assert sum(1 for p in truncated if p["raw_model_patch"]) == 6

    # a rerun resumes: nothing is extracted twice and the predictions are the same
    before = (save / "predictions.jsonl").read_bytes()
    again = invoke(*args)
    assert again.exit_code == 1
    assert len(jsonl(save / "output_0_processed.jsonl")) == 10
    assert (save / "predictions.jsonl").read_bytes() == before
    assert json.loads((save / "summary.json").read_text())["skipped"] == {"already_extracted": 32}


def test_item_timeout_and_usage_errors(fixtures_dir: Path, workspace: Path, tmp_path: Path) -> None:
    save = tmp_path / "out"
    base = ["--input_file", str(fixtures_dir / "responses_step2_repair.jsonl"),
            "--repostructure_dir", str(fixtures_dir / "structures"), "--save_dir", str(save)]
    result = invoke(*base, "--num_workers", "0", "--item_timeout", "0.000001")
    assert result.exit_code == 1
    assert json.loads((save / "summary.json").read_text())["failed_by_reason"] == {"timeout": 9}
    bad = invoke("--input_file", str(tmp_path / "missing.jsonl"), "--repostructure_dir", str(fixtures_dir / "structures"),
                 "--save_dir", str(save))
    assert bad.exit_code == 2 and "step-2 response file not found" in bad.output
    assert "Traceback" not in bad.output


def test_pipe_ids_dataset_filter_and_passk(fixtures_dir: Path, step2_lines: dict[str, Any], workspace: Path,
                                           tmp_path: Path) -> None:
    line = step2_lines["pallets__flask-4045"]
    lines = [dict(line, custom_id="pallets__flask-4045|0"), dict(line, custom_id="pallets__flask-4045|1"),
             dict(line, custom_id="pallets__flask-4045|7"), dict(line, custom_id="pallets__flask-4045|1"),
             dict(line, custom_id="other__repo-1|0")]
    dataset = tmp_path / "ds.jsonl"
    dataset.write_text(json.dumps({"instance_id": "pallets__flask-4045", "problem_statement": "x", "repo": "pallets/flask"}) + "\n")
    save = tmp_path / "out"
    result = invoke("--input_file", str(write_jsonl(tmp_path / "in.jsonl", lines)), "--repostructure_dir",
                    str(fixtures_dir / "structures"), "--save_dir", str(save), "--dataset", str(dataset),
                    "--passk", "2", "--num_workers", "0", "--model_name", "my-model")
    assert result.exit_code == 0, result.output
    summary = json.loads((save / "summary.json").read_text())
    assert summary["valid"] == 2
    assert summary["skipped"] == {"duplicate_custom_id": 1, "instance_not_in_dataset": 1, "pass_beyond_passk": 1}
    (pred,) = jsonl(save / "predictions.jsonl")
    assert pred["model_name_or_path"] == "my-model" and pred["model_patch"].startswith("diff --git a/src/flask/blueprints.py")
    assert [len(jsonl(save / f"output_{k}_processed.jsonl")) for k in range(2)] == [1, 1]
    assert (save / "samples" / "pallets__flask-4045|1.json").exists()


def test_a_broken_sample_is_recorded_as_exception(step2_lines: dict[str, Any], workspace: Path, tmp_path: Path) -> None:
    structures = tmp_path / "structures"
    structures.mkdir()
    # a corrupt structure: a file's text holds numbers, so building the file's content raises
    (structures / "x__y-1.json").write_text(json.dumps({
        "repo": "x/y", "instance_id": "x__y-1", "base_commit": "",
        "structure": {"y": {"a.py": {"text": [1, 2], "classes": [], "functions": []}}}}))
    answer = "### a.py\n<<<<<<< SEARCH\n1\n=======\n3\n>>>>>>> REPLACE\n"
    inp = write_jsonl(tmp_path / "in.jsonl", [with_content(step2_lines["psf__requests-1963"], answer, custom_id="x__y-1")])
    save = tmp_path / "out"
    result = invoke("--input_file", str(inp), "--repostructure_dir", str(structures), "--save_dir", str(save),
                    "--num_workers", "1")
    assert result.exit_code == 1, result.output
    (failure,) = jsonl(save / "failures.jsonl")
    assert failure["reason"] == "exception" and failure["detail"].startswith("TypeError")


def test_input_that_is_not_batch_output_is_refused_up_front(fixtures_dir: Path, shared_data: Path, workspace: Path,
                                                           tmp_path: Path) -> None:
    structures = str(fixtures_dir / "structures")
    requests = tmp_path / "requests.jsonl"
    requests.write_text(json.dumps({"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": {}}) + "\n")
    for bad, said in [(shared_data / "swe-bench" / "lite-test.parquet", "not OpenAI Batch output JSONL"),
                      (requests, "a request file"), (fixtures_dir / "structures" / "psf__requests-1963.json", "not OpenAI")]:
        result = invoke("--input_file", str(bad), "--repostructure_dir", structures, "--save_dir", str(tmp_path / "o"))
        assert result.exit_code == 2, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and said in lines[0] and "--input_file" in lines[0], result.output
    assert not (tmp_path / "o").exists() and not list((workspace / "runs").glob("extract-*"))


def test_corrupt_structure_is_structure_invalid(fixtures_dir: Path, step2_lines: dict[str, Any], workspace: Path,
                                                tmp_path: Path) -> None:
    structures = tmp_path / "structures"
    structures.mkdir()
    (structures / "psf__requests-1963.json").write_text('{"repo": "psf/requests", "struct')
    inp = write_jsonl(tmp_path / "in.jsonl", [step2_lines["psf__requests-1963"], step2_lines["psf__requests-2148"]])
    save = tmp_path / "out"
    result = invoke("--input_file", str(inp), "--repostructure_dir", str(structures), "--save_dir", str(save),
                    "--num_workers", "0")
    assert result.exit_code == 1, result.output
    fails = {f["instance_id"]: f for f in jsonl(save / "failures.jsonl")}
    assert fails["psf__requests-1963"]["reason"] == "structure_invalid"
    assert "invalid JSON (unexpected end of data" in fails["psf__requests-1963"]["detail"]
    assert fails["psf__requests-2148"]["reason"] == "structure_not_found"
