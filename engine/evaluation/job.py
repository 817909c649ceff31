"""The checkpoint evaluation job: plan, evaluate every pending solution file, write results.

Entry points: :func:`build_plan` (also the ``--dry-run``) and :func:`make_eval_job` (the job for
:func:`engine.jobs.run_job`).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from engine.batchio import JsonlAppender
from engine.evaluation import results as res_io
from engine.evaluation.curve import curve_points
from engine.evaluation.discovery import Checkpoint, discover_checkpoints, label
from engine.evaluation.executors.base import Executor, RunResult, RunSpec, Status
from engine.evaluation.metrics import score
from engine.evaluation.suites.base import SampleResult, Suite
from engine.jobs import JobContext, JobOutcome

#: rough seconds per execution for the dry-run estimate (measured: local HumanEval ~12 ms on 1 core)
EST_S_PER_TEST = {"local": 0.01, "docker": 0.1, "piston": 0.1, "ray": 0.012}
#: unusable solution lines are warned about one by one up to this many per file, then summed up
MAX_BAD_LINE_WARNINGS = 3


@dataclass
class EvalOptions:
    """Everything the evaluation needs besides the suite and executor."""

    solutions_dir: Path
    output_dir: Path
    #: programs run at a time; None: the executor's default (ray: 2 per cluster CPU), else the CPU count
    max_workers: int | None = 4
    eval_timeout_s: float = 300.0
    samples_per_problem: int | None = None
    executor_name: str = "local"


@dataclass
class FilePlan:
    rel: str
    path: Path
    samples: int = 0
    tests: int = 0
    done: int = 0
    bad: int = 0


@dataclass
class CheckpointPlan:
    checkpoint: Checkpoint
    label: str
    out_dir: Path
    files: list[FilePlan] = field(default_factory=list)
    complete: bool = False

    @property
    def samples(self) -> int:
        return sum(f.samples for f in self.files)

    @property
    def pending_samples(self) -> int:
        return 0 if self.complete else sum(f.samples - f.done for f in self.files)

    @property
    def tests(self) -> int:
        return sum(f.tests for f in self.files)


@dataclass
class Plan:
    checkpoints: list[CheckpointPlan]
    suite: str
    executor: str
    max_workers: int

    @property
    def pending_samples(self) -> int:
        return sum(c.pending_samples for c in self.checkpoints)

    @property
    def pending_tests(self) -> int:
        total = 0
        for c in self.checkpoints:
            if c.complete:
                continue
            for f in c.files:
                total += round(f.tests * (1 - f.done / f.samples)) if f.samples else 0
        return total

    def estimate_s(self) -> float:
        per = EST_S_PER_TEST.get(self.executor, 0.05)
        return self.pending_tests * per / max(1, self.max_workers or os.cpu_count() or 1)

    def to_dict(self) -> dict[str, Any]:
        return {
            "suite": self.suite, "executor": self.executor, "max_workers": self.max_workers,
            "checkpoints": [
                {"step": c.checkpoint.step, "name": c.checkpoint.name, "scheme": c.checkpoint.scheme,
                 "path": str(c.checkpoint.path), "output": str(c.out_dir), "already_evaluated": c.complete,
                 "files": [{"file": f.rel, "samples": f.samples, "tests": f.tests, "done": f.done, "bad_lines": f.bad}
                           for f in c.files]}
                for c in self.checkpoints
            ],
            "pending_samples": self.pending_samples, "pending_tests": self.pending_tests,
            "estimate_s": round(self.estimate_s(), 1),
        }


def _is_complete(cp: CheckpointPlan) -> bool:
    m = res_io.read_metrics(cp.out_dir)
    return bool(m and m.get("complete") and sorted(m.get("files", {})) == sorted(f.rel for f in cp.files))


def build_plan(opts: EvalOptions, suite: Suite) -> Plan:
    """Discover checkpoints and count samples, tests and what earlier runs already did."""
    cps = discover_checkpoints(opts.solutions_dir)
    plans: list[CheckpointPlan] = []
    for cp in cps:
        lab = label(cp, cps)
        cplan = CheckpointPlan(cp, lab, res_io.checkpoint_dir(opts.output_dir, lab))
        for f, rel in zip(cp.files, cp.rel_files()):
            fp = FilePlan(rel, f)
            done = res_io.load_done(cplan.out_dir / res_io.results_name(rel))
            for s in suite.samples(f):
                fp.samples += 1
                if s.error:
                    fp.bad += 1
                else:
                    fp.tests += suite.tests_for(s)
                if s.key in done:
                    fp.done += 1
            cplan.files.append(fp)
        cplan.complete = bool(cplan.files) and _is_complete(cplan)
        plans.append(cplan)
    return Plan(plans, suite.name, opts.executor_name, opts.max_workers)


def checkpoint_record(cp: CheckpointPlan, status: str, metrics: dict[str, Any] | None) -> dict[str, Any]:
    """One checkpoint's line in batch_eval_results.json (metrics without the per-problem table)."""
    rec: dict[str, Any] = {"step": cp.checkpoint.step, "name": cp.checkpoint.name, "scheme": cp.checkpoint.scheme,
                           "path": str(cp.checkpoint.path), "output": str(cp.out_dir), "status": status,
                           "files": len(cp.files)}
    if metrics:
        overall = metrics.get("overall", {})
        rec.update({k: v for k, v in overall.items() if k != "per_problem"})
    return rec


