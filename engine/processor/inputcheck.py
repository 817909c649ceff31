"""The request file's checks, streamed: every line a valid OpenAI Batch request, custom_ids
unique (engine/batchio's rules and one-line errors: file:line: what: what to do).

:func:`engine.processor.plan.prepare_run` checks the head of the file before anything is sent
(a wrong or empty file is refused with nothing written, as always); a fresh run's reader checks
the rest as it streams the lines to the workers, so the first request goes out without reading
the whole file first. A bad line or a repeated custom_id there stops the run (exit 2) before
that line is sent; what was answered before stays in the output and a rerun resumes after it.
"""

from __future__ import annotations

import os
from pathlib import Path

import orjson

from engine.batchio import BatchRequest, Problem, file_problem, id_key, iter_jsonl, parse_request
from engine.errors import InputError

#: bytes of a fresh run's input checked before the first request (the whole file when smaller):
#: a few milliseconds, and the usual mistakes (wrong file, wrong format) show on line 1
HEAD_BYTES = 4 << 20


class InputCheck:
    """The checks of one request file, line by line, remembering the custom_ids seen (a set of
    64-bit keys) to refuse a repeated one."""

    def __init__(self, path: str | os.PathLike[str], *, check_duplicates: bool = True, done: set[int] | None = None) -> None:
        self.path = Path(path)
        self.name = str(self.path)
        self.check_duplicates = check_duplicates
        self.seen: set[int] = set()
        #: keys of the ids answered already (a resume); ``already`` counts the checked lines among them
        self.done = done or set()
        self.already = 0
        #: requests checked, the number of the last line checked, the first request's body.model
        self.requests = 0
        self.last_line = 0
        self.model: str | None = None
        #: every line of the file has been checked
        self.complete = False

    def check_file(self) -> None:
        """InputError when the input is missing, a folder or empty."""
        bad = file_problem(self.path)
        if bad:
            raise InputError(str(bad))

    def check(self, lineno: int, raw: bytes) -> BatchRequest:
        """The request on line ``lineno``; InputError on the first problem of the line."""
        item, problems = parse_request(self.name, lineno, raw)
        if problems:
            raise InputError(str(problems[0]))
        assert item is not None
        if self.check_duplicates or self.done:
            key = id_key(item.custom_id)
            if key in self.done:
                self.already += 1
        if self.check_duplicates:
            if key in self.seen:
                first = self._first_line_of(key, lineno)
                raise InputError(str(Problem(self.name, lineno, f"duplicate custom_id {item.custom_id!r} (first on line "
                                             f"{first})", "make custom_ids unique, or pass --allow-duplicates")))
            self.seen.add(key)
        self.requests += 1
        self.last_line = lineno
        if self.model is None:
            self.model = item.body.get("model")
        return item

    def head(self, max_bytes: int | None = HEAD_BYTES) -> None:
        """Check lines from the top until ``max_bytes`` of them are checked (None: the whole
        file); :attr:`complete` says whether that was the whole file."""
        self.check_file()
        checked = 0
        for lineno, raw in iter_jsonl(self.path):
            if max_bytes is not None and checked >= max_bytes:
                return
            self.check(lineno, raw)
            checked += len(raw) + 1
        self.finish()

    def finish(self) -> None:
        """Every line is checked: the ids seen are not needed any more (a million of them is ~70 MB)."""
        self.complete = True
        self.seen = set()

    def _first_line_of(self, key: int, before: int) -> int | str:
        """Where a repeated custom_id first appeared (read again: only the set of keys is kept)."""
        for lineno, raw in iter_jsonl(self.path):
            if lineno >= before:
                break
            try:
                cid = orjson.loads(raw).get("custom_id")
            except (orjson.JSONDecodeError, AttributeError):
                continue
            if isinstance(cid, str) and id_key(cid) == key:
                return lineno
        return "?"


def count_lines(path: str | os.PathLike[str]) -> int:
    """Lines in ``path`` (a last line without a newline counts), read in 1 MiB blocks: an
    estimate of the request count (blank lines count too) while the reader has not seen it all."""
    lines, last = 0, b"\n"
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            lines += block.count(b"\n")
            last = block[-1:]
    return lines + (last != b"\n")
