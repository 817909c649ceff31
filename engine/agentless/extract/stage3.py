"""Stage 3 (``rollout agentless extract``, the seed's proc_step2): step-2 answers → patches → predictions.

The step-2 response file is streamed; lines go in chunks to a process pool (``num_workers``; 0 runs
in-process) where each sample is extracted: reasoning stripped, SEARCH/REPLACE blocks parsed and
applied (:mod:`engine.agentless.extract.apply`), one diff per edited file built and parsed back, edited
Python files syntax-checked in-process (bug fixer); or a reproduction test extracted
(:mod:`engine.agentless.extract.testwriter`). Outputs in ``save_dir``:

* ``samples/<custom_id>.json``      raw output, reasoning, edits with outcomes, status, reason, patch
* ``output_<pass>_processed.jsonl`` Agentless fields (model_name_or_path, instance_id, model_patch,
  raw_model_patch, original_file_content, edited_files, new_file_content) + custom_id, status, reason
* ``failures.jsonl``                instance_id, custom_id, reason, detail (empty samples too)
* ``progress.jsonl``                one line per finished sample: what a rerun skips (resume), with
  its status and vote keys (raw patch, normalized patch)
* ``predictions.jsonl``             one SWE-bench prediction per instance (instance_id,
  model_name_or_path, model_patch; the test writer adds test_patch, test_func_name), by majority
  vote over normalized patches (:mod:`engine.agentless.extract.normalize`), rewritten atomically at the end
* ``all_preds.jsonl``               the same predictions under Agentless's name for them
* ``votes.jsonl``                   per instance: the winning custom_id, its votes, groups, samples
* ``summary.json``                  valid / empty / failed by reason (also in the run's figures)

Sample statuses: ``valid`` (a patch), ``empty`` (no edits, no change, reasoning only) and
``failed`` (with a reason). A rerun with the same save_dir skips the custom_ids already in
progress.jsonl; at most the samples in flight at a crash are processed twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import multiprocessing
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from engine.batchio import (
    BatchResponse,
    JsonlAppender,
    iter_jsonl,
    parse_custom_id,
    parse_response,
    read_jsonl_objects,
    repair_torn_tail,
)
from engine.errors import InputError
from engine.jobs import JobContext, JobOutcome
from engine.agentless.extract.apply import apply_edits
from engine.agentless.extract.diffs import check_patch, line_diff
from engine.agentless.extract.repo_patch import repo_file_diff, repo_paths
from engine.agentless.extract.edits import Edit, mentioned_paths, parse_edits
from engine.agentless.extract.analyzer import PythonAnalyzer, normalized_key
from engine.agentless.extract.normalize import Candidate, majority_vote, patch_key
from engine.agentless.extract.resume import drop_unrecorded_tail, forget_retried
from engine.agentless.reasoning import split_reasoning
from engine.agentless.structure import RepoStructure, is_file_node, load_structure
from engine.agentless.extract.testwriter import Step1Choice, choose_test_file, extract_test

ROLES = ("bugfixer", "testwriter")
#: responses per worker task: big enough to amortize IPC, small enough to keep progress live
CHUNK = 16
#: structures kept per worker process
STRUCTURE_CACHE = 32
#: distinct bug-fixer outcomes (blocks of an instance) kept per worker process: a pass's blocks
#: repeat those of earlier passes that agree with it (each outcome holds its files' texts)
FIX_CACHE = 64
#: the input's first lines read to tell Batch output JSONL from anything else (a longer line is not one)
SNIFF_LINES = 5
SNIFF_LINE_BYTES = 256 << 20
#: corrupt structure files named in a warning line each; the rest are in failures.jsonl
WARN_STRUCTURES = 3
#: Agentless's file name for the voted predictions (written beside predictions.jsonl)
ALL_PREDS = "all_preds.jsonl"


@dataclass
class ExtractOptions:
    """Everything ``extract`` needs (the CLI flags map one to one)."""

    role: str
    input_file: str
    repostructure_dir: str
    save_dir: str
    dataset: str | None = None
    split: str = "test"
    step1_file: str | None = None
    passk: int | None = None
    num_workers: int = 2
    item_timeout_s: float = 30.0
    model_name: str | None = None


@dataclass
class SampleOutcome:
    """What a worker sends back for one sample (the big texts travel as ready-made JSON bytes)."""

    custom_id: str
    instance_id: str
    pass_index: int
    status: str
    reason: str | None
    detail: str
    patch_key: str
    model: str
    processed_line: bytes
    #: the normalized patch's vote key ("" = comments/formatting only); None = not computed here
    norm_key: str | None = None


@dataclass
class BugfixResult:
    """The outcome of one bug-fixer sample."""

    status: str
    reason: str | None = None
    detail: str = ""
    model_patch: str = ""
    raw_model_patch: str = ""
    edited_files: list[str] = field(default_factory=list)
    original_file_content: list[str] = field(default_factory=list)
    new_file_content: list[str] = field(default_factory=list)
    edits: list[dict[str, Any]] = field(default_factory=list)
    #: vote key of the normalized patch, set on valid samples ("" = comments/formatting only)
    norm_key: str | None = None


#: what a bug fixer's outcome depends on besides its repository: its blocks as
#: ``(path, search, replace, complete, index)``, and the file names of the answer's prose when a
#: block lacks a ``### path`` header (() otherwise)
EditsKey = tuple[tuple[tuple[str | None, str, str, bool, int], ...], tuple[str, ...]]


def edits_key(edits: list[Edit], answer: str) -> EditsKey:
    """The :data:`EditsKey` of an answer's parsed blocks."""
    blocks = tuple((e.path, e.search, e.replace, e.complete, e.index) for e in edits)
    return blocks, tuple(mentioned_paths(answer)) if any(e.path is None for e in edits) else ()