class _Progress:
    """Counts executions and verdicts for the live figures (tests/s, failures by status)."""

    def __init__(self, ctx: JobContext, executor: Executor | None = None) -> None:
        self.ctx = ctx
        self.executor = executor
        self.retries_seen = 0
        self.t0 = time.monotonic()
        self.tests = 0
        self.statuses: Counter[str] = Counter()
        self.judged = 0
        self.passed = 0
        self.last_push = 0.0

    def test_done(self) -> None:
        self.tests += 1
        now = time.monotonic()
        if now - self.last_push >= 0.5:
            self.push(now)

    def push(self, now: float | None = None) -> None:
        now = now or time.monotonic()
        self.last_push = now
        elapsed = max(now - self.t0, 1e-6)
        stats = getattr(self.executor, "stats", None)
        if isinstance(stats, dict) and stats.get("retries", 0) > self.retries_seen:
            self.ctx.add_retried(stats["retries"] - self.retries_seen)
            self.retries_seen = stats["retries"]
        live = getattr(self.executor, "live_figures", None)
        if callable(live):  # e.g. the ray executor's programs per node
            self.ctx.set_figures(**live())
        self.ctx.set_figures(tests_done=self.tests, tests_per_s=round(self.tests / elapsed, 2),
                             failures_by_status={k: v for k, v in sorted(self.statuses.items()) if k != "AC"},
                             status_counts=dict(sorted(self.statuses.items())),
                             pass_rate=round(self.passed / self.judged, 4) if self.judged else None,
                             # a one-line scalar too: live views show scalar figures
                             failures=" ".join(f"{k}={v}" for k, v in sorted(self.statuses.items()) if k != "AC") or "none")


def make_eval_job(opts: EvalOptions, suite: Suite, executor: Executor, plan: Plan):
    """The job: evaluate each pending checkpoint, write results, metrics and the summary."""

    async def eval_job(ctx: JobContext) -> JobOutcome:
        ctx.phase("preflight", f"checking the {executor.name} executor")
        await executor.start()
        if getattr(executor, "start_warning", ""):
            ctx.warn(executor.start_warning)  # e.g. no bubblewrap here: a weaker sandbox, said once
        ctx.set_figures(sandbox=executor.describe(), suite=suite.describe())
        try:
            return await _evaluate_all(ctx, replace(opts, max_workers=_workers(opts, executor)), suite, executor, plan)
        finally:
            await executor.close()
            shutdown = getattr(executor, "shutdown", None)
            if shutdown is not None:
                shutdown()

    return eval_job


def _workers(opts: EvalOptions, executor: Executor) -> int:
    """Programs at a time: as asked, else the executor's own default (ray: from the cluster), else the CPUs."""
    if opts.max_workers:
        return opts.max_workers
    default = getattr(executor, "default_concurrency", None)
    return int(default()) if callable(default) else (os.cpu_count() or 1)


