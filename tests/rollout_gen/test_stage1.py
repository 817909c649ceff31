"""gen-step1 through the real CLI: one valid request per instance x passk, prompts, failures, resume."""

from __future__ import annotations

import json
from pathlib import Path

from engine.batchio import validate_file
from engine.agentless.structure import load_structure

from .conftest import fixture_instances, read_jsonl


def _step1(cli, fixtures: Path, out: Path, *extra):
    return cli("agentless", "gen-step1", "--dataset", fixtures / "instances.jsonl", "--repostructure_dir",
               fixtures / "structures", "--output_file", out, "--model_name", "test-model", "--num_workers", "1",
               "--plain", *extra)


def test_one_line_per_instance_with_prompt_content(cli, fixtures: Path, tmp_path: Path) -> None:
    out = tmp_path / "o" / "step1.jsonl"
    res = _step1(cli, fixtures, out)
    assert res.exit_code == 0, res.output
    assert list(validate_file(out, "request")) == []
    lines = read_jsonl(out)
    by_id = {line["custom_id"]: line for line in lines}
    instances = fixture_instances(fixtures)
    assert sorted(by_id) == sorted(i["instance_id"] for i in instances)
    for inst in instances:
        body = by_id[inst["instance_id"]]["body"]
        assert body["model"] == "test-model" and body["top_p"] == 0.95 and body["max_tokens"] == 4096
        prompt = body["messages"][0]["content"]
        assert inst["problem_statement"] in prompt
        tree = load_structure(fixtures / "structures", inst["instance_id"]).tree_text()
        assert tree.strip() in prompt
        assert "at most 5" in prompt
        assert "enable_thinking" not in body and "chat_template_kwargs" not in body
    assert not (out.parent / "failures.jsonl").exists()
    assert "wrote 9 requests" in res.output


def test_passk_parquet_thinking_and_seed_style_ids(cli, fixtures: Path, lite_parquet: Path, tmp_path: Path) -> None:
    ids = ["pallets__flask-4992", "psf__requests-2317"]
    out = tmp_path / "step1.jsonl"
    res = cli("agentless", "gen-step1", "--role", "testwriter", "--dataset", lite_parquet, "--repostructure_dir",
              fixtures / "structures", "--output-file", out, "--model_name", "m", "--passk", "3", "--temp", "0.6",
              "--enable_thinking", "--thinking_budget", "2048", "--instance_ids", *ids, "--num_workers", "2", "--plain")
    assert res.exit_code == 0, res.output
    assert list(validate_file(out, "request")) == []
    lines = read_jsonl(out)
    assert sorted(line["custom_id"] for line in lines) == sorted(f"{i}__pass{n}" for i in ids for n in range(3))
    for line in lines:
        body = line["body"]
        # the seed's test writer: pass 0 greedy, the others sampled
        assert body["temperature"] == (0.0 if line["custom_id"].endswith("__pass0") else 0.6)
        assert body["chat_template_kwargs"] == {"enable_thinking": True, "thinking_budget": 2048}
        assert body["enable_thinking"] is True and body["thinking_budget"] == 2048
        assert "test files" in body["messages"][0]["content"]
    # the parquet's flask-4992 statement has CRLF and it is kept without --convert_crlf
    flask = next(line for line in lines if line["custom_id"] == "pallets__flask-4992__pass1")
    assert "\r\n" in flask["body"]["messages"][0]["content"]


def test_convert_crlf(cli, fixtures: Path, tmp_path: Path) -> None:
    out = tmp_path / "step1.jsonl"
    res = _step1(cli, fixtures, out, "--convert_crlf", "--instance_ids", "pallets__flask-4992,pallets__flask-5063")
    assert res.exit_code == 0, res.output
    raw = {i["instance_id"]: i["problem_statement"] for i in fixture_instances(fixtures)}
    for line in read_jsonl(out):
        prompt = line["body"]["messages"][0]["content"]
        assert "\r" not in prompt
        assert raw[line["custom_id"]].replace("\r\n", "\n") in prompt


def test_failures_and_resume(cli, fixtures: Path, tmp_path: Path) -> None:
    structures = tmp_path / "structures"
    structures.mkdir()
    for name in ("psf__requests-1963", "pallets__flask-4045"):
        (structures / f"{name}.json").symlink_to(fixtures / "structures" / f"{name}.json")
    (structures / "psf__requests-863.json").write_text('{"repo": "psf/requests", "struct')  # torn file
    out = tmp_path / "out" / "step1.jsonl"
    args = ["agentless", "gen-step1", "--dataset", fixtures / "instances.jsonl", "--repostructure_dir", structures,
            "--output_file", out, "--model_name", "m", "--num_workers", "1", "--plain",
            "--instance_ids", "psf__requests-1963", "pallets__flask-4045", "psf__requests-2148", "not__here-1",
            "psf__requests-863"]
    res = cli(*args)
    assert res.exit_code == 1, res.output
    assert "Traceback" not in res.output
    assert {line["custom_id"] for line in read_jsonl(out)} == {"psf__requests-1963", "pallets__flask-4045"}
    fails = {f["custom_id"]: f for f in read_jsonl(out.parent / "failures.jsonl")}
    assert fails["psf__requests-2148"]["reason"] == "structure_not_found"
    assert fails["not__here-1"]["reason"] == "instance_not_in_dataset"
    assert fails["psf__requests-863"]["reason"] == "structure_invalid"
    assert "invalid JSON (unexpected end of data" in fails["psf__requests-863"]["detail"]
    assert set(fails["not__here-1"]) >= {"instance_id", "custom_id", "reason", "detail"}
    # the run's state counts them
    state = json.loads(next((Path(p) for p in (tmp_path / "ws" / "runs").glob("gen-step1-*/state.json"))).read_text())
    assert state["counters"]["ok"] == 2 and state["counters"]["failed"] == 3
    assert state["figures"]["failed_by_reason"] == {"structure_not_found": 1, "structure_invalid": 1,
                                                    "instance_not_in_dataset": 1}
    # a rerun skips what is already written and writes nothing twice
    res = cli(*args)
    assert res.exit_code == 1
    assert len(read_jsonl(out)) == 2


def test_prompt_too_long(cli, fixtures: Path, tmp_path: Path) -> None:
    out = tmp_path / "step1.jsonl"
    res = _step1(cli, fixtures, out, "--max_prompt_tokens", "100", "--instance_ids", "psf__requests-863")
    assert res.exit_code == 1
    assert read_jsonl(tmp_path / "failures.jsonl")[0]["reason"] == "prompt_too_long"
    assert read_jsonl(out) == []


def test_bad_flags_are_one_line(cli, fixtures: Path, tmp_path: Path) -> None:
    res = _step1(cli, fixtures, tmp_path / "o.jsonl", "--dataset", tmp_path / "missing.parquet")
    assert res.exit_code == 2 and "not found" in res.output and "Traceback" not in res.output
    res = cli("agentless", "gen-step1", "--dataset", fixtures / "instances.jsonl", "--repostructure_dir",
              tmp_path / "nowhere", "--output_file", tmp_path / "o.jsonl", "--model_name", "m")
    assert res.exit_code == 2 and "--repostructure_dir" in res.output


def test_offline_hub_dataset_exit_3(cli, fixtures: Path, tmp_path: Path) -> None:
    res = _step1(cli, fixtures, tmp_path / "o.jsonl", "--dataset", "someone/uncached-dataset")
    assert res.exit_code == 3
    errors = [ln for ln in res.output.splitlines() if ln.startswith("rollout: error:")]
    assert len(errors) == 1 and "not in the local cache" in errors[0]
    assert "Traceback" not in res.output
