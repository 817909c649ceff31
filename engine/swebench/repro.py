"""``rollout eval repro``: stage 3's reproduction tests before and after each patch, in the harness.

The harness runs an instance's own test suite; a generated reproduction test
(``reproduce_bug.py``, printing "Issue reproduced" / "Issue resolved" / "Other issues") is not
part of it. The closest faithful approach, through the same harness mechanism (same images, same
patch application, same logs, same resume):

1. a derived dataset (JSONL) where each instance's ``eval_script`` keeps the original environment
   set-up (everything before the script checks out the test files) and then runs
   ``python reproduce_bug.py``, printing its output between the harness's test-output markers plus
   a pytest-style ``PASSED``/``FAILED reproduce_bug.py`` line so the harness's own report.json
   grades it too (FAIL_TO_PASS = ["reproduce_bug.py"]);
2. harness run ``<id>-before`` with the test patch alone, and ``<id>-after`` with the model patch
   plus the test patch;
3. per instance the outcome before and after from test_output.txt; BRS = 1 when it is
   ``reproduced`` before and ``resolved`` after. Results go to repro.jsonl
   (``{instance_id, before, after, brs}``), which ``eval swebench --repro`` and ``report --repro`` read.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from engine.errors import InputError, RolloutError, ServiceError
from engine.jobs import JobContext, JobOutcome
from engine.runs import new_run_id
from engine.swebench.dataset import EvalInstance
from engine.swebench.failures import harness_exit_failure
from engine.swebench.follower import ERROR, GRADED, STALLED, LogFollower
from engine.swebench.harness import HarnessProcess, harness_command, remove_run_containers
from engine.swebench.layout import TEST_OUTPUT, model_dir_name, run_logs_dir
from engine.swebench.predictions import read_predictions

if TYPE_CHECKING:
    from engine.options.swebench import ReproJob

REPRO_TEST = "reproduce_bug.py"
REPRO_MODEL = "rollout-repro"
START, END = ">>>>> Start Test Output", ">>>>> End Test Output"
REPRODUCED, RESOLVED, OTHER, ERRORED = "reproduced", "resolved", "other", "error"


def repro_eval_script(original: str, base_commit: str, timeout_s: int) -> str:
    """The instance's environment set-up, then the reproduction test between the output markers."""
    cut = original.find(f"\ngit checkout {base_commit}")
    prelude = original[:cut] if cut >= 0 else "\n".join(
        ln for ln in original.splitlines() if not ln.startswith(("git checkout", "git apply", ": '>>>>>")))
    return prelude.rstrip("\n") + f"""
: '{START}'
timeout {int(timeout_s)} python {REPRO_TEST} > /tmp/rollout_repro.out 2>&1
echo "rollout repro exit code: $?"
cat /tmp/rollout_repro.out
if grep -q "Issue resolved" /tmp/rollout_repro.out; then echo "PASSED {REPRO_TEST}"; else echo "FAILED {REPRO_TEST}"; fi
: '{END}'
"""


def outcome_from_output(text: str) -> str:
    """``reproduced``/``resolved``/``other`` from a test_output.txt (the markers' section when present)."""
    start, end = text.find(START), text.rfind(END)
    body = text[start:end] if start >= 0 and end > start else text
    body = "\n".join(ln for ln in body.splitlines() if not ln.startswith(("+ ", "++ ")) and "grep -q" not in ln)
    if re.search(r"^Issue resolved", body, re.M) or "Issue resolved" in body:
        return RESOLVED
    if "Issue reproduced" in body:
        return REPRODUCED
    return OTHER


def combine_patches(model_patch: str, test_patch: str) -> str:
    """The model's patch followed by the test's (both unified diffs; the test adds a new file)."""
    a, b = (model_patch or "").rstrip("\n"), (test_patch or "").rstrip("\n")
    return (a + "\n" + b + "\n") if a else b + "\n"


