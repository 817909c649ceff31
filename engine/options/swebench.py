"""Option models of ``rollout eval swebench`` and ``rollout eval repro`` (registered jobs).

pydantic and the standard library only at import time; the engine (engine/swebench) is imported
inside ``make_job`` / ``world_checks``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, ClassVar, Optional

from engine.options.base import JobLaunch, JobOptions, WorldCheck, option

DEFAULT_DATASET = "SWE-bench/SWE-bench_Lite"


class _HarnessJob(JobOptions):
    """What every job that drives the harness takes."""

    dataset: str = option(DEFAULT_DATASET, "--dataset", placeholder="lite-test.parquet",
                          help="Dataset name or local parquet/JSON/JSONL the harness grades against.")
    split: str = option("test", "--split", help="Dataset split.")
    max_workers: int = option(4, "--max-workers", ge=1, help="Instances evaluated at once (harness --max_workers).")
    instance_ids: list[str] = option(..., "--instance-ids", default_factory=list, nargs_plus=True,
                                     help="Only these instances (default: all); space- or comma-separated.")
    work_dir: str = option(".", "--work-dir", path="dir",
                           help="Folder where the harness writes logs/run_evaluation/ (and its summary).")
    stall_after: float = option(900.0, "--stall-after", gt=0.0,
                                help="Flag an instance whose logs have not grown for this many seconds.")
    harness_python: Optional[str] = option(None, "--harness-python", placeholder="python3",
                                           help="Python interpreter that runs the harness (default: this one; "
                                           "env ROLLOUT_SWEBENCH_PYTHON).")
    json_out: bool = option(False, "--json", form=False,
                            help="The final figures as JSON on stdout (with schema_version).")
    harness_args: list[str] = option(..., default_factory=list, passthrough=True,
                                     help="Extra arguments passed to the harness as they are (after --).")

    @classmethod
    def config_defaults(cls, config: Any, given: Any) -> dict[str, Any]:
        import os

        env = os.environ.get("ROLLOUT_SWEBENCH_PYTHON")
        return {"harness_python": env} if env and "harness_python" not in given else {}

    def ids(self) -> list[str]:
        return [p for v in self.instance_ids for p in str(v).replace(",", " ").split() if p]

    def python(self) -> str:
        import sys

        return self.harness_python or sys.executable

    def preflight(self) -> None:
        from engine.swebench.preflight import check_docker, check_harness

        check_harness(self.python())
        check_docker()

    def world_checks(self, config: Any) -> list[WorldCheck]:
        from engine.errors import RolloutError
        from engine.swebench.preflight import check_docker, check_harness

        out = []
        for name, check, field in (("harness", lambda: check_harness(self.python()), "harness_python"),
                                   ("docker", check_docker, None)):
            try:
                detail = check()
            except RolloutError as exc:
                out.append(WorldCheck(name, False, str(exc), field))
            else:
                out.append(WorldCheck(name, True, f"Docker {detail} answers" if name == "docker" else
                                      "the SWE-bench harness imports", field))
        return out


class SwebenchEvalJob(_HarnessJob):
    job_name: ClassVar[str] = "eval-swebench"
    title: ClassVar[str] = "Run the SWE-bench harness on predictions; follow, score and alert"
    cli_path: ClassVar[tuple[str, ...]] = ("eval", "swebench")
    kind: ClassVar[str] = "swebench"
    field_order: ClassVar[tuple[str, ...]] = ("predictions", "dataset", "split", "run_id")

    predictions: str = option(..., "--predictions", path="file", exists=True, what="predictions file",
                              help="Predictions JSONL/JSON (instance_id, model_name_or_path, model_patch).")
    run_id: Optional[str] = option(None, "--run-id", help="Harness run id (default: a new swebench-<time>-<hex>). "
                                   "Same id = resume: graded instances are skipped.")
    timeout: int = option(1800, "--timeout", ge=1, help="Seconds per instance's tests (harness --timeout).")
    repro: list[str] = option(..., "--repro", default_factory=list, nargs_plus=True,
                              help="Repro results (eval repro run or repro.jsonl) for BRS.")
    rollout_runs: list[str] = option(..., "--rollout-runs", default_factory=list, nargs_plus=True,
                                     help="Processing runs / response files behind the predictions, for cost and "
                                     "time per instance.")

    def make_job(self, config: Any, *, warn: Callable[[str], None] = lambda _l: None,
                 notify: Callable[[str], None] | None = None) -> JobLaunch:
        from engine.swebench.driver import make_swebench_job, prepare_eval

        self.preflight()
        plan = prepare_eval(self, config.scorecard, prices=config.prices)
        note = plan.resume_note()
        if note:
            (notify or warn)(note)
        return JobLaunch(kind=self.kind, job=make_swebench_job(plan),
                         title=f"swebench {plan.harness_run_id} ({plan.total} instance(s))",
                         inputs=plan.inputs(), outputs={"logs_dir": str(plan.logs_dir)},
                         summary=lambda state: (state.get("figures") or {}).get("monitor_line"))


class ReproJob(_HarnessJob):
    job_name: ClassVar[str] = "eval-repro"
    title: ClassVar[str] = "Run reproduction tests before and after each patch in the harness (BRS)"
    cli_path: ClassVar[tuple[str, ...]] = ("eval", "repro")
    kind: ClassVar[str] = "repro"
    field_order: ClassVar[tuple[str, ...]] = ("tests", "predictions", "dataset", "split", "run_id")

    tests: str = option(..., "--tests", path="file", exists=True, what="reproduction tests file",
                        help="Reproduction tests: predictions-format file whose model_patch adds reproduce_bug.py "
                        "(stage 3 test writer).")
    predictions: str = option(..., "--predictions", path="file", exists=True, what="predictions file",
                              help="The model's predictions (the patches the tests are run after).")
    run_id: Optional[str] = option(None, "--run-id", help="Harness run id prefix (default: a new repro-<time>-<hex>); "
                                   "-before/-after are added.")
    timeout: int = option(300, "--timeout", ge=1, help="Seconds for one reproduction test run.")
    output: Optional[str] = option(None, "--output", path="file",
                                   help="Where the repro results go (default: <work dir>/logs/rollout-repro/<id>/repro.jsonl).")

    def make_job(self, config: Any, *, warn: Callable[[str], None] = lambda _l: None,
                 notify: Callable[[str], None] | None = None) -> JobLaunch:
        from engine.swebench.repro import make_repro_job, prepare_repro

        self.preflight()
        plan = prepare_repro(self)
        return JobLaunch(kind=self.kind, job=make_repro_job(plan), title=f"repro {plan.run_id} ({len(plan.ids)} instance(s))",
                         inputs=plan.inputs(), outputs={"results": str(plan.output)},
                         summary=lambda state: f"repro results: {plan.output}")