def extract_bugfix(resp: BatchResponse, structure: RepoStructure | None,
                   analyzer: PythonAnalyzer | None = None,
                   fix: Callable[[EditsKey], BugfixResult] | None = None) -> BugfixResult:
    """Extract one bug-fixer sample: edits → applied files → checked diff (see module docstring).

    ``analyzer`` syntax-checks and normalizes the edited files; a worker keeps one so each original
    file is parsed once (every new text is still checked, see :class:`PythonAnalyzer`). ``fix``
    gives the outcome of an answer's blocks (default: :func:`fix_from_edits` on ``structure``); a
    worker memoizes it per instance, since passes that agree send the very same blocks. The
    result is shared then: callers must not change it.
    """
    if not resp.ok:
        msg = (resp.error or {}).get("message") if resp.error else f"status {resp.status_code}"
        return BugfixResult("failed", "step2_request_failed", str(msg))
    if structure is None:
        return BugfixResult("failed", "structure_not_found")
    split = split_reasoning(resp.content(), resp.reasoning())
    if not split.answer:
        # edits drafted only in the reasoning are drafts: never applied
        return BugfixResult("empty", "reasoning_only" if split.reasoning else "empty_response")
    parsed = parse_edits(split.answer)
    if not parsed.edits:
        return BugfixResult("empty", "no_edits", "no SEARCH/REPLACE block in the answer")
    key = edits_key(parsed.edits, split.answer)
    return fix(key) if fix is not None else fix_from_edits(structure, key, analyzer or PythonAnalyzer())


def fix_from_edits(structure: RepoStructure, key: EditsKey, analyzer: PythonAnalyzer) -> BugfixResult:
    """A bug fixer's blocks applied to ``structure``'s files: the patch, checked (syntax of the
    edited Python files, the diff parsed back), with the normalized vote key of a valid one."""
    blocks, mentioned = key
    parsed_edits = [Edit(*b) for b in blocks]
    applied = apply_edits(parsed_edits, structure.file_text, structure.resolve_path, mentioned)
    edits = [dict(e.to_dict(), **{k: v for k, v in o.to_dict().items() if k != "index"})
             for e, o in zip(parsed_edits, applied.outcomes)]
    changed = applied.changed_paths
    originals = [applied.originals.get(p, "") for p in changed]
    news = [applied.new_contents[p] for p in changed]
    diffs = [line_diff(old, new) for old, new in zip(originals, news)]  # shared by patch and checks
    raw_patch = "".join(repo_file_diff(structure, p, old, new, new_file=p in applied.new_files, diff=d)
                        for p, old, new, d in zip(changed, originals, news, diffs))
    result = BugfixResult("valid", None, "", raw_patch, raw_patch, changed, originals, news, edits)
    if applied.failures:
        first = applied.failures[0]
        result.status, result.reason, result.detail, result.model_patch = "failed", first.reason, first.detail, ""
        return result
    if not changed:
        result.status, result.reason, result.detail = "empty", "no_change", "the edits leave every file as it was"
        return result
    changes = []
    for path, old, new, d in zip(changed, originals, news, diffs):
        verdict = analyzer.analyze(path, old, new, d)
        # files that never parsed (Python 2 code) cannot be held to it
        if path.endswith(".py") and verdict.error is not None and not (old and not verdict.original_parses):
            result.status, result.reason, result.detail = "failed", "syntax_error", f"{path}: {verdict.error}"
            result.model_patch = ""
            return result
        changes.append((path, verdict.change))
    check = check_patch(raw_patch, repo_paths(structure, changed, applied.new_files))
    if check.problem:
        result.status, result.reason, result.detail, result.model_patch = "failed", "diff_check_failed", check.problem, ""
        return result
    result.norm_key = normalized_key(changes)
    return result


def _slim(folder: dict[str, Any]) -> None:
    """Keep only what extraction reads (file texts): empties the classes/functions listings in
    place, keeping the file shape the reader knows files by."""
    for name, child in folder.items():
        if not isinstance(child, dict):
            continue
        if is_file_node(child):
            if child:
                folder[name] = {"classes": [], "functions": [], "text": child["text"]}
        else:
            _slim(child)


class _ItemTimeout(Exception):
    pass


class _StructureInvalid(Exception):
    """The instance's structure file is there but unreadable (the message says why)."""


