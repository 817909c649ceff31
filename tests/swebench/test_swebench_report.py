"""`rollout report` on harness logs built from real instances: Markdown, JSON, criteria, phases, plots."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from engine.config import ScorecardSettings
from engine.report.split import split_tests
from swebench_helpers import LITE_DEV, VERIFIED, instances, write_predictions, write_report

IMAGE_ERROR_LOG = ("2026-12-01 08:06:48,875 - INFO - Image not found locally, attempting to pull...\n"
                   "2026-12-01 08:06:48,916 - ERROR - Error creating container for {iid}: 500 Server Error for "
                   "http+docker://localhost/v1.41/images/create?tag=latest&fromImage=amd64.{iid}: Internal Server "
                   "Error (\"Get \"https://registry-1.docker.io/v2/\": dial tcp: no such host\")\n")


def _phase(logs: Path, path: Path, ids_outcomes: list[tuple[str, str]]) -> None:
    s = ScorecardSettings()
    data = instances(path)
    for iid, outcome in ids_outcomes:
        inst = data[iid]
        if outcome == "error":
            folder = logs / "agentless" / iid
            folder.mkdir(parents=True)
            (folder / "run_instance.log").write_text(IMAGE_ERROR_LOG.format(iid=iid))
            continue
        public = split_tests(iid, inst.tests, s.public_ratio, s.split_seed).public
        passed = {"all": inst.tests, "public": public, "none": []}[outcome]
        write_report(logs, "agentless", inst, passed, resolved=outcome == "all")


def _run(cmd: list[str], env: dict, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=180)


def test_report_markdown_json_criteria_and_plots(tmp_path: Path, workspace: Path, rollout_cmd: list[str],
                                                 child_env: dict[str, str]) -> None:
    ids = sorted(instances(LITE_DEV))[:10]
    outcomes = [(iid, ("all", "public", "none")[k % 3]) for k, iid in enumerate(ids[:9])] + [(ids[9], "error")]
    logs = tmp_path / "logs" / "run_evaluation" / "phase1"
    _phase(logs, LITE_DEV, outcomes)
    # rollout cost: three pass@k samples per instance in a response file, priced in the config
    responses = tmp_path / "responses.jsonl"
    with open(responses, "w") as fh:
        for iid in ids:
            for k in range(3):
                fh.write(json.dumps({"id": f"r{k}", "custom_id": f"{iid}__pass{k}", "error": None, "response": {
                    "status_code": 200, "request_id": "x", "body": {"model": "priced-model", "usage": {
                        "prompt_tokens": 1000, "completion_tokens": 500 * (k + 1)}}}}) + "\n")
    config = tmp_path / "rollout.toml"
    config.write_text('[prices."priced-model"]\ninput_per_1m = 1000.0\noutput_per_1m = 2000.0\n')
    plots = tmp_path / "plots"
    out = _run(rollout_cmd + ["--config", str(config), "report", "--runs", str(logs), "--dataset", str(LITE_DEV),
                              "--criteria", "seed004", "--format", "md,json", "--output", str(tmp_path / "rep"),
                              "--plots", str(plots), "--rollout-runs", str(responses)], child_env, tmp_path)
    assert out.returncode in (0, 1), out.stderr
    md = (tmp_path / "rep.md").read_text()
    data = json.loads((tmp_path / "rep.json").read_text())
    [phase] = data["phases"]
    f = phase["figures"]
    assert (f["instances"], f["scored"], f["errors"], f["infra_errors"]) == (10, 9, 1, 1)
    assert f["success_rate"] == round(3 / 9, 6) and f["resolved"] == 3
    # cost: each instance 3 samples: 3*1000 prompt at $1000/M + (500+1000+1500) completion at $2000/M = $9
    costs = {i["instance_id"]: (i["cost_usd"], i["samples"]) for i in phase["instances"]}
    assert all(c == (9.0, 3) for iid, c in costs.items())
    assert f["cost_per_instance"] == 9.0 and f["cost_total"] == 90.0
    # the 10-instance phase of seed 004's table; its cost line fails
    assert phase["phase"]["name"] == "phase-2" and phase["verdict"] == "fail"
    crit = {c["figure"]: c["passed"] for c in phase["criteria"]}
    assert crit["cost_per_instance"] is False and crit["overfit_gap_mean"] is not None
    assert out.returncode == 1  # a phase failed its criteria
    # Markdown: seed 004's tables and histograms
    assert "## Phase phase1 — phase-2 (10 planned)" in md and "**Verdict: FAIL**" in md
    assert re.search(r"\| cost_per_instance \| ≤ 7 \| 9\.000 \| ❌ fail \|", md)
    assert "| figure | n | mean | median | std | 95% CI | min | max |" in md
    assert re.search(r"^Overall \(n=9\)$", md, re.M) and re.search(r"^\[0\.9, 1\.0\] *│█+ +3$", md, re.M)
    assert "### By repository" in md and f"| {instances(LITE_DEV)[ids[0]].repo} |" in md
    assert f"`{ids[9]}` (image_unavailable)" in md
    pngs = sorted(plots.glob("*.png"))
    assert [p.name for p in pngs] == ["histograms-phase1.png", "metrics-by-phase.png"]
    for p in pngs:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 5000


def test_phases_side_by_side_with_difficulty(tmp_path: Path, workspace: Path, rollout_cmd: list[str],
                                             child_env: dict[str, str]) -> None:
    ids = sorted(instances(VERIFIED))
    a, b = tmp_path / "a" / "p-small", tmp_path / "b" / "p-large"
    _phase(a, VERIFIED, [(i, "all") for i in ids[:4]])
    _phase(b, VERIFIED, [(i, "all" if k % 2 else "none") for k, i in enumerate(ids[4:14])])
    preds = write_predictions(tmp_path / "preds.jsonl", ids[4:15])
    lines = preds.read_text().splitlines()
    lines[-1] = json.dumps({"instance_id": ids[14], "model_name_or_path": "agentless", "model_patch": ""})
    preds.write_text("\n".join(lines) + "\n")
    out = _run(rollout_cmd + ["report", "--runs", str(a), "--runs", str(b), "--dataset", str(VERIFIED),
                              "--format", "md"], child_env, tmp_path)
    assert out.returncode == 0, out.stderr
    md = out.stdout
    assert "## Phases side by side" in md
    rows = [ln for ln in md.splitlines() if ln.startswith("| p-")]
    assert rows[0].startswith("| p-small | 4 | 4 | 0 | 100.0% |") and rows[1].startswith("| p-large | 10 | 10 | 0 | 50.0% |")
    assert "### By difficulty" in md
    for d in {instances(VERIFIED)[i].difficulty for i in ids[:14]}:
        assert f"| {d} |" in md
    # an empty prediction counts as unapplied (0, counted) when the predictions are given
    out = _run(rollout_cmd + ["report", "--runs", str(b), "--dataset", str(VERIFIED), "--predictions", str(preds),
                              "--format", "json"], child_env, tmp_path)
    assert out.returncode == 0, out.stderr
    f = json.loads(out.stdout)["phases"][0]["figures"]
    assert (f["instances"], f["scored"], f["success_rate"]) == (11, 11, round(5 / 11, 6))


def test_report_errors_are_one_line(tmp_path: Path, workspace: Path, rollout_cmd: list[str],
                                    child_env: dict[str, str]) -> None:
    logs = tmp_path / "logs"
    _phase(logs, LITE_DEV, [(sorted(instances(LITE_DEV))[0], "all")])
    out = _run(rollout_cmd + ["report", "--runs", str(logs)], child_env, tmp_path)
    assert out.returncode == 2 and "--dataset" in out.stderr and len(out.stderr.strip().splitlines()) == 1
    out = _run(rollout_cmd + ["report", "--runs", str(logs), "--dataset", str(LITE_DEV), "--format", "pdf"],
               child_env, tmp_path)
    assert out.returncode == 2 and "md, json" in out.stderr and "Traceback" not in out.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text('[[phase]]\nname = "x"\ninstances = 4\n[phase.criteria]\nsuccess_rate = "about half"\n')
    out = _run(rollout_cmd + ["report", "--runs", str(logs), "--dataset", str(LITE_DEV), "--criteria", str(bad)],
               child_env, tmp_path)
    assert out.returncode == 2 and str(bad) in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_criteria_name_known_figures_and_seed_table_loads(tmp_path: Path, workspace: Path, rollout_cmd: list[str],
                                                          child_env: dict[str, str]) -> None:
    from engine.report.build import PHASE_FIGURES
    from engine.report.criteria import load_criteria, seed004_path

    seed = load_criteria(seed004_path())
    assert [p.instances for p in seed.phase] == [4, 10, 50, 100, 300]
    assert all(f in PHASE_FIGURES for p in seed.phase for f in p.criteria)
    logs = tmp_path / "logs"
    _phase(logs, LITE_DEV, [(sorted(instances(LITE_DEV))[0], "all")])
    bad = tmp_path / "typo.toml"
    bad.write_text('[[phase]]\nname = "x"\ninstances = 4\n[phase.criteria]\nsucess_rate = ">= 0.5"\n')
    out = _run(rollout_cmd + ["report", "--runs", str(logs), "--dataset", str(LITE_DEV), "--criteria", str(bad)],
               child_env, tmp_path)
    assert out.returncode == 2 and "unknown figure 'sucess_rate'" in out.stderr
