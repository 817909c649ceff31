"""Bad inputs a new user would try: each one line on stderr naming the file (and line or key),
exit 2, and no output a resume would trust (no output file with content, no lock left).

Cases run as the real CLI in child processes, a few at once. A case is
(name, argv, must-appear-in-the-error-line, output paths that must stay absent or empty).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from harness import SHARED_DATA, Box, is_root, one_line_error

from fakes.batch_files import write_requests

FIX = SHARED_DATA / "swe-lite-fixtures"


def _req(cid: str, **body: object) -> str:
    return json.dumps({"custom_id": cid, "method": "POST", "url": "/v1/chat/completions",
                       "body": {"model": "m", "messages": [{"role": "user", "content": "hi"}], **body}})


def _files(d: Path) -> dict[str, Path]:
    """Every bad file the cases use, written once."""
    f: dict[str, Path] = {}

    def put(name: str, text: str | bytes) -> Path:
        p = d / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(text if isinstance(text, bytes) else text.encode())
        f[name] = p
        return p

    put("good.jsonl", "\n".join(_req(f"id-{i}") for i in range(3)) + "\n")
    put("notjson.jsonl", _req("a") + "\n{not json\n" + _req("c") + "\n")
    put("nocid.jsonl", _req("a") + "\n" + json.dumps({"method": "POST", "url": "/v1/chat/completions", "body": {}}) + "\n")
    put("dupcid.jsonl", _req("a") + "\n" + _req("b") + "\n" + _req("a") + "\n")
    put("nobody.jsonl", json.dumps({"custom_id": "a", "method": "POST", "url": "/v1/chat/completions"}) + "\n")
    put("badurl.jsonl", json.dumps({"custom_id": "a", "method": "POST", "url": 5, "body": {}}) + "\n")
    put("array.jsonl", "[1, 2, 3]\n")
    put("binary.jsonl", b"\x00\x01\x02\xff\xfe" * 200)
    put("empty.jsonl", "")
    put("twomodels.jsonl", _req("a") + "\n" + _req("b", model="other") + "\n")
    put("resp_bad.jsonl", json.dumps({"id": "x", "custom_id": "a", "response": {"status_code": "two hundred"}}) + "\n")
    put("config_bad.toml", "workspace = [unclosed\n")
    put("config_key.toml", "refresh_interval = 'fast'\n")
    put("preds_nojson.jsonl", "{broken\n")
    put("preds_nofield.jsonl", json.dumps({"instance_id": "a", "model_patch": ""}) + "\n")
    put("preds_badpatch.jsonl", json.dumps({"instance_id": "a", "model_name_or_path": "m",
                                            "model_patch": "--- a/x\n+++ b/x\n@@ -1,3 +1,3 @@\n a\n"}) + "\n")
    put("dataset_bad.jsonl", "{oops\n")
    put("dataset_noid.jsonl", json.dumps({"problem_statement": "x", "repo": "r"}) + "\n")
    put("step1_notjson.jsonl", "{nope\n")
    put("problems_bad.jsonl", "{not a problem\n")
    put("ckpt/checkpoint-1/solutions.jsonl", "{torn\n")
    put("afile", "I am a file\n")
    (d / "emptydir").mkdir(exist_ok=True)
    f["emptydir"] = d / "emptydir"
    (d / "nockpt").mkdir(exist_ok=True)
    put("nockpt/readme.txt", "no checkpoints here\n")
    f["nockpt"] = d / "nockpt"
    return f


def cases(d: Path, f: dict[str, Path], rofs: Path | None) -> list[tuple[str, list[object], list[str], list[Path]]]:
    out = d / "out"
    url = "http://127.0.0.1:9"  # nothing listens: input checks come before the endpoint check
    p = ["process", "--url", url, "--no-preflight"]
    c: list[tuple[str, list[object], list[str], list[Path]]] = [
        ("process: request line not JSON", [*p, "-i", f["notjson.jsonl"], "-o", out / "a.jsonl"], ["notjson.jsonl:2"], [out / "a.jsonl"]),
        ("process: line without custom_id", [*p, "-i", f["nocid.jsonl"], "-o", out / "b.jsonl"], ["nocid.jsonl:2", "custom_id"], [out / "b.jsonl"]),
        ("process: duplicate custom_id", [*p, "-i", f["dupcid.jsonl"], "-o", out / "c.jsonl"], ["dupcid.jsonl:3"], [out / "c.jsonl"]),
        ("process: line without body", [*p, "-i", f["nobody.jsonl"], "-o", out / "d.jsonl"], ["nobody.jsonl:1", "body"], [out / "d.jsonl"]),
        ("process: url not a string", [*p, "-i", f["badurl.jsonl"], "-o", out / "e.jsonl"], ["badurl.jsonl:1", "url"], [out / "e.jsonl"]),
        ("process: JSON array line", [*p, "-i", f["array.jsonl"], "-o", out / "f.jsonl"], ["array.jsonl:1"], [out / "f.jsonl"]),
        ("process: binary file", [*p, "-i", f["binary.jsonl"], "-o", out / "g.jsonl"], ["binary.jsonl"], [out / "g.jsonl"]),
        ("process: input missing", [*p, "-i", d / "nope.jsonl", "-o", out / "h.jsonl"], ["nope.jsonl"], [out / "h.jsonl"]),
        ("process: input is a folder", [*p, "-i", f["emptydir"], "-o", out / "i.jsonl"], ["emptydir"], [out / "i.jsonl"]),
        ("process: output is the input", [*p, "-i", f["good.jsonl"], "-o", f["good.jsonl"]], ["good.jsonl"], []),
        ("process: output is a folder", [*p, "-i", f["good.jsonl"], "-o", f["emptydir"]], ["emptydir"], []),
        ("process: output parent is a file", [*p, "-i", f["good.jsonl"], "-o", f["afile"] / "o.jsonl"], ["afile"], []),
        ("process: --concurrency -1", [*p, "-i", f["good.jsonl"], "-o", out / "j.jsonl", "--concurrency", "-1"], ["--concurrency"], [out / "j.jsonl"]),
        ("process: --timeout abc", [*p, "-i", f["good.jsonl"], "-o", out / "k.jsonl", "--timeout", "abc"], ["--timeout"], [out / "k.jsonl"]),
        ("process: unknown flag", [*p, "-i", f["good.jsonl"], "-o", out / "l.jsonl", "--fast"], ["--fast"], [out / "l.jsonl"]),
        ("process: api key file missing", [*p, "-i", f["good.jsonl"], "-o", out / "m.jsonl", "--api-key-file", d / "nokey"], ["nokey"], [out / "m.jsonl"]),
        ("validate: request line not JSON", ["validate", f["notjson.jsonl"]], ["notjson.jsonl:2"], []),
        ("validate: response with bad status_code", ["validate", f["resp_bad.jsonl"]], ["resp_bad.jsonl:1"], []),
        ("validate: empty file", ["validate", f["empty.jsonl"]], ["empty.jsonl"], []),
        ("config: TOML syntax error", ["--config", f["config_bad.toml"], "config", "show"], ["config_bad.toml"], []),
        ("config: wrong type for a key", ["--config", f["config_key.toml"], "config", "show"], ["config_key.toml", "refresh_interval"], []),
        ("validate-preds: line not JSON", ["agentless", "validate-preds", f["preds_nojson.jsonl"]], ["preds_nojson.jsonl:1"], []),
        ("validate-preds: missing field", ["agentless", "validate-preds", f["preds_nofield.jsonl"]], ["preds_nofield.jsonl:1", "model_name_or_path"], []),
        ("validate-preds: patch does not parse", ["agentless", "validate-preds", f["preds_badpatch.jsonl"]], ["preds_badpatch.jsonl:1"], []),
        ("gen-step1: dataset line not JSON", ["agentless", "gen-step1", "--dataset", f["dataset_bad.jsonl"], "--repostructure_dir",
                                              FIX / "structures", "--output_file", out / "s1a.jsonl", "--model_name", "m"],
         ["dataset_bad.jsonl"], [out / "s1a.jsonl"]),
        ("gen-step1: dataset row without instance_id", ["agentless", "gen-step1", "--dataset", f["dataset_noid.jsonl"],
                                                        "--repostructure_dir", FIX / "structures", "--output_file", out / "s1b.jsonl",
                                                        "--model_name", "m"], ["dataset_noid.jsonl", "instance_id"], [out / "s1b.jsonl"]),
        ("gen-step1: structures folder missing", ["agentless", "gen-step1", "--dataset", FIX / "instances.jsonl", "--repostructure_dir",
                                                  d / "nostruct", "--output_file", out / "s1c.jsonl", "--model_name", "m"],
         ["nostruct"], [out / "s1c.jsonl"]),
        ("gen-step1: output parent is a file", ["agentless", "gen-step1", "--dataset", FIX / "instances.jsonl", "--repostructure_dir",
                                                FIX / "structures", "--output_file", f["afile"] / "r.jsonl", "--model_name", "m"],
         ["afile"], []),
        ("gen-step2: step-1 responses not JSON", ["agentless", "gen-step2", "--input_file", f["step1_notjson.jsonl"], "--dataset",
                                                  FIX / "instances.jsonl", "--repostructure_dir", FIX / "structures",
                                                  "--output_file", out / "s2.jsonl", "--model_name", "m"],
         ["step1_notjson.jsonl:1"], [out / "s2.jsonl"]),
        ("extract: input missing", ["agentless", "extract", "--input_file", d / "none.jsonl", "--repostructure_dir", FIX / "structures",
                                    "--save_dir", out / "x1"], ["none.jsonl"], [out / "x1" / "predictions.jsonl"]),
        ("extract: save dir parent is a file", ["agentless", "extract", "--input_file", FIX / "responses_step2_repair.jsonl",
                                                "--repostructure_dir", FIX / "structures", "--save_dir", f["afile"] / "save"],
         ["afile"], []),
        ("eval: solutions dir missing", ["eval", "checkpoints", "--solutions-dir", d / "noruns", "--output-dir", out / "ev1"],
         ["noruns"], [out / "ev1" / "batch_eval_results.json"]),
        ("eval: no checkpoint folders", ["eval", "checkpoints", "--solutions-dir", f["nockpt"], "--output-dir", out / "ev2"],
         ["nockpt"], [out / "ev2" / "batch_eval_results.json"]),
        ("eval: problems file not JSON", ["eval", "checkpoints", "--solutions-dir", d / "ckpt", "--output-dir", out / "ev3",
                                          "--suite", "stdio", "--problems", f["problems_bad.jsonl"]],
         ["problems_bad.jsonl"], [out / "ev3" / "batch_eval_results.json"]),
        ("eval: unknown suite", ["eval", "checkpoints", "--solutions-dir", d / "ckpt", "--output-dir", out / "ev4", "--suite", "nope"],
         ["nope"], [out / "ev4" / "batch_eval_results.json"]),
        ("eval: unknown executor", ["eval", "checkpoints", "--solutions-dir", d / "ckpt", "--output-dir", out / "ev5",
                                    "--executor", "nope"], ["nope"], [out / "ev5" / "batch_eval_results.json"]),
    ]
    if rofs is not None:
        c += [
            ("process: output on a read-only filesystem", [*p, "-i", f["good.jsonl"], "-o", rofs / "o.jsonl"], ["rofs", "Read-only"], []),
            ("extract: save dir on a read-only filesystem", ["agentless", "extract", "--input_file", FIX / "responses_step2_repair.jsonl",
                                                             "--repostructure_dir", FIX / "structures", "--save_dir", rofs / "save"],
             ["Read-only"], []),
            ("gen-step1: output on a read-only filesystem", ["agentless", "gen-step1", "--dataset", FIX / "instances.jsonl",
                                                             "--repostructure_dir", FIX / "structures", "--output_file",
                                                             rofs / "r.jsonl", "--model_name", "m"], ["Read-only"], []),
        ]
    return c


def _validator_report(res: subprocess.CompletedProcess[str], must: list[str]) -> str | None:
    """Validators print each problem as ``file:line: ...`` on stdout (their data) and exit 2."""
    if res.returncode != 2:
        return f"exit {res.returncode}, wanted 2: {(res.stdout + res.stderr).strip()[-300:]}"
    if "Traceback" in res.stderr:
        return f"traceback: {res.stderr[-300:]}"
    lines = [line for line in res.stdout.splitlines() if line.strip()]
    if not lines or not all(all(m in line for m in must) for line in lines[:1]):
        return f"no problem line with {must}: {res.stdout[-300:]}"
    return None


def _trusted_leftovers(paths: list[Path]) -> list[str]:
    """Output files a resume would read: present with content, or a lock beside them."""
    bad = []
    for path in paths:
        if path.exists() and path.is_file() and path.stat().st_size > 0:
            bad.append(str(path))
        lock = path.with_name(path.name + ".rollout.lock")
        if lock.exists():
            bad.append(str(lock))
    return bad


def _parquet_input(box: Box, d: Path) -> str | None:
    """A SWE-bench parquet file as the step-2 responses: refused in one line, exit 2, and nothing
    written (no save dir content, no run dir) that a rerun would resume from."""
    parquet = SHARED_DATA / "swe-bench" / "lite-dev.parquet"
    ws, save = d / "ws", d / "save"
    res = box.rollout(["agentless", "extract", "--input_file", parquet, "--repostructure_dir", FIX / "structures",
                       "--save_dir", save], ws, cwd=d)
    problem = one_line_error(res, 2, "lite-dev.parquet", "--input_file")
    if problem:
        return problem
    left = [str(p) for p in save.rglob("*") if p.is_file()] if save.exists() else []
    runs = ws / "runs"
    left += [str(p) for p in runs.iterdir()] if runs.is_dir() else []
    return f"left behind: {left[:5]}" if left else None


def _corrupt_structure(box: Box, d: Path) -> str | None:
    """One truncated structure file among nine: its instance fails as ``structure_invalid`` (never
    ``structure_not_found``), one warning line names the file and the JSON error, the others are
    extracted (exit 1: the job ran, an item failed); once the file is mended, a rerun on the same
    save dir extracts it (the failure is not trusted) and equals an uninterrupted good run."""
    good = FIX / "structures"
    bad_dir, save, ref, ws = d / "structures", d / "save", d / "ref", d / "ws"
    bad_dir.mkdir(exist_ok=True)
    victim = "psf__requests-2317.json"
    for p in good.iterdir():
        data = p.read_bytes()
        (bad_dir / p.name).write_bytes(data[: len(data) // 3] if p.name == victim else data)
    argv = ["agentless", "extract", "--input_file", FIX / "responses_step2_repair.jsonl", "--plain"]
    res = box.rollout([*argv, "--repostructure_dir", bad_dir, "--save_dir", save], ws, cwd=d)
    if res.returncode != 1 or "Traceback" in res.stderr:
        return f"exit {res.returncode}, wanted 1: {res.stderr.strip()[-300:]}"
    if "structure_not_found" in res.stderr:
        return f"reported as structure_not_found: {res.stderr.strip()[-300:]}"
    named = [line for line in res.stderr.splitlines() if victim in line and "invalid JSON" in line]
    if len(named) != 1:
        return f"{len(named)} lines name {victim} as invalid JSON: {res.stderr.strip()[-400:]}"
    fails = [json.loads(line) for line in (save / "failures.jsonl").read_text().splitlines() if line.strip()]
    if [(f["reason"], victim in f["detail"]) for f in fails] != [("structure_invalid", True)]:
        return f"failures.jsonl: {fails}"
    shutil.copy(good / victim, bad_dir / victim)
    again = box.rollout([*argv, "--repostructure_dir", bad_dir, "--save_dir", save], ws, cwd=d)
    clean = box.rollout([*argv, "--repostructure_dir", good, "--save_dir", ref], ws, cwd=d)
    if again.returncode != 0 or clean.returncode != 0:
        return f"after mending: exit {again.returncode} (clean run {clean.returncode}): {again.stderr.strip()[-300:]}"
    for name in ("predictions.jsonl", "output_0_processed.jsonl", "failures.jsonl", "progress.jsonl"):
        a = sorted((save / name).read_text().splitlines())
        b = sorted((ref / name).read_text().splitlines())
        if a != b:
            return f"after mending, {name} differs from a clean run's ({len(a)} vs {len(b)} lines)"
    return None


def run(box: Box) -> None:
    d = box.dir("inputs")
    f = _files(d)
    ws = box.dir("ws")
    rofs = None
    if is_root():
        rofs = box.dir("rofs")
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(rofs)], capture_output=True).returncode != 0:
            rofs = None
    if rofs is None:
        box.skip("read-only filesystem cases", "needs root to mount a read-only tmpfs")
    try:
        box.check("extract: a parquet file as --input_file", lambda: _parquet_input(box, box.dir("parquet")))
        box.check("extract: corrupt structure JSON", lambda: _corrupt_structure(box, box.dir("corrupt")))
        def one(case: tuple[str, list[object], list[str], list[Path]]) -> None:
            name, argv, must, outputs = case
            res = box.rollout(argv, ws, cwd=d, timeout=120)
            if str(argv[0]) == "validate" or argv[:2] == ["agentless", "validate-preds"]:
                problem = _validator_report(res, must)
            else:
                problem = one_line_error(res, 2, *must)
            left = _trusted_leftovers(outputs)
            if left:
                problem = (problem or "") + f" left behind: {left}"
            box.record(name, problem is None, problem or "")

        with ThreadPoolExecutor(max_workers=3) as pool:
            list(pool.map(one, cases(d, f, rofs)))
    finally:
        if rofs is not None:
            subprocess.run(["umount", "-l", str(rofs)], capture_output=True)
