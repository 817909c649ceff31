"""Split a request file into parts within the hosted API's line and byte limits, streamed.

:func:`plan_parts` reads the file once, line by line (memory does not grow with it): it checks
every line with :func:`engine.batchio.parse_request` (InputError naming file:line on the first
bad one), refuses repeated custom_ids, more than one model or more than one url (a batch has one
of each), and cuts contiguous byte ranges of at most ``max_lines`` requests and ``max_bytes``
bytes. :func:`write_part` copies one range into a part file, leaving out ids already answered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from engine.batchio import id_key, parse_request
from engine.errors import InputError
from engine.processor.ratelimit import estimate_tokens


@dataclass
class PartRange:
    """Input lines ``first_line..last_line`` at bytes ``[start_byte, end_byte)``: ``requests``
    lines to send (ids already answered left out), ``bytes`` in the part file."""

    first_line: int
    last_line: int
    start_byte: int
    end_byte: int
    requests: int = 0
    bytes: int = 0


@dataclass
class SplitPlan:
    """What the checking pass found."""

    parts: list[PartRange] = field(default_factory=list)
    total: int = 0
    skipped: int = 0
    model: str | None = None
    url: str | None = None
    prompt_tokens: int = 0
    max_completion_tokens: int = 0


def iter_lines_at(path: Path, start: int = 0, end: int | None = None) -> Iterator[tuple[int, bytes]]:
    """``(byte offset, raw line without its line end)`` of the non-blank lines in ``[start, end)``."""
    with open(path, "rb", buffering=1 << 20) as fh:
        fh.seek(start)
        offset = start
        for raw in fh:
            if end is not None and offset >= end:
                return
            here = offset
            offset += len(raw)
            line = raw.rstrip(b"\r\n")
            if line.strip():
                yield here, line


def plan_parts(path: Path, max_lines: int, max_bytes: int, *, skip: set[int] | None = None,
               allow_duplicates: bool = False) -> SplitPlan:
    """Check ``path`` and cut it into parts; ids in ``skip`` (answered already) are not sent.

    Raises InputError (exit 2): a bad line, a repeated id, a second model or url, a line longer
    than ``max_bytes``, or nothing left to send is not an error (``parts`` is empty then).
    """
    if not path.exists():
        raise InputError(f"{path}: file not found: check the --input path")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not a JSONL file: pass the request file")
    plan = SplitPlan()
    seen: dict[int, int] = {}
    current: PartRange | None = None
    lineno = 0
    name = str(path)
    with open(path, "rb", buffering=1 << 20) as fh:
        offset = 0
        for raw in fh:
            lineno += 1
            here = offset
            offset += len(raw)
            line = raw.rstrip(b"\r\n")
            if not line.strip():
                continue
            req, problems = parse_request(name, lineno, line)
            if problems:
                raise InputError(str(problems[0]))
            assert req is not None
            key = id_key(req.custom_id)
            if not allow_duplicates:
                first = seen.setdefault(key, lineno)
                if first != lineno:
                    raise InputError(f"{name}:{lineno}: duplicate custom_id {req.custom_id!r} (first on line {first}): "
                                     "a batch matches answers by custom_id: make them unique")
            model = req.body.get("model")
            if plan.model is None:
                plan.model, plan.url = model, req.url
            elif model != plan.model:
                raise InputError(f"{name}:{lineno}: model {model!r} differs from {plan.model!r} on the first line: "
                                 "a batch file holds one model: split the file by model")
            elif req.url != plan.url:
                raise InputError(f"{name}:{lineno}: url {req.url!r} differs from {plan.url!r} on the first line: "
                                 "a batch has one endpoint: split the file by url")
            plan.total += 1
            if skip and key in skip:
                plan.skipped += 1
                continue
            size = len(line) + 1
            if size > max_bytes:
                raise InputError(f"{name}:{lineno}: the request is {size:,} bytes, more than --split-bytes "
                                 f"{max_bytes:,}: shorten it or raise the limit")
            max_tokens = req.body.get("max_tokens") or req.body.get("max_completion_tokens") or 0
            plan.prompt_tokens += int(estimate_tokens(len(line)))
            plan.max_completion_tokens += int(max_tokens) if isinstance(max_tokens, int) else 0
            if current is None or current.requests >= max_lines or current.bytes + size > max_bytes:
                current = PartRange(first_line=lineno, last_line=lineno, start_byte=here, end_byte=offset)
                plan.parts.append(current)
            current.last_line = lineno
            current.end_byte = offset
            current.requests += 1
            current.bytes += size
    if plan.total == 0:
        raise InputError(f"{name}: empty file: a batch file needs at least one request line")
    return plan


def write_part(source: Path, start: int, end: int, dest: Path, *, skip: set[int] | None = None) -> tuple[int, int]:
    """Copy the request lines of ``source[start:end]`` to ``dest`` (newline-terminated), leaving
    out the ids in ``skip``. Returns ``(lines, bytes)`` written."""
    import orjson

    lines = size = 0
    with open(dest, "wb", buffering=1 << 20) as out:
        for _, line in iter_lines_at(source, start, end):
            if skip:
                try:
                    cid = orjson.loads(line)["custom_id"]
                except (orjson.JSONDecodeError, KeyError, TypeError):
                    cid = None
                if cid is not None and id_key(cid) in skip:
                    continue
            out.write(line + b"\n")
            lines += 1
            size += len(line) + 1
    return lines, size
