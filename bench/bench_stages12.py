"""Stages 1 and 2 over 2,400 items: gen-step1 and gen-step2 through the real CLI, 2 workers.

The 9 SWE-bench Lite fixture instances are repeated under synthetic unique ids
(``<id>_copy<N>``, structure files symlinked) to make 300 instances; passk 8 gives 2,400
step-1 requests; 2,400 step-1 responses (each naming the gold patch's files) give 2,400
step-2 requests. Reports items/s of each stage (wall time of the whole command, start-up and
dataset loading included). Target: stage 2 for 2,400 items under 60 s with 2 workers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO.parent / "shared" / "data" / "swe-lite-fixtures"
INSTANCES, PASSK, WORKERS = 300, 8, 2


def main() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="bench-stages12-"))
    env = dict(os.environ, ROLLOUT_HOME=str(tmp / "ws"), HF_HOME=str(tmp / "hf"), HF_DATASETS_OFFLINE="1",
               HF_HUB_OFFLINE="1", NO_COLOR="1", PYTHONPATH=str(REPO))
    base = [json.loads(line) for line in (FIXTURES / "instances.jsonl").read_text().splitlines() if line.strip()]
    manifest = json.loads((FIXTURES / "manifest.json").read_text())["instances"]
    structures = tmp / "structures"
    structures.mkdir()
    rows, responses = [], []
    for n in range(INSTANCES):
        inst = dict(base[n % len(base)])
        orig = inst["instance_id"]
        inst["instance_id"] = iid = f"{orig}_copy{n}"
        rows.append(inst)
        (structures / f"{iid}.json").symlink_to(FIXTURES / "structures" / f"{orig}.json")
        answer = "```\n" + "\n".join(manifest[orig]["files_touched"]) + "\n```"
        for k in range(PASSK):
            responses.append({"id": "b", "custom_id": f"{iid}__pass{k}", "error": None, "response": {
                "status_code": 200, "request_id": "r", "body": {"choices": [
                    {"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}]}}})
    dataset = tmp / "instances.jsonl"
    dataset.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    step1_resp = tmp / "responses_step1.jsonl"
    step1_resp.write_text("\n".join(json.dumps(r) for r in responses) + "\n")
    common = ["--dataset", str(dataset), "--repostructure_dir", str(structures), "--model_name", "bench-model",
              "--num_workers", str(WORKERS), "--plain"]
    cli = [sys.executable, "-m", "console.cli", "agentless"]
    results = {}
    for stage, args, out in (
        ("step1", ["gen-step1", "--passk", str(PASSK)], tmp / "out1" / "step1.jsonl"),
        ("step2", ["gen-step2", "--input_file", str(step1_resp)], tmp / "out2" / "step2.jsonl"),
    ):
        t0 = time.monotonic()
        proc = subprocess.run(cli + args + common + ["--output_file", str(out)], env=env, capture_output=True, text=True, cwd=REPO)
        wall = time.monotonic() - t0
        if proc.returncode != 0:
            sys.stderr.write(proc.stderr[-3000:])
            return 1
        lines = sum(1 for _ in out.open("rb"))
        assert lines == INSTANCES * PASSK, (stage, lines)
        results[stage] = (lines, wall, out.stat().st_size)
    n1, w1, s1 = results["step1"]
    n2, w2, s2 = results["step2"]
    print(f"FIGURE stage1_items_per_s {n1 / w1:.1f} items/s [{n1} requests, {WORKERS} workers, {w1:.1f}s wall, {s1 / 1e6:.0f} MB]")
    print(f"FIGURE stage1_wall_2400 {w1:.1f} s")
    print(f"FIGURE stage2_items_per_s {n2 / w2:.1f} items/s [{n2} requests, {WORKERS} workers, {s2 / 1e6:.0f} MB]")
    print(f"FIGURE stage2_wall_2400 {w2:.1f} s [target < 60 s with 2 workers]")
    import shutil

    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