@dataclass
class ReproPlan:
    options: "ReproJob"
    run_id: str
    work_dir: Path
    ids: list[str]
    dataset_file: Path
    before_preds: Path
    after_preds: Path
    output: Path
    instances: dict[str, EvalInstance] = field(default_factory=dict)

    def inputs(self) -> dict[str, Any]:
        return {"tests": str(Path(self.options.tests).resolve()), "predictions": str(Path(self.options.predictions).resolve()),
                "dataset": self.options.dataset, "split": self.options.split, "harness_run_id": self.run_id,
                "work_dir": str(self.work_dir)}


def prepare_repro(options: "ReproJob", staging: Path | None = None,
                  instances: dict[str, EvalInstance] | None = None) -> ReproPlan:
    """Write the derived dataset and the before/after predictions; check every input first."""
    from engine.swebench.dataset import load_eval_instances

    tests = read_predictions(Path(options.tests).expanduser())
    preds = read_predictions(Path(options.predictions).expanduser())
    if instances is None:
        instances = load_eval_instances(options.dataset, options.split, keep_rows=True)
    wanted = list(dict.fromkeys(options.ids())) or [i for i in tests.by_id if tests.by_id[i].patch]
    for iid in wanted:
        if iid not in instances:
            raise InputError(f"{options.tests}: {iid} is not in {options.dataset} (split {options.split}): check --dataset")
        if not (tests.by_id.get(iid) and tests.by_id[iid].patch):
            raise InputError(f"{options.tests}: no reproduction test for {iid}: drop it from --instance-ids")
        row = instances[iid].row
        if not row.get("eval_script") or not row.get("image"):
            raise InputError(f"{options.dataset}: {iid} has no eval_script/image columns: the harness needs a dataset "
                             "with them (SWE-bench's current parquet files have them)")
    if not wanted:
        raise InputError(f"{options.tests}: no reproduction tests (non-empty model_patch) to run")
    rid = options.run_id or new_run_id("repro")
    work_dir = Path(options.work_dir).expanduser().resolve()
    staging = staging or (work_dir / "logs" / "rollout-repro" / rid)
    staging.mkdir(parents=True, exist_ok=True)
    dataset_file = staging / "dataset.jsonl"
    with open(dataset_file, "w", encoding="utf-8") as fh:
        for iid in wanted:
            row = dict(instances[iid].row)
            row.update(eval_script=repro_eval_script(str(row["eval_script"]), str(row.get("base_commit") or ""), options.timeout),
                       FAIL_TO_PASS=json.dumps([REPRO_TEST]), PASS_TO_PASS=json.dumps([]), log_parser="parse_log_pytest",
                       eval_type="pass_and_fail")
            fh.write(json.dumps(row, default=str) + "\n")
    before, after = staging / "before.jsonl", staging / "after.jsonl"
    with open(before, "w", encoding="utf-8") as fb, open(after, "w", encoding="utf-8") as fa:
        for iid in wanted:
            test_patch = tests.by_id[iid].patch or ""
            model_patch = preds.by_id[iid].patch if iid in preds.by_id else ""
            fb.write(json.dumps({"instance_id": iid, "model_name_or_path": REPRO_MODEL, "model_patch": combine_patches("", test_patch)}) + "\n")
            fa.write(json.dumps({"instance_id": iid, "model_name_or_path": REPRO_MODEL,
                                 "model_patch": combine_patches(model_patch or "", test_patch)}) + "\n")
    output = Path(options.output).expanduser() if options.output else staging / "repro.jsonl"
    return ReproPlan(options, rid, work_dir, wanted, dataset_file, before, after, output, instances)


