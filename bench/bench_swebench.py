"""Bench: SWE-bench scorecard commands as whole processes on all 300 Lite test instances.

- ``rollout report`` (score 300 report.json files, Markdown + JSON, seed 004 criteria) side by side
  with the harness's own summary pass over the same folder (run_evaluation with every instance
  graded: it only counts resolved ids);
- ``rollout select`` of 100 of Verified's 500;
- one poll of the live follower over 300 instance folders (what the eval job does every second).
Prints ``FIGURE`` lines (see bench/run_all.py).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "swe-bench"
sys.path.insert(0, str(REPO))


def _timed(cmd: list[str], env: dict[str, str], cwd: Path) -> float:
    t0 = time.monotonic()
    r = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    if r.returncode not in (0, 1):
        raise SystemExit(f"{cmd[:5]} exited {r.returncode}: {r.stderr[-500:]}")
    return time.monotonic() - t0


def main() -> int:
    from engine.swebench.dataset import load_eval_instances
    from engine.swebench.follower import LogFollower

    lite = DATA / "lite-test.parquet"
    data = load_eval_instances(str(lite))
    rng = random.Random(0)
    with tempfile.TemporaryDirectory(prefix="bench-swebench-") as tmp:
        root = Path(tmp)
        logs = root / "logs" / "run_evaluation" / "bench"
        preds = root / "preds.jsonl"
        with open(preds, "w") as pf:
            for iid, inst in data.items():
                ok = {t for t in inst.tests if rng.random() < 0.8}
                folder = logs / "agentless" / iid
                folder.mkdir(parents=True)
                f2p, p2p = inst.fail_to_pass, inst.pass_to_pass
                status = {"FAIL_TO_PASS": {"success": [t for t in f2p if t in ok], "failure": [t for t in f2p if t not in ok]},
                          "PASS_TO_PASS": {"success": [t for t in p2p if t in ok], "failure": [t for t in p2p if t not in ok]}}
                (folder / "report.json").write_text(json.dumps({iid: {
                    "patch_is_None": False, "patch_exists": True, "patch_successfully_applied": True,
                    "resolved": len(ok) == len(inst.tests), "tests_status": status}}))
                (folder / "run_instance.log").write_text("2026-12-01 08:00:00,000 - INFO - x\n")
                pf.write(json.dumps({"instance_id": iid, "model_name_or_path": "agentless",
                                     "model_patch": "diff --git a/x b/x\n"}) + "\n")
        env = {**os.environ, "ROLLOUT_HOME": str(root / "ws"), "PYTHONPATH": str(REPO), "HF_DATASETS_OFFLINE": "1"}
        cli = [sys.executable, "-m", "console.cli"]
        t = _timed(cli + ["report", "--runs", str(logs), "--dataset", str(lite), "--criteria", "seed004",
                          "--format", "md,json", "--output", str(root / "rep")], env, root)
        print(f"FIGURE report_300_instances_s {t:.2f} s whole process (md+json+criteria)")
        t = _timed([sys.executable, "-m", "swebench.harness.run_evaluation", "--dataset_name", str(lite),
                    "--predictions_path", str(preds), "--run_id", "bench", "--report_dir", str(root)], env, root)
        print(f"FIGURE harness_summary_300_instances_s {t:.2f} s yardstick (counts only)")
        t = _timed(cli + ["select", "--dataset", str(DATA / "verified-test.parquet"), "--n", "100",
                          "--output", str(root / "sel.txt")], env, root)
        print(f"FIGURE select_100_of_verified_s {t:.2f} s whole process")
        fol = LogFollower(logs, {i: "agentless" for i in data})
        fol.instances = {k: v for k, v in fol.instances.items()}
        for inst in fol.instances.values():  # measure the unfinished path: every folder looked at
            inst.state = "running"
        (logs / "agentless").rename(logs / "agentless-moved")
        (logs / "agentless").mkdir()
        for iid in data:
            (logs / "agentless" / iid).mkdir()
            (logs / "agentless" / iid / "run_instance.log").write_text("2026-12-01 08:00:00,000 - INFO - x\n")
        t0 = time.monotonic()
        for _ in range(20):
            fol.poll()
        print(f"FIGURE follower_poll_300_folders_ms {(time.monotonic() - t0) / 20 * 1000:.1f} ms per poll (every 1 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
