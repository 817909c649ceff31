"""Stage 2 (gen-step2, the seed's proc_step1_gen_step2): parse localization answers, build repair
(bug fixer) or reproduction-test (test writer) requests.

Each step-1 response line gives one step-2 request with the same custom_id (a plain id with
``passk`` > 1 gives ``<id>__pass<N>`` for N < passk). The answer is parsed by
:func:`engine.agentless.gen.localize.parse_localization`; the bug fixer's prompt holds the full text of
every found file, the test writer's the top test file. Lines that cannot be used go to
``failures.jsonl`` with a reason: malformed_line, step1_request_failed, empty_response,
reasoning_only, instance_not_in_dataset, structure_not_found, structure_invalid, no_files_found,
no_test_files_found, prompt_too_long.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from engine.batchio import detect_kind, iter_jsonl, make_custom_id, parse_custom_id, parse_response
from engine.errors import InputError
from engine.jobs import JobContext, JobOutcome
from engine.agentless.dataset import Instance, load_instances, select_instances
from engine.agentless.gen.genjob import (ItemResult, Outputs, SelectedGenOptions, count_lines, failure, failures_path, get_structure,
                                   generate, prompt_limit, run_blocking, serialize, too_long)
from engine.promptguard import PromptLimit
from engine.agentless.gen.localize import is_test_path, parse_localization
from engine.agentless.gen.prompts import repair_prompt, reproduction_prompt
from engine.agentless.gen.requests import SamplingConfig, chat_body, request_line, temperature_for
from engine.agentless.tokens import estimate_tokens, estimator_name

#: responses per worker task
CHUNK = 32


@dataclass(kw_only=True)
class Stage2Options(SelectedGenOptions):
    """Everything gen-step2 needs (CLI flags map one to one)."""

    input_file: str
    max_files: int = 5


@dataclass
class _Item:
    custom_id: str
    instance_id: str
    samples: list[tuple[str, int | None]]  # (custom_id to write, sample index)
    content: str
    reasoning: str
    problem: str


@dataclass
class _Task:
    role: str
    repostructure_dir: str
    sampling: SamplingConfig
    limit: PromptLimit
    max_files: int
    items: list[_Item]


def _fail_all(item: _Item, reason: str, detail: str = "") -> list[ItemResult]:
    return [failure(item.instance_id, cid, reason, detail) for cid, _ in item.samples]


def stage2_task(task: _Task) -> list[ItemResult]:
    """Worker: parse answers and build step-2 requests (runs in a worker process)."""
    out: list[ItemResult] = []
    for item in task.items:
        structure, reason, why = get_structure(task.repostructure_dir, item.instance_id)
        if structure is None:
            out += _fail_all(item, reason, why)
            continue
        loc = parse_localization(item.content, item.reasoning, structure, max_files=task.max_files)
        if loc.reason in ("empty_response", "reasoning_only"):
            out += _fail_all(item, loc.reason, "no answer after the reasoning" if loc.reason == "reasoning_only" else "")
            continue
        if task.role == "testwriter":
            tests = [p for p in loc.found if is_test_path(p) and structure.file_text(p) is not None]
            if not tests:
                out += _fail_all(item, "no_test_files_found", f"named: {', '.join(loc.candidates[:5]) or '(nothing path-like)'}")
                continue
            prompt = reproduction_prompt(item.problem, {tests[0]: structure.file_text(tests[0]) or ""})
        else:
            # files stored without text (Agentless writes "" for files it could not parse) cannot be shown
            files = {p: t for p in loc.found if (t := structure.file_text(p)) is not None}
            if not files:
                out += _fail_all(item, "no_files_found", f"named: {', '.join(loc.candidates[:5]) or '(nothing path-like)'}"
                                 + (" (stored without text)" if loc.found else ""))
                continue
            prompt = repair_prompt(item.problem, files)
        tokens = estimate_tokens(prompt)
        if why := too_long(task.limit, tokens, task.sampling):
            out += _fail_all(item, "prompt_too_long", why)
            continue
        for cid, n in item.samples:
            body = chat_body(task.sampling, prompt, temperature_for(task.sampling, n or 0, task.role))
            out.append(ItemResult(instance_id=item.instance_id, custom_id=cid, line=serialize(request_line(cid, body)),
                                  prompt_tokens=tokens))
    return out


def make_stage2_job(opts: Stage2Options):
    """The gen-step2 job function for :func:`engine.jobs.run_job`."""

    async def job(ctx: JobContext) -> JobOutcome:
        cfg = opts.sampling
        inp = Path(opts.input_file)
        if not inp.is_file():
            raise InputError(f"{inp}: step-1 responses file not found: check --input_file")
        if detect_kind(inp, strict=True) == "request":
            raise InputError(f"{inp}: this is a request file, not step-1 responses: pass the output of "
                             "'rollout process' (or the Batch API) for those requests as --input_file")
        ctx.phase("loading", f"dataset {opts.dataset}")
        instances: dict[str, Instance] = await run_blocking(
            lambda: load_instances(opts.dataset, opts.split, convert_crlf=opts.convert_crlf))
        wanted: set[str] | None = None
        if opts.instance_ids or opts.instances_file or opts.start_file or opts.end_file:
            wanted = set(select_instances(instances, instance_ids=opts.instance_ids, instances_file=opts.instances_file,
                                          start=opts.start_file, end=opts.end_file).ids)
        lines = count_lines(inp)
        ctx.set_total(lines * (cfg.passk if cfg.passk > 1 else 1))
        ctx.set_figures(role=opts.role, input_lines=lines, passk=cfg.passk, token_estimator=estimator_name())
        limit = prompt_limit(ctx, opts)
        outputs = Outputs(output_file=Path(opts.output_file), failures_file=failures_path(opts.output_file, opts.failures_file),
                          stage="gen_step2", run_id=ctx.run.run_id)
        try:
            def tasks() -> Iterator[_Task]:
                chunk: list[_Item] = []
                for lineno, raw in iter_jsonl(inp):
                    resp, problems = parse_response(str(inp), lineno, raw)
                    if resp is None:
                        outputs.record(ctx, failure(None, None, "malformed_line", str(problems[0]) if problems else f"line {lineno}"))
                        continue
                    iid, sample = parse_custom_id(resp.custom_id)
                    if sample is None and cfg.passk > 1:
                        samples = [(make_custom_id(iid, n, cfg.passk), n) for n in range(cfg.passk)]
                    else:
                        samples = [(resp.custom_id, sample)]
                        if cfg.passk > 1:
                            ctx.add_total(1 - cfg.passk)  # the line already names its sample
                    if wanted is not None and iid not in wanted:
                        ctx.advance(skipped=len(samples))
                        continue
                    todo = [(c, n) for c, n in samples if not outputs.already_done(c)]
                    if len(todo) < len(samples):
                        ctx.advance(skipped=len(samples) - len(todo))
                    if not todo:
                        continue
                    if not resp.ok:
                        err = resp.error or {}
                        detail = (f"status {resp.status_code}" if resp.status_code not in (None, 200) else "error") + (
                            f": {err.get('code') or ''} {err.get('message') or ''}".rstrip() if err else "")
                        for c, _ in todo:
                            outputs.record(ctx, failure(iid, c, "step1_request_failed", detail))
                        continue
                    inst = instances.get(iid)
                    if inst is None:
                        for c, _ in todo:
                            outputs.record(ctx, failure(iid, c, "instance_not_in_dataset", f"not in {opts.dataset} split {opts.split}"))
                        continue
                    chunk.append(_Item(resp.custom_id, iid, todo, resp.content(), resp.reasoning(), inst.problem_statement))
                    if len(chunk) >= CHUNK:
                        yield _Task(opts.role, opts.repostructure_dir, cfg, limit, opts.max_files, chunk)
                        chunk = []
                if chunk:
                    yield _Task(opts.role, opts.repostructure_dir, cfg, limit, opts.max_files, chunk)

            return await generate(ctx, outputs, stage2_task, tasks(), opts.num_workers, f"{lines} step-1 responses")
        finally:
            outputs.close()

    return job


__all__ = ["Stage2Options", "make_stage2_job", "stage2_task", "is_test_path"]
