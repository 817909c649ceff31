"""gen-step2 through the real CLI: fixture round trip, test writer, and every bad-input reason."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from engine.batchio import validate_file
from engine.agentless.structure import load_structure

from .conftest import read_jsonl


def _step2(cli, fixtures: Path, inp: Path, out: Path, *extra):
    return cli("agentless", "gen-step2", "--dataset", fixtures / "instances.jsonl", "--repostructure_dir",
               fixtures / "structures", "--input_file", inp, "--output_file", out, "--model_name", "m2",
               "--plain", *extra)


def _response(cid: str, content: str | None = "", status: int = 200, reasoning: str | None = None,
              error: dict | None = None) -> dict[str, Any]:
    if error is not None:
        return {"id": "b", "custom_id": cid, "response": None, "error": error}
    msg: dict[str, Any] = {"role": "assistant", "content": content}
    if reasoning is not None:
        msg["reasoning_content"] = reasoning
    body = {"choices": [{"index": 0, "message": msg, "finish_reason": "stop"}]} if status == 200 else {"error": {"message": "boom"}}
    return {"id": "b", "custom_id": cid, "response": {"status_code": status, "request_id": "r", "body": body}, "error": None}


def test_round_trip_contains_every_touched_file(cli, fixtures: Path, tmp_path: Path) -> None:
    out = tmp_path / "step2.jsonl"
    res = _step2(cli, fixtures, fixtures / "responses_step1.jsonl", out, "--num_workers", "2")
    assert res.exit_code == 0, res.output
    assert list(validate_file(out, "request")) == []
    manifest = json.loads((fixtures / "manifest.json").read_text())["instances"]
    lines = {line["custom_id"]: line for line in read_jsonl(out)}
    assert sorted(lines) == sorted(manifest)
    problems = {json.loads(ln)["instance_id"]: json.loads(ln)["problem_statement"]
                for ln in (fixtures / "instances.jsonl").read_text().splitlines()}
    for iid, meta in manifest.items():
        prompt = lines[iid]["body"]["messages"][0]["content"]
        assert problems[iid] in prompt
        assert "<<<<<<< SEARCH" in prompt and ">>>>>>> REPLACE" in prompt
        structure = load_structure(fixtures / "structures", iid)
        for path in meta["files_touched"]:
            text = structure.file_text(path)
            assert hashlib.sha256(text.encode()).hexdigest() == meta["original_sha256"][path]
            assert f"### {path}\n```python\n{text}```" in prompt


def test_bad_inputs_go_to_failures(cli, fixtures: Path, tmp_path: Path) -> None:
    structures = tmp_path / "structures"
    structures.mkdir()
    for name in ("psf__requests-1963", "pallets__flask-4045", "psf__requests-2148"):
        (structures / f"{name}.json").symlink_to(fixtures / "structures" / f"{name}.json")
    inp = tmp_path / "responses.jsonl"
    rows = [
        json.dumps(_response("psf__requests-1963", "<think>the session</think>\n```\n1. requests/sessions.py\n- `requests/models.py`\n```")),
        "{not json",
        json.dumps(_response("psf__requests-2148", status=500)),
        json.dumps(_response("psf__requests-2148__pass1", error={"code": "timeout", "message": "took too long"})),
        json.dumps(_response("pallets__flask-4045", "<think>I am still thinking about")),
        json.dumps(_response("pallets__flask-4045__pass1", "", reasoning="long thoughts")),
        json.dumps(_response("pallets__flask-4045__pass2", "")),
        json.dumps(_response("pallets__flask-4045__pass3", "```\nsrc/flask/nothere.py\nREADME.rst\n```")),
        json.dumps(_response("pallets__flask-4045__pass4", "```\nflask/blueprints.py\n```")),
        json.dumps(_response("psf__requests-2317", "```\nrequests/sessions.py\n```")),
        json.dumps(_response("unknown__thing-1", "```\na.py\n```")),
        json.dumps({"custom_id": "x"}),
    ]
    inp.write_text("\n".join(rows) + "\n")
    out = tmp_path / "out" / "step2.jsonl"
    res = cli("agentless", "gen-step2", "--dataset", fixtures / "instances.jsonl", "--repostructure_dir", structures,
              "--input_file", inp, "--output_file", out, "--model_name", "m", "--num_workers", "1", "--plain")
    assert res.exit_code == 1, res.output
    assert "Traceback" not in res.output
    written = {line["custom_id"]: line for line in read_jsonl(out)}
    assert sorted(written) == ["pallets__flask-4045__pass4", "psf__requests-1963"]
    prompt = written["psf__requests-1963"]["body"]["messages"][0]["content"]
    assert "### requests/sessions.py" in prompt and "### requests/models.py" in prompt
    # the model named flask/blueprints.py; the structure has it under src/
    assert "### src/flask/blueprints.py" in written["pallets__flask-4045__pass4"]["body"]["messages"][0]["content"]
    fails = read_jsonl(out.parent / "failures.jsonl")
    reasons = {(f["custom_id"], f["reason"]) for f in fails}
    assert reasons >= {
        ("psf__requests-2148", "step1_request_failed"),
        ("psf__requests-2148__pass1", "step1_request_failed"),
        ("pallets__flask-4045", "reasoning_only"),
        ("pallets__flask-4045__pass1", "reasoning_only"),
        ("pallets__flask-4045__pass2", "empty_response"),
        ("pallets__flask-4045__pass3", "no_files_found"),
        ("psf__requests-2317", "structure_not_found"),
        ("unknown__thing-1", "instance_not_in_dataset"),
    }
    malformed = [f for f in fails if f["reason"] == "malformed_line"]
    assert len(malformed) == 2 and ":2:" in malformed[0]["detail"]
    assert all(set(f) >= {"instance_id", "custom_id", "reason", "detail"} for f in fails)
    state = json.loads(next((tmp_path / "ws" / "runs").glob("gen-step2-*/state.json")).read_text())
    assert state["counters"]["ok"] == 2 and state["counters"]["failed"] == len(fails) == 10
    assert state["figures"]["failed_by_reason"]["malformed_line"] == 2


def test_all_good_is_exit_0_and_passk(cli, fixtures: Path, tmp_path: Path) -> None:
    inp = tmp_path / "r.jsonl"
    inp.write_text(json.dumps(_response("psf__requests-3362", "requests/utils.py")) + "\n")
    out = tmp_path / "s2.jsonl"
    res = _step2(cli, fixtures, inp, out, "--passk", "2", "--num_workers", "1")
    assert res.exit_code == 0, res.output
    assert [line["custom_id"] for line in read_jsonl(out)] == ["psf__requests-3362__pass0", "psf__requests-3362__pass1"]


def test_testwriter_gets_top_test_file(cli, fixtures: Path, tmp_path: Path) -> None:
    inp = tmp_path / "r.jsonl"
    inp.write_text("\n".join([
        json.dumps(_response("psf__requests-1963", "```\nrequests/sessions.py\ntest_requests.py\n```")),
        json.dumps(_response("pallets__flask-4045", "```\nsrc/flask/app.py\n```")),
    ]) + "\n")
    out = tmp_path / "s2.jsonl"
    res = _step2(cli, fixtures, inp, out, "--role", "testwriter", "--num_workers", "1")
    assert res.exit_code == 1, res.output
    lines = read_jsonl(out)
    assert [line["custom_id"] for line in lines] == ["psf__requests-1963"]
    prompt = lines[0]["body"]["messages"][0]["content"]
    text = load_structure(fixtures / "structures", "psf__requests-1963").file_text("requests/test_requests.py")
    assert text and text in prompt
    for phrase in ("Issue reproduced", "Issue resolved", "Other issues"):
        assert phrase in prompt
    assert read_jsonl(tmp_path / "failures.jsonl")[0]["reason"] == "no_test_files_found"


def test_missing_or_wrong_input_file(cli, fixtures: Path, tmp_path: Path) -> None:
    res = _step2(cli, fixtures, tmp_path / "none.jsonl", tmp_path / "o.jsonl")
    assert res.exit_code == 2 and "--input_file" in res.output and "Traceback" not in res.output
    requests = tmp_path / "step1_requests.jsonl"
    requests.write_text(json.dumps({"custom_id": "a", "method": "POST", "url": "/v1/chat/completions",
                                    "body": {"model": "m", "messages": [{"role": "user", "content": "x"}]}}) + "\n")
    res = _step2(cli, fixtures, requests, tmp_path / "o.jsonl")
    assert res.exit_code == 2 and "request file, not step-1 responses" in res.output


def test_upstream_agentless_structure_shapes(cli, fixtures: Path, tmp_path: Path) -> None:
    """Nested functions listed (ast.walk) and unparsable files stored with text "" are read fine."""
    structures = tmp_path / "structures"
    structures.mkdir()
    good = ["class A:", "    def f(self):", "        def g():", "            pass", "        return 1"]
    (structures / "psf__requests-1963.json").write_text(json.dumps({
        "repo": "psf/requests", "base_commit": "x", "instance_id": "psf__requests-1963",
        "structure": {"requests": {
            "good.py": {"classes": [{"name": "A", "start_line": 1, "end_line": 5, "text": good,
                                     "methods": [{"name": "f", "start_line": 2, "end_line": 5, "text": good[1:]}]}],
                        "functions": [{"name": "g", "start_line": 3, "end_line": 4, "text": good[2:4]}], "text": good},
            "py2.py": {"classes": [], "functions": [], "text": ""},
            "empty.py": {"classes": [], "functions": [], "text": []},
        }},
    }))
    inp = tmp_path / "r.jsonl"
    inp.write_text("\n".join([
        json.dumps(_response("psf__requests-1963", "```\nrequests/py2.py\nrequests/good.py\nrequests/empty.py\n```")),
        json.dumps(_response("psf__requests-1963__pass1", "```\nrequests/py2.py\n```")),
    ]) + "\n")
    out = tmp_path / "s2.jsonl"
    res = cli("agentless", "gen-step2", "--dataset", fixtures / "instances.jsonl", "--repostructure_dir", structures,
              "--input_file", inp, "--output_file", out, "--model_name", "m", "--num_workers", "1", "--plain")
    assert res.exit_code == 1, res.output
    lines = read_jsonl(out)
    assert [line["custom_id"] for line in lines] == ["psf__requests-1963"]
    prompt = lines[0]["body"]["messages"][0]["content"]
    assert "### requests/good.py\n```python\n" + "\n".join(good) + "\n```" in prompt
    assert "### requests/empty.py" in prompt and "requests/py2.py" not in prompt.split("</issue>")[1]
    fail = read_jsonl(tmp_path / "failures.jsonl")[0]
    assert fail["custom_id"] == "psf__requests-1963__pass1" and fail["reason"] == "no_files_found"
