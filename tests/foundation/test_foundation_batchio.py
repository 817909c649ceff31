"""engine.batchio: every bad input gives its message with the right line; torn tails; ids."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.batchio import (
    JsonlAppender,
    iter_requests,
    iter_responses,
    make_custom_id,
    parse_custom_id,
    repair_torn_tail,
    validate_file,
)
from engine.errors import InputError


def req(cid: str, **body: object) -> str:
    b = {"model": "m", "messages": [{"role": "user", "content": "hi"}], **body}
    return json.dumps({"custom_id": cid, "method": "POST", "url": "/v1/chat/completions", "body": b})


GOOD = req("a")


@pytest.mark.parametrize(
    "lines, line_no, fragment",
    [
        ([GOOD, '{"custom_id": "b", "method": "POST",'], 2, "invalid JSON"),
        ([GOOD, req("b"), "[1, 2]"], 3, "not a JSON object"),
        (['{"method": "POST", "url": "/v1/chat/completions", "body": {}}'], 1, "missing 'custom_id'"),
        (['{"custom_id": "x", "url": "/v1/chat/completions", "body": {}}'], 1, "missing 'method'"),
        (['{"custom_id": "x", "method": "POST", "body": {}}'], 1, "missing 'url'"),
        (['{"custom_id": "x", "method": "POST", "url": "/v1/chat/completions"}'], 1, "missing 'body'"),
        ([GOOD, req("b"), GOOD], 3, "duplicate custom_id 'a' (first on line 1)"),
        ([json.dumps({"custom_id": "x", "method": "POST", "url": "/v1/images", "body": {"model": "m"}})], 1, "unsupported url"),
        ([json.dumps({"custom_id": "x", "method": "POST", "url": "/v1/chat/completions", "body": {"messages": [{"role": "user", "content": "q"}]}})], 1, "body has no 'model'"),
        ([json.dumps({"custom_id": "x", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "m"}})], 1, "body has no 'messages'"),
    ],
)
def test_each_bad_request_line_is_named_with_its_line(tmp_path: Path, lines: list[str], line_no: int, fragment: str) -> None:
    f = tmp_path / "req.jsonl"
    f.write_text("\n".join(lines) + "\n")
    problems = list(validate_file(f, "request"))
    assert len(problems) == 1, problems
    assert problems[0].line == line_no
    assert fragment in problems[0].message
    assert str(problems[0]).startswith(f"{f}:{line_no}: ")
    with pytest.raises(InputError) as exc:
        list(iter_requests(f))
    assert f"{f}:{line_no}:" in str(exc.value) and "\n" not in str(exc.value)


def test_non_utf8_bytes_are_named(tmp_path: Path) -> None:
    f = tmp_path / "req.jsonl"
    f.write_bytes(GOOD.encode() + b"\n" + b'{"custom_id": "caf\xe9"}\n')
    problems = list(validate_file(f))
    assert [p.line for p in problems] == [2]
    assert "non-UTF-8" in problems[0].message


def test_empty_and_blank_files(tmp_path: Path) -> None:
    for content in ("", "\n\n  \n"):
        f = tmp_path / "empty.jsonl"
        f.write_text(content)
        problems = list(validate_file(f))
        assert len(problems) == 1 and "empty file" in problems[0].message


def test_missing_file_is_one_problem(tmp_path: Path) -> None:
    problems = list(validate_file(tmp_path / "nope.jsonl"))
    assert len(problems) == 1 and "file not found" in str(problems[0])


def test_good_requests_stream_with_line_numbers(tmp_path: Path) -> None:
    f = tmp_path / "req.jsonl"
    f.write_text(req("a") + "\n\n" + req("b") + "\n")
    got = [(n, r.custom_id, r.model) for n, r in iter_requests(f)]
    assert got == [(1, "a", "m"), (3, "b", "m")]
    assert list(validate_file(f)) == []


def test_response_lines_parse_and_detect(tmp_path: Path) -> None:
    ok = {"id": "batch_req_1", "custom_id": "a", "response": {"status_code": 200, "request_id": "r",
          "body": {"choices": [{"message": {"content": "hello", "reasoning_content": "hmm"}}], "usage": {"prompt_tokens": 3}}}, "error": None}
    err = {"id": "batch_req_2", "custom_id": "b", "response": None, "error": {"code": "timeout", "message": "slow"}}
    f = tmp_path / "out.jsonl"
    f.write_text(json.dumps(ok) + "\n" + json.dumps(err) + "\n" + '{"custom_id": "c"}\n')
    problems = list(validate_file(f))
    assert [(p.line, p.message) for p in problems] == [(3, "neither 'response' nor 'error' is set")]
    items = [r for _, r in iter_responses(f, strict=False)]
    assert [r.custom_id for r in items] == ["a", "b"]
    assert items[0].ok and items[0].content() == "hello" and items[0].reasoning() == "hmm"
    assert items[0].usage() == {"prompt_tokens": 3}
    assert not items[1].ok and items[1].error == {"code": "timeout", "message": "slow"}
    assert items[0].to_dict()["response"]["status_code"] == 200


def test_torn_fragment_moves_to_side_file(tmp_path: Path) -> None:
    f = tmp_path / "out.jsonl"
    f.write_bytes(b'{"a": 1}\n{"b": 2}\n{"c": 3, "d": [1, 2')
    result = repair_torn_tail(f)
    assert result.action == "moved"
    assert f.read_bytes() == b'{"a": 1}\n{"b": 2}\n'
    assert (tmp_path / "out.jsonl.torn").read_bytes() == b'{"c": 3, "d": [1, 2\n'


def test_complete_last_object_without_newline_is_kept(tmp_path: Path) -> None:
    f = tmp_path / "out.jsonl"
    f.write_bytes(b'{"a": 1}\n{"b": 2}')
    assert repair_torn_tail(f).action == "kept"
    assert f.read_bytes() == b'{"a": 1}\n{"b": 2}\n'
    assert not (tmp_path / "out.jsonl.torn").exists()


def test_appender_repairs_then_appends_whole_lines(tmp_path: Path) -> None:
    f = tmp_path / "out.jsonl"
    f.write_bytes(b'{"x": 1}\n{"torn": ')
    with JsonlAppender(f) as w:
        assert w.repair.action == "moved"
        w.write({"y": 2})
        w.write({"z": "é"})
    lines = f.read_text(encoding="utf-8").splitlines()
    assert [json.loads(x) for x in lines] == [{"x": 1}, {"y": 2}, {"z": "é"}]
    assert repair_torn_tail(f).action == "none"


def test_a_file_that_is_one_torn_line(tmp_path: Path) -> None:
    f = tmp_path / "out.jsonl"
    f.write_bytes(b'{"only": "half')
    assert repair_torn_tail(f).action == "moved"
    assert f.read_bytes() == b""


@pytest.mark.parametrize(
    "cid, expected",
    [("django__django-1", ("django__django-1", None)), ("a__pass3", ("a", 3)), ("x|0", ("x", 0)),
     ("a__b__pass12", ("a__b", 12)), ("weird|name", ("weird|name", None))],
)
def test_parse_custom_id(cid: str, expected: tuple[str, int | None]) -> None:
    assert parse_custom_id(cid) == expected


def test_make_custom_id_round_trips() -> None:
    assert make_custom_id("a", 0, passk=1) == "a"
    assert make_custom_id("a", 2, passk=4) == "a__pass2"
    assert make_custom_id("a", 2, passk=4, style="pipe") == "a|2"
    for style in ("pass", "pipe"):
        assert parse_custom_id(make_custom_id("i-1", 5, passk=8, style=style)) == ("i-1", 5)