async def _evaluate_all(ctx: JobContext, opts: EvalOptions, suite: Suite, executor: Executor, plan: Plan) -> JobOutcome:
    ctx.set_total(plan.pending_samples)
    progress = _Progress(ctx, executor)
    workers = max(1, opts.max_workers)
    # runs handed to the executor ahead of time (it queues them, still running `workers` at once):
    # the next program starts as one ends, not after a round trip through this process
    pipeline = getattr(executor, "pipeline", None)  # (test doubles need not derive from Executor)
    handed = workers + (max(0, int(pipeline(workers))) if callable(pipeline) else 0)
    sem = asyncio.Semaphore(handed)
    in_flight = 0

    async def run(spec: RunSpec) -> RunResult:
        nonlocal in_flight
        async with sem:
            in_flight += 1
            ctx.set_in_flight(min(in_flight, workers))
            try:
                out = await executor.run(spec)
            except Exception as exc:  # an executor bug or a lost service: this test's verdict is unknown
                out = RunResult(Status.ERROR, detail=f"{type(exc).__name__}: {exc}")
            finally:
                in_flight -= 1
                ctx.set_in_flight(min(in_flight, workers))
            progress.test_done()
            return out

    records: list[dict[str, Any]] = []
    infra_failures = 0
    for cp in plan.checkpoints:
        if ctx.stopping:
            break
        if not cp.files:
            records.append(checkpoint_record(cp, "no_files", None))
            ctx.warn(f"{cp.checkpoint.path}: no solution JSONL files, skipped")
            continue
        if cp.complete:
            records.append(checkpoint_record(cp, "skipped", res_io.read_metrics(cp.out_dir)))
            ctx.log(f"{cp.checkpoint.name}: already evaluated, skipped")
            continue
        ctx.phase("evaluating", f"{cp.checkpoint.name} (step {cp.checkpoint.step}): {len(cp.files)} file(s)")
        ctx.set_figures(checkpoint=f"{cp.checkpoint.name} (step {cp.checkpoint.step})")
        file_status: dict[str, str] = {}
        for fp in cp.files:
            if ctx.stopping:
                break
            try:
                file_status[fp.rel] = await asyncio.wait_for(
                    _evaluate_file(ctx, cp, fp, suite, run, progress, handed), opts.eval_timeout_s)
            except asyncio.TimeoutError:
                file_status[fp.rel] = "timeout"
                ctx.warn(f"{fp.path}: evaluation over {opts.eval_timeout_s:g}s, stopped (a rerun resumes it)")
            except Exception as exc:  # one failure never stops the batch
                file_status[fp.rel] = "failed"
                ctx.error(f"{fp.path}: evaluation failed: {type(exc).__name__}: {exc}")
        complete = len(file_status) == len(cp.files) and all(s == "done" for s in file_status.values())
        metrics = _write_checkpoint_metrics(cp, suite, executor, opts, file_status, complete)
        status = "done" if complete else ("stopped" if ctx.stopping else "incomplete")
        if not complete and not ctx.stopping:
            infra_failures += 1
        infra_failures += metrics["overall"].get("status_counts", {}).get("ERROR", 0)
        records.append(checkpoint_record(cp, status, metrics))
        ctx.log(f"{cp.checkpoint.name}: pass@1={metrics['overall'].get('pass@1', 0):.4f}")
        ctx.set_figures(curve=curve_points(_finished(records)))
    progress.push()
    done_names = {(r["step"], r["name"]) for r in records}
    for cp in plan.checkpoints:  # not reached because of a stop: still listed
        if (cp.checkpoint.step, cp.checkpoint.name) not in done_names:
            records.append(checkpoint_record(cp, "not_evaluated", res_io.read_metrics(cp.out_dir)))
    summary = {
        "suite": suite.describe(), "executor": executor.describe(), "solutions_dir": str(opts.solutions_dir),
        "output_dir": str(opts.output_dir), "finished": time.time(), "checkpoints": records,
        "curve": curve_points(_finished(records)),
    }
    if opts.samples_per_problem and opts.samples_per_problem > 1:
        summary[f"curve_pass@{opts.samples_per_problem}"] = curve_points(_finished(records), f"pass@{opts.samples_per_problem}")
    path = res_io.write_summary(opts.output_dir, summary)
    ctx.phase("finished", f"summary in {path}")
    ctx.set_figures(summary=str(path), curve=summary["curve"])
    return JobOutcome(exit_code=1 if infra_failures else 0,
                      message=None if not infra_failures else f"{infra_failures} evaluation problem(s): see {path}")


