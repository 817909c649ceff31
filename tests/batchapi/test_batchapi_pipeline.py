"""Stage 1 → batch → stage 2 → batch → stage 3 with no other tool in between (the README's
pipeline), on the SWE-bench Lite fixtures, through the stand-in Batch API."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from fakes.batch_files import read_lines  # type: ignore[import-not-found]


def test_agentless_pipeline_through_the_batch_api(tmp_path, workspace, rollout_cmd, child_env, shared_data,
                                                  fake_batch_api):
    fx = shared_data / "swe-lite-fixtures"
    api = fake_batch_api(max_lines=5, validate_s=0.05, finalize_s=0.05, answers=[str(fx / "responses_step1.jsonl")])
    env = {**child_env, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    ids = sorted(json.loads(line)["instance_id"] for line in (fx / "instances.jsonl").read_text().splitlines())

    def rollout(*args: object) -> subprocess.CompletedProcess:
        proc = subprocess.run([*rollout_cmd, *map(str, args)], env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, f"{args[:2]}: {proc.stderr}"
        return proc

    common = ["--dataset", fx / "instances.jsonl", "--repostructure_dir", fx / "structures", "--model_name",
              "fixture-model", "--plain"]
    via = ["--via", "batch", "--url", api.url, "--split-lines", "5", "--poll-interval", "0.05", "--plain"]
    rollout("agentless", "gen-step1", *common, "--output_file", tmp_path / "step1_requests.jsonl")
    rollout("process", "--input", tmp_path / "step1_requests.jsonl", "--output", tmp_path / "step1_responses.jsonl", *via)
    assert sorted(r["custom_id"] for r in read_lines(tmp_path / "step1_responses.jsonl")) == ids
    api.control(answers=[str(fx / "responses_step2_repair.jsonl")])
    rollout("agentless", "gen-step2", *common, "--input_file", tmp_path / "step1_responses.jsonl",
            "--output_file", tmp_path / "step2_requests.jsonl")
    rollout("process", "--input", tmp_path / "step2_requests.jsonl", "--output", tmp_path / "step2_responses.jsonl", *via)
    rollout("agentless", "extract", "--role", "bugfixer", "--input_file", tmp_path / "step2_responses.jsonl",
            "--dataset", fx / "instances.jsonl", "--repostructure_dir", fx / "structures", "--save_dir",
            tmp_path / "step3", "--plain")
    preds = read_lines(tmp_path / "step3" / "predictions.jsonl")
    assert sorted(p["instance_id"] for p in preds) == ids
    manifest = json.loads((fx / "manifest.json").read_text())["instances"]
    for p in preds:  # each patch edits exactly the files the gold patch touches
        touched = sorted({line[len("diff --git a/"):].split(" b/")[0] for line in p["model_patch"].splitlines()
                          if line.startswith("diff --git a/")})
        assert touched == sorted(manifest[p["instance_id"]]["files_touched"]), p["instance_id"]
    assert len(api.stats()["batches"]) == 4  # 9 requests per stage in parts of at most 5
