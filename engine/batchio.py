"""OpenAI Batch API request and response lines: typed, streamed, validated, appended safely.

* :func:`iter_jsonl` streams ``(line number, raw line)`` without loading the file.
* :func:`validate_file` yields every :class:`Problem` of a request or response file.
* :func:`iter_requests` / :func:`iter_responses` yield typed items and raise :class:`InputError`
  (exit 2) naming file and line on the first bad one.
* :class:`JsonlAppender` appends one flushed line at a time and, on open, repairs a torn last
  line left by a crash: a complete JSON object gets its newline, anything else is moved to
  ``<file>.torn`` (never silently dropped).
* custom_id helpers for ``<id>__pass<N>`` and Agentless's ``<id>|<N>``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Iterable, Iterator, Literal

import orjson

from engine.errors import InputError

SUPPORTED_URLS = ("/v1/chat/completions", "/v1/completions")
FileKind = Literal["request", "response"]

_PASS_RE = re.compile(r"^(?P<id>.+)__pass(?P<n>\d+)$")
_PIPE_RE = re.compile(r"^(?P<id>.+)\|(?P<n>\d+)$")


# -- custom ids ------------------------------------------------------------------------------
def make_custom_id(instance_id: str, sample: int | None = None, passk: int = 1, style: str = "pass") -> str:
    """``<instance_id>`` for one sample, ``<instance_id>__pass<N>`` (or ``<id>|<N>``) for pass@k."""
    if sample is None or (passk <= 1 and style == "pass"):
        return instance_id
    return f"{instance_id}|{sample}" if style == "pipe" else f"{instance_id}__pass{sample}"


def parse_custom_id(custom_id: str) -> tuple[str, int | None]:
    """``(instance_id, sample)``; sample is None for a plain id. Accepts both pass@k forms."""
    m = _PASS_RE.match(custom_id) or _PIPE_RE.match(custom_id)
    if m:
        return m.group("id"), int(m.group("n"))
    return custom_id, None


def id_key(custom_id: str) -> int:
    """A 64-bit key for a custom_id: sets of a million of them stay small."""
    return int.from_bytes(hashlib.blake2b(custom_id.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little")


def body_hash(body: Any) -> str:
    """A stable hash of a request body (sorted keys) for caches keyed by custom_id + body."""
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


# -- typed lines -----------------------------------------------------------------------------
@dataclass
class BatchRequest:
    """One request line: ``{"custom_id", "method", "url", "body"}``."""

    custom_id: str
    body: dict[str, Any]
    method: str = "POST"
    url: str = "/v1/chat/completions"

    def to_dict(self) -> dict[str, Any]:
        return {"custom_id": self.custom_id, "method": self.method, "url": self.url, "body": self.body}

    @property
    def model(self) -> str | None:
        return self.body.get("model")


@dataclass
class BatchResponse:
    """One output line: ``{"id", "custom_id", "response": {...}|null, "error": {...}|null}``."""

    custom_id: str
    status_code: int | None = None
    body: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    id: str | None = None
    request_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status_code == 200 and self.error is None and self.body is not None

    def to_dict(self) -> dict[str, Any]:
        response = None
        if self.status_code is not None:
            response = {"status_code": self.status_code, "request_id": self.request_id or "", "body": self.body}
        out = {"id": self.id or "", "custom_id": self.custom_id, "response": response, "error": self.error}
        out.update(self.extra)
        return out

    def message(self) -> dict[str, Any]:
        """The first choice's message (``{}`` when absent)."""
        try:
            return (self.body or {})["choices"][0]["message"] or {}
        except (KeyError, IndexError, TypeError):
            return {}

    def content(self) -> str:
        """The answer text of the first choice (chat ``message.content`` or completion ``text``)."""
        msg = self.message()
        if msg:
            return msg.get("content") or ""
        try:
            return (self.body or {})["choices"][0].get("text") or ""
        except (KeyError, IndexError, TypeError, AttributeError):
            return ""

    def reasoning(self) -> str:
        msg = self.message()
        return msg.get("reasoning_content") or msg.get("reasoning") or ""

    def usage(self) -> dict[str, int]:
        usage = (self.body or {}).get("usage") or {}
        return usage if isinstance(usage, dict) else {}


