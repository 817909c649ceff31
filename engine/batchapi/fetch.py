"""Fetch a finished part: its output and error files, appended to our output and errors files
exactly once per custom_id.

The output and errors files are the processor's (engine/processor): answers (status 200) go to
the output, failures to the errors file, each line appended and flushed by
:class:`engine.batchio.JsonlAppender` (a torn tail is repaired on open). Which ids are already
there comes from the processor's resume scan (:func:`engine.processor.resume.scan_done`) plus
the ids of the errors file, so a fetch killed half-way and run again writes nothing twice.
Lines whose ``error.code`` is ``batch_expired`` or ``batch_cancelled`` are requests the batch
never ran: they are not failures and are not written; ``resubmit`` sends them again.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from engine.batchapi.client import BatchClient
from engine.batchapi.record import BatchRecord, PartRecord
from engine.batchio import JsonlAppender, id_key, read_jsonl_objects, repair_torn_tail
from engine.processor.job import _move_aside
from engine.processor.options import ProcessOptions
from engine.processor.plan import lock_output
from engine.processor.resume import scan_done

#: error codes of requests a batch never ran (the hosted API lists them in its error file)
UNANSWERED_CODES = frozenset({"batch_expired", "batch_cancelled"})


@dataclass
class Sink:
    """Our output and errors files, and the ids they already hold."""

    output: Path
    errors: Path
    done: set[int]
    lock: Any = None
    written_ok: int = 0
    written_failed: int = 0
    _out: JsonlAppender | None = None
    _err: JsonlAppender | None = None
    warnings: list[str] = field(default_factory=list)

    def write(self, obj: dict[str, Any], ok: bool) -> None:
        if ok:
            if self._out is None:
                self._out = JsonlAppender(self.output)
            self._out.write(obj)
            self.written_ok += 1
        else:
            if self._err is None:  # opened on the first failure: a clean run leaves no errors file
                self._err = JsonlAppender(self.errors)
            self._err.write(obj)
            self.written_failed += 1

    def close(self) -> None:
        for app in (self._out, self._err):
            if app is not None:
                app.close()
        if self.lock is not None:
            from engine.processor.plan import _unlock

            _unlock(self.lock)
            self.lock = None


def open_sink(record: BatchRecord, output: Path, errors: Path) -> Sink:
    """Lock ``output`` (as ``rollout process`` does), repair torn tails, and scan the ids done.

    The first fetch of a run moves an errors file left by an earlier run aside (never deleted):
    its ids were submitted again and their new answers belong in the new file.
    """
    lock = lock_output(ProcessOptions(input=Path(record.input["path"]), output=output))
    sink = Sink(output, errors, set(), lock)
    try:
        for path in (output, errors):
            repair = repair_torn_tail(path)
            if repair.action == "moved":
                sink.warnings.append(f"{path}: a torn last line ({repair.nbytes} bytes) was moved to {repair.side_file}")
        if not record.errors_owned and errors.exists() and errors.stat().st_size > 0:
            moved = _move_aside(errors, _dt.datetime.now().strftime("%Y%m%d-%H%M%S"))
            sink.warnings.append(f"earlier failures in {errors} moved to {moved}")
        record.errors_owned = True
        sink.done = scan_done(output)
        for _, obj in read_jsonl_objects(errors):
            cid = obj.get("custom_id")
            if isinstance(cid, str):
                sink.done.add(id_key(cid))
    except BaseException:
        sink.close()
        raise
    return sink


def classify(obj: dict[str, Any]) -> str:
    """``ok``, ``failed`` or ``unanswered`` for one line of a batch's output or error file."""
    error = obj.get("error")
    if isinstance(error, dict) and error.get("code") in UNANSWERED_CODES:
        return "unanswered"
    resp = obj.get("response")
    if error is None and isinstance(resp, dict) and resp.get("status_code") == 200 and isinstance(resp.get("body"), dict):
        return "ok"
    return "failed"


def _usage(obj: dict[str, Any]) -> tuple[int, int, int]:
    body = (obj.get("response") or {}).get("body") or {}
    usage = body.get("usage") if isinstance(body, dict) else None
    if not isinstance(usage, dict):
        return 0, 0, 0
    details = usage.get("prompt_tokens_details")
    cached = details.get("cached_tokens", 0) if isinstance(details, dict) else 0
    return int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0), int(cached or 0)


async def fetch_part(client: BatchClient, part: PartRecord, sink: Sink, on_line: Any = None) -> None:
    """Download ``part``'s output and error files into ``sink``; set its ok/failed/unanswered/usage.

    The counts describe the part's files (whether a line is written now or was written by an
    earlier, interrupted fetch), so they are exact however often a fetch is repeated.
    """
    ok = failed = 0
    prompt = completion = cached = 0
    seen: set[int] = set()
    for file_id in (part.output_file_id, part.error_file_id):
        if not file_id:
            continue
        async for raw in client.iter_file_lines(file_id):
            try:
                obj = orjson.loads(raw)
            except orjson.JSONDecodeError:
                sink.warnings.append(f"{part.label}: a line of file {file_id} is not JSON: skipped")
                continue
            cid = obj.get("custom_id") if isinstance(obj, dict) else None
            if not isinstance(cid, str):
                continue
            kind = classify(obj)
            if kind == "unanswered":
                continue
            key = id_key(cid)
            if key in seen:
                continue  # the same id twice in one part's files: the first counts
            seen.add(key)
            if kind == "ok":
                ok += 1
                p, c, k = _usage(obj)
                prompt, completion, cached = prompt + p, completion + c, cached + k
            else:
                failed += 1
            if key in sink.done:
                continue
            line = {"id": obj.get("id") or "", "custom_id": cid, "response": obj.get("response"),
                    "error": obj.get("error")}
            if kind == "failed":
                err = obj.get("error")
                resp = obj.get("response") or {}
                reason = (err.get("code") if isinstance(err, dict) else None) or f"http_{resp.get('status_code')}"
                line.update(reason=reason, batch_id=part.batch_id)
            sink.write(line, kind == "ok")
            sink.done.add(key)
            if on_line is not None:
                on_line(kind)
    part.ok, part.failed = ok, failed
    part.unanswered = max(0, part.requests - ok - failed)
    part.usage = {"prompt": prompt, "completion": completion, "cached": cached}
    part.fetched = True
