"""Plumbing shared by the request-generating stages (gen-step1, gen-step2, gen-repair).

* :class:`ItemResult`: what a worker returns per custom_id: a serialized request line, or a failure;
* :class:`Outputs`: the request file (append-only, resumable: ids already written are skipped)
  and ``failures.jsonl`` beside it (appended; each record names its stage and run);
* :func:`run_tasks`: runs CPU-bound task functions in a process pool (or inline for one worker)
  with a bounded number in flight, feeding results back as they finish and honouring a stop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import concurrent.futures.process
import contextlib
import functools
import multiprocessing
import os
import signal
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterable, Iterator

import orjson

from engine.batchio import JsonlAppender, id_key, read_jsonl_objects
from engine.errors import ExitCode, RolloutError
from engine.jobs import JobContext, JobOutcome
from engine.agentless.gen.requests import SamplingConfig
from engine.agentless.structure import RepoStructure, StructureInvalid, load_structure_file
from engine.promptguard import PromptLimit, config_context_length, config_endpoint_url, resolve_limit

FAILURES_NAME = "failures.jsonl"
#: corrupt structure files named in a warning line each; the rest are in the failures file
WARN_STRUCTURES = 3


@dataclass(kw_only=True)
class GenOptions:
    """The flags every request-generating stage takes (gen-step1, gen-step2, gen-repair)."""

    dataset: str
    repostructure_dir: str
    output_file: str
    sampling: SamplingConfig
    split: str = "test"
    convert_crlf: bool = False
    num_workers: int = 1
    #: None: prompt + max_tokens must fit the context length (engine/promptguard); 0: no guard;
    #: N: the estimated prompt must not exceed N
    max_prompt_tokens: int | None = None
    #: the context length when the endpoint (``url``, else the config's default) does not say
    context_length: int | None = None
    #: the endpoint the requests are meant for, asked for its context length
    url: str | None = None
    failures_file: str | None = None


@dataclass(kw_only=True)
class SelectedGenOptions(GenOptions):
    """A stage run per role over a selection of the dataset's instances."""

    role: str
    instance_ids: list[str] = field(default_factory=list)
    instances_file: str | None = None
    start_file: str | None = None
    end_file: str | None = None


@dataclass
class ItemResult:
    """One custom_id's outcome: ``line`` (serialized request) or ``reason`` (+ detail)."""

    instance_id: str | None
    custom_id: str | None
    line: bytes | None = None
    reason: str | None = None
    detail: str = ""
    prompt_tokens: int = 0


def prompt_limit(ctx: JobContext, opts: GenOptions) -> PromptLimit:
    """The prompt-size guard of a generating stage (see :mod:`engine.promptguard`); its settings
    go into the run's figures."""
    url = opts.url or config_endpoint_url(ctx.config)
    limit = resolve_limit(opts.max_prompt_tokens, url=url, config_context=config_context_length(ctx.config),
                          flag_context=opts.context_length)
    ctx.set_figures(**limit.figures())
    return limit


def too_long(limit: PromptLimit, tokens: int, cfg: SamplingConfig) -> str | None:
    """Why a prompt of ``tokens`` (estimated) may not be written, or None."""
    return limit.problem(tokens, cfg.max_tokens)


def failure(instance_id: str | None, custom_id: str | None, reason: str, detail: str = "") -> ItemResult:
    """A failed item (it goes to failures.jsonl with ``reason``)."""
    return ItemResult(instance_id=instance_id, custom_id=custom_id, reason=reason, detail=detail)


def serialize(line: dict[str, Any]) -> bytes:
    """A request line as JSON bytes (made in the worker so the parent only writes bytes)."""
    return orjson.dumps(line)


def failures_path(output_file: str | os.PathLike[str], failures_file: str | os.PathLike[str] | None = None) -> Path:
    """``--failures_file`` when given, else ``failures.jsonl`` in the output file's folder."""
    return Path(failures_file) if failures_file else Path(output_file).parent / FAILURES_NAME


@functools.lru_cache(maxsize=16)
def _cached_structure(path: str, mtime_ns: int, size: int) -> RepoStructure:
    return load_structure_file(path)


def get_structure(repostructure_dir: str, instance_id: str) -> tuple[RepoStructure | None, str, str]:
    """A worker-local cached load of ``<dir>/<instance_id>.json`` (keyed by mtime and size).

    Returns ``(structure, "", "")``, or ``(None, reason, why)``: one bad structure file fails its
    instance, not the whole job, with reason structure_not_found (no file) or structure_invalid
    (a file that is not a readable structure: the JSON error says why).
    """
    path = os.path.join(repostructure_dir, f"{instance_id}.json")
    try:
        st = os.stat(path)
    except OSError:
        return None, "structure_not_found", f"{path}: no such file"
    try:
        return _cached_structure(path, st.st_mtime_ns, st.st_size), "", ""
    except StructureInvalid as exc:
        return None, "structure_invalid", str(exc)
    except RolloutError as exc:
        return None, "structure_not_found", str(exc)
    except OSError as exc:
        return None, "structure_not_found", f"{path}: {exc.strerror or exc}"


