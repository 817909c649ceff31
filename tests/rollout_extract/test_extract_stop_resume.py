"""A real `rollout agentless extract` process: SIGTERM stops it gracefully, a rerun finishes the job."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from .helpers import content_of, with_content, write_jsonl


def test_sigterm_then_resume(fixtures_dir: Path, step2_lines: dict[str, Any], rollout_cmd: list[str],
                             child_env: dict[str, str], tmp_path: Path) -> None:
    lines = []
    for k in range(60):
        for iid, line in step2_lines.items():
            # distinct answers per pass: every sample is really compiled, so the run lasts a while
            answer = re.sub(r"\n>>>>>>> REPLACE", f"\n# pass {k}\n>>>>>>> REPLACE", content_of(line))
            lines.append(with_content(line, answer, custom_id=f"{iid}__pass{k}"))
    inp = write_jsonl(tmp_path / "in.jsonl", lines)
    save = tmp_path / "out"
    cmd = [*rollout_cmd, "agentless", "extract", "--input_file", str(inp), "--repostructure_dir",
           str(fixtures_dir / "structures"), "--save_dir", str(save), "--num_workers", "1"]
    proc = subprocess.Popen(cmd, env=child_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    progress = save / "progress.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if progress.exists() and progress.read_bytes().count(b"\n") >= 40:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    done_first = progress.read_bytes().count(b"\n")
    print(f"first run: exit {proc.returncode}, {done_first} of {len(lines)} samples")
    if proc.returncode == 130:
        assert done_first < len(lines), err
    else:  # the machine was fast enough to finish first: still a valid run
        assert proc.returncode == 0, err
    assert "Traceback" not in err

    again = subprocess.run(cmd, env=child_env, capture_output=True, text=True, timeout=120, check=False)
    assert again.returncode == 0, again.stderr
    entries = [json.loads(x) for x in progress.read_text().splitlines()]
    assert len(entries) == len({e["custom_id"] for e in entries}) == len(lines)
    processed = sum(len(p.read_text().splitlines()) for p in save.glob("output_*_processed.jsonl"))
    assert processed == len(lines)
    votes = [json.loads(x) for x in (save / "votes.jsonl").read_text().splitlines()]
    assert len(votes) == 9 and all(v["custom_id"].endswith("__pass0") and v["votes"] == 60 for v in votes)
    summary = json.loads((save / "summary.json").read_text())
    assert summary["valid"] == len(lines) and summary["resumed"] == done_first


def test_a_sample_killed_before_its_progress_line_is_written_once(fixtures_dir: Path, step2_lines: dict[str, Any],
                                                                   rollout_cmd: list[str], child_env: dict[str, str],
                                                                   tmp_path: Path) -> None:
    # the moment a kill -9 can land between a sample's output line and its progress line
    lines = [with_content(line, content_of(line), custom_id=f"{iid}__pass{k}")
             for k in range(2) for iid, line in step2_lines.items()]
    inp = write_jsonl(tmp_path / "in.jsonl", lines)

    def extract(save: Path) -> None:
        res = subprocess.run([*rollout_cmd, "agentless", "extract", "--input_file", str(inp), "--repostructure_dir",
                              str(fixtures_dir / "structures"), "--save_dir", str(save), "--passk", "2", "--plain"],
                             env=child_env, capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, res.stderr[-2000:]

    whole, cut = tmp_path / "whole", tmp_path / "cut"
    extract(whole)
    extract(cut)
    progress = cut / "progress.jsonl"
    entries = progress.read_bytes().splitlines(keepends=True)
    last = json.loads(entries[-1])
    progress.write_bytes(b"".join(entries[:-1]))  # its output line stays: the kill came before progress
    extract(cut)
    for name in sorted(p.name for p in whole.glob("*.jsonl")):
        assert sorted((cut / name).read_text().splitlines()) == sorted((whole / name).read_text().splitlines()), name
    outputs = [json.loads(x) for p in cut.glob("output_*_processed.jsonl") for x in p.read_text().splitlines()]
    assert sum(o["custom_id"] == last["custom_id"] for o in outputs) == 1
