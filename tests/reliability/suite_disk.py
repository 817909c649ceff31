"""Disk trouble: outputs on a nearly full filesystem (a small tmpfs, as root) or under a file-size
rlimit. The job must stop with one clear line naming the file and exit 1; every line already
written must be whole JSON (a torn last line is allowed: the resume moves it aside); after the
space is freed, the same command must finish the work with every id exactly once.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

from harness import ROLLOUT, SHARED_DATA, Box, is_root

from fakes.batch_files import write_requests
from fakes.openai_server import FakeServer

FIX = SHARED_DATA / "swe-lite-fixtures"


def _whole_lines(path: Path) -> tuple[list[dict], str | None]:
    """The whole JSON lines of ``path``; a problem when a line other than the last is torn."""
    if not path.exists():
        return [], None
    raw = path.read_bytes().split(b"\n")
    out = []
    for i, line in enumerate(raw):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except ValueError:
            if i < len(raw) - 1 and any(r.strip() for r in raw[i + 1:]):
                return out, f"{path.name}: line {i + 1} torn in the middle of the file"
    return out, None


def _stopped_cleanly(res: subprocess.CompletedProcess[str], path_part: str) -> str | None:
    errors = [line for line in res.stderr.splitlines() if line.startswith("rollout: error:")]
    if res.returncode != 1:
        return f"exit {res.returncode}, wanted 1: {res.stderr[-300:]}"
    if "Traceback" in res.stderr or len(errors) != 1:
        return f"not one error line: {res.stderr[-300:]}"
    if path_part not in errors[0] or "rerun" not in errors[0]:
        return f"error line does not name {path_part} or say to rerun: {errors[0][:200]}"
    return None


class Small:
    """A small tmpfs that can be grown (root), mounted at ``path``."""

    def __init__(self, path: Path, size: str) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)

    def grow(self, size: str) -> None:
        subprocess.run(["mount", "-o", f"remount,size={size}", str(self.path)], check=True)

    def close(self) -> None:
        subprocess.run(["umount", "-l", str(self.path)], capture_output=True)


def process_full(box: Box, server: FakeServer, how: str) -> None:
    name = f"process: output on a full {'filesystem' if how == 'tmpfs' else 'file-size limit'}"
    d = box.dir(f"process-{how}")
    ws = d / "ws"
    req = d / "req.jsonl"
    ids = write_requests(req, 120, pad=1500)  # answers echo the prompt: ~2 KB per output line
    small = Small(d / "small", "24k") if how == "tmpfs" else None
    out = (small.path if small else d) / "out.jsonl"
    argv = [*ROLLOUT, "process", "-i", str(req), "-o", str(out), "--url", server.url,
            "--plain", "--concurrency", "4"]
    try:
        def limit() -> None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (24 << 10, resource.RLIM_INFINITY))

        res = subprocess.run(argv, env=box.env(ws), capture_output=True, text=True, timeout=120, cwd=str(d),
                             preexec_fn=limit if how == "rlimit" else None)
        problem = _stopped_cleanly(res, out.name)
        written, torn = _whole_lines(out)
        problem = problem or torn
        if problem is None and not 0 < len(written) < len(ids):
            problem = f"{len(written)} lines written before the disk filled (wanted some, not all)"
        box.record(f"{name}: one line, exit 1, written lines intact", problem is None, problem or "")
        if small:
            small.grow("4m")
        again = subprocess.run(argv, env=box.env(ws), capture_output=True, text=True, timeout=120, cwd=str(d))
        final, torn = _whole_lines(out)
        got = [line["custom_id"] for line in final]
        problem = torn
        if again.returncode != 0:
            problem = f"rerun exit {again.returncode}: {again.stderr[-300:]}"
        elif sorted(got) != sorted(ids):
            problem = f"after the rerun: {len(got)} lines, {len(set(got))} distinct ids of {len(ids)}"
        box.record(f"{name}: rerun with space resumes, every id exactly once", problem is None, problem or "")
    finally:
        if small:
            small.close()


def stage_full(box: Box, stage: str) -> None:
    d = box.dir(f"{stage}-full")
    ws = d / "ws"
    small = Small(d / "small", "64k")
    try:
        if stage == "gen-step1":
            out = small.path / "step1.jsonl"
            argv = ["agentless", "gen-step1", "--dataset", FIX / "instances.jsonl", "--repostructure_dir",
                    FIX / "structures", "--output_file", out, "--model_name", "m", "--passk", "2"]
            check = out
        else:
            out = small.path / "save"
            argv = ["agentless", "extract", "--input_file", FIX / "responses_step2_repair.jsonl", "--repostructure_dir",
                    FIX / "structures", "--save_dir", out, "--num_workers", "0"]
            check = out / "output_0_processed.jsonl"
        res = box.rollout(argv, ws, cwd=d, timeout=180)
        problem = _stopped_cleanly(res, "/small/")
        _, torn = _whole_lines(check)
        problem = problem or torn
        box.record(f"{stage}: output on a full filesystem: one line, exit 1, written lines intact", problem is None,
                   problem or "")
        small.grow("64m")
        again = box.rollout(argv, ws, cwd=d, timeout=180)
        final, torn = _whole_lines(check)
        keys = [line.get("custom_id") or (line.get("instance_id"), line.get("sample_index", line.get("pass")))
                for line in final]
        problem = torn
        if again.returncode not in (0, 1):
            problem = f"rerun exit {again.returncode}: {again.stderr[-300:]}"
        elif not final or len(keys) != len({json.dumps(k) for k in keys}):
            problem = f"after the rerun: {len(keys)} lines, {len({json.dumps(k) for k in keys})} distinct"
        box.record(f"{stage}: rerun with space completes without duplicates", problem is None, problem or "")
    finally:
        small.close()


def run(box: Box) -> None:
    server = FakeServer(mode="ok", delay=0.005).start()
    try:
        process_full(box, server, "rlimit")
        if not is_root():
            for what in ("process: full filesystem", "gen-step1: full filesystem", "extract: full filesystem"):
                box.skip(what, "needs root to mount a small tmpfs")
            return
        process_full(box, server, "tmpfs")
        stage_full(box, "gen-step1")
        stage_full(box, "extract")
    finally:
        server.stop()
