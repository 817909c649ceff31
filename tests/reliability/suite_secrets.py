"""Secrets: runs with an API key in the environment and in a key file, against a stand-in that
requires it; while they run, no process's command line shows the key; afterwards no file under
the workspace or the outputs holds it (nor its base64 or hex spellings)."""

from __future__ import annotations

import base64
import os
import secrets
import threading
from pathlib import Path

from harness import Box

from fakes.batch_files import write_requests
from fakes.openai_server import FakeServer


def _cmdlines() -> list[str]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                out.append(d.joinpath("cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
            except OSError:
                pass
    return out


def _files_holding(root: Path, needles: list[bytes]) -> list[str]:
    hits = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            try:
                data = path.read_bytes()
            except OSError:
                continue
            if any(n in data for n in needles):
                hits.append(str(path))
    return hits


def run(box: Box) -> None:
    key = "sk-rel-" + secrets.token_hex(16)
    needles = [key.encode(), base64.b64encode(key.encode()), key.encode().hex().encode()]
    server = FakeServer(mode="ok", delay=0.05, extra_args=["--api-key-env", "REL_FAKE_KEY"],
                        env={**os.environ, "REL_FAKE_KEY": key}).start()
    try:
        outs = box.dir("outputs")
        ws = box.dir("ws")
        key_file = box.dir("keys") / "key.txt"
        key_file.write_text(key + "\n")
        key_file.chmod(0o600)
        req = outs / "requests.jsonl"
        write_requests(req, 60)
        runs = [
            ("key in the environment", ["--api-key-env", "REL_KEY"], {"REL_KEY": key}, outs / "env-out.jsonl"),
            ("key in OPENAI_API_KEY", [], {"OPENAI_API_KEY": key}, outs / "openai-out.jsonl"),
            ("key in a key file", ["--api-key-file", key_file], {}, outs / "file-out.jsonl"),
        ]
        for name, flags, extra_env, out in runs:
            seen: list[str] = []
            stop = threading.Event()

            def watch() -> None:
                while not stop.is_set():
                    seen.extend(c for c in _cmdlines() if key in c)
                    stop.wait(0.02)

            watcher = threading.Thread(target=watch, daemon=True)
            watcher.start()
            env = box.env(ws, **extra_env)
            res = box.rollout(["process", "-i", req, "-o", out, "--url", server.url, "--concurrency", "4", "--plain",
                               *flags], ws, env=env, timeout=120)
            stop.set()
            watcher.join(5)
            lines = out.read_text().splitlines() if out.exists() else []
            box.record(f"{name}: the run is authorised and completes", res.returncode == 0 and len(lines) == 60,
                       f"exit {res.returncode}, {len(lines)} lines: {res.stderr[-300:]}")
            box.record(f"{name}: no command line shows the key while it runs", not seen, f"{len(seen)} sightings")
            leaked = [h for h in (res.stdout, res.stderr) if key in h]
            box.record(f"{name}: not printed on stdout or stderr", not leaked, "printed")
        for where, root in (("workspace", ws), ("outputs", outs)):
            hits = _files_holding(root, needles)
            box.record(f"no file under the {where} holds the key", not hits, f"found in {hits}")
    finally:
        server.stop()
