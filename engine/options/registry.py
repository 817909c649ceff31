"""Which jobs exist: job name → option model, command path, title.

The console's launch screen, its command palette, the CLI's generated commands and the argv
parity test all read this list, so a job registered here is launchable from the console and
tested for free.

How a new job registers (SWE-bench eval, batch submit, ...):

1. Declare its parameters once as a :class:`engine.options.base.JobOptions` subclass in a module
   that imports only pydantic and the standard library at import time (``rollout --help`` must
   start in 200 ms); set the ClassVars ``job_name``, ``title``, ``cli_path`` (e.g.
   ``("eval", "swebench")``), ``kind`` (the run-directory kind), declare each field with
   :func:`engine.options.base.option` (every flag spelling, help, ranges, ``path=``/``exists=``),
   put checks between fields in a ``model_validator`` whose message names the flag first, config
   defaults in ``config_defaults``, the job itself in ``make_job`` (engine imports inside it) and
   checks that need the world in ``world_checks``.
2. Add one line ``"package.module:ClassName"`` to :data:`JOB_MODELS` below.
3. In its console command module, generate the Typer command from the model::

       from console.commands.jobcommand import job_command
       job_command(eval_app, "swebench", SwebenchEvalJob)            # default runner
       job_command(eval_app, "swebench", SwebenchEvalJob, run=my_run)  # run(cli, model) -> exit code

   (see console/commands/jobcommand.py). Nothing else: the form, the preview, rerun and the
   parity test (tests/console/test_job_options.py) come from the model.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.options.base import JobOptions

#: every launchable job's model, as "module:Class" (imported when first asked for)
JOB_MODELS: tuple[str, ...] = (
    "engine.options.agentless:Stage1Job",
    "engine.options.agentless:Stage2Job",
    "engine.options.agentless:RepairJob",
    "engine.options.agentless:ExtractJob",
    "engine.options.process:ProcessJob",
    "engine.options.serve_process:ServeProcessJob",
    "engine.options.serve:ServeJob",
    "engine.options.serve:RouterJob",
    "engine.options.evaluate:CheckpointEvalJob",
    "engine.options.swebench:SwebenchEvalJob",
    "engine.options.swebench:ReproJob",
    "engine.options.demo:DemoJob",
)


@dataclass(frozen=True)
class JobSpec:
    """One registered job."""

    name: str
    title: str
    cli_path: tuple[str, ...]
    model: "type[JobOptions]"

    @property
    def command(self) -> str:
        return " ".join(("rollout", *self.cli_path, *self.model.tag_args))


def load_model(ref: str) -> "type[JobOptions]":
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


@lru_cache(maxsize=1)
def jobs() -> tuple[JobSpec, ...]:
    """Every registered job, in registry order."""
    out = []
    for ref in JOB_MODELS:
        model = load_model(ref)
        out.append(JobSpec(name=model.job_name, title=model.title, cli_path=model.cli_path, model=model))
    return tuple(out)


def job_spec(name: str) -> JobSpec:
    """The job called ``name``; KeyError naming the known jobs otherwise."""
    for spec in jobs():
        if spec.name == name:
            return spec
    raise KeyError(f"no job {name!r}: known jobs are {', '.join(s.name for s in jobs())}")


def spec_for_argv(argv: list[str]) -> JobSpec | None:
    """The job a ``rollout ...`` command line runs (longest command path + tag words), or None."""
    words = list(argv[1:] if argv and argv[0].endswith("rollout") else argv)
    # global options before the command (--workspace W, --config C, --color X)
    while words and words[0] in ("--workspace", "-w", "--config", "-c", "--color"):
        words = words[2:]
    best: JobSpec | None = None
    for spec in jobs():
        path = list(spec.cli_path)
        if words[:len(path)] != path:
            continue
        rest = words[len(path):]
        if any(t not in rest for t in spec.model.tag_args):
            continue
        if best is None or (len(path), len(spec.model.tag_args)) > (len(best.cli_path), len(best.model.tag_args)):
            best = spec
    return best