def _raise_timeout(signum: int, frame: Any) -> None:
    raise _ItemTimeout()


def _sample_filename(custom_id: str) -> str:
    return custom_id.replace("/", "_").replace("\0", "_") + ".json"


class Extractor:
    """Per-process extraction state: settings plus a small cache of loaded structures."""

    def __init__(self, role: str, repostructure_dir: str, save_dir: str, step1: dict[str, bytes] | None,
                 item_timeout_s: float, model_name: str | None) -> None:
        self.role = role
        self.repostructure_dir = repostructure_dir
        self.samples_dir = Path(save_dir) / "samples"
        self.step1 = step1
        self.item_timeout_s = item_timeout_s
        self.model_name = model_name
        # passes of an instance arrive together or round-robin over a batch of instances; slimmed
        # structures (file texts only) are small enough to keep a few dozen per worker
        self.structure = functools.lru_cache(maxsize=STRUCTURE_CACHE)(self._load_structure)
        # parses each original file once; every new file text is still checked on its own
        self.analyzer = PythonAnalyzer()
        # passes that agree send the same blocks: their outcome is worked out once per worker
        self.fix = functools.lru_cache(maxsize=FIX_CACHE)(self._fix)

    def _fix(self, instance_id: str, key: EditsKey) -> BugfixResult:
        structure, _ = self.structure(instance_id)
        assert structure is not None  # extract_bugfix asks only with a structure
        return fix_from_edits(structure, key, self.analyzer)

    def _load_structure(self, instance_id: str) -> tuple[RepoStructure | None, str]:
        """``(structure, "")``, ``(None, "")`` when the instance has no file, or ``(None, why)``
        when its file is unreadable (reason structure_invalid, with the JSON error)."""
        try:
            structure = load_structure(self.repostructure_dir, instance_id)
        except InputError as exc:
            return None, str(exc)
        if structure is not None:
            _slim(structure.structure)
        return structure, ""

    def normalized_key(self, instance_id: str, custom_id: str) -> str:
        """The sample's normalized patch as a vote key, from its sample file ("" when it normalizes
        to nothing). For samples recorded without one (the test writer, older progress files)."""
        rec = orjson.loads((self.samples_dir / _sample_filename(custom_id)).read_bytes())
        if "new_file_content" not in rec:  # cannot happen with progress written by this version
            return patch_key(rec.get("model_patch") or rec.get("test_patch") or "")
        structure, _ = self.structure(instance_id)
        news = dict(zip(rec.get("edited_files") or [], rec.get("new_file_content") or []))
        changes = []
        for path, new in news.items():
            old = (structure.file_text(path) or "") if structure is not None else ""
            if old != new:
                changes.append((path, self.analyzer.analyze(path, old, new).change))
        return normalized_key(changes)

    def _step1_choice(self, instance_id: str, structure: RepoStructure) -> Step1Choice | None:
        if self.step1 is None:
            return None
        raw = self.step1.get(instance_id)
        resp = parse_response("step1", 0, raw)[0] if raw is not None else None
        return choose_test_file(resp, structure)

    def process(self, lineno: int, raw: bytes) -> SampleOutcome:
        resp, problems = parse_response("input", lineno, raw)
        if resp is None:
            cid = f"line{lineno}"
            return self._outcome(cid, cid, 0, "failed", "malformed_line", str(problems[0]) if problems else "", None, {})
        iid, sample = parse_custom_id(resp.custom_id)
        pass_index = sample or 0
        started = time.monotonic()
        # SIGALRM is the only way to stop a stuck regex or parse mid-call; it works in a main thread only
        timer = self.item_timeout_s > 0 and threading.current_thread() is threading.main_thread()
        old: Any = signal.SIG_DFL
        try:
            try:
                if timer:
                    old = signal.signal(signal.SIGALRM, _raise_timeout)
                    signal.setitimer(signal.ITIMER_REAL, self.item_timeout_s)
                structure, invalid = self.structure(iid)
                if invalid:
                    raise _StructureInvalid(invalid)
                if self.role == "testwriter":
                    choice = self._step1_choice(iid, structure) if structure is not None else None
                    result: Any = extract_test(resp, structure, choice)
                else:
                    result = extract_bugfix(resp, structure, self.analyzer, functools.partial(self.fix, iid))
            finally:
                if timer:
                    signal.setitimer(signal.ITIMER_REAL, 0)
                    signal.signal(signal.SIGALRM, old if old is not None else signal.SIG_DFL)
        except _ItemTimeout:
            result = None
            status, reason, detail = "failed", "timeout", f"over {self.item_timeout_s:g}s"
        except _StructureInvalid as exc:
            result = None
            status, reason, detail = "failed", "structure_invalid", str(exc)
        except Exception as exc:  # noqa: BLE001 — one bad sample must not end the run: record it and go on
            result = None
            status, reason, detail = "failed", "exception", f"{type(exc).__name__}: {exc}"
        else:
            status, reason, detail = result.status, result.reason, result.detail
        record = self._record(resp, result, status, reason, detail, pass_index, iid, time.monotonic() - started)
        return self._outcome(resp.custom_id, iid, pass_index, status, reason, detail, resp, record, result)

    def _record(self, resp: BatchResponse, result: Any, status: str, reason: str | None, detail: str,
                pass_index: int, iid: str, seconds: float) -> dict[str, Any]:
        split = split_reasoning(resp.content(), resp.reasoning())
        rec: dict[str, Any] = {
            "custom_id": resp.custom_id, "instance_id": iid, "pass": pass_index, "role": self.role,
            "status": status, "reason": reason, "detail": detail, "model": self._model(resp),
            "status_code": resp.status_code, "error": resp.error,
            "raw_output": resp.content(), "reasoning": split.reasoning, "seconds": round(seconds, 4),
        }
        if result is not None:
            rec["edits"] = result.edits
            rec["edited_files"] = result.edited_files
            if self.role == "testwriter":
                # the vote normalizes test-writer samples from here; a bug fixer's whole new files
                # are in output_<pass>_processed.jsonl already (and its vote key in progress.jsonl)
                rec["new_file_content"] = result.new_file_content
            if self.role == "testwriter":
                rec.update(test_patch=result.test_patch, raw_test_patch=result.raw_test_patch,
                           test_func_name=result.test_func_name)
            else:
                rec.update(model_patch=result.model_patch, raw_model_patch=result.raw_model_patch)
        return rec

    def _model(self, resp: BatchResponse | None) -> str:
        if self.model_name:
            return self.model_name
        model = (resp.body or {}).get("model") if resp is not None else None
        return str(model) if model else "unknown"

    def _outcome(self, cid: str, iid: str, pass_index: int, status: str, reason: str | None, detail: str,
                 resp: BatchResponse | None, record: dict[str, Any], result: Any = None) -> SampleOutcome:
        model = self._model(resp)
        if record:
            # one write of a complete document: a crash leaves at most this sample's file torn, and
            # the sample is redone on resume (it is not in progress.jsonl yet)
            with open(self.samples_dir / _sample_filename(cid), "wb") as fh:
                fh.write(orjson.dumps(record))
        patch = ""
        processed: dict[str, Any] = {"model_name_or_path": model, "instance_id": iid}
        if self.role == "testwriter":
            patch = result.test_patch if result is not None and status == "valid" else ""
            processed.update(test_patch=patch, raw_test_patch=result.raw_test_patch if result is not None else "",
                             test_func_name=result.test_func_name if result is not None else "", model_patch=patch)
        else:
            patch = result.model_patch if result is not None and status == "valid" else ""
            processed.update(model_patch=patch, raw_model_patch=result.raw_model_patch if result is not None else "")
        processed.update(
            original_file_content=result.original_file_content if result is not None else [],
            edited_files=result.edited_files if result is not None else [],
            new_file_content=result.new_file_content if result is not None else [],
            custom_id=cid, status=status, reason=reason,
        )
        norm_key = result.norm_key if isinstance(result, BugfixResult) and status == "valid" else None
        return SampleOutcome(cid, iid, pass_index, status, reason, detail, patch_key(patch) if patch else "", model,
                             orjson.dumps(processed), norm_key)


