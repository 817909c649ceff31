"""Helpers for tests that write OpenAI Batch request files and check processor outputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest


def write_requests(path: Path, n: int, *, prefix: str = "id", model: str = "fake-model", url: str = "/v1/chat/completions",
                   pad: int = 0) -> list[str]:
    """``n`` chat requests whose message content is their custom_id (the fake server keys on it)."""
    ids = [f"{prefix}-{i}" for i in range(n)]
    with open(path, "wb") as fh:
        for cid in ids:
            body = {"model": model, "messages": [{"role": "user", "content": cid + (" " + "x" * pad if pad else "")}],
                    "max_tokens": 16}
            fh.write(orjson.dumps({"custom_id": cid, "method": "POST", "url": url, "body": body}) + b"\n")
    return ids


def read_lines(path: Path) -> list[dict[str, Any]]:
    """Every line of a JSONL file; fails the test on a torn or invalid line."""
    if not path.exists():
        return []
    out = []
    for n, raw in enumerate(path.read_bytes().splitlines(), 1):
        if raw.strip():
            try:
                out.append(orjson.loads(raw))
            except orjson.JSONDecodeError:
                pytest.fail(f"{path}:{n} is not a whole JSON line: {raw[:80]!r}")
    return out


def check_exactly_once(ids: list[str], output: Path, errors: Path) -> tuple[dict[str, dict], dict[str, dict]]:
    """Every id in exactly one line of output (status 200) or errors; returns both by id."""
    ok: dict[str, dict] = {}
    failed: dict[str, dict] = {}
    for line in read_lines(output):
        assert line["response"]["status_code"] == 200 and line["error"] is None, line
        assert line["custom_id"] not in ok, f"{line['custom_id']} twice in output"
        ok[line["custom_id"]] = line
    for line in read_lines(errors):
        assert line["custom_id"] not in failed, f"{line['custom_id']} twice in errors"
        assert line["custom_id"] not in ok, f"{line['custom_id']} in output and errors"
        failed[line["custom_id"]] = line
    assert sorted(ok) + sorted(failed) and set(ok) | set(failed) == set(ids), (
        f"missing: {sorted(set(ids) - set(ok) - set(failed))[:10]}, extra: {sorted(set(ok) | set(failed) - set(ids))[:10]}")
    return ok, failed
