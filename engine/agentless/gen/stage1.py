"""Stage 1 (gen-step1): localization requests from a SWE-bench-like dataset and repo structures.

For each selected instance: load ``<repostructure_dir>/<instance_id>.json``, show the problem
statement and the tree of .py files, ask for at most 5 files to edit (test writer: test files).
One request per instance, or ``<id>__pass<N>`` for N < passk. Instances without a structure,
ids not in the dataset and prompts too long for the model (:mod:`engine.promptguard`) go to
``failures.jsonl``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from engine.batchio import make_custom_id
from engine.jobs import JobContext, JobOutcome
from engine.agentless.dataset import Instance, load_instances, select_instances
from engine.agentless.gen.genjob import (ItemResult, Outputs, SelectedGenOptions, failure, failures_path, generate, get_structure,
                                         prompt_limit, run_blocking, serialize, too_long)
from engine.promptguard import PromptLimit
from engine.agentless.gen.prompts import localization_prompt
from engine.agentless.gen.requests import SamplingConfig, sample_lines
from engine.agentless.tokens import estimate_tokens, estimator_name

ROLES = ("bugfixer", "testwriter")
#: instances per worker task: big enough to amortise pickling, small enough for smooth progress
CHUNK = 8


@dataclass(kw_only=True)
class Stage1Options(SelectedGenOptions):
    """Everything gen-step1 needs (CLI flags map one to one)."""


@dataclass
class _Task:
    role: str
    repostructure_dir: str
    sampling: SamplingConfig
    limit: PromptLimit
    items: list[tuple[str, str, list[int]]]  # (instance_id, problem_statement, samples to make)


def _cids(cfg: SamplingConfig, iid: str, samples: list[int]) -> list[str]:
    return [make_custom_id(iid, n, cfg.passk) for n in samples]


def stage1_task(task: _Task) -> list[ItemResult]:
    """Worker: build the requests of a few instances (runs in a worker process)."""
    out: list[ItemResult] = []
    for iid, problem, samples in task.items:
        structure, reason, why = get_structure(task.repostructure_dir, iid)
        if structure is None:
            out += [failure(iid, c, reason, why)
                    for c in _cids(task.sampling, iid, samples)]
            continue
        prompt = localization_prompt(task.role, problem, structure.tree_text(only_py=True))
        tokens = estimate_tokens(prompt)
        if why := too_long(task.limit, tokens, task.sampling):
            out += [failure(iid, c, "prompt_too_long", why) for c in _cids(task.sampling, iid, samples)]
            continue
        for line in sample_lines(task.sampling, iid, prompt, task.role, samples):
            out.append(ItemResult(instance_id=iid, custom_id=line["custom_id"], line=serialize(line), prompt_tokens=tokens))
    return out


def make_stage1_job(opts: Stage1Options):
    """The gen-step1 job function for :func:`engine.jobs.run_job`."""

    async def job(ctx: JobContext) -> JobOutcome:
        cfg = opts.sampling
        ctx.phase("loading", f"dataset {opts.dataset}")
        instances: dict[str, Instance] = await run_blocking(
            lambda: load_instances(opts.dataset, opts.split, convert_crlf=opts.convert_crlf))
        sel = select_instances(instances, instance_ids=opts.instance_ids, instances_file=opts.instances_file,
                               start=opts.start_file, end=opts.end_file)
        outputs = Outputs(output_file=Path(opts.output_file), failures_file=failures_path(opts.output_file, opts.failures_file),
                          stage="gen_step1", run_id=ctx.run.run_id)
        ctx.set_total((len(sel.ids) + len(sel.missing)) * cfg.passk)
        ctx.set_figures(role=opts.role, instances=len(sel.ids), passk=cfg.passk, token_estimator=estimator_name())
        limit = prompt_limit(ctx, opts)
        try:
            for iid in sel.missing:
                for cid in _cids(cfg, iid, list(range(cfg.passk))):
                    outputs.record(ctx, failure(iid, cid, "instance_not_in_dataset", f"not in {opts.dataset} split {opts.split}"))

            def tasks() -> Iterator[_Task]:
                chunk: list[tuple[str, str, list[int]]] = []
                for iid in sel.ids:
                    todo = [n for n, c in enumerate(_cids(cfg, iid, list(range(cfg.passk)))) if not outputs.already_done(c)]
                    if len(todo) < cfg.passk:
                        ctx.advance(skipped=cfg.passk - len(todo))
                    if not todo:
                        continue
                    chunk.append((iid, instances[iid].problem_statement, todo))
                    if len(chunk) >= CHUNK:
                        yield _Task(opts.role, opts.repostructure_dir, cfg, limit, chunk)
                        chunk = []
                if chunk:
                    yield _Task(opts.role, opts.repostructure_dir, cfg, limit, chunk)

            return await generate(ctx, outputs, stage1_task, tasks(), opts.num_workers, f"{len(sel.ids)} instances x {cfg.passk}")
        finally:
            outputs.close()

    return job
