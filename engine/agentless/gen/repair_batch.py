"""Agentless repair in batch form (gen-repair): requests from Agentless's ``loc_outputs.jsonl``.

A loc_outputs line holds ``instance_id``, ``found_files`` and ``found_edit_locs`` (per found
file: a string or a list of strings of ``class: C`` / ``function: f`` / ``function: C.m`` /
``line: N`` lines; a dict keyed by file is accepted too). As Agentless's repair does, each
location becomes a line interval widened by ``context_window`` lines on each side; a file's
intervals are merged and shown with "..." for the lines left out; files without locations are
left out. ``max_samples`` requests per instance with ids ``<instance_id>|<i>``: sample 0 greedy
(temperature 0), the rest at the sampling temperature; ``skip_greedy`` leaves sample 0 out
(Agentless keeps its slot empty).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import orjson

from engine.batchio import iter_jsonl
from engine.errors import InputError
from engine.jobs import JobContext, JobOutcome
from engine.agentless.dataset import Instance, load_instances
from engine.agentless.gen.genjob import (GenOptions, ItemResult, Outputs, count_lines, failure, failures_path, get_structure,
                                   generate, prompt_limit, run_blocking, serialize, too_long)
from engine.promptguard import PromptLimit
from engine.agentless.gen.prompts import repair_context_prompt
from engine.agentless.gen.requests import SamplingConfig, chat_body, request_line
from engine.agentless.structure import RepoStructure
from engine.agentless.tokens import estimate_tokens, estimator_name

CHUNK = 16
_LOC_RE = re.compile(r"^\s*(class|function|method|line)\s*:\s*(.+?)\s*$", re.IGNORECASE)


@dataclass(kw_only=True)
class RepairOptions(GenOptions):
    """Everything gen-repair needs."""

    loc_file: str
    context_window: int = 10
    max_samples: int = 1
    skip_greedy: bool = False
    top_n: int = 1


def _flatten(x: Any) -> list[str]:
    if isinstance(x, str):
        return [x]
    if isinstance(x, list):
        return [s for item in x for s in _flatten(item)]
    return []


def edit_locs_by_file(loc: dict[str, Any], files: list[str]) -> dict[str, list[str]]:
    """``{file: [location lines]}`` from ``found_edit_locs`` (list aligned with found_files, or dict)."""
    raw = loc.get("found_edit_locs") or []
    out: dict[str, list[str]] = {}
    for i, f in enumerate(files):
        entry = raw.get(f) if isinstance(raw, dict) else (raw[i] if isinstance(raw, list) and i < len(raw) else None)
        lines = [ln for s in _flatten(entry) for ln in s.splitlines() if ln.strip()]
        if lines:
            out[f] = lines
    return out


def location_intervals(structure: RepoStructure, path: str, locs: list[str]) -> list[tuple[int, int]]:
    """1-based inclusive line intervals of the named classes, functions, methods and lines."""
    node = structure.get(path) or {}
    out: list[tuple[int, int]] = []
    for line in locs:
        m = _LOC_RE.match(line)
        if not m:
            continue
        kind, name = m.group(1).lower(), m.group(2).strip()
        if kind == "line":
            if name.isdigit():
                out.append((int(name), int(name)))
            continue
        for cls in node.get("classes") or []:
            if kind == "class" and cls.get("name") == name:
                out.append((cls["start_line"], cls["end_line"]))
            for meth in cls.get("methods") or []:
                if kind in ("function", "method") and name in (f"{cls.get('name')}.{meth.get('name')}", meth.get("name")):
                    out.append((meth["start_line"], meth["end_line"]))
        for fn in node.get("functions") or []:
            if kind in ("function", "method") and fn.get("name") == name:
                out.append((fn["start_line"], fn["end_line"]))
    return out


def context_text(content: str, intervals: list[tuple[int, int]], window: int) -> str:
    """The lines of merged, widened intervals, joined by "..." lines where text is left out."""
    lines = content.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    widened = sorted((max(1, a - window), min(len(lines), b + window)) for a, b in intervals if a <= len(lines))
    merged: list[list[int]] = []
    for a, b in widened:
        if merged and a <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    parts: list[str] = []
    for a, b in merged:
        if a > 1:
            parts.append("...")
        parts.extend(lines[a - 1:b])
    if merged and merged[-1][1] < len(lines):
        parts.append("...")
    return "\n".join(parts)


@dataclass
class _Task:
    repostructure_dir: str
    sampling: SamplingConfig
    context_window: int
    samples: list[int]
    top_n: int
    limit: PromptLimit
    items: list[tuple[dict[str, Any], str]] = field(default_factory=list)  # (loc line, problem statement)


def repair_task(task: _Task) -> list[ItemResult]:
    """Worker: build the repair requests of a few instances."""
    out: list[ItemResult] = []
    for loc, problem in task.items:
        iid = str(loc["instance_id"])
        cids = [f"{iid}|{i}" for i in task.samples]

        def fail(reason: str, detail: str = "") -> None:
            out.extend(failure(iid, c, reason, detail) for c in cids)

        structure, reason, why = get_structure(task.repostructure_dir, iid)
        if structure is None:
            fail(reason, why)
            continue
        files = [f for f in _flatten(loc.get("found_files"))][: task.top_n]
        resolved = {f: structure.resolve_path(f) for f in files}
        if not files or not any(resolved.values()):
            fail("no_files_found", f"found_files: {', '.join(files) or '(none)'}")
            continue
        blocks = []
        for f, locs in edit_locs_by_file(loc, files).items():
            path = resolved.get(f)
            text = structure.file_text(path) if path else None
            if not text:
                continue
            intervals = location_intervals(structure, path, locs)
            if intervals:
                blocks.append(f"### {f}\n{context_text(text, intervals, task.context_window)}\n")
        if not blocks:
            fail("no_edit_locations", "found_edit_locs name nothing in the found files")
            continue
        prompt = repair_context_prompt(problem, "\n".join(blocks))
        tokens = estimate_tokens(prompt)
        if why := too_long(task.limit, tokens, task.sampling):
            fail("prompt_too_long", why)
            continue
        for i, cid in zip(task.samples, cids):
            body = chat_body(task.sampling, prompt, 0.0 if i == 0 else task.sampling.temperature)
            out.append(ItemResult(instance_id=iid, custom_id=cid, line=serialize(request_line(cid, body)), prompt_tokens=tokens))
    return out


def make_repair_job(opts: RepairOptions):
    """The gen-repair job function for :func:`engine.jobs.run_job`."""

    async def job(ctx: JobContext) -> JobOutcome:
        inp = Path(opts.loc_file)
        if not inp.is_file():
            raise InputError(f"{inp}: loc file not found: check --loc_file")
        if opts.max_samples < 1:
            raise InputError("--max_samples must be at least 1")
        samples = [i for i in range(opts.max_samples) if not (opts.skip_greedy and i == 0)]
        ctx.phase("loading", f"dataset {opts.dataset}")
        instances: dict[str, Instance] = await run_blocking(
            lambda: load_instances(opts.dataset, opts.split, convert_crlf=opts.convert_crlf))
        lines = count_lines(inp)
        ctx.set_total(lines * len(samples))
        ctx.set_figures(loc_lines=lines, max_samples=opts.max_samples, token_estimator=estimator_name())
        limit = prompt_limit(ctx, opts)
        outputs = Outputs(output_file=Path(opts.output_file), failures_file=failures_path(opts.output_file, opts.failures_file),
                          stage="gen_repair", run_id=ctx.run.run_id)

        def new_task() -> _Task:
            return _Task(opts.repostructure_dir, opts.sampling, opts.context_window, samples, opts.top_n, limit)

        try:
            def tasks() -> Iterator[_Task]:
                task = new_task()
                for lineno, raw in iter_jsonl(inp):
                    try:
                        loc = orjson.loads(raw)
                    except orjson.JSONDecodeError as exc:
                        loc = exc
                    if not isinstance(loc, dict) or not loc.get("instance_id"):
                        outputs.record(ctx, failure(None, None, "malformed_line", f"{inp}:{lineno}: not a loc_outputs object with instance_id"))
                        ctx.add_total(1 - len(samples))
                        continue
                    iid = str(loc["instance_id"])
                    todo = [i for i in samples if not outputs.already_done(f"{iid}|{i}")]
                    if len(todo) < len(samples):
                        ctx.advance(skipped=len(samples) - len(todo))
                    if not todo:
                        continue
                    inst = instances.get(iid)
                    if inst is None:
                        for i in todo:
                            outputs.record(ctx, failure(iid, f"{iid}|{i}", "instance_not_in_dataset", f"not in {opts.dataset}"))
                        continue
                    if todo != samples:  # resumed part-way: only the missing samples
                        if task.items:
                            yield task
                        one = new_task()
                        one.samples = todo
                        one.items.append((loc, inst.problem_statement))
                        yield one
                        task = new_task()
                        continue
                    task.items.append((loc, inst.problem_statement))
                    if len(task.items) >= CHUNK:
                        yield task
                        task = new_task()
                if task.items:
                    yield task

            return await generate(ctx, outputs, repair_task, tasks(), opts.num_workers, f"{lines} localizations x {len(samples)} samples")
        finally:
            outputs.close()

    return job
