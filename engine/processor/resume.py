"""Which custom_ids an output file already answered with status 200 (the resume scan).

The output is the job's own JSONL (``{"id","custom_id","response":{"status_code":...},"error"}``),
possibly written by other tools (vLLM run_batch, the OpenAI Batch API). Lines written by this
processor (orjson, fixed key order) are recognised without a full JSON parse; anything else gets
one. Keys are 64-bit (engine.batchio.id_key) so a million ids stay small.
"""

from __future__ import annotations

import os
from pathlib import Path

import orjson

from engine.batchio import id_key

_PREFIX = b'{"id":"'
_CID = b'","custom_id":"'
_OK = b'","response":{"status_code":200,'
_TAIL = b',"error":null}'


def _fast_custom_id(raw: bytes) -> str | None | bool:
    """custom_id of a line in our own layout with status 200; False when the line is not in that
    layout (a full parse decides); None when it is ours but not a 200."""
    if not raw.startswith(_PREFIX):
        return False
    i = raw.find(_CID, len(_PREFIX))
    if i < 0 or b'"' in raw[len(_PREFIX):i]:
        return False
    start = i + len(_CID)
    end = raw.find(b'"', start)
    if end < 0:
        return False
    cid_bytes = raw[start:end]
    if b"\\" in cid_bytes:  # escaped characters: let orjson decode them
        return False
    if not raw.startswith(_OK, end):
        return False if not raw.startswith(b'","response":', end) else None
    if not raw.endswith(_TAIL):
        return False
    try:
        return cid_bytes.decode("utf-8")
    except UnicodeDecodeError:
        return False


def _slow_custom_id(raw: bytes) -> str | None:
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None  # a torn or foreign line: not done
    if not isinstance(obj, dict):
        return None
    cid, resp = obj.get("custom_id"), obj.get("response")
    if not isinstance(cid, str) or not isinstance(resp, dict) or obj.get("error") is not None:
        return None
    if resp.get("status_code") != 200 or not isinstance(resp.get("body"), dict):
        return None
    return cid


def scan_done(path: str | os.PathLike[str]) -> set[int]:
    """id_keys of the custom_ids answered with status 200 in ``path`` (empty when it is missing)."""
    done: set[int] = set()
    p = Path(path)
    if not p.exists():
        return done
    add = done.add
    with open(p, "rb", buffering=1 << 20) as fh:
        for raw in fh:
            raw = raw.rstrip(b"\r\n")
            if not raw:
                continue
            cid = _fast_custom_id(raw)
            if cid is False:
                cid = _slow_custom_id(raw)
            if cid:
                add(id_key(cid))  # type: ignore[arg-type]
    return done
