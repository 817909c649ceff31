"""Rerun a run (its recorded command, which resumes) or retry only what failed in it.

* rerun: the run's equivalent command from run.json (``command``), else its recorded argv.
* retry failures only:
  - process: a new run fed exactly the requests whose custom_ids are in the run's errors file
    (a filtered copy of the input beside the output; same output, so answers complete it);
  - gen-step1 / gen-step2: the instances that failed in this run (``--instances_file``);
  - checkpoint eval and the other jobs: the rerun, which skips everything already done and
    redoes only the incomplete checkpoints / items.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from engine.errors import InputError
from engine.runs import RunDir

#: jobs whose "retry failures" is a filtered new input; the others rerun (their resume redoes the rest)
PROCESS_JOBS = ("process", "serve-process")
STAGE_JOBS = ("gen-step1", "gen-step2")


@dataclass
class RetryPlan:
    """What a retry runs: the command, what it does, and how many items it covers."""

    argv: list[str]
    what: str
    count: int | None = None
    job: str | None = None
    given: dict[str, Any] = field(default_factory=dict)
    cwd: str | None = None


def rerun_argv(info: dict[str, Any]) -> list[str]:
    """The ``rollout ...`` command of a run (from its run.json)."""
    command = info.get("command")
    if isinstance(command, list) and command:
        return [str(w) for w in command]
    argv = [str(w) for w in info.get("argv") or []]
    if not argv:
        raise InputError(f"run {info.get('run_id')} recorded no command: start it again from its form")
    if len(argv) > 2 and argv[1] == "-m":
        return ["rollout", *argv[3:]]
    return ["rollout", *argv[1:]]


def rerun_plan(run: RunDir) -> RetryPlan:
    info = run.read_run()
    return RetryPlan(argv=rerun_argv(info), what="rerun: resumes, skipping what is already done",
                     job=info.get("job"), given=dict(info.get("options") or {}), cwd=info.get("cwd"))


def retry_plan(run: RunDir, config: Any = None) -> RetryPlan:
    """The command that retries only the failures of ``run`` (see the module docstring)."""
    from engine.options.registry import job_spec

    info = run.read_run()
    job = info.get("job")
    options = info.get("options")
    if job not in (*PROCESS_JOBS, *STAGE_JOBS) or not isinstance(options, dict):
        plan = rerun_plan(run)
        plan.what = "retry = rerun: the job skips what is done and redoes only the failed or incomplete parts"
        return plan
    model_cls = job_spec(job).model
    # the run's paths are relative to where it ran; the retry may start from anywhere
    cwd = Path(info.get("cwd") or ".")
    options = {k: (str(cwd / v) if _is_rel_path(model_cls, k, v) else v) for k, v in options.items()}
    model = model_cls.resolve(config, options)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    given = dict(options)
    if job in PROCESS_JOBS:
        errors = Path(str(model.errors_path))  # type: ignore[attr-defined]
        ids = failed_custom_ids(errors)
        if not ids:
            raise InputError(f"no failed requests in {errors}: nothing to retry")
        output = Path(str(given.get("output")))
        dest = output.with_name(f"{output.name}.retry-{stamp}.jsonl")
        n = write_requests_for(Path(str(model.input)), ids, dest)  # type: ignore[attr-defined]
        given["input"] = str(dest)
        what = f"retry {n} failed request(s) from {errors.name} (input {dest.name})"
    else:
        from engine.agentless.gen.genjob import failures_path

        figures = (run.read_state() or {}).get("figures") or {}
        failures = Path(figures.get("failures_file") or failures_path(given["output_file"], given.get("failures_file")))
        ids = failed_instances(failures, run.run_id)
        if not ids:
            raise InputError(f"no instance failed in run {run.run_id} ({failures}): nothing to retry")
        dest = failures.with_name(f"{failures.name}.retry-{stamp}.txt")
        dest.write_text("\n".join(ids) + "\n")
        for key in ("instance_ids", "start_file", "end_file"):
            given.pop(key, None)
        given["instances_file"] = str(dest)
        n = len(ids)
        what = f"retry {n} failed instance(s) of {run.run_id} (--instances_file {dest.name})"
    retry_model = model_cls.resolve(config, given)
    return RetryPlan(argv=retry_model.argv(), what=what, count=n, job=job, given=given, cwd=info.get("cwd"))


def _is_rel_path(model_cls: Any, name: str, value: Any) -> bool:
    meta = next((o for o in model_cls.options() if o.name == name), None)
    return bool(meta and meta.path and isinstance(value, str) and value and not Path(value).expanduser().is_absolute())


def failed_custom_ids(errors: Path) -> set[str]:
    """Every custom_id in an errors file (OpenAI Batch error lines), streamed."""
    ids: set[str] = set()
    if not errors.is_file():
        return ids
    with open(errors, "rb") as fh:
        for raw in fh:
            try:
                cid = orjson.loads(raw).get("custom_id")
            except (orjson.JSONDecodeError, AttributeError):
                continue  # a torn last line
            if cid:
                ids.add(str(cid))
    return ids


def write_requests_for(source: Path, ids: set[str], dest: Path) -> int:
    """Copy the request lines of ``source`` whose custom_id is in ``ids`` (once each) to ``dest``."""
    wanted = set(ids)
    n = 0
    tmp = dest.with_name(dest.name + ".tmp")
    with open(source, "rb") as src, open(tmp, "wb") as out:
        for raw in src:
            if not raw.strip():
                continue
            try:
                cid = orjson.loads(raw).get("custom_id")
            except (orjson.JSONDecodeError, AttributeError):
                continue
            if cid in wanted:
                wanted.discard(cid)
                out.write(raw if raw.endswith(b"\n") else raw + b"\n")
                n += 1
    tmp.replace(dest)
    return n


def failed_instances(failures: Path, run_id: str) -> list[str]:
    """Instance ids that failed in ``run_id`` (failures.jsonl is shared by runs), in file order."""
    seen: dict[str, None] = {}
    if not failures.is_file():
        return []
    with open(failures, "rb") as fh:
        for raw in fh:
            try:
                rec = orjson.loads(raw)
            except orjson.JSONDecodeError:
                continue
            if isinstance(rec, dict) and rec.get("run_id") == run_id and rec.get("instance_id"):
                seen[str(rec["instance_id"])] = None
    return list(seen)
