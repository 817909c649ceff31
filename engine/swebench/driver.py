"""The ``swebench`` job: the official harness as a child job, followed live, its reports scored.

Flow: read the predictions and the dataset (ids checked before Docker spends anything), note the
instances an earlier run with the same harness run id already graded (the harness skips them:
its own resume), start ``python -m swebench.harness.run_evaluation`` in its own process group,
then poll its log folders once a second (:class:`LogFollower`): each graded instance is scored
(:mod:`engine.report.scorecard`) into the run's figures and seed 004's monitoring line; each
failed instance gets a specific one-line cause (image cannot be pulled, Docker error, patch does
not apply, tests timed out, harness error) in events, state and ``failures.jsonl``; an instance
whose logs stop growing is flagged ``stalled``. A stop signals the whole harness group and
removes the containers it left; a rerun with the same run id resumes.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from engine.config import ScorecardSettings
from engine.errors import InputError, RolloutError, ServiceError
from engine.jobs import JobContext, JobOutcome
from engine.report.costs import InstanceCost
from engine.report.monitor import live_figures
from engine.report.scorecard import InstanceScore, score_instance
from engine.runs import new_run_id
from engine.swebench.dataset import EvalInstance
from engine.swebench.failures import Failure, harness_exit_failure
from engine.swebench.follower import ERROR, GRADED, STALLED, Change, InstanceProgress, LogFollower
from engine.swebench.harness import HarnessProcess, harness_command, remove_run_containers
from engine.swebench.layout import REPORT, model_dir_name, run_logs_dir, summary_path
from engine.swebench.predictions import PredictionSet, read_predictions
from engine.swebench.reports import read_summary
from engine.swebench.timing import instance_eval_seconds

if TYPE_CHECKING:
    from engine.options.swebench import SwebenchEvalJob

POLL_S = 1.0
#: seconds between "still stalled" reminders in the events
STALL_REMIND_S = 300.0


@dataclass
class EvalPlan:
    """Everything checked before the harness starts."""

    options: "SwebenchEvalJob"
    harness_run_id: str
    work_dir: Path
    logs_dir: Path
    predictions: PredictionSet
    instances: dict[str, EvalInstance]
    #: instance id → the harness's model folder, for every prediction the harness will run
    expected: dict[str, str]
    empty: list[str]
    already_graded: list[str]
    settings: ScorecardSettings
    prices: Any = None
    costs: dict[str, InstanceCost] = field(default_factory=dict)
    brs: dict[str, float] = field(default_factory=dict)

    def inputs(self) -> dict[str, Any]:
        """What run.json records (``rollout report`` re-reads a phase from it)."""
        o = self.options
        return {"predictions": str(self.predictions.path.resolve()), "dataset": o.dataset, "split": o.split,
                "harness_run_id": self.harness_run_id, "logs_dir": str(self.logs_dir), "work_dir": str(self.work_dir),
                "repro": list(o.repro), "rollout_runs": list(o.rollout_runs), "instance_ids": o.ids()}

    def read_side_inputs(self, workspace: Path) -> None:
        """Cost per instance from the rollout runs and BRS from repro results (runs of ``workspace``)."""
        from engine.report.costs import costs_from_rollouts
        from engine.report.sources import read_brs

        if self.options.rollout_runs:
            self.costs = costs_from_rollouts(list(self.options.rollout_runs), workspace, self.prices)
        if self.options.repro:
            self.brs = read_brs(list(self.options.repro), workspace)

    @property
    def total(self) -> int:
        return len(self.expected) + len(self.empty)

    def resume_note(self) -> str | None:
        if not self.already_graded:
            return None
        return (f"resume: {len(self.already_graded)} of {len(self.expected)} instance(s) already have a report.json under "
                f"{self.logs_dir}: the harness skips them (its own resume); delete a report.json to grade it again")


def prepare_eval(options: "SwebenchEvalJob", settings: ScorecardSettings, *, prices: Any = None,
                 instances: dict[str, EvalInstance] | None = None) -> EvalPlan:
    """Read and check the inputs; raise InputError/ServiceError (one line) on anything wrong.

    Rollout costs and repro results are read when the job starts (they name runs of its workspace).
    """
    from engine.swebench.dataset import load_eval_instances

    pred_path = Path(options.predictions).expanduser()
    preds = read_predictions(pred_path)
    if instances is None:
        instances = load_eval_instances(options.dataset, options.split)
    unknown = [i for i in preds.by_id if i not in instances]
    if unknown:
        raise InputError(f"{pred_path}: {len(unknown)} prediction(s) are not in {options.dataset} "
                         f"(split {options.split}), e.g. {unknown[0]}: check --dataset and --split")
    wanted = list(dict.fromkeys(options.ids())) or list(preds.by_id)
    missing = [i for i in wanted if i not in preds.by_id]
    if missing:
        raise InputError(f"--instance-ids: {len(missing)} id(s) have no prediction in {pred_path}, e.g. {missing[0]}")
    rid = options.run_id or new_run_id("swebench")
    work_dir = Path(options.work_dir).expanduser().resolve()
    logs_dir = run_logs_dir(work_dir, rid)
    empty = [i for i in wanted if not preds.by_id[i].patch]
    expected = {i: model_dir_name(preds.by_id[i].model) for i in wanted if preds.by_id[i].patch}
    already = [i for i, m in expected.items() if (logs_dir / m / i / REPORT).is_file()]
    return EvalPlan(options, rid, work_dir, logs_dir, preds, instances, expected, empty, already, settings,
                    prices=prices)


class _Eval:
    def __init__(self, ctx: JobContext, plan: EvalPlan) -> None:
        self.ctx = ctx
        self.plan = plan
        self.scores: dict[str, InstanceScore] = {}
        self.follower = LogFollower(plan.logs_dir, plan.expected, plan.options.stall_after)
        self.first_start: float | None = None
        self.fresh_done = 0
        self.failures_path = ctx.run.path / "failures.jsonl"
        self.last_error: str | None = None
        self.errors: list[dict[str, str]] = []
        self.stall_reminded: dict[str, float] = {}
        self.harness_size = -1
        self.harness_grew = time.monotonic()
        self.harness_stalled = False

    # -- scoring -------------------------------------------------------------------------------
    def _score(self, iid: str, *, report: Any = None, failure: Failure | None = None, empty: bool = False,
               log: str | None = None) -> InstanceScore:
        sc = score_instance(self.plan.instances[iid], report, self.plan.settings, brs=self.plan.brs.get(iid),
                            failure=failure, empty_patch=empty)
        cost = self.plan.costs.get(iid)
        if cost is not None:
            sc.cost_usd, sc.samples, sc.rollout_time_s = cost.cost_usd, cost.samples, cost.time_s
        if log:
            sc.eval_time_s = instance_eval_seconds(Path(log))
        self.scores[iid] = sc
        return sc

    def _eta(self) -> float | None:
        remaining = self.plan.total - len(self.scores)
        if remaining <= 0:
            return 0.0
        if not self.fresh_done or self.first_start is None:
            return None
        return round((time.monotonic() - self.first_start) / self.fresh_done * remaining, 1)

    def publish(self) -> None:
        figs = live_figures(self.scores.values(), total=self.plan.total, eta_s=self._eta())
        figs.update(harness_run_id=self.plan.harness_run_id, logs_dir=str(self.plan.logs_dir),
                    running=self.follower.count("running"), stalled=[i.instance_id for i in self.follower.stalled],
                    resumed=len(self.plan.already_graded), last_error=self.last_error, errors_list=self.errors[-20:],
                    harness_stalled=self.harness_stalled)
        self.ctx.set_figures(**figs)
        if figs.get("cost_so_far_usd") is not None:
            per = figs["cost_per_instance_usd"] or 0.0
            self.ctx.set_cost(figs["cost_so_far_usd"], round(per * self.plan.total, 6))

    # -- changes -------------------------------------------------------------------------------
    def on_change(self, ch: Change) -> None:
        inst = ch.instance
        now = time.monotonic()
        if ch.what == "started":
            if self.first_start is None:
                self.first_start = now
            self.ctx.event("instance_started", instance_id=inst.instance_id, log=inst.log_path)
        elif ch.what == GRADED:
            sc = self._score(inst.instance_id, report=inst.report, log=inst.log_path)
            if inst.resumed:
                self.ctx.advance(skipped=1)
            else:
                self.fresh_done += 1
                self.ctx.advance(ok=1)
            self.ctx.event("instance_graded", instance_id=inst.instance_id, resolved=sc.resolved, overall=sc.overall,
                           success=sc.success, resumed=inst.resumed, report=inst.report.path if inst.report else None)
        elif ch.what == ERROR:
            self._record_failure(inst)
        elif ch.what == STALLED:
            idle = now - (inst.grew_at or now)
            self.stall_reminded[inst.instance_id] = now
            self.ctx.warn(f"{inst.instance_id}: stalled, no log growth for {idle:.0f}s (the harness is known to hang "
                          f"on image builds and the last instances): see {inst.log_path}",
                          instance_id=inst.instance_id)
            self.ctx.event("instance_stalled", instance_id=inst.instance_id, idle_s=round(idle, 1), log=inst.log_path)
        elif ch.what == "unstalled":
            self.ctx.event("instance_unstalled", instance_id=inst.instance_id)

    def _record_failure(self, inst: InstanceProgress) -> None:
        f = inst.failure
        assert f is not None
        self._score(inst.instance_id, failure=f, log=inst.log_path)
        self.fresh_done += 1
        self.ctx.advance(failed=1)
        self.last_error = f.message
        self.errors.append({"instance_id": inst.instance_id, **f.to_dict()})
        self.ctx.error(f.message, instance_id=inst.instance_id, reason=f.reason, kind=f.kind)
        self.ctx.event("instance_error", instance_id=inst.instance_id, log=inst.log_path, **f.to_dict())
        with open(self.failures_path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"instance_id": inst.instance_id, **f.to_dict()}) + "\n")

    def remind_stalled(self) -> None:
        now = time.monotonic()
        for inst in self.follower.stalled:
            if now - self.stall_reminded.get(inst.instance_id, now) >= STALL_REMIND_S:
                self.stall_reminded[inst.instance_id] = now
                self.ctx.event("instance_stalled", instance_id=inst.instance_id,
                               idle_s=round(now - (inst.grew_at or now), 1), log=inst.log_path)

    def watch_harness(self, harness: HarnessProcess) -> None:
        """Flag a harness that prints nothing while no instance runs (stuck loading the dataset,
        pulling or building an image before any instance folder exists)."""
        now = time.monotonic()
        size = harness.log_size()
        if size != self.harness_size:
            self.harness_size, self.harness_grew = size, now
            if self.harness_stalled:
                self.harness_stalled = False
                self.ctx.event("harness_unstalled")
            return
        busy = self.follower.count("running")
        if not busy and not self.harness_stalled and now - self.harness_grew >= self.plan.options.stall_after:
            self.harness_stalled = True
            self.ctx.warn(f"the harness has printed nothing for {now - self.harness_grew:.0f}s and no instance is "
                          f"running: see {harness.log} (it may be stuck on the dataset or an image)")
            self.ctx.event("harness_stalled", idle_s=round(now - self.harness_grew, 1), log=str(harness.log))

    # -- the run -------------------------------------------------------------------------------
    async def run(self) -> JobOutcome:
        plan, ctx = self.plan, self.ctx
        plan.read_side_inputs(ctx.run.path.parent.parent)
        ctx.set_total(plan.total)
        note = plan.resume_note()
        if note:
            ctx.log(note)
            ctx.event("resume", harness_run_id=plan.harness_run_id, graded=len(plan.already_graded))
        for iid in plan.empty:
            self._score(iid, empty=True)
            ctx.advance(ok=1)
        if plan.predictions.duplicates:
            ctx.warn(f"{plan.options.predictions}: {len(plan.predictions.duplicates)} instance id(s) appear more than once "
                     f"(e.g. {plan.predictions.duplicates[0]}): the harness grades the last of each")
        for ch in self.follower.poll():
            self.on_change(ch)
        self.publish()
        # the harness runs even when every instance is graded: it writes the summary
        plan.work_dir.mkdir(parents=True, exist_ok=True)
        cmd = harness_command(dataset=plan.options.dataset, split=plan.options.split,
                              predictions=plan.predictions.path.resolve(), run_id=plan.harness_run_id,
                              max_workers=plan.options.max_workers, timeout=plan.options.timeout,
                              report_dir=plan.work_dir, instance_ids=list(plan.expected) + plan.empty,
                              extra=list(plan.options.harness_args), python=plan.options.python())
        ctx.phase("harness", f"harness run {plan.harness_run_id}: {len(plan.expected)} instance(s), logs in {plan.logs_dir}",
                  argv=cmd[:14] + (["…"] if len(cmd) > 14 else []))
        harness = HarnessProcess.start(cmd, cwd=plan.work_dir, log=ctx.run.path / "harness.log")
        ctx.set_figures(harness_pid=harness.pid, harness_log=str(harness.log))
        stopped = False
        while True:
            rc = harness.poll()
            for ch in self.follower.poll():
                self.on_change(ch)
            self.remind_stalled()
            self.watch_harness(harness)
            self.publish()
            if rc is not None:
                break
            if await ctx.wait_stop(POLL_S):
                stopped = True
                ctx.phase("stopping", "stopping the harness (its whole process group)")
                rc = harness.stop()
                removed = remove_run_containers(plan.harness_run_id)
                if removed:
                    ctx.log(f"removed {removed} container(s) the stopped harness left")
                break
        return self._finish(harness, rc, stopped)

    def _finish(self, harness: HarnessProcess, rc: int | None, stopped: bool) -> JobOutcome:
        plan, ctx = self.plan, self.ctx
        tail = harness.tail()
        if stopped:
            for ch in self.follower.poll():
                self.on_change(ch)
        else:
            for ch in self.follower.finish(lambda inst: harness_exit_failure(inst.instance_id, rc, tail)):
                self.on_change(ch)
        summaries = {}
        for model in sorted({plan.predictions.by_id[i].model for i in [*plan.expected, *plan.empty]}):
            s = read_summary(summary_path(plan.work_dir, model, plan.harness_run_id))
            if s is not None:
                summaries[model] = s.to_dict()
        self.publish()
        ctx.set_figures(summary={m: {k: v for k, v in s.items() if not k.endswith("_ids")} for m, s in summaries.items()},
                        harness_exit=rc)
        with open(ctx.run.path / "scores.jsonl", "w", encoding="utf-8") as fh:
            for iid in sorted(self.scores):
                fh.write(json.dumps(self.scores[iid].to_dict()) + "\n")
        ctx.run.update_run(outputs={"logs_dir": str(plan.logs_dir), "scores": str(ctx.run.path / "scores.jsonl"),
                                    "summaries": [s["path"] for s in summaries.values()],
                                    "harness_log": str(harness.log)})
        resume = f"rerun with --run-id {plan.harness_run_id} to resume (graded instances are skipped)"
        if stopped:
            return JobOutcome(message=f"stopped: {resume}")
        graded = sum(1 for s in self.scores.values() if s.status != "error")
        errors = [s for s in self.scores.values() if s.status == "error"]
        if rc and not graded:
            last = next((ln for ln in reversed(tail.splitlines()) if ln.strip()), "no output")
            raise RolloutError(f"the harness exited {rc} without grading anything: {last.strip()[:300]}: see {harness.log}")
        if errors and len(errors) == len(self.scores) and all((s.failure or {}).get("kind") == "infrastructure" for s in errors):
            first = errors[0].failure or {}
            more = f" (and {len(errors) - 1} more instance(s))" if len(errors) > 1 else ""
            raise ServiceError(f"{first.get('message')}{more}")
        if errors:
            return JobOutcome(message=f"{len(errors)} instance(s) not graded (see failures.jsonl in the run folder); {resume}")
        return JobOutcome()


def make_swebench_job(plan: EvalPlan) -> Callable[[JobContext], Awaitable[JobOutcome]]:
    """The job function for :func:`engine.jobs.run_job`."""

    async def job(ctx: JobContext) -> JobOutcome:
        return await _Eval(ctx, plan).run()

    return job