@dataclass
class Outputs:
    """Request file + failures file of one stage run, with counts for the run state."""

    output_file: Path
    failures_file: Path
    stage: str
    run_id: str
    done_keys: set[int] = field(default_factory=set)
    reasons: Counter = field(default_factory=Counter)
    written: int = 0
    prompt_tokens: int = 0
    #: corrupt structure files already named in a warning line
    warned: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        # resume: custom_ids already in the output are not generated again
        for _, obj in read_jsonl_objects(self.output_file):
            cid = obj.get("custom_id")
            if isinstance(cid, str):
                self.done_keys.add(id_key(cid))
        self._out = JsonlAppender(self.output_file)
        self._fail: JsonlAppender | None = None

    def already_done(self, custom_id: str) -> bool:
        return id_key(custom_id) in self.done_keys

    def record(self, ctx: JobContext, res: ItemResult) -> None:
        if res.line is not None:
            # bytes made by the worker: orjson.Fragment writes them as they are, one flushed line
            self._out.write(orjson.Fragment(res.line))
            self.written += 1
            self.prompt_tokens += res.prompt_tokens
            if res.custom_id:
                self.done_keys.add(id_key(res.custom_id))
            ctx.advance(ok=1)
            return
        if self._fail is None:
            self._fail = JsonlAppender(self.failures_file)
        self._fail.write({"instance_id": res.instance_id, "custom_id": res.custom_id, "reason": res.reason,
                          "detail": res.detail, "stage": self.stage, "run_id": self.run_id, "time": time.time()})
        self.reasons[res.reason or "unknown"] += 1
        if res.reason == "structure_invalid":
            self._warn_structure(ctx, res.detail)
        ctx.advance(failed=1)

    def _warn_structure(self, ctx: JobContext, detail: str) -> None:
        """One warning line per corrupt structure file (path and JSON error), the first few only."""
        if detail in self.warned or len(self.warned) > WARN_STRUCTURES:
            return
        self.warned.add(detail)
        if len(self.warned) > WARN_STRUCTURES:
            ctx.warn(f"more structure files are invalid: see {self.failures_file} (reason structure_invalid)")
        else:
            ctx.warn(detail)

    def figures(self) -> dict[str, Any]:
        return {"written": self.written, "failed_by_reason": dict(self.reasons),
                "prompt_tokens_est": self.prompt_tokens, "output_file": str(self.output_file),
                "failures_file": str(self.failures_file)}

    def close(self) -> None:
        self._out.close()
        if self._fail is not None:
            self._fail.close()


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """Workers are spawned while SIGINT is ignored, so they inherit SIG_IGN from the first instant.

    A Ctrl-C on a terminal reaches the whole process group: the parent stops gracefully, and the
    workers (still importing, or working) must not print KeyboardInterrupt tracebacks.
    ProcessPoolExecutor spawns workers inside submit(), which runs here.
    """
    try:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread: signals are not ours to change
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


async def run_tasks(
    ctx: JobContext,
    fn: Callable[[Any], list[ItemResult]],
    tasks: Iterable[Any],
    on_results: Callable[[list[ItemResult]], None],
    num_workers: int,
) -> None:
    """Run ``fn(task)`` for each task in worker processes (inline when ``num_workers`` <= 1).

    At most ``2 * num_workers`` tasks are in flight, so memory stays flat however many tasks the
    iterator yields; results are handed to ``on_results`` in completion order. On a stop request
    no new task is started and the running ones finish.
    """
    loop = asyncio.get_running_loop()
    if num_workers <= 1:
        for task in tasks:
            if ctx.stopping:
                break
            # a thread keeps the event loop (state writes, signals) responsive
            on_results(await asyncio.to_thread(fn, task))
        return
    # spawn: the parent runs an event loop and maybe library threads; forking those is unsafe
    pool = concurrent.futures.ProcessPoolExecutor(max_workers=num_workers, mp_context=multiprocessing.get_context("spawn"))
    pending: set[asyncio.Future[list[ItemResult]]] = set()
    limit = 2 * num_workers
    it: Iterator[Any] = iter(tasks)
    try:
        exhausted = False
        while True:
            while not exhausted and not ctx.stopping and len(pending) < limit:
                try:
                    task = next(it)
                except StopIteration:
                    exhausted = True
                    break
                with _sigint_ignored():
                    pending.add(loop.run_in_executor(pool, fn, task))
            ctx.set_in_flight(len(pending))
            if not pending:
                break
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for fut in done:
                try:
                    results = fut.result()
                except concurrent.futures.process.BrokenProcessPool:
                    if ctx.stopping:  # workers killed along with us (a signal to the process group)
                        return
                    raise RolloutError("a worker process died (out of memory or killed): rerun the same command to resume; "
                                       "lower --num_workers if memory is short", ExitCode.ITEMS_FAILED) from None
                on_results(results)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        ctx.set_in_flight(0)


async def generate(
    ctx: JobContext,
    outputs: Outputs,
    fn: Callable[[Any], list[ItemResult]],
    tasks: Iterable[Any],
    num_workers: int,
    what: str,
) -> JobOutcome:
    """The shared tail of every generating stage: run the tasks, record results, close, report.

    Closes ``outputs`` whatever happens; figures are refreshed after each batch of results.
    """
    def on_results(results: list[ItemResult]) -> None:
        for res in results:
            outputs.record(ctx, res)
        ctx.set_figures(**outputs.figures())

    try:
        ctx.phase("generating", what)
        await run_tasks(ctx, fn, tasks, on_results, num_workers)
    finally:
        outputs.close()
    ctx.set_figures(**outputs.figures())
    ctx.phase("finished", f"{outputs.written} requests, {sum(outputs.reasons.values())} failures")
    return JobOutcome()


def count_lines(path: str | os.PathLike[str]) -> int:
    """How many lines the file has (a last line without a newline counts), read in 1 MiB chunks."""
    n = 0
    last = b"\n"
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            n += chunk.count(b"\n")
            last = chunk[-1:]
    return n + (0 if last == b"\n" else 1)


def run_blocking(fn: Callable[..., Any], *args: Any) -> Awaitable[Any]:
    """Run a blocking call (dataset loading) in a thread so the job's heartbeat keeps going."""
    return asyncio.to_thread(fn, *args)
