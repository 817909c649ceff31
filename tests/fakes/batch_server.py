"""A stand-in Files + Batches API (OpenAI's shape): a real HTTP server process on 127.0.0.1 for tests.

Run it as a process (what tests do, through :class:`FakeBatchServer`)::

    python tests/fakes/batch_server.py --port 0 --max-lines 50000 --rate 20000

It prints its port on the first stdout line, then serves until SIGTERM. Files live in a temporary
folder (uploads and results are streamed to and from disk, never held whole in memory).

Endpoints: ``GET /v1/models``; ``POST /v1/files`` (multipart ``purpose=batch`` + ``file``; over
``--max-bytes`` → 400 ``file_too_large``); ``GET /v1/files/{id}``, ``GET /v1/files/{id}/content``;
``POST /v1/batches``, ``GET /v1/batches`` (list), ``GET /v1/batches/{id}``,
``POST /v1/batches/{id}/cancel``; ``GET /_stats`` (uploads with their custom_ids, batches);
``POST /_control`` (change the settings below at runtime, JSON body; ``answers``: a new list
of answer files).

A batch moves ``validating`` (``--validate-s``) → ``in_progress`` (``--rate`` requests per second)
→ ``finalizing`` (``--finalize-s``) → ``completed``. Validation fails it (status ``failed`` with
``errors``) on more than ``--max-lines`` lines, a line that is not a request, a repeated custom_id,
a second model or a url other than the batch's endpoint. ``--expire-after N`` ends the next
``--expire-count`` batches (default: all) as ``expired`` after N requests: the rest appear in the
error file with ``batch_expired``; a cancel gives ``batch_cancelled`` lines the same way.
Requests whose custom_id matches ``--fail-match`` are answered with HTTP 400 (error file).
Answers echo the last message (like openai_server.py), or come from ``--answers FILE`` (batch
output lines keyed by custom_id: the fixtures' model answers).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from openai_server import FakeServer, _completion, _key_of, run_app, server_fixture  # noqa: E402  (the online stand-in's answers and helpers)

SETTINGS = ("max_lines", "max_bytes", "rate", "validate_s", "finalize_s", "expire_after", "expire_count", "fail_match")


def _batch_object(b: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in b.items() if not k.startswith("_")}


def serve(args: argparse.Namespace) -> None:
    from aiohttp import web

    root = Path(tempfile.mkdtemp(prefix="fake-batch-"))
    cfg: dict[str, Any] = {k: getattr(args, k) for k in SETTINGS}
    api_key = os.environ.get(args.api_key_env) if args.api_key_env else None
    files: dict[str, dict[str, Any]] = {}
    batches: dict[str, dict[str, Any]] = {}
    uploads: list[dict[str, Any]] = []
    answers: dict[str, dict[str, Any]] = {}

    def load_answers(paths: list[str]) -> None:
        answers.clear()
        for path in paths:
            with open(path, "rb") as fh:
                for raw in fh:
                    if raw.strip():
                        obj = json.loads(raw)
                        if (obj.get("response") or {}).get("body"):
                            answers[obj["custom_id"]] = obj["response"]["body"]

    load_answers(args.answers)
    tasks: set[asyncio.Task[Any]] = set()

    def error(status: int, message: str, code: str = "invalid_request_error") -> web.Response:
        return web.json_response({"error": {"message": message, "type": "invalid_request_error", "code": code}},
                                 status=status)

    @web.middleware
    async def auth(request: web.Request, handler: Any) -> web.StreamResponse:
        if api_key and not request.path.startswith("/_") and request.headers.get("Authorization") != f"Bearer {api_key}":
            return error(401, "Incorrect API key provided", "invalid_api_key")
        return await handler(request)

    def new_file(path: Path, filename: str, purpose: str, size: int) -> dict[str, Any]:
        fid = "file-" + secrets.token_hex(12)
        obj = {"id": fid, "object": "file", "bytes": size, "created_at": int(time.time()), "filename": filename,
               "purpose": purpose, "_path": str(path)}
        files[fid] = obj
        return obj

    async def models(request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "fake-model", "object": "model"}]})

    async def upload(request: web.Request) -> web.Response:
        reader = await request.multipart()
        purpose, filename, size, path = None, "upload.jsonl", 0, None
        ids: list[str] = []
        async for part in reader:
            if part.name == "purpose":
                purpose = (await part.text()).strip()
            elif part.name == "file":
                filename = part.filename or filename
                path = root / ("up-" + secrets.token_hex(8))
                rest = b""
                with open(path, "wb") as fh:
                    while True:
                        chunk = await part.read_chunk(1 << 16)
                        if not chunk:
                            break
                        size += len(chunk)
                        if size > cfg["max_bytes"]:
                            fh.close()
                            path.unlink()
                            return error(400, f"File is too large: the limit for batch files is {cfg['max_bytes']} bytes",
                                         "file_too_large")
                        fh.write(chunk)
                        rest += chunk
                        *lines, rest = rest.split(b"\n")
                        for line in lines:
                            if line.strip():
                                try:
                                    ids.append(json.loads(line).get("custom_id"))
                                except ValueError:
                                    ids.append(None)
                    if rest.strip():
                        ids.append(json.loads(rest).get("custom_id") if rest.strip().startswith(b"{") else None)
        if purpose != "batch":
            return error(400, f"purpose must be 'batch', got {purpose!r}")
        if path is None:
            return error(400, "no file in the upload")
        obj = new_file(path, filename, "batch", size)
        uploads.append({"id": obj["id"], "bytes": size, "lines": len(ids), "custom_ids": ids})
        return web.json_response(_batch_object(obj))

    async def file_info(request: web.Request) -> web.Response:
        f = files.get(request.match_info["fid"])
        return web.json_response(_batch_object(f)) if f else error(404, "No such file", "not_found")

    async def file_content(request: web.Request) -> web.StreamResponse:
        f = files.get(request.match_info["fid"])
        if not f:
            return error(404, "No such file", "not_found")
        return web.FileResponse(f["_path"], headers={"Content-Type": "application/jsonl"})

    def validate(b: dict[str, Any], path: Path) -> list[dict[str, Any]]:
        problems: list[dict[str, Any]] = []
        seen: set[str] = set()
        model = None
        n = 0
        with open(path, "rb") as fh:
            for lineno, raw in enumerate(fh, 1):
                if not raw.strip():
                    continue
                n += 1
                try:
                    obj = json.loads(raw)
                    cid, url, body = obj["custom_id"], obj["url"], obj["body"]
                except (ValueError, KeyError, TypeError):
                    problems.append({"code": "invalid_json_line", "message": "not a valid request line", "line": lineno})
                    break
                if cid in seen:
                    problems.append({"code": "duplicate_custom_id", "message": f"custom_id {cid} repeated", "line": lineno})
                    break
                seen.add(cid)
                if url != b["endpoint"]:
                    problems.append({"code": "mismatched_endpoint", "message": f"url {url} is not {b['endpoint']}",
                                     "line": lineno})
                    break
                if model is None:
                    model = body.get("model")
                elif body.get("model") != model:
                    problems.append({"code": "mismatched_model", "message": "one model per file", "line": lineno})
                    break
        if n > cfg["max_lines"]:
            problems.insert(0, {"code": "too_many_requests", "message": f"{n} requests: the limit is {cfg['max_lines']} "
                                "per batch", "line": None})
        b["request_counts"]["total"] = n
        return problems

    def answer(obj: dict[str, Any], b: dict[str, Any], n: int) -> tuple[dict[str, Any], bool]:
        cid = obj["custom_id"]
        body = obj.get("body") or {}
        rid = f"req_{secrets.token_hex(6)}"
        line: dict[str, Any] = {"id": f"batch_req_{secrets.token_hex(8)}", "custom_id": cid}
        if cfg["fail_match"] and re.search(cfg["fail_match"], cid):
            line.update(response={"status_code": 400, "request_id": rid, "body": {"error": {
                "message": "Invalid 'messages': the request was rejected", "type": "invalid_request_error"}}}, error=None)
            return line, False
        reply = answers.get(cid) or _completion(body, _key_of(body), len(json.dumps(body)), True)
        line.update(response={"status_code": 200, "request_id": rid, "body": reply}, error=None)
        return line, True

    async def run_batch(b: dict[str, Any]) -> None:
        src = Path(files[b["input_file_id"]]["_path"])
        await asyncio.sleep(cfg["validate_s"])
        problems = validate(b, src)
        if problems:
            b.update(status="failed", failed_at=int(time.time()), errors={"object": "list", "data": problems})
            return
        b.update(status="in_progress", in_progress_at=int(time.time()))
        expire_at = b["_expire_after"]
        out_path, err_path = root / f"{b['id']}-out", root / f"{b['id']}-err"
        counts = b["request_counts"]
        with open(src, "rb") as fh, open(out_path, "wb") as out, open(err_path, "wb") as err:
            tick = time.monotonic()
            budget = 0.0
            ended: str | None = None
            for raw in fh:
                if not raw.strip():
                    continue
                obj = json.loads(raw)
                if ended is None and b["_cancel"]:
                    ended = "cancelled"
                if ended is None and expire_at and counts["completed"] + counts["failed"] >= expire_at:
                    ended = "expired"
                if ended is not None:
                    code = "batch_expired" if ended == "expired" else "batch_cancelled"
                    err.write(json.dumps({"id": f"batch_req_{secrets.token_hex(8)}", "custom_id": obj["custom_id"],
                                          "response": None, "error": {"code": code, "message": (
                                              "This request could not be executed before the completion window expired."
                                              if ended == "expired" else "This request was cancelled.")}}).encode() + b"\n")
                    continue
                while budget < 1:
                    await asyncio.sleep(0.02)
                    now = time.monotonic()
                    budget += (now - tick) * cfg["rate"]
                    tick = now
                budget -= 1
                if (counts["completed"] + counts["failed"]) % 200 == 0:
                    await asyncio.sleep(0)  # a fast batch must not starve uploads and polls of others
                line, ok = answer(obj, b, counts["completed"])
                (out if ok else err).write(json.dumps(line).encode() + b"\n")
                counts["completed" if ok else "failed"] += 1
        if ended is None and b["_cancel"]:
            ended = "cancelled"
        b.update(status="finalizing" if ended != "cancelled" else "cancelling", finalizing_at=int(time.time()))
        await asyncio.sleep(cfg["finalize_s"])
        for path, key in ((out_path, "output_file_id"), (err_path, "error_file_id")):
            if path.stat().st_size:
                b[key] = new_file(path, path.name + ".jsonl", "batch_output", path.stat().st_size)["id"]
        final = ended or "completed"
        b.update(status=final, **{f"{final}_at": int(time.time())})

    async def create(request: web.Request) -> web.Response:
        body = await request.json()
        fid = body.get("input_file_id")
        if fid not in files or files[fid]["purpose"] != "batch":
            return error(400, f"input_file_id {fid!r} is not an uploaded batch file")
        if body.get("endpoint") not in ("/v1/chat/completions", "/v1/completions", "/v1/embeddings"):
            return error(400, f"unsupported endpoint {body.get('endpoint')!r}")
        if body.get("completion_window") != "24h":
            return error(400, "completion_window must be 24h")
        bid = "batch_" + secrets.token_hex(12)
        expire_after = 0
        if cfg["expire_after"] and cfg["expire_count"] != 0:
            expire_after = cfg["expire_after"]
            if cfg["expire_count"] > 0:
                cfg["expire_count"] -= 1
        b = {"id": bid, "object": "batch", "endpoint": body["endpoint"], "errors": None, "input_file_id": fid,
             "completion_window": "24h", "status": "validating", "output_file_id": None, "error_file_id": None,
             "created_at": int(time.time()), "request_counts": {"total": 0, "completed": 0, "failed": 0},
             "metadata": body.get("metadata") or {}, "_cancel": False, "_expire_after": expire_after}
        batches[bid] = b
        task = asyncio.create_task(run_batch(b))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return web.json_response(_batch_object(b))

    async def get_batch(request: web.Request) -> web.Response:
        b = batches.get(request.match_info["bid"])
        return web.json_response(_batch_object(b)) if b else error(404, "No such batch", "not_found")

    async def list_batches(request: web.Request) -> web.Response:
        data = [_batch_object(b) for b in sorted(batches.values(), key=lambda b: b["created_at"], reverse=True)]
        return web.json_response({"object": "list", "data": data[: int(request.query.get("limit", 20))]})

    async def cancel(request: web.Request) -> web.Response:
        b = batches.get(request.match_info["bid"])
        if not b:
            return error(404, "No such batch", "not_found")
        if b["status"] in ("completed", "failed", "expired", "cancelled"):
            return error(409, f"Cannot cancel a batch with status {b['status']}")
        b["_cancel"] = True
        if b["status"] in ("validating", "in_progress"):
            b["status"] = "cancelling"
        return web.json_response(_batch_object(b))

    async def stats(request: web.Request) -> web.Response:
        return web.json_response({"uploads": uploads, "batches": [_batch_object(b) for b in batches.values()],
                                  "settings": cfg})

    async def control(request: web.Request) -> web.Response:
        changes = await request.json()
        if "answers" in changes:  # a pipeline's next stage: other answers for the same ids
            load_answers(changes["answers"])
        cfg.update({k: v for k, v in changes.items() if k in cfg})
        return web.json_response(cfg)

    app = web.Application(client_max_size=1 << 40, middlewares=[auth])
    app.router.add_get("/v1/models", models)
    app.router.add_post("/v1/files", upload)
    app.router.add_get("/v1/files/{fid}", file_info)
    app.router.add_get("/v1/files/{fid}/content", file_content)
    app.router.add_post("/v1/batches", create)
    app.router.add_get("/v1/batches", list_batches)
    app.router.add_get("/v1/batches/{bid}", get_batch)
    app.router.add_post("/v1/batches/{bid}/cancel", cancel)
    app.router.add_get("/_stats", stats)
    app.router.add_post("/_control", control)

    import shutil

    run_app(app, args.port, backlog=128, on_stop=lambda: shutil.rmtree(root, ignore_errors=True))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Stand-in Files + Batches API for tests.")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--max-lines", type=int, default=50_000, help="requests per batch file")
    p.add_argument("--max-bytes", type=int, default=200_000_000, help="bytes per uploaded file")
    p.add_argument("--rate", type=float, default=20_000.0, help="requests answered per second per batch")
    p.add_argument("--validate-s", type=float, default=0.2)
    p.add_argument("--finalize-s", type=float, default=0.2)
    p.add_argument("--expire-after", type=int, default=0, help="a batch expires after N requests (0: never)")
    p.add_argument("--expire-count", type=int, default=-1, help="how many batches expire (-1: all)")
    p.add_argument("--fail-match", default="", help="regex on custom_id: those requests get HTTP 400")
    p.add_argument("--answers", action="append", default=[], help="batch output JSONL whose bodies answer by custom_id")
    p.add_argument("--api-key-env", default="", help="require this env var's value as Bearer key")
    return p.parse_args(argv)


# -- the test-side helper ------------------------------------------------------------------
@dataclass
class FakeBatchServer(FakeServer):
    """Start/stop the stand-in as a child process; ``url`` is its base URL. Starting, stopping,
    ``stats()`` and ``control()`` are the online stand-in's (its answer-mode fields are unused)."""

    max_lines: int = 50_000
    max_bytes: int = 200_000_000
    rate: float = 20_000.0
    validate_s: float = 0.2
    finalize_s: float = 0.2
    expire_after: int = 0
    expire_count: int = -1
    fail_match: str = ""
    answers: list[str] = field(default_factory=list)
    api_key_env: str = ""

    def argv(self) -> list[str]:
        out = [sys.executable, str(Path(__file__).resolve()), "--port", str(self.port), "--max-lines", str(self.max_lines),
               "--max-bytes", str(self.max_bytes), "--rate", str(self.rate), "--validate-s", str(self.validate_s),
               "--finalize-s", str(self.finalize_s), "--expire-after", str(self.expire_after), "--expire-count",
               str(self.expire_count), f"--fail-match={self.fail_match}", f"--api-key-env={self.api_key_env}"]
        for path in self.answers:
            out += ["--answers", str(path)]
        return out


if __name__ != "__main__":  # `from fakes.batch_server import fake_batch_api` in a conftest
    fake_batch_api = server_fixture(FakeBatchServer, "fake_batch_api")


if __name__ == "__main__":
    serve(parse_args())
