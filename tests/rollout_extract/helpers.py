"""Helpers for the stage-3 tests."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import orjson

from engine.batchio import BatchResponse, parse_response
from engine.agentless.structure import RepoStructure, load_structure


def as_response(obj: dict[str, Any]) -> BatchResponse:
    resp, problems = parse_response("test", 1, orjson.dumps(obj))
    assert resp is not None, problems
    return resp


def with_content(obj: dict[str, Any], content: str | None, custom_id: str | None = None, **message: Any) -> dict[str, Any]:
    """A copy of a response line with another answer text (and extra message fields)."""
    new = json.loads(json.dumps(obj))
    msg = new["response"]["body"]["choices"][0]["message"]
    msg["content"] = content
    msg.update(message)
    if custom_id is not None:
        new["custom_id"] = custom_id
    return new


def content_of(obj: dict[str, Any]) -> str:
    return obj["response"]["body"]["choices"][0]["message"]["content"]


def structure_for(fixtures_dir: Path, instance_id: str) -> RepoStructure:
    s = load_structure(fixtures_dir / "structures", instance_id)
    assert s is not None
    return s


def git_repo_with(tmp: Path, files: dict[str, str]) -> Path:
    """A git repository holding ``files`` (path → text), committed."""
    repo = tmp / "repo"
    repo.mkdir()
    env_args = ["-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "commit.gpgsign=false"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    for path, text in files.items():
        target = repo / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(text.encode("utf-8", "surrogateescape"))
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
    subprocess.run(["git", *env_args, "-C", str(repo), "commit", "-q", "-m", "base"], check=True)
    return repo


def write_jsonl(path: Path, objs: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(o) + b"\n" for o in objs))
    return path