_WORKER: Extractor | None = None


def _init_worker(args: tuple[Any, ...]) -> None:
    global _WORKER
    _WORKER = Extractor(*args)
    # the parent handles SIGINT/SIGTERM and stops the pool; workers must not die mid-sample, nor
    # write into the parent's event-loop wakeup fd that fork handed them
    with contextlib.suppress(ValueError):
        signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _process_chunk(chunk: list[tuple[int, bytes]]) -> list[SampleOutcome]:
    assert _WORKER is not None
    return [_WORKER.process(lineno, raw) for lineno, raw in chunk]


def _normalize_chunk(chunk: list[tuple[str, str]]) -> list[tuple[str, str]]:
    assert _WORKER is not None
    return [(cid, _WORKER.normalized_key(iid, cid)) for iid, cid in chunk]


def read_step1(path: str) -> dict[str, bytes]:
    """Step-1 response lines by instance id (the first pass of each instance wins)."""
    out: dict[str, tuple[int, bytes]] = {}
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: step-1 response file not found: check --step1_file")
    for _, raw in iter_jsonl(p):
        try:
            cid = orjson.loads(raw).get("custom_id")
        except (orjson.JSONDecodeError, AttributeError):
            continue
        if not isinstance(cid, str):
            continue
        iid, sample = parse_custom_id(cid)
        rank = sample or 0
        if iid not in out or rank < out[iid][0]:
            out[iid] = (rank, raw)
    return {k: v for k, (_, v) in out.items()}


def _atomic_write_lines(path: Path, objs: Iterator[dict[str, Any]]) -> int:
    tmp = path.with_name(path.name + ".tmp")
    n = 0
    with open(tmp, "wb") as fh:
        for obj in objs:
            fh.write(orjson.dumps(obj) + b"\n")
            n += 1
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return n