def _finished(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Checkpoints whose metrics cover every sample: the only ones a learning curve should show."""
    return [r for r in records if r.get("status") in ("done", "skipped")]


async def _evaluate_file(ctx: JobContext, cp: CheckpointPlan, fp: FilePlan, suite: Suite, run: Any,
                         progress: _Progress, workers: int) -> str:
    out_path = cp.out_dir / res_io.results_name(fp.rel)
    done = res_io.load_done(out_path)
    if done:
        ctx.log(f"{fp.path}: resuming, {len(done)} sample(s) already judged")
    samples = iter(suite.samples(fp.path))
    bad = [0]  # unusable lines seen in this file
    with JsonlAppender(out_path) as sink:

        def record(r: SampleResult) -> None:
            sink.write(r.to_dict())
            progress.statuses[r.status.value] += 1
            # ok = passing samples only; failed = every other verdict (WA, TLE, CE...) and ERROR
            # (no verdict; failures_by_status tells them apart). The job's exit code is set from
            # evaluation problems, not from these counts: wrong answers are results.
            if r.status is Status.SKIP:
                ctx.advance(skipped=1)
                return
            ctx.advance(ok=1 if r.passed else 0, failed=0 if r.passed else 1)
            if r.status is not Status.ERROR:
                progress.judged += 1
                progress.passed += 1 if r.passed else 0

        async def worker() -> None:
            for s in samples:  # a shared iterator: each sample goes to exactly one worker
                if ctx.stopping:
                    return
                if s.key in done:
                    continue
                if s.error:
                    bad[0] += 1
                    if bad[0] <= MAX_BAD_LINE_WARNINGS:
                        ctx.warn(f"{fp.path}: {s.error}")
                    record(SampleResult(s.key, s.line, s.problem_id, Status.SKIP, detail=s.error))
                    continue
                try:
                    r = await suite.judge(s, run)
                except Exception as exc:  # a suite bug must not lose the rest of the file
                    r = SampleResult(s.key, s.line, s.problem_id, Status.ERROR, detail=f"{type(exc).__name__}: {exc}")
                record(r)

        await asyncio.gather(*(worker() for _ in range(max(1, workers))))
    if bad[0] > MAX_BAD_LINE_WARNINGS:
        ctx.warn(f"{fp.path}: {bad[0] - MAX_BAD_LINE_WARNINGS} more unusable line(s), recorded as SKIP in {out_path.name}")
    return "stopped" if ctx.stopping else "done"


def _write_checkpoint_metrics(cp: CheckpointPlan, suite: Suite, executor: Executor, opts: EvalOptions,
                              file_status: dict[str, str], complete: bool) -> dict[str, Any]:
    all_rows: list[dict[str, Any]] = []
    files: dict[str, Any] = {}
    ks = _ks(opts, cp)
    for fp in cp.files:
        rows = list(res_io.load_done(cp.out_dir / res_io.results_name(fp.rel)).values())
        all_rows += [dict(r, problem_id=f"{r['problem_id']}") for r in rows]
        m = score(rows, ks)
        m.pop("per_problem", None)
        files[fp.rel] = dict(m, status=file_status.get(fp.rel, "not_evaluated"), results=res_io.results_name(fp.rel))
    metrics = {
        "checkpoint": cp.checkpoint.name, "step": cp.checkpoint.step, "scheme": cp.checkpoint.scheme,
        "path": str(cp.checkpoint.path), "suite": suite.name, "executor": executor.name,
        "complete": complete, "evaluated_at": time.time(), "ks": ks, "files": files, "overall": score(all_rows, ks),
    }
    res_io.write_metrics(cp.out_dir, metrics)
    return metrics


def _ks(opts: EvalOptions, cp: CheckpointPlan) -> list[int]:
    """k values: 1, the given samples per problem, else the smallest sample count seen (when > 1)."""
    if opts.samples_per_problem:
        return sorted({1, opts.samples_per_problem})
    counts: Counter[str] = Counter()
    for fp in cp.files:
        for r in res_io.load_done(cp.out_dir / res_io.results_name(fp.rel)).values():
            if r.get("status") not in ("ERROR", "SKIP"):
                counts[str(r["problem_id"])] += 1
    k = min(counts.values()) if counts else 1
    return sorted({1, k})
