"""A stand-in Piston server (v2 API shapes) for tests: real execution, scripted misbehaviour.

Run: ``python tests/fakes/piston_server.py --port 0 [--fail500 N] [--empty N] [--runtimes-fail N]
[--compiled] [--output-max BYTES]``; prints ``PORT <n>`` on stdout once listening.

- ``POST /api/v2/execute`` runs ``files[0]`` with python3 (stdin, args, extra files beside it),
  honours ``run_timeout`` (status TO), truncates each stream at ``--output-max`` bytes (status OL/EL,
  like Piston's 1024-byte default), reports signals (SG) and non-zero exits (RE).
- ``--compiled`` adds a compile stage (py_compile); a failed compile is echoed as ``run`` too, as
  real Piston does for compiled languages.
- ``--fail500 N`` / ``--empty N``: the first N execute requests get a 500 / an empty 200 body.
- ``--runtimes-fail N``: the first N ``GET /api/v2/runtimes`` answer 500 (-1: always).
- ``GET /_stats``: counters and the highest number of concurrent executions seen.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

RUNTIMES = [{"language": "python", "version": "3.11.0", "aliases": ["py", "python3"], "runtime": None}]


class State:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.lock = threading.Lock()
        self.executes = 0
        self.runtimes_calls = 0
        self.concurrent = 0
        self.max_concurrent = 0


def _stage(cmd: list[str], cwd: str, stdin: str, timeout_ms: int, output_max: int) -> dict:
    try:
        proc = subprocess.run(cmd, cwd=cwd, input=stdin.encode(), capture_output=True, timeout=timeout_ms / 1000)
        out, err, code = proc.stdout, proc.stderr, proc.returncode
        status = None
    except subprocess.TimeoutExpired as exc:
        out, err, code, status = exc.stdout or b"", exc.stderr or b"", None, "TO"
    sig = None
    if code is not None and code < 0:
        sig, code, status = signal.Signals(-code).name, None, status or "SG"
    elif code not in (0, None):
        status = status or "RE"
    if len(out) > output_max:
        out, status = out[:output_max], "OL"
    if len(err) > output_max:
        err, status = err[:output_max], status if status == "OL" else "EL"
    so, se = out.decode("utf-8", "replace"), err.decode("utf-8", "replace")
    return {"stdout": so, "stderr": se, "output": so + se, "code": code, "signal": sig,
            "message": "Time limit exceeded" if status == "TO" else None, "status": status,
            "cpu_time": 1, "wall_time": 1, "memory": 1000}


def make_handler(state: State) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # quiet
            pass

        def _send(self, code: int, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path == "/api/v2/runtimes":
                with state.lock:
                    state.runtimes_calls += 1
                    n = state.runtimes_calls
                fail = state.args.runtimes_fail
                if fail < 0 or n <= fail:
                    self._send(500, b'{"message": "runtimes unavailable"}')
                else:
                    self._send(200, json.dumps(RUNTIMES).encode())
            elif self.path == "/_stats":
                with state.lock:
                    data = {"executes": state.executes, "runtimes_calls": state.runtimes_calls,
                            "max_concurrent": state.max_concurrent}
                self._send(200, json.dumps(data).encode())
            else:
                self._send(404, b'{"message": "not found"}')

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            if self.path != "/api/v2/execute":
                self._send(404, b'{"message": "not found"}')
                return
            with state.lock:
                state.executes += 1
                n = state.executes
            if n <= state.args.fail500:
                self._send(500, b'{"message": "internal error"}')
                return
            if n <= state.args.fail500 + state.args.empty:
                self._send(200, b"")
                return
            try:
                req = json.loads(raw)
                files = req["files"]
                assert files and "content" in files[0]
            except (ValueError, KeyError, AssertionError):
                self._send(400, b'{"message": "files is required as an array"}')
                return
            if int(req.get("run_timeout", 3000)) > state.args.max_run_timeout:
                self._send(400, json.dumps({"message": f"run_timeout cannot exceed the configured limit of {state.args.max_run_timeout}"}).encode())
                return
            with state.lock:
                state.concurrent += 1
                state.max_concurrent = max(state.max_concurrent, state.concurrent)
            workdir = tempfile.mkdtemp(prefix="fake-piston-")
            try:
                names = []
                for i, f in enumerate(files):
                    name = os.path.basename(f.get("name") or f"file{i}.code")
                    names.append(name)
                    with open(os.path.join(workdir, name), "w") as fh:
                        fh.write(f["content"])
                answer: dict = {"language": "python", "version": "3.11.0"}
                out_max = state.args.output_max
                if state.args.compiled:
                    comp = _stage([sys.executable, "-m", "py_compile", names[0]], workdir, "", 10_000, out_max)
                    answer["compile"] = comp
                    if comp["code"] not in (0, None) or comp["status"]:
                        answer["run"] = comp  # Piston echoes a failed compile as the run stage
                        self._send(200, json.dumps(answer).encode())
                        return
                answer["run"] = _stage([sys.executable, names[0], *map(str, req.get("args") or [])], workdir,
                                       req.get("stdin") or "", int(req.get("run_timeout", 3000)), out_max)
                self._send(200, json.dumps(answer).encode())
            finally:
                shutil.rmtree(workdir, ignore_errors=True)
                with state.lock:
                    state.concurrent -= 1

    return Handler


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--fail500", type=int, default=0)
    ap.add_argument("--empty", type=int, default=0)
    ap.add_argument("--runtimes-fail", type=int, default=0)
    ap.add_argument("--compiled", action="store_true")
    ap.add_argument("--output-max", type=int, default=1024)
    ap.add_argument("--max-run-timeout", type=int, default=60_000)
    args = ap.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(State(args)))
    server.daemon_threads = True
    print(f"PORT {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