@dataclass
class _Tally:
    samples: int = 0
    statuses: Counter = field(default_factory=Counter)
    reasons: dict[str, Counter] = field(default_factory=lambda: {"empty": Counter(), "failed": Counter()})
    skipped: Counter = field(default_factory=Counter)

    def add(self, status: str, reason: str | None) -> None:
        self.samples += 1
        self.statuses[status] += 1
        if status in self.reasons:
            self.reasons[status][reason or "unknown"] += 1

    def summary(self) -> dict[str, Any]:
        return {
            "samples": self.samples,
            "valid": self.statuses["valid"],
            "empty": self.statuses["empty"],
            "failed": self.statuses["failed"],
            "empty_by_reason": dict(sorted(self.reasons["empty"].items())),
            "failed_by_reason": dict(sorted(self.reasons["failed"].items())),
            "skipped": dict(sorted(self.skipped.items())),
        }


class _Vote:
    """Candidates per instance; normalizes lazily from the sample files when passes disagree."""

    def __init__(self, opts: ExtractOptions) -> None:
        self.opts = opts
        self.by_instance: dict[str, list[Candidate]] = {}
        self.models: dict[str, str] = {}
        self.samples_dir = Path(opts.save_dir) / "samples"
        #: normalized keys by custom_id, computed by the pool; ``local`` computes stragglers
        self.keys: dict[str, str] = {}
        self.local = Extractor(opts.role, opts.repostructure_dir, opts.save_dir, None, 0, opts.model_name)

    def add(self, iid: str, pass_index: int, cid: str, status: str, key: str, model: str,
            norm_key: str | None = None) -> None:
        self.by_instance.setdefault(iid, []).append(Candidate(pass_index, cid, status, key))
        self.models.setdefault(iid, model)
        if norm_key is not None:
            self.keys[cid] = norm_key

    def _sample(self, cid: str) -> dict[str, Any]:
        return orjson.loads((self.samples_dir / _sample_filename(cid)).read_bytes())

    def pending_normalizations(self) -> list[tuple[str, str]]:
        """``(instance_id, custom_id)`` of one sample per distinct raw patch, where passes disagree."""
        out = []
        for iid, cands in self.by_instance.items():
            valid = sorted((c for c in cands if c.status == "valid"), key=lambda c: (c.pass_index, c.custom_id))
            firsts: dict[str, str] = {}
            for c in valid:
                firsts.setdefault(c.patch_key, c.custom_id)
            if len(firsts) > 1:
                out += [(iid, cid) for cid in firsts.values() if cid not in self.keys]
        return out

    def _normalized(self, iid: str, cand: Candidate) -> str:
        if cand.custom_id not in self.keys:
            self.keys[cand.custom_id] = self.local.normalized_key(iid, cand.custom_id)
        return self.keys[cand.custom_id]

    def predictions(self, instance_ids: list[str]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        """``(prediction, vote record)`` per instance; predictions hold only the SWE-bench fields
        (plus test_patch and test_func_name for the test writer)."""
        testwriter = self.opts.role == "testwriter"
        for iid in instance_ids:
            result = majority_vote(self.by_instance.get(iid, []), functools.partial(self._normalized, iid))
            model = self.opts.model_name or self.models.get(iid, "unknown")
            pred: dict[str, Any] = {"instance_id": iid, "model_name_or_path": model, "model_patch": ""}
            if testwriter:
                pred.update(test_patch="", test_func_name="")
            if result.winner is not None:
                rec = self._sample(result.winner.custom_id)
                pred["model_name_or_path"] = self.opts.model_name or rec.get("model") or model
                if testwriter:
                    pred.update(model_patch=rec.get("test_patch", ""), test_patch=rec.get("test_patch", ""),
                                test_func_name=rec.get("test_func_name", ""))
                else:
                    pred["model_patch"] = rec.get("model_patch", "")
            votes = {"instance_id": iid, "custom_id": result.winner.custom_id if result.winner else None,
                     "votes": result.votes, "groups": result.groups,
                     "samples": len(self.by_instance.get(iid, [])),
                     "valid": sum(1 for c in self.by_instance.get(iid, []) if c.status == "valid")}
            yield pred, votes


def _count_lines(path: Path) -> int:
    """Lines in ``path`` (a last line without its newline counts), read in 1 MiB blocks."""
    n = 0
    last = b"\n"
    with open(path, "rb") as fh:
        for block in iter(functools.partial(fh.read, 1 << 20), b""):
            n += block.count(b"\n")
            last = block[-1:]
    return n + (last != b"\n")


def check_input_file(path: Path) -> None:
    """Refuse, up front and in one line, an input that is not OpenAI Batch output JSONL (a parquet
    file, a request file, a JSON list...), instead of one malformed_line failure per line.

    Only the start of the file is read: one of its first non-empty lines must be a response line.
    """
    lines: list[bytes] = []
    with open(path, "rb") as fh:
        while len(lines) < SNIFF_LINES:
            raw = fh.readline(SNIFF_LINE_BYTES)
            if not raw:
                break
            if raw.strip():
                lines.append(raw)
    if not lines:
        raise InputError(f"{path}: empty file: pass the step-2 responses (OpenAI Batch output JSONL) as --input_file")
    first_problem = ""
    for lineno, raw in enumerate(lines, 1):
        resp, problems = parse_response(str(path), lineno, raw)
        if resp is not None:
            return
        first_problem = first_problem or (problems[0].message if problems else "not a response line")
    what = "a request file" if _looks_like_request(lines[0]) else "not OpenAI Batch output JSONL"
    raise InputError(f"{path}: {what} (line 1: {first_problem}): pass the output of 'rollout process' "
                     "(or of the Batch API) for the step-2 requests as --input_file")


def _looks_like_request(raw: bytes) -> bool:
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return False
    return isinstance(obj, dict) and "body" in obj and "response" not in obj


def _check_options(opts: ExtractOptions) -> Path:
    """The input path, once every flag and the input's format are known good (InputError if not)."""
    if opts.role not in ROLES:
        raise InputError(f"unknown role {opts.role!r}: use --role bugfixer or --role testwriter")
    input_path = Path(opts.input_file)
    if not input_path.is_file():
        raise InputError(f"{input_path}: step-2 response file not found: check --input_file")
    if not Path(opts.repostructure_dir).is_dir():
        raise InputError(f"{opts.repostructure_dir}: repo-structure folder not found: check --repostructure_dir")
    if opts.passk is not None and opts.passk < 1:
        raise InputError(f"--passk {opts.passk}: must be at least 1")
    check_input_file(input_path)
    return input_path


class _Recorder:
    """The run's output files and tallies: what each finished sample is written to and counted in.

    Opening it reads progress.jsonl back (resume): the samples already done are counted and voted
    again, and are skipped when the input is read.
    """

    def __init__(self, ctx: JobContext, opts: ExtractOptions) -> None:
        self.ctx = ctx
        self.save = Path(opts.save_dir)
        (self.save / "samples").mkdir(parents=True, exist_ok=True)
        self.tally = _Tally()
        self.vote = _Vote(opts)
        self.done: set[str] = set()
        #: instances in order of first appearance (the order predictions are written in)
        self.order: dict[str, None] = {}
        progress_path = self.save / "progress.jsonl"
        #: samples whose structure file was corrupt last time: extracted again (resume.py)
        self.retried = forget_retried(self.save)
        for _, entry in read_jsonl_objects(progress_path):
            cid = entry.get("custom_id")
            if not isinstance(cid, str) or cid in self.done:
                continue
            self.done.add(cid)
            self.tally.add(entry["status"], entry.get("reason"))
            if entry.get("reason") == "malformed_line":
                continue
            self.order.setdefault(entry["instance_id"], None)
            self.vote.add(entry["instance_id"], int(entry.get("pass") or 0), cid, entry["status"],
                          entry.get("patch_key") or "", entry.get("model") or "unknown", entry.get("norm_key"))
        self.resumed = len(self.done)
        for path in [*sorted(self.save.glob("output_*_processed.jsonl")), self.save / "failures.jsonl"]:
            drop_unrecorded_tail(path, self.done)  # a sample killed before its progress line is redone
        self.appenders: dict[int, _RawAppender] = {}
        for k in range(opts.passk or 0):
            self.appender(k)
        self.failures = JsonlAppender(self.save / "failures.jsonl")
        self.progress = JsonlAppender(progress_path)
        self._warned: set[str] = set()

    def appender(self, pass_index: int) -> _RawAppender:
        if pass_index not in self.appenders:
            self.appenders[pass_index] = _RawAppender(self.save / f"output_{pass_index}_processed.jsonl")
        return self.appenders[pass_index]

    def record(self, out: SampleOutcome) -> None:
        """Write one finished sample everywhere it goes (called in completion order)."""
        instance = out.reason != "malformed_line"  # a malformed line has no instance to speak of
        if instance:
            self.appender(out.pass_index).write(out.processed_line)
        if out.reason == "structure_invalid":
            self._warn_structure(out.detail)
        if out.status != "valid":
            self.failures.write({"instance_id": out.instance_id, "custom_id": out.custom_id, "status": out.status,
                                 "reason": out.reason, "detail": out.detail})
        self.progress.write({"custom_id": out.custom_id, "instance_id": out.instance_id, "pass": out.pass_index,
                             "status": out.status, "reason": out.reason, "patch_key": out.patch_key, "model": out.model,
                             "norm_key": out.norm_key})
        self.tally.add(out.status, out.reason)
        if instance:
            self.order.setdefault(out.instance_id, None)
            self.vote.add(out.instance_id, out.pass_index, out.custom_id, out.status, out.patch_key, out.model,
                          out.norm_key)
        valid = out.status == "valid"
        self.ctx.advance(ok=1 if valid else 0, failed=0 if valid else 1)

    def _warn_structure(self, detail: str) -> None:
        """One warning line per corrupt structure file (its path and JSON error), the first few only."""
        if detail in self._warned or len(self._warned) > WARN_STRUCTURES:
            return
        self._warned.add(detail)
        if len(self._warned) > WARN_STRUCTURES:
            self.ctx.warn(f"more structure files are invalid: see {self.save / 'failures.jsonl'} (reason structure_invalid)")
        else:
            self.ctx.warn(detail)

    def close(self) -> None:
        for a in self.appenders.values():
            a.close()
        self.failures.close()
        self.progress.close()


def _skip_reason(opts: ExtractOptions, cid: str, done: set[str], seen: set[str], wanted: set[str] | None) -> str | None:
    iid, sample = parse_custom_id(cid)
    if cid in done:
        return "already_extracted"
    if cid in seen:
        return "duplicate_custom_id"
    if wanted is not None and iid not in wanted:
        return "instance_not_in_dataset"
    if opts.passk and (sample or 0) >= opts.passk:
        return "pass_beyond_passk"
    return None


def _chunks(ctx: JobContext, opts: ExtractOptions, input_path: Path, rec: _Recorder,
            wanted: set[str] | None) -> Iterator[list[tuple[int, bytes]]]:
    """The input's lines still to extract, ``CHUNK`` at a time; the others are counted as skipped."""
    chunk: list[tuple[int, bytes]] = []
    seen: set[str] = set()
    for lineno, raw in iter_jsonl(input_path):
        cid = _peek_custom_id(raw)
        if cid is None and f"line{lineno}" in rec.done:  # a malformed line recorded by an earlier run
            skip: str | None = "already_extracted"
        else:
            skip = _skip_reason(opts, cid, rec.done, seen, wanted) if cid is not None else None
        if skip:
            rec.tally.skipped[skip] += 1
            if skip == "already_extracted":
                ctx.advance(cached=1)
            else:
                ctx.advance(skipped=1)
            continue
        if cid is not None:
            seen.add(cid)
        chunk.append((lineno, raw))
        if len(chunk) >= CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


async def _extract_all(ctx: JobContext, opts: ExtractOptions, worker_args: tuple[Any, ...],
                       chunks: Iterator[list[tuple[int, bytes]]], rec: _Recorder) -> None:
    """Extract every chunk, in worker processes (or in this one with ``num_workers`` 0)."""
    ctx.phase("extracting", f"{opts.role}, {max(opts.num_workers, 1)} worker(s)")
    try:
        if opts.num_workers <= 0:
            extractor = Extractor(*worker_args)
            for chunk in chunks:
                if ctx.stopping:
                    break
                for lineno, raw in chunk:
                    rec.record(extractor.process(lineno, raw))
                await asyncio.sleep(0)
        else:
            await _run_pool(ctx, opts.num_workers, worker_args, chunks, rec.record)
    finally:
        rec.close()


async def _vote_and_write(ctx: JobContext, opts: ExtractOptions, worker_args: tuple[Any, ...], rec: _Recorder,
                          dataset_ids: list[str] | None) -> dict[str, Any]:
    """Normalize where passes disagree, vote, write predictions (+ all_preds.jsonl), votes and
    summary.json; returns the summary."""
    vote, save = rec.vote, rec.save
    pending = vote.pending_normalizations()
    if pending and not ctx.stopping:
        ctx.phase("normalizing", f"{len(pending)} distinct patches where passes disagree")
        if opts.num_workers <= 0:
            vote.keys.update((cid, vote.local.normalized_key(iid, cid)) for iid, cid in pending)
        else:
            vote.keys.update(await _normalize_in_pool(opts.num_workers, worker_args, pending))
    ctx.phase("voting", f"{len(rec.order)} instances")
    instance_ids = list(rec.order)
    if dataset_ids is not None:
        instance_ids = [i for i in dataset_ids if i in rec.order] + [i for i in dataset_ids if i not in rec.order]
    voted = list(vote.predictions(instance_ids))  # one small record per instance
    n_preds = _atomic_write_lines(save / "predictions.jsonl", (p for p, _ in voted))
    # Agentless's name for the voted predictions, so its downstream scripts find them
    _atomic_write_lines(save / ALL_PREDS, (p for p, _ in voted))
    _atomic_write_lines(save / "votes.jsonl", (v for _, v in voted))
    nonempty = sum(1 for iid in instance_ids if any(c.status == "valid" for c in vote.by_instance.get(iid, [])))
    summary = dict(rec.tally.summary(), role=opts.role, instances=len(instance_ids), predictions=n_preds,
                   predictions_with_patch=nonempty, resumed=rec.resumed,
                   predictions_file=str(save / "predictions.jsonl"))
    (save / "summary.json").write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2))
    return summary


