"""Perturbed step-2 answers: each gives its documented outcome (see engine/rollout/apply.py).

| perturbation                          | outcome                                             |
| ------------------------------------- | --------------------------------------------------- |
| whole block indented 4 more spaces    | valid, mode "whitespace", replacement re-indented   |
| trailing spaces on SEARCH lines       | valid, mode "whitespace"                            |
| CRLF line ends in the answer          | valid, exact                                        |
| no "### path" header, file named      | valid: placed in the one named file holding SEARCH  |
| no header and no file named           | failed, missing_file_header                         |
| SEARCH occurring twice                | failed, ambiguous_search (nothing applied there)    |
| SEARCH not in the file                | failed, search_not_found                            |
| answer cut inside a block             | failed, truncated (no prediction from it)           |
| answer only in reasoning              | empty, reasoning_only                               |
| drafts in reasoning, answer after it  | valid (drafts ignored)                              |
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from engine.agentless.extract.edits import parse_edits
from engine.agentless.extract.stage3 import extract_bugfix

from .helpers import as_response, content_of, structure_for, with_content

INSTANCES = ["psf__requests-1963", "psf__requests-2148", "psf__requests-2317", "psf__requests-2674",
             "psf__requests-3362", "psf__requests-863", "pallets__flask-4045", "pallets__flask-4992",
             "pallets__flask-5063"]
_BLOCK_RE = re.compile(r"(<<<<<<< SEARCH\n)(.*?)(\n=======\n)(.*?)(\n>>>>>>> REPLACE)", re.DOTALL)


def map_blocks(answer: str, search: Callable[[str], str], replace: Callable[[str], str]) -> str:
    """Rewrite every line of every SEARCH and REPLACE body (plain string work, not our parser)."""
    def lines(fn: Callable[[str], str], body: str) -> str:
        return "\n".join(fn(line) for line in body.split("\n"))

    return _BLOCK_RE.sub(lambda m: m.group(1) + lines(search, m.group(2)) + m.group(3) + lines(replace, m.group(4)) + m.group(5), answer)


def run(fixtures_dir: Path, line: dict[str, Any], content: str | None = None, **message: Any):
    obj = line if content is None and not message else with_content(line, content, **message)
    iid = line["custom_id"]
    return extract_bugfix(as_response(obj), structure_for(fixtures_dir, iid))


def assert_gold(result, manifest: dict[str, Any], iid: str) -> None:
    assert result.status == "valid", (result.reason, result.detail)
    for path, new in zip(result.edited_files, result.new_file_content):
        assert hashlib.sha256(new.encode()).hexdigest() == manifest[iid]["gold_after_sha256"][path]


def indent4(line: str) -> str:
    return "    " + line if line.strip() else line


@pytest.mark.parametrize("iid", INSTANCES)
def test_wrong_indentation_is_reindented(iid: str, fixtures_dir: Path, manifest, step2_lines) -> None:
    answer = map_blocks(content_of(step2_lines[iid]), indent4, indent4)
    result = run(fixtures_dir, step2_lines[iid], answer)
    assert_gold(result, manifest, iid)
    assert {e["mode"] for e in result.edits} == {"whitespace"}


@pytest.mark.parametrize("iid", INSTANCES)
def test_trailing_spaces_in_search(iid: str, fixtures_dir: Path, manifest, step2_lines) -> None:
    answer = map_blocks(content_of(step2_lines[iid]), lambda s: s + "  ", lambda s: s)
    result = run(fixtures_dir, step2_lines[iid], answer)
    assert_gold(result, manifest, iid)
    assert {e["mode"] for e in result.edits} == {"whitespace"}


@pytest.mark.parametrize("iid", INSTANCES)
def test_crlf_answer(iid: str, fixtures_dir: Path, manifest, step2_lines) -> None:
    answer = content_of(step2_lines[iid]).replace("\n", "\r\n")
    result = run(fixtures_dir, step2_lines[iid], answer)
    assert_gold(result, manifest, iid)
    assert {e["mode"] for e in result.edits} == {"exact"}


@pytest.mark.parametrize("iid", INSTANCES)
def test_missing_header_with_the_file_named_in_prose(iid: str, fixtures_dir: Path, manifest, step2_lines) -> None:
    answer = re.sub(r"^### .*\n", "", content_of(step2_lines[iid]), flags=re.MULTILINE)
    assert "### " not in answer
    result = run(fixtures_dir, step2_lines[iid], answer)
    assert_gold(result, manifest, iid)


def test_missing_header_and_no_file_named(fixtures_dir: Path, step2_lines) -> None:
    iid = "psf__requests-1963"
    answer = re.sub(r"^### .*\n", "", content_of(step2_lines[iid]), flags=re.MULTILINE)
    answer = answer.replace("`requests/sessions.py`", "the sessions module")
    result = run(fixtures_dir, step2_lines[iid], answer)
    assert (result.status, result.reason) == ("failed", "missing_file_header")
    assert result.model_patch == "" and result.raw_model_patch == ""


def test_ambiguous_search_is_never_applied(fixtures_dir: Path, step2_lines) -> None:
    iid = "psf__requests-1963"
    text = structure_for(fixtures_dir, iid).file_text("requests/sessions.py")
    assert text.count("        return request_setting\n") == 2
    answer = ("```python\n### requests/sessions.py\n<<<<<<< SEARCH\n        return request_setting\n=======\n"
              "        return None\n>>>>>>> REPLACE\n```\n")
    result = run(fixtures_dir, step2_lines[iid], answer)
    assert (result.status, result.reason) == ("failed", "ambiguous_search")
    assert "2 times" in result.detail
    assert result.raw_model_patch == "" and result.edited_files == []
    # whitespace-tolerant matching is ambiguous too, and still not applied
    result = run(fixtures_dir, step2_lines[iid], answer.replace("        return request_setting", "  return request_setting"))
    assert (result.status, result.reason) == ("failed", "ambiguous_search")


def test_search_not_found(fixtures_dir: Path, step2_lines) -> None:
    iid = "psf__requests-2317"
    answer = content_of(step2_lines[iid]).replace("method = builtin_str(method)\n\n        # Create",
                                                  "method = builtin_str(method)  # nope\n\n        # Create")
    result = run(fixtures_dir, step2_lines[iid], answer)
    assert (result.status, result.reason) == ("failed", "search_not_found")
    # the first block applied, so the raw patch shows it; no prediction comes from a failed sample
    assert result.model_patch == "" and "builtin_str\n" in result.raw_model_patch
    assert [e["ok"] for e in result.edits] == [True, False]


@pytest.mark.parametrize("cut_in", ["replace", "search"])
def test_truncated_answer(cut_in: str, fixtures_dir: Path, step2_lines) -> None:
    iid = "pallets__flask-4992"
    answer = content_of(step2_lines[iid])
    last = answer.rindex("=======") if cut_in == "search" else answer.rindex(">>>>>>> REPLACE")
    cut = answer[: last - 20]
    parsed = parse_edits(cut)
    assert parsed.truncated and not parsed.edits[-1].complete
    result = run(fixtures_dir, step2_lines[iid], cut)
    assert (result.status, result.reason) == ("failed", "truncated")
    assert result.model_patch == ""


def test_answer_only_in_reasoning(fixtures_dir: Path, step2_lines) -> None:
    iid = "psf__requests-1963"
    answer = content_of(step2_lines[iid])
    result = run(fixtures_dir, step2_lines[iid], "<think>\n" + answer + "\n</think>\n")
    assert (result.status, result.reason) == ("empty", "reasoning_only")
    result = run(fixtures_dir, step2_lines[iid], "", reasoning_content=answer)
    assert (result.status, result.reason) == ("empty", "reasoning_only")
    result = run(fixtures_dir, step2_lines[iid], answer[:200] + "</think>")  # template put <think> in the prompt
    assert (result.status, result.reason) == ("empty", "reasoning_only")


def test_drafts_in_reasoning_are_ignored(fixtures_dir: Path, manifest, step2_lines) -> None:
    iid = "psf__requests-1963"
    answer = content_of(step2_lines[iid])
    draft = answer.replace("req = prepared_request", "req = totally_wrong(")
    result = run(fixtures_dir, step2_lines[iid], "◁think▷" + draft + "◁/think▷\n" + answer)
    assert_gold(result, manifest, iid)


def test_other_outcomes(fixtures_dir: Path, step2_lines) -> None:
    iid = "psf__requests-1963"
    line = step2_lines[iid]
    syntax = content_of(line).replace("            req = prepared_request\n", "            req = prepared_request(\n")
    assert (run(fixtures_dir, line, syntax).status, run(fixtures_dir, line, syntax).reason) == ("failed", "syntax_error")
    assert run(fixtures_dir, line, "I cannot fix this.").reason == "no_edits"
    noop = ("### requests/sessions.py\n<<<<<<< SEARCH\n        return request_setting\n\n=======\n"
            "        return request_setting\n\n>>>>>>> REPLACE\n")
    assert run(fixtures_dir, line, noop).reason == "ambiguous_search"
    failed = dict(line, response={"status_code": 500, "request_id": "", "body": {"error": "boom"}})
    res = extract_bugfix(as_response(failed), structure_for(fixtures_dir, iid))
    assert (res.status, res.reason) == ("failed", "step2_request_failed")
    res = extract_bugfix(as_response(line), None)
    assert (res.status, res.reason) == ("failed", "structure_not_found")
    unknown = content_of(line).replace("### requests/sessions.py", "### requests/nope.py")
    assert run(fixtures_dir, line, unknown).reason == "file_not_in_structure"


def test_parse_edits_shapes() -> None:
    answer = ("Fix:\n### a.py\n<<<<<<< SEARCH\nx = 1\n=======\nx = 2\n>>>>>>> REPLACE\n\n"
              "```python\n### `pkg/b.py`\n<<<<<<< SEARCH\ny = 1\n=======\n>>>>>>> REPLACE\n```\n"
              "<<<<<<< SEARCH\nz = 1\n=======\nz = 2\n>>>>>>> REPLACE\n"
              "### Explanation\nnot a path\n")
    parsed = parse_edits(answer)
    assert [(e.path, e.search, e.replace) for e in parsed.edits] == [
        ("a.py", "x = 1\n", "x = 2\n"), ("pkg/b.py", "y = 1\n", ""), ("pkg/b.py", "z = 1\n", "z = 2\n")]
    assert not parsed.truncated and parsed.paths == ["a.py", "pkg/b.py"]


def test_header_variants() -> None:
    block = "\n<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\n"
    for header, path in [("### File: pkg/b.py", "pkg/b.py"), ("### `src/x.py`:", "src/x.py"),
                         ("### a/src/x.py", "src/x.py"), ("### Explanation", None)]:
        assert [e.path for e in parse_edits(header + block).edits] == [path], header
