"""Splitting a request file into parts within line and byte limits (engine/batchapi/split.py)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from engine.batchapi.options import SubmitOptions, parse_size
from engine.batchapi.split import plan_parts, write_part
from engine.batchio import id_key
from engine.errors import InputError
from fakes.batch_files import write_requests  # type: ignore[import-not-found]


def test_parts_respect_line_and_byte_limits(tmp_path: Path) -> None:
    inp = tmp_path / "in.jsonl"
    ids = write_requests(inp, 250, pad=200)
    line_size = len(inp.read_bytes().splitlines()[0]) + 1
    plan = plan_parts(inp, max_lines=100, max_bytes=40 * line_size + 10)
    assert plan.total == 250 and plan.model == "fake-model" and plan.url == "/v1/chat/completions"
    assert all(p.requests <= 40 and p.bytes <= 40 * line_size + 10 for p in plan.parts)
    assert sum(p.requests for p in plan.parts) == 250 and len(plan.parts) == 7
    # the parts cover the file in order, without gaps or overlaps, and copy out byte for byte
    seen: list[str] = []
    for n, part in enumerate(plan.parts):
        dest = tmp_path / f"p{n}.jsonl"
        lines, size = write_part(inp, part.start_byte, part.end_byte, dest)
        assert (lines, size) == (part.requests, part.bytes) == (len(dest.read_bytes().splitlines()), dest.stat().st_size)
        seen += [orjson.loads(raw)["custom_id"] for raw in dest.read_bytes().splitlines()]
    assert seen == ids
    by_lines = plan_parts(inp, max_lines=100, max_bytes=10**9)
    assert [p.requests for p in by_lines.parts] == [100, 100, 50]


def test_answered_ids_are_left_out(tmp_path: Path) -> None:
    inp = tmp_path / "in.jsonl"
    ids = write_requests(inp, 30)
    skip = {id_key(cid) for cid in ids[::2]}
    plan = plan_parts(inp, 10, 10**9, skip=skip)
    assert (plan.total, plan.skipped, sum(p.requests for p in plan.parts)) == (30, 15, 15)
    dest = tmp_path / "p.jsonl"
    lines, _ = write_part(inp, plan.parts[0].start_byte, plan.parts[0].end_byte, dest, skip=skip)
    assert lines == 10 and all(orjson.loads(r)["custom_id"] in ids[1::2] for r in dest.read_bytes().splitlines())


def _line(cid: str, model: str = "m", url: str = "/v1/chat/completions") -> bytes:
    return orjson.dumps({"custom_id": cid, "method": "POST", "url": url,
                         "body": {"model": model, "messages": [{"role": "user", "content": "x"}], "prompt": "x"}}) + b"\n"


@pytest.mark.parametrize("content, words", [
    (_line("a") + _line("a"), ["in.jsonl:2", "duplicate custom_id"]),
    (_line("a") + _line("b", model="other"), ["in.jsonl:2", "one model"]),
    (_line("a") + _line("b", url="/v1/completions"), ["in.jsonl:2", "url"]),
    (_line("a") + b"{not json\n", ["in.jsonl:2", "invalid JSON"]),
    (b"", ["empty"]),
])
def test_bad_files_are_one_line_input_errors(tmp_path: Path, content: bytes, words: list[str]) -> None:
    inp = tmp_path / "in.jsonl"
    inp.write_bytes(content)
    with pytest.raises(InputError) as exc:
        plan_parts(inp, 100, 10**9)
    assert all(w in str(exc.value) for w in words) and "\n" not in str(exc.value)


def test_a_line_over_the_byte_limit_is_refused(tmp_path: Path) -> None:
    inp = tmp_path / "in.jsonl"
    write_requests(inp, 3, pad=3000)
    with pytest.raises(InputError, match="--split-bytes"):
        plan_parts(inp, 100, 2000)


def test_sizes_and_argv() -> None:
    assert parse_size("200MB") == 200_000_000 and parse_size("1GiB") == 2**30 and parse_size("512kB") == 512_000
    opts = SubmitOptions(input=Path("in.jsonl"), split_bytes="2MB", split_lines=100, url="http://h")
    assert opts.argv() == ["rollout", "batch", "submit", "--url", "http://h", "--input", "in.jsonl", "--split-lines",
                           "100", "--split-bytes", "2000000"]
    with pytest.raises(ValueError):
        SubmitOptions(input=Path("x"), split_bytes="lots")