async def _run_side(ctx: JobContext, plan: ReproPlan, side: str) -> dict[str, str]:
    """One harness run (before or after): outcome per instance."""
    rid = f"{plan.run_id}-{side}"
    logs = run_logs_dir(plan.work_dir, rid)
    follower = LogFollower(logs, {i: model_dir_name(REPRO_MODEL) for i in plan.ids}, plan.options.stall_after)
    cmd = harness_command(dataset=str(plan.dataset_file), split=plan.options.split,
                          predictions=plan.before_preds if side == "before" else plan.after_preds, run_id=rid,
                          max_workers=plan.options.max_workers, timeout=plan.options.timeout + 60,
                          report_dir=plan.output.parent, instance_ids=plan.ids, extra=list(plan.options.harness_args), python=plan.options.python())
    ctx.phase(side, f"reproduction tests {side} the patch: harness run {rid}")
    harness = HarnessProcess.start(cmd, cwd=plan.work_dir, log=ctx.run.path / f"harness-{side}.log")
    outcomes: dict[str, str] = {}

    def handle(changes: list[Any]) -> None:
        for ch in changes:
            iid = ch.instance.instance_id
            if ch.what == GRADED:
                try:
                    text = (logs / model_dir_name(REPRO_MODEL) / iid / TEST_OUTPUT).read_text(errors="replace")
                except OSError:
                    text = ""
                outcomes[iid] = outcome_from_output(text)
                ctx.advance(ok=1)
            elif ch.what == ERROR:
                outcomes[iid] = ERRORED
                f = ch.instance.failure
                ctx.advance(failed=1)
                if f is not None:
                    ctx.error(f"{side}: {f.message}", instance_id=iid, reason=f.reason, kind=f.kind)
                    ctx.event("instance_error", side=side, instance_id=iid, **f.to_dict())
            elif ch.what == STALLED:
                ctx.warn(f"{side}: {iid}: stalled, no log growth for {plan.options.stall_after:g}s: see {ch.instance.log_path}")
        ctx.set_figures(**{f"{side}_outcomes": dict(sorted(outcomes.items()))})

    while True:
        rc = harness.poll()
        handle(follower.poll())
        if rc is not None:
            break
        if await ctx.wait_stop(1.0):
            harness.stop()
            remove_run_containers(rid)
            raise RolloutError(f"stopped during the {side} run: rerun with --run-id {plan.run_id} to resume", 130)
    tail = harness.tail()
    handle(follower.finish(lambda inst: harness_exit_failure(inst.instance_id, rc, tail)))
    return outcomes


def make_repro_job(plan: ReproPlan) -> Callable[[JobContext], Awaitable[JobOutcome]]:
    async def job(ctx: JobContext) -> JobOutcome:
        ctx.set_total(2 * len(plan.ids))
        t0 = time.monotonic()
        before = await _run_side(ctx, plan, "before")
        if all(v == ERRORED for v in before.values()):  # nothing ran: the after run would fail the same way
            raise ServiceError(f"no reproduction test could run before the patch ({len(before)} instance(s) errored, "
                               f"see the events and harness-before.log in {ctx.run.path}): check that the instance images exist")
        after = await _run_side(ctx, plan, "after")
        plan.output.parent.mkdir(parents=True, exist_ok=True)
        brs_values = []
        with open(plan.output, "w", encoding="utf-8") as fh:
            for iid in plan.ids:
                b, a = before.get(iid, ERRORED), after.get(iid, ERRORED)
                brs = None if ERRORED in (b, a) else (1.0 if (b == REPRODUCED and a == RESOLVED) else 0.0)
                if brs is not None:
                    brs_values.append(brs)
                fh.write(json.dumps({"instance_id": iid, "before": b, "after": a, "brs": brs}) + "\n")
        ctx.run.update_run(outputs={"results": str(plan.output)})
        ctx.set_figures(brs_mean=round(sum(brs_values) / len(brs_values), 4) if brs_values else None,
                        brs_n=len(brs_values), elapsed_s=round(time.monotonic() - t0, 1), results=str(plan.output))
        if not brs_values:
            errs = [iid for iid in plan.ids if ERRORED in (before.get(iid), after.get(iid))]
            if errs:
                raise ServiceError(f"no reproduction test could run ({len(errs)} instance(s) errored, see the events and "
                                   f"harness-before.log in {ctx.run.path}): check that the instance images exist")
        return JobOutcome(message=f"repro results: {plan.output}")

    return job