@dataclass
class Problem:
    """One thing wrong with one line of a file."""

    path: str
    line: int
    message: str
    hint: str = ""

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.message}" + (f": {self.hint}" if self.hint else "")


# -- reading ---------------------------------------------------------------------------------
def iter_jsonl(path: str | os.PathLike[str]) -> Iterator[tuple[int, bytes]]:
    """``(line number, raw line without newline)`` for each non-blank line, streamed."""
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            raw = raw.rstrip(b"\r\n")
            if raw and not raw.isspace():  # (not .strip(): no copy of every line)
                yield lineno, raw


def _decode(path: str, lineno: int, raw: bytes) -> tuple[Any, Problem | None]:
    try:
        return orjson.loads(raw), None  # orjson checks the UTF-8 itself: no second pass over good lines
    except orjson.JSONDecodeError as exc:
        json_error = exc
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, Problem(path, lineno, f"non-UTF-8 bytes at column {exc.start + 1}", "save the file as UTF-8")
    return None, Problem(path, lineno, f"invalid JSON ({json_error.msg} at column {json_error.colno})", "fix or remove the line")


def parse_request(path: str, lineno: int, raw: bytes, urls: Iterable[str] = SUPPORTED_URLS) -> tuple[BatchRequest | None, list[Problem]]:
    """Parse and check one request line; the problems say what is wrong and what to do."""
    obj, problem = _decode(path, lineno, raw)
    if problem:
        return None, [problem]
    if not isinstance(obj, dict):
        return None, [Problem(path, lineno, f"not a JSON object (got {type(obj).__name__})", "each line must be one request object")]
    problems: list[Problem] = []
    missing = [key for key in ("custom_id", "method", "url", "body") if key not in obj]
    if missing:
        names = ", ".join(f"'{k}'" for k in missing)
        return None, [Problem(path, lineno, f"missing {names}", 'a request line is {"custom_id", "method", "url", "body"}')]
    cid, method, url, body = obj["custom_id"], obj["method"], obj["url"], obj["body"]
    if not isinstance(cid, str) or not cid:
        problems.append(Problem(path, lineno, "custom_id must be a non-empty string"))
    if method != "POST":
        problems.append(Problem(path, lineno, f"unsupported method {method!r}", "use POST"))
    urls = tuple(urls)
    if url not in urls:
        problems.append(Problem(path, lineno, f"unsupported url {url!r}", f"use one of {', '.join(urls)}"))
    if not isinstance(body, dict):
        problems.append(Problem(path, lineno, "body is not a JSON object"))
    else:
        if not body.get("model"):
            problems.append(Problem(path, lineno, "body has no 'model'", "set body.model (one model per file)"))
        if url == "/v1/chat/completions":
            msgs = body.get("messages")
            if not isinstance(msgs, list) or not msgs:
                problems.append(Problem(path, lineno, "body has no 'messages'", "a chat request needs a non-empty messages list"))
        elif url == "/v1/completions" and "prompt" not in body:
            problems.append(Problem(path, lineno, "body has no 'prompt'", "a completions request needs a prompt"))
    if problems:
        return None, problems
    return BatchRequest(custom_id=cid, body=body, method=method, url=url), []


def parse_response(path: str, lineno: int, raw: bytes) -> tuple[BatchResponse | None, list[Problem]]:
    """Parse and check one output line (OpenAI Batch output or error-file shape)."""
    obj, problem = _decode(path, lineno, raw)
    if problem:
        return None, [problem]
    if not isinstance(obj, dict):
        return None, [Problem(path, lineno, f"not a JSON object (got {type(obj).__name__})", "each line must be one response object")]
    cid = obj.get("custom_id")
    if not isinstance(cid, str) or not cid:
        return None, [Problem(path, lineno, "missing 'custom_id'", 'a response line is {"id", "custom_id", "response", "error"}')]
    response, error = obj.get("response"), obj.get("error")
    if response is None and error is None:
        return None, [Problem(path, lineno, "neither 'response' nor 'error' is set", "a response line needs one of them")]
    status = body = request_id = None
    if response is not None:
        if not isinstance(response, dict) or not isinstance(response.get("status_code"), int):
            return None, [Problem(path, lineno, "response has no integer 'status_code'")]
        status, body, request_id = response["status_code"], response.get("body"), response.get("request_id")
        if body is not None and not isinstance(body, dict):
            return None, [Problem(path, lineno, "response.body is not a JSON object")]
    if error is not None and not isinstance(error, dict):
        return None, [Problem(path, lineno, "error is not a JSON object")]
    extra = {k: v for k, v in obj.items() if k not in ("id", "custom_id", "response", "error")}
    return BatchResponse(custom_id=cid, status_code=status, body=body, error=error, id=obj.get("id"),
                         request_id=request_id, extra=extra), []