def _outcome(ctx: JobContext, summary: dict[str, Any], save: Path) -> JobOutcome:
    reasons = ", ".join(f"{k} {v}" for k, v in {**summary["failed_by_reason"], **summary["empty_by_reason"]}.items())
    # resumed samples count too: a rerun reports the same outcome as the first run
    bad = summary["failed"] + summary["empty"]
    message = (f"{summary['valid']} valid, {summary['empty']} empty, {summary['failed']} failed"
               f"{' (' + reasons + ')' if reasons else ''}; {summary['predictions']} predictions "
               f"({summary['predictions_with_patch']} with a patch) in {save / 'predictions.jsonl'}")
    return JobOutcome(exit_code=1 if bad and not ctx.stopping else None, message=message)


def make_extract_job(opts: ExtractOptions):
    """The job function for ``rollout agentless extract`` (run it with :func:`engine.jobs.run_job`).

    Flags and the input's format are checked here, before any run directory exists.
    """
    input_path = _check_options(opts)

    async def extract_job(ctx: JobContext) -> JobOutcome:
        dataset_ids: list[str] | None = None
        if opts.dataset:
            from engine.agentless.dataset import load_instances  # datasets is heavy: load only when asked

            ctx.phase("dataset", f"loading {opts.dataset}")
            dataset_ids = list(load_instances(opts.dataset, opts.split))
        step1 = read_step1(opts.step1_file) if opts.role == "testwriter" and opts.step1_file else None
        rec = _Recorder(ctx, opts)
        ctx.set_total(_count_lines(input_path))
        if rec.resumed:
            ctx.log(f"resuming: {rec.resumed} samples already extracted in {rec.save}")
        if rec.retried:
            ctx.log(f"extracting again {len(rec.retried)} samples whose structure file was invalid last time")
        worker_args = (opts.role, opts.repostructure_dir, opts.save_dir, step1, opts.item_timeout_s, opts.model_name)
        wanted = set(dataset_ids) if dataset_ids is not None else None
        await _extract_all(ctx, opts, worker_args, _chunks(ctx, opts, input_path, rec, wanted), rec)
        summary = await _vote_and_write(ctx, opts, worker_args, rec, dataset_ids)
        ctx.set_figures(extract=summary)
        ctx.phase("finished")
        return _outcome(ctx, summary, rec.save)

    return extract_job


