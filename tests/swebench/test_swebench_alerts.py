"""The four seed 004 alerts raised by real jobs' figures: an eval run of the real harness (graded
instances resumed from report.json files, two instances whose images cannot be pulled) and a real
processing run of 3 instances x 3 passes at $15 a request."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from engine.alerts import default_rules
from engine.config import ScorecardSettings
from engine.report.split import split_tests
from swebench_helpers import LITE_TEST, instances, write_predictions, write_report

SEED_RULES = ("overfit_gap_high", "success_rate_low", "cost_overrun", "infrastructure_failure")


def _alerts(run: Path) -> dict[str, dict]:
    out = {}
    for ln in (run / "events.jsonl").read_text().splitlines():
        e = json.loads(ln)
        if e.get("type") == "alert" and e.get("state") == "raised":
            out[e["name"]] = e
    return out


@pytest.mark.timeout(300)
def test_the_four_seed_alerts_from_real_runs(tmp_path: Path, workspace: Path, rollout_cmd: list[str],
                                             child_env: dict[str, str], fake_openai) -> None:
    data = instances(LITE_TEST)
    ids = sorted(data)[:22]
    graded, broken = ids[:20], ids[20:]
    # 1. a processing run: 3 instances x 3 passes, each request priced at $15 (7 completion tokens)
    config = tmp_path / "rollout.toml"
    config.write_text(f'[prices."fake-model"]\ninput_per_1m = 0.0\noutput_per_1m = {15e6 / 7!r}\n')
    server = fake_openai(mode="ok")
    requests = tmp_path / "requests.jsonl"
    with open(requests, "w") as fh:
        for iid in graded[:3]:
            for k in range(3):
                cid = f"{iid}__pass{k}"
                fh.write(json.dumps({"custom_id": cid, "method": "POST", "url": "/v1/chat/completions", "body": {
                    "model": "fake-model", "max_tokens": 8, "messages": [{"role": "user", "content": cid}]}}) + "\n")
    r = subprocess.run(rollout_cmd + ["--config", str(config), "process", "--input", str(requests), "--output",
                                      str(tmp_path / "responses.jsonl"), "--url", server.url, "--plain"],
                       env=child_env, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    [proc_run] = list((workspace / "runs").glob("process-*"))
    proc_state = json.loads((proc_run / "state.json").read_text())
    assert proc_state["figures"]["cost_per_instance_usd"] == pytest.approx(45.0)
    assert "cost_overrun" in _alerts(proc_run)

    # 2. an eval run: 20 instances graded earlier (public tests pass, hidden fail), 2 with no image
    s = ScorecardSettings()
    logs = tmp_path / "wd" / "logs" / "run_evaluation" / "phase-3"
    for iid in graded:
        inst = data[iid]
        write_report(logs, "agentless", inst, split_tests(iid, inst.tests, s.public_ratio, s.split_seed).public,
                     resolved=False)
    preds = write_predictions(tmp_path / "preds.jsonl", ids)
    r = subprocess.run(rollout_cmd + ["--config", str(config), "eval", "swebench", "--predictions", str(preds),
                                      "--dataset", str(LITE_TEST), "--run-id", "phase-3", "--work-dir",
                                      str(tmp_path / "wd"), "--rollout-runs", proc_run.name, "--plain"],
                       env={**child_env, "HF_DATASETS_OFFLINE": "1"}, capture_output=True, text=True, timeout=240,
                       cwd=tmp_path)
    assert r.returncode == 1, r.stderr  # the job ran; two instances failed
    assert "resume: 20 of 22 instance(s) already have a report.json" in r.stderr
    [run] = list((workspace / "runs").glob("swebench-*"))
    fig = json.loads((run / "state.json").read_text())["figures"]
    assert fig["success_rate"] == 0.0 and fig["success_rate_n"] == 20 and fig["overfit_gap"] > 0.15
    assert fig["crashes"] == 2 and fig["resumed"] == 20 and fig["cost_per_instance_usd"] == pytest.approx(45.0)
    assert fig["monitor_line"].startswith("progress 22/22 instances · success 0.0% · Overall ")
    raised = _alerts(run)
    assert set(SEED_RULES) <= set(raised)
    actions = {r.name: r.action for r in default_rules()}
    for name in SEED_RULES:
        assert raised[name]["action"] == actions[name] and raised[name]["action"]
    assert raised["infrastructure_failure"]["value"] == 2
    assert "alert [critical] infrastructure_failure" in r.stderr

    # 3. the eval run is a phase for `rollout report`: dataset, logs and rollout runs come from its run.json
    r = subprocess.run(rollout_cmd + ["--config", str(config), "report", "--runs", run.name, "--criteria", "seed004",
                                      "--phase", "phase-3", "--format", "json"], env=child_env, capture_output=True, text=True, timeout=180,
                       cwd=tmp_path)
    assert r.returncode == 1, r.stderr  # seed 004's phase-3 (50 planned) fails
    [phase] = json.loads(r.stdout)["phases"]
    assert phase["phase"]["name"] == "phase-3" and phase["figures"]["infra_errors"] == 2
    assert phase["figures"]["cost_per_instance"] == pytest.approx(45.0)
    failed = {c["figure"] for c in phase["criteria"] if c["passed"] is False}
    assert {"success_rate", "overfit_gap_mean", "cost_per_instance"} <= failed