def detect_kind(path: str | os.PathLike[str], *, strict: bool = False) -> FileKind:
    """Request or response file, judged by the first line that parses as an object.

    ``strict``: InputError (naming file:line) when the first line is not a JSON object.
    """
    for lineno, raw in iter_jsonl(path):
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError:
            if strict:
                raise InputError(f"{path}:{lineno}: not a JSON line: expected an OpenAI Batch line per line") from None
            continue
        if strict and not isinstance(obj, dict):
            raise InputError(f"{path}:{lineno}: a JSON {type(obj).__name__}, not an object: expected an OpenAI Batch line")
        if isinstance(obj, dict):
            return "response" if ("response" in obj or "error" in obj) and "body" not in obj else "request"
    return "request"


def first_bad_json_line(path: str | os.PathLike[str]) -> int | None:
    """The number of the first non-blank line of a JSONL file that is not a JSON object, if any."""
    for lineno, raw in iter_jsonl(path):
        try:
            if not isinstance(orjson.loads(raw), dict):
                return lineno
        except orjson.JSONDecodeError:
            return lineno
    return None


def file_problem(path: Path) -> Problem | None:
    """What makes ``path`` unusable as a JSONL file (missing, a folder, empty), or None."""
    if not path.exists():
        return Problem(str(path), 0, "file not found", "check the path")
    if path.is_dir():
        return Problem(str(path), 0, "is a folder, not a JSONL file")
    if path.stat().st_size == 0 or not any(True for _ in iter_jsonl(path)):
        return Problem(str(path), 1, "empty file", "a batch file needs at least one line")
    return None


def validate_file(
    path: str | os.PathLike[str], kind: FileKind | None = None, *, allow_duplicates: bool = False
) -> Iterator[Problem]:
    """Every problem of a request or response file, in line order, streamed."""
    p = Path(path)
    bad = file_problem(p)
    if bad:
        yield bad
        return
    kind = kind or detect_kind(p)
    seen: dict[int, int] = {}
    for lineno, raw in iter_jsonl(p):
        item: BatchRequest | BatchResponse | None
        if kind == "request":
            item, problems = parse_request(str(p), lineno, raw)
        else:
            item, problems = parse_response(str(p), lineno, raw)
        yield from problems
        if item is not None and not allow_duplicates:
            key = id_key(item.custom_id)
            first = seen.setdefault(key, lineno)
            if first != lineno:
                yield Problem(str(p), lineno, f"duplicate custom_id {item.custom_id!r} (first on line {first})",
                              "custom_ids must be unique in a file")


def iter_requests(path: str | os.PathLike[str], *, check_duplicates: bool = True) -> Iterator[tuple[int, BatchRequest]]:
    """Typed requests, streamed; raises InputError (file:line: what: what to do) on the first bad line."""
    p = Path(path)
    bad = file_problem(p)
    if bad:
        raise InputError(str(bad))
    seen: dict[int, int] = {}
    for lineno, raw in iter_jsonl(p):
        item, problems = parse_request(str(p), lineno, raw)
        if problems:
            raise InputError(str(problems[0]))
        assert item is not None
        if check_duplicates:
            first = seen.setdefault(id_key(item.custom_id), lineno)
            if first != lineno:
                raise InputError(str(Problem(str(p), lineno, f"duplicate custom_id {item.custom_id!r} (first on line {first})",
                                             "make custom_ids unique, or pass --allow-duplicates")))
        yield lineno, item