class _RawAppender:
    """Appends ready-made JSON lines (the workers serialize the big records), repairing a torn tail first."""

    def __init__(self, path: Path) -> None:
        repair_torn_tail(path)
        self._fh = open(path, "ab")  # noqa: SIM115 (held open for the whole run, closed by close())

    def write(self, line: bytes) -> None:
        self._fh.write(line + b"\n")
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()


def _peek_custom_id(raw: bytes) -> str | None:
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    cid = obj.get("custom_id") if isinstance(obj, dict) else None
    return cid if isinstance(cid, str) and cid else None


def _mp_context() -> multiprocessing.context.BaseContext:
    """fork when this process has one thread (workers start in milliseconds with every module
    imported); forkserver when other threads exist (test runners, embedding apps), since forking a
    threaded process can copy a lock some other thread holds."""
    if threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    ctx = multiprocessing.get_context("forkserver")
    # the server imports this module once (when it starts), so each pool's workers fork ready
    # instead of importing it again: ~0.15 s per pool otherwise. "__main__" is the default list.
    ctx.set_forkserver_preload(["__main__", __name__])
    return ctx


async def _normalize_in_pool(workers: int, worker_args: tuple[Any, ...], pending: list[tuple[str, str]]) -> dict[str, str]:
    """Normalized keys of ``pending`` samples, computed in a process pool (ast work is CPU-bound)."""
    loop = asyncio.get_running_loop()
    # group by instance so each worker loads few structures; chunks keep both workers busy
    pending = sorted(pending)
    size = max(1, min(CHUNK, len(pending) // (2 * workers) or 1))
    chunks = [pending[i: i + size] for i in range(0, len(pending), size)]
    out: dict[str, str] = {}
    with ProcessPoolExecutor(workers, mp_context=_mp_context(), initializer=_init_worker,
                             initargs=(worker_args,)) as pool:
        for part in await asyncio.gather(*(loop.run_in_executor(pool, _normalize_chunk, c) for c in chunks)):
            out.update(part)
    return out


async def _run_pool(ctx: JobContext, workers: int, worker_args: tuple[Any, ...],
                    chunks: Iterator[list[tuple[int, bytes]]], record: Any) -> None:
    """Feed chunks to a process pool, at most ``2 * workers`` in flight, recording results in order of completion."""
    loop = asyncio.get_running_loop()
    mp = _mp_context()
    pending: set[asyncio.Future[list[SampleOutcome]]] = set()
    with ProcessPoolExecutor(workers, mp_context=mp, initializer=_init_worker, initargs=(worker_args,)) as pool:
        try:
            for chunk in chunks:
                if ctx.stopping:
                    break
                pending.add(loop.run_in_executor(pool, _process_chunk, chunk))
                ctx.set_in_flight(len(pending) * CHUNK)
                if len(pending) >= 2 * workers:
                    finished, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                    for fut in finished:
                        for out in fut.result():
                            record(out)
            while pending:
                finished, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for fut in finished:
                    for out in fut.result():
                        record(out)
        finally:
            for fut in pending:
                fut.cancel()
            with contextlib.suppress(Exception):
                pool.shutdown(wait=True, cancel_futures=True)
            ctx.set_in_flight(0)


__all__ = ["BugfixResult", "EditsKey", "ExtractOptions", "Extractor", "edits_key", "extract_bugfix", "fix_from_edits",
           "make_extract_job", "read_step1"]
