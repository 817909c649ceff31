"""A stand-in for ``python -m sglang.launch_server`` (and ``sglang_router.launch_router``).

A real process on 127.0.0.1 that behaves like SGLang where rollout looks: it logs SGLang's real
start-up lines with delays (weights, KV cache, CUDA graphs, "fired up and ready to roll"),
refuses connections until ready, then serves /health_generate, /health, /v1/models,
/get_model_info, /metrics (Prometheus text, two dp ranks with known numbers) and
/v1/chat/completions.

Modes (``--mode``): normal, oom (CUDA OOM traceback during CUDA graph capture, exit 1),
missing_model, nccl, ignore_sigterm, spawn_children (two children in the group plus one that
calls setsid), slow (never gets past weight loading within a test's time-out), port_in_use
(the port is taken when the server binds it).
``--step-delay S`` sets the pause between start-up lines (default 0.2 s).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

#: per-dp-rank numbers the tests check the aggregation against
RANKS = {
    0: {"running": 3, "queue": 1, "token_usage": 0.25, "gen_throughput": 100.5, "cache_hit_rate": 0.4,
        "prompt_tokens": 1000, "generation_tokens": 400,
        # TTFT histogram: cumulative counts at le=0.1, 0.25, 0.5, 1.0, +Inf; sum
        "ttft": ([2, 6, 9, 10, 10], 2.5),
        "e2e": ([0, 1, 4, 8, 10], 6.0)},
    1: {"running": 5, "queue": 2, "token_usage": 0.75, "gen_throughput": 200.25, "cache_hit_rate": 0.6,
        "prompt_tokens": 3000, "generation_tokens": 600,
        "ttft": ([0, 4, 8, 10, 10], 3.5),
        "e2e": ([0, 0, 2, 6, 10], 9.0)},
}
BUCKETS = ["0.1", "0.25", "0.5", "1.0", "+Inf"]


def log(msg: str) -> None:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    print(f"[{stamp}] {msg}", flush=True)


class State:
    def __init__(self, model: str, api_key: str | None) -> None:
        self.model = model
        self.api_key = api_key
        self.extra_prompt = 0
        self.extra_completion = 0
        self.lock = threading.Lock()


def metrics_text(state: State) -> str:
    lines: list[str] = []

    def gauge(name: str, key: str) -> None:
        lines.append(f"# HELP sglang:{name} {name}")
        lines.append(f"# TYPE sglang:{name} gauge")
        for rank, vals in RANKS.items():
            lines.append(f'sglang:{name}{{model_name="{state.model}",dp_rank="{rank}",tp_rank="0"}} {vals[key]}')

    def counter(name: str, key: str, extra: int) -> None:
        lines.append(f"# HELP sglang:{name}_total {name}")
        lines.append(f"# TYPE sglang:{name}_total counter")
        for rank, vals in RANKS.items():
            value = vals[key] + (extra if rank == 0 else 0)
            lines.append(f'sglang:{name}_total{{model_name="{state.model}",dp_rank="{rank}",tp_rank="0"}} {float(value)}')

    def histogram(name: str, key: str) -> None:
        lines.append(f"# HELP sglang:{name} {name}")
        lines.append(f"# TYPE sglang:{name} histogram")
        for rank, vals in RANKS.items():
            counts, total = vals[key]
            labels = f'model_name="{state.model}",dp_rank="{rank}",tp_rank="0"'
            for le, c in zip(BUCKETS, counts):
                lines.append(f'sglang:{name}_bucket{{{labels},le="{le}"}} {float(c)}')
            lines.append(f"sglang:{name}_sum{{{labels}}} {total}")
            lines.append(f"sglang:{name}_count{{{labels}}} {float(counts[-1])}")

    gauge("num_running_reqs", "running")
    gauge("num_queue_reqs", "queue")
    gauge("token_usage", "token_usage")
    gauge("gen_throughput", "gen_throughput")
    gauge("cache_hit_rate", "cache_hit_rate")
    with state.lock:
        extra_p, extra_c = state.extra_prompt, state.extra_completion
    counter("prompt_tokens", "prompt_tokens", extra_p)
    counter("generation_tokens", "generation_tokens", extra_c)
    histogram("time_to_first_token_seconds", "ttft")
    histogram("e2e_request_latency_seconds", "e2e")
    return "\n".join(lines) + "\n"


class _Server(ThreadingHTTPServer):
    # uvicorn listens with a backlog of 2048; socketserver's default of 5 drops the SYNs of a
    # client opening 64 connections at once, which then stall for seconds in TCP retransmits
    request_queue_size = 2048


def make_handler(state: State, router: bool) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # uvicorn-style access line
            print(f'INFO:     127.0.0.1 - "{self.command} {self.path}" {args[1] if len(args) > 1 else ""}', flush=True)

        def _send(self, code: int, body: bytes, ctype: str = "application/json") -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _authorised(self) -> bool:
            if not state.api_key or self.path.startswith(("/health", "/metrics")):
                return True
            if self.headers.get("Authorization") == f"Bearer {state.api_key}":
                return True
            self._send(401, b'{"error": "Unauthorized"}')
            return False

        def do_GET(self) -> None:
            if not self._authorised():
                return
            if self.path in ("/health", "/health_generate"):
                self._send(200, b"")
            elif self.path == "/v1/models":
                self._send(200, json.dumps({"object": "list", "data": [{"id": state.model, "object": "model"}]}).encode())
            elif self.path == "/get_model_info" and not router:
                self._send(200, json.dumps({"model_path": state.model, "is_generation": True}).encode())
            elif self.path == "/metrics":
                self._send(200, metrics_text(state).encode(), "text/plain; version=0.0.4")
            else:
                self._send(404, b'{"detail": "Not Found"}')

        def do_POST(self) -> None:
            if not self._authorised():
                return
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if self.path != "/v1/chat/completions":
                self._send(404, b'{"detail": "Not Found"}')
                return
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                self._send(400, b'{"error": "bad json"}')
                return
            messages = body.get("messages") or []
            text = " ".join(str(m.get("content", "")) for m in messages if isinstance(m, dict))
            prompt_tokens = max(1, len(text.split()))
            completion_tokens = 5
            with state.lock:
                state.extra_prompt += prompt_tokens
                state.extra_completion += completion_tokens
            reply = {
                "id": f"chatcmpl-{int(time.time() * 1000)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model") or state.model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok " + text[:40]},
                             "finish_reason": "stop"}],
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                          "total_tokens": prompt_tokens + completion_tokens},
            }
            self._send(200, json.dumps(reply).encode())

    return Handler


def spawn_children() -> list[subprocess.Popen]:
    sleeper = [sys.executable, "-c", "import time\nwhile True: time.sleep(1)"]
    kids = [subprocess.Popen(sleeper), subprocess.Popen(sleeper),
            # like a scheduler that detaches itself: a new session, out of our process group
            subprocess.Popen(sleeper, start_new_session=True)]
    for kid in kids:
        log(f"spawned child process pid={kid.pid}")
    return kids


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="sglang-stand-in")
    p.add_argument("--model-path", default="fake-model")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=30000)
    p.add_argument("--tp-size", type=int, default=1)
    p.add_argument("--dp-size", type=int, default=1)
    p.add_argument("--api-key", default=None)
    p.add_argument("--worker-urls", nargs="*", default=None)
    p.add_argument("--policy", default=None)
    p.add_argument("--mode", default="normal",
                   choices=["normal", "oom", "missing_model", "nccl", "ignore_sigterm", "spawn_children", "slow",
                            "port_in_use"])
    p.add_argument("--step-delay", type=float, default=0.2)
    args, _unknown = p.parse_known_args(argv)
    router = args.worker_urls is not None
    delay = args.step_delay

    if args.mode == "ignore_sigterm":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    else:
        # SGLang drains and exits on SIGTERM
        signal.signal(signal.SIGTERM, lambda *_: os._exit(0))

    if router:
        log(f"Starting router on {args.host}:{args.port} | workers: {args.worker_urls} | policy: {args.policy}")
    else:
        log(f"server_args=ServerArgs(model_path='{args.model_path}', tp_size={args.tp_size}, "
            f"dp_size={args.dp_size}, host='{args.host}', port={args.port})")
        if args.mode == "missing_model":
            print("Traceback (most recent call last):\n  File \"transformers/configuration_utils.py\", line 1\n"
                  f"OSError: {args.model_path} is not a local folder and is not a valid model identifier listed on "
                  "'https://huggingface.co/models'", flush=True)
            return 1
        log("Init torch distributed begin.")
        time.sleep(delay)
        if args.mode == "nccl":
            print("torch.distributed.DistBackendError: NCCL error in: ProcessGroupNCCL.cpp:1970, "
                  "unhandled system error (run with NCCL_DEBUG=INFO for details)", flush=True)
            return 1
        log("Load weight begin. avail mem=78.50 GB")
        time.sleep(delay if args.mode != "slow" else 3600)
        log("Load weight end. type=LlamaForCausalLM, dtype=torch.bfloat16, avail mem=63.40 GB, mem usage=15.10 GB.")
        log("KV Cache is allocated. #tokens: 413520, K size: 25.24 GB, V size: 25.24 GB")
        log("Memory pool end. avail mem=11.20 GB")
        time.sleep(delay)
        log("Capture cuda graph begin. This can take up to several minutes. avail mem=11.02 GB")
        time.sleep(delay)
        if args.mode == "oom":
            print("Traceback (most recent call last):\n  File \"sglang/srt/model_executor/cuda_graph_runner.py\", "
                  "line 300, in capture\ntorch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB. "
                  "GPU 0 has a total capacity of 79.10 GiB of which 1.06 GiB is free.", flush=True)
            log("Scheduler hit an exception: torch.OutOfMemoryError: CUDA out of memory.")
            return 1
        log("Capture cuda graph end. Time elapsed: 0.40 s. mem usage=0.31 GB. avail mem=10.71 GB.")
        log("max_total_num_tokens=413520, chunked_prefill_size=8192, max_prefill_tokens=16384, "
            "max_running_requests=4096, context_len=131072")

    kids = spawn_children() if args.mode == "spawn_children" else []
    state = State(args.model_path, args.api_key)
    if args.mode == "port_in_use":  # someone grabbed the port between rollout's check and our bind
        import socket

        squatter = socket.socket()
        squatter.bind((args.host, args.port))
        squatter.listen()
    try:
        server = _Server((args.host, args.port), make_handler(state, router))
    except OSError as exc:
        print(f"ERROR:    [Errno {exc.errno}] error while attempting to bind on address "
              f"('{args.host}', {args.port}): {exc.strerror.lower() if exc.strerror else exc}", flush=True)
        return 1
    server.daemon_threads = True
    print(f"INFO:     Uvicorn running on http://{args.host}:{args.port} (Press CTRL+C to quit)", flush=True)
    log("The server is fired up and ready to roll!")
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        del kids
    return 0


if __name__ == "__main__":
    sys.exit(main())