def iter_responses(path: str | os.PathLike[str], *, strict: bool = True) -> Iterator[tuple[int, BatchResponse]]:
    """Typed response lines, streamed. strict: raise on a bad line; else skip it (torn tails etc.)."""
    p = Path(path)
    if strict:
        bad = file_problem(p)
        if bad:
            raise InputError(str(bad))
    elif not p.exists():
        return
    for lineno, raw in iter_jsonl(p):
        item, problems = parse_response(str(p), lineno, raw)
        if problems:
            if strict:
                raise InputError(str(problems[0]))
            continue
        assert item is not None
        yield lineno, item


# -- writing ---------------------------------------------------------------------------------
@dataclass
class TornRepair:
    """What :func:`repair_torn_tail` did: ``kept`` a complete last object, or ``moved`` bytes aside."""

    action: Literal["none", "kept", "moved"]
    nbytes: int = 0
    side_file: str | None = None


def line_start(fh: BinaryIO, end: int) -> int:
    """The offset where the line holding byte ``end - 1`` starts: just after the last newline
    before ``end`` (0 when there is none), read backwards in 64 KiB blocks."""
    pos = end
    while pos > 0:
        step = min(1 << 16, pos)
        pos -= step
        fh.seek(pos)
        idx = fh.read(step).rfind(b"\n")
        if idx >= 0:
            return pos + idx + 1
    return 0


def repair_torn_tail(path: str | os.PathLike[str]) -> TornRepair:
    """Make ``path`` end in a newline. A complete JSON object is kept; a fragment goes to ``.torn``."""
    p = Path(path)
    if not p.exists() or p.stat().st_size == 0:
        return TornRepair("none")
    with open(p, "rb+") as fh:
        size = fh.seek(0, os.SEEK_END)
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            return TornRepair("none")
        cut = line_start(fh, size)
        fh.seek(cut)
        tail = fh.read(size - cut)
        try:
            complete = isinstance(orjson.loads(tail), dict)
        except orjson.JSONDecodeError:
            complete = False
        if complete:
            fh.seek(size)
            fh.write(b"\n")
            return TornRepair("kept", len(tail))
        side = p.with_name(p.name + ".torn")
        with open(side, "ab") as sf:
            sf.write(tail + b"\n")
            sf.flush()
            os.fsync(sf.fileno())
        fh.truncate(cut)
        return TornRepair("moved", len(tail), str(side))


class JsonlAppender:
    """Append-only JSONL writer: one ``write`` = one complete line, written to the OS at once.

    A process killed at any point leaves at most one torn last line, which the next open repairs.
    A write that fails (disk full, file-size limit) is cut back to the line's start, so nothing
    torn is left, and raises OSError naming the file.
    """

    def __init__(self, path: str | os.PathLike[str], *, fsync_every: int = 0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.repair = repair_torn_tail(self.path)
        # unbuffered: each line is one write(2), and a failed one leaves nothing queued to retry
        self._fh: BinaryIO = open(self.path, "ab", buffering=0)
        self._size = os.fstat(self._fh.fileno()).st_size
        self._fsync_every = fsync_every
        self._since_sync = 0
        self.lines_written = 0

    def write(self, obj: Any) -> None:
        data = orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n"
        fd = self._fh.fileno()
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, self._size)  # no half line stays behind
            raise OSError(exc.errno, exc.strerror, str(self.path)) from None
        self._size += len(data)
        self.lines_written += 1
        if self._fsync_every:
            self._since_sync += 1
            if self._since_sync >= self._fsync_every:
                os.fsync(fd)
                self._since_sync = 0

    def close(self) -> None:
        if not self._fh.closed:
            with contextlib.suppress(OSError):
                os.fsync(self._fh.fileno())
            self._fh.close()

    def __enter__(self) -> "JsonlAppender":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_jsonl_objects(path: str | os.PathLike[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Objects of any JSONL file, streamed, skipping lines that are not JSON objects (torn tails)."""
    p = Path(path)
    if not p.exists():
        return
    for lineno, raw in iter_jsonl(p):
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError:
            continue
        if isinstance(obj, dict):
            yield lineno, obj
