"""A stand-in OpenAI-compatible server: a real HTTP server process on 127.0.0.1 for tests.

Run it as a process (what tests do, through :class:`FakeServer`)::

    python tests/fakes/openai_server.py --port 0 --mode ok --delay 0.01

It prints its port on the first stdout line, then serves until SIGTERM.

Endpoints: ``GET /v1/models``, ``GET /health``, ``GET /health_generate``,
``POST /v1/chat/completions``, ``POST /v1/completions``, ``GET /_stats`` (attempts per request
key), ``POST /_control`` (change mode/delay/fail_times/match at runtime, JSON body).

A request's key is its last message content (or prompt): tests put the custom_id in it.
Modes (applied to requests whose key matches ``--match`` regex, each key's first
``--fail-times`` attempts; later attempts succeed):

* ``ok``        200 with a chat completion (and ``usage``), after ``--delay`` seconds
* ``429``       429 with ``Retry-After: <--retry-after>``
* ``500``       500 with a JSON error body (``502``, ``503``: the same with that status, as a
                proxy in front of a dead or overloaded server answers)
* ``400``       400 "maximum context length" (permanent)
* ``reset``     the connection is reset without an answer
* ``malformed`` 200 with a truncated JSON body
* ``stall``     never answers (the client must time out)

``--ratelimit-requests N`` adds hosted-API style ``x-ratelimit-*-requests`` headers (N minus
requests so far remain, reset "1s").

``--exit-after N`` makes the process exit abruptly on the Nth completion request (in-flight
connections drop); :meth:`FakeServer.restart` brings it back on the same port.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

MODES = ("ok", "429", "500", "502", "503", "400", "reset", "malformed", "stall")


# -- the server (runs in its own process) --------------------------------------------------
def _key_of(body: Any) -> str:
    if not isinstance(body, dict):
        return ""
    msgs = body.get("messages")
    if isinstance(msgs, list) and msgs and isinstance(msgs[-1], dict):
        content = msgs[-1].get("content")
        return content if isinstance(content, str) else json.dumps(content)
    prompt = body.get("prompt")
    return prompt if isinstance(prompt, str) else ""


def _completion(body: dict[str, Any], key: str, raw_len: int, chat: bool) -> dict[str, Any]:
    model = body.get("model") or "fake-model"
    text = f"echo: {key[:200]}"
    usage = {"prompt_tokens": max(1, raw_len // 4), "completion_tokens": 7, "total_tokens": max(1, raw_len // 4) + 7}
    if chat:
        return {"id": f"chatcmpl-{abs(hash(key)) % 10**12}", "object": "chat.completion", "created": int(time.time()),
                "model": model, "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                             "finish_reason": "stop"}], "usage": usage}
    return {"id": f"cmpl-{abs(hash(key)) % 10**12}", "object": "text_completion", "created": int(time.time()),
            "model": model, "choices": [{"index": 0, "text": text, "finish_reason": "stop"}], "usage": usage}


def serve(args: argparse.Namespace) -> None:
    from aiohttp import web

    state: dict[str, Any] = {
        "mode": args.mode, "delay": args.delay, "fail_times": args.fail_times, "match": args.match,
        "retry_after": args.retry_after, "api_key": os.environ.get(args.api_key_env) if args.api_key_env else None,
    }
    attempts: dict[str, int] = {}
    counts = {"requests": 0}
    hold: list[asyncio.Task[Any]] = []

    def authorised(request: web.Request) -> bool:
        return not state["api_key"] or request.headers.get("Authorization") == f"Bearer {state['api_key']}"

    async def models(request: web.Request) -> web.Response:
        if not authorised(request):
            return web.json_response({"error": {"message": "bad key"}}, status=401)
        card: dict[str, Any] = {"id": args.model, "object": "model"}
        if args.max_model_len:
            card["max_model_len"] = args.max_model_len  # as vLLM and SGLang report the context length
        return web.json_response({"object": "list", "data": [card]})

    async def health(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def stats(request: web.Request) -> web.Response:
        return web.json_response({"requests": counts["requests"], "attempts": attempts, "mode": state["mode"]})

    async def control(request: web.Request) -> web.Response:
        state.update({k: v for k, v in (await request.json()).items() if k in state})
        return web.json_response({k: v for k, v in state.items() if k != "api_key"})

    async def complete(request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        counts["requests"] += 1
        if args.exit_after and counts["requests"] >= args.exit_after:
            os._exit(0)  # abrupt, like a crashed server: in-flight connections drop
        if not authorised(request):
            return web.json_response({"error": {"message": "bad key", "type": "auth"}}, status=401)
        try:
            body = json.loads(raw)
        except ValueError:
            return web.json_response({"error": {"message": "invalid JSON body", "type": "invalid_request_error"}}, status=400)
        key = _key_of(body)
        n = attempts[key] = attempts.get(key, 0) + 1
        mode = state["mode"]
        if state["delay"]:
            await asyncio.sleep(state["delay"])
        failing = mode != "ok" and n <= state["fail_times"] and (not state["match"] or re.search(state["match"], key))
        if failing:
            if mode == "429":
                return web.json_response({"error": {"message": "rate limited", "type": "rate_limit"}}, status=429,
                                         headers={"Retry-After": str(state["retry_after"])})
            if mode in ("500", "502", "503"):
                return web.json_response({"error": {"message": "internal error", "type": "server_error"}}, status=int(mode))
            if mode == "400":
                return web.json_response({"error": {"message": "This model's maximum context length is 32768 tokens",
                                                     "type": "invalid_request_error"}}, status=400)
            if mode == "reset":
                sock = request.transport.get_extra_info("socket") if request.transport else None
                if sock is not None:
                    # SO_LINGER 0: close sends RST, the client sees a reset
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                if request.transport:
                    request.transport.abort()
                raise asyncio.CancelledError()
            if mode == "malformed":
                return web.Response(body=b'{"id": "x", "choices": [{"message": {"content": "tru', content_type="application/json")
            if mode == "stall":
                task = asyncio.current_task()
                if task:
                    hold.append(task)
                await asyncio.sleep(3600)
        chat = request.path.endswith("/chat/completions")
        headers = {"x-request-id": f"req-{counts['requests']}"}
        if args.ratelimit_requests:  # hosted-API style budget headers: N per window, reset in 1 s
            headers["x-ratelimit-limit-requests"] = str(args.ratelimit_requests)
            headers["x-ratelimit-remaining-requests"] = str(max(0, args.ratelimit_requests - counts["requests"]))
            headers["x-ratelimit-reset-requests"] = "1s"
        return web.json_response(_completion(body, key, len(raw), chat), headers=headers)

    app = web.Application(client_max_size=256 * 1024 * 1024)
    app.router.add_get("/v1/models", models)
    app.router.add_get("/health", health)
    app.router.add_get("/health_generate", health)
    app.router.add_get("/_stats", stats)
    app.router.add_post("/_control", control)
    app.router.add_post("/v1/chat/completions", complete)
    app.router.add_post("/v1/completions", complete)

    run_app(app, args.port, backlog=1024, keepalive_timeout=args.keepalive)


def run_app(app: Any, port: int, *, backlog: int, on_stop: Callable[[], None] | None = None,
            **runner_kwargs: Any) -> None:
    """Serve ``app`` on 127.0.0.1:``port`` (0: any), print the port on stdout (the test side reads
    it), and exit at once on SIGTERM/SIGINT after ``on_stop`` (stalled handlers are not waited for)."""
    from aiohttp import web

    async def main() -> None:
        runner = web.AppRunner(app, access_log=None, handle_signals=False, **runner_kwargs)
        await runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen(backlog)
        await web.SockSite(runner, sock).start()
        print(sock.getsockname()[1], flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        if on_stop is not None:
            on_stop()
        os._exit(0)

    asyncio.run(main())


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Stand-in OpenAI-compatible server for tests.")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--mode", choices=MODES, default="ok")
    p.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    p.add_argument("--fail-times", type=int, default=1, help="failing attempts per request key before success")
    p.add_argument("--match", default="", help="regex: only keys matching it fail (default: all)")
    p.add_argument("--retry-after", default="1", help="Retry-After header value for 429")
    p.add_argument("--exit-after", type=int, default=0, help="exit abruptly on the Nth completion request")
    p.add_argument("--model", default="fake-model")
    p.add_argument("--max-model-len", type=int, default=0, help="report this context length in /v1/models")
    p.add_argument("--keepalive", type=float, default=5.0, help="server keep-alive seconds (uvicorn: 5)")
    p.add_argument("--api-key-env", default="", help="require this env var's value as Bearer key")
    p.add_argument("--ratelimit-requests", type=int, default=0,
                   help="send x-ratelimit-*-requests headers for a budget of N requests (reset 1s)")
    return p.parse_args(argv)


# -- the test-side helper ------------------------------------------------------------------
@dataclass
class FakeServer:
    """Start/stop the stand-in server as a child process; ``url`` is its base URL.

    ``FakeServer(mode="500", fail_times=2).start()`` ... ``.stop()``; or use it as a context manager.
    """

    mode: str = "ok"
    delay: float = 0.0
    fail_times: int = 1
    match: str = ""
    retry_after: str = "1"
    exit_after: int = 0
    model: str = "fake-model"
    port: int = 0
    extra_args: list[str] = field(default_factory=list)
    env: dict[str, str] | None = None
    proc: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def argv(self) -> list[str]:
        return [sys.executable, str(Path(__file__).resolve()), "--port", str(self.port), "--mode", self.mode,
                "--delay", str(self.delay), "--fail-times", str(self.fail_times), f"--match={self.match}",
                f"--retry-after={self.retry_after}", "--exit-after", str(self.exit_after), "--model", self.model,
                *self.extra_args]

    def start(self, timeout: float = 15.0) -> "FakeServer":
        deadline = time.monotonic() + timeout
        while True:
            self.proc = subprocess.Popen(self.argv(), stdout=subprocess.PIPE, text=True, env=self.env)
            assert self.proc.stdout is not None
            line = self.proc.stdout.readline().strip()
            if line.isdigit():
                self.port = int(line)
                return self
            code = self.proc.wait()
            if not self.port or code == 2 or time.monotonic() > deadline:  # e.g. the old port still held on restart
                raise RuntimeError(f"fake OpenAI server did not start: {self.argv()}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self, **changes: Any) -> "FakeServer":
        """Stop (if running) and start again on the same port, with ``changes`` to the settings."""
        self.stop()
        for k, v in changes.items():
            setattr(self, k, v)
        return self.start()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stats(self) -> dict[str, Any]:
        import urllib.request

        with urllib.request.urlopen(f"{self.url}/_stats", timeout=5) as resp:
            return json.loads(resp.read())

    def control(self, **changes: Any) -> dict[str, Any]:
        import urllib.request

        req = urllib.request.Request(f"{self.url}/_control", data=json.dumps(changes).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=5) as resp:
            return json.loads(resp.read())

    def __enter__(self) -> "FakeServer":
        return self.start() if not self.alive() else self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def server_fixture(server_cls: type[FakeServer], name: str) -> Any:
    """A pytest factory fixture called ``name`` for a stand-in server class (:class:`FakeServer`
    or a subclass): ``name(**fields)`` starts one; every server it started is stopped at teardown.
    None without pytest (the reliability suites and the servers themselves do not need it)."""
    try:
        import pytest
    except ImportError:  # pragma: no cover
        return None

    @pytest.fixture(name=name)
    def factory() -> Iterator[Callable[..., FakeServer]]:
        started: list[FakeServer] = []

        def start(**kwargs: Any) -> FakeServer:
            server = server_cls(**kwargs).start()
            started.append(server)
            return server

        yield start
        for server in started:
            server.stop()

    return factory


if __name__ != "__main__":  # for any test folder: `from fakes.openai_server import fake_openai` in a conftest
    fake_openai = server_fixture(FakeServer, "fake_openai")


if __name__ == "__main__":
    serve(parse_args())
