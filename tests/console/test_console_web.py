"""`rollout web`: the console served by textual-serve on 127.0.0.1, loaded in headless Chromium
(Debian's package, driven by Playwright with its executable path: no browser download)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from engine.runs import create_run

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (tests/services/setup-console.sh installs it)")
@pytest.mark.timeout(120)
def test_rollout_web_serves_the_console_to_a_browser(workspace: Path, rollout_cmd: list[str],
                                                      child_env: dict[str, str], tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    run = create_run(workspace, "eval", ["rollout", "eval"], title="fixture run")
    run.write_state({"status": "done", "heartbeat": time.time(), "counters": {"total": 4, "done": 4, "ok": 4}})
    port = free_port()
    log = open(tmp_path / "web.log", "wb")
    server = subprocess.Popen(rollout_cmd + ["web", "--host", "127.0.0.1", "--port", str(port)], env=child_env,
                              stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                assert server.poll() is None, (tmp_path / "web.log").read_text()
                assert time.monotonic() < deadline, "rollout web did not listen"
                time.sleep(0.1)
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 900})
                received: list[bytes] = []
                # the terminal in the page is drawn on a canvas: what it draws arrives on its websocket
                page.on("websocket", lambda ws: ws.on(
                    "framereceived", lambda f: received.append(f if isinstance(f, bytes) else f.encode())))
                page.goto(f"http://127.0.0.1:{port}/")
                deadline = time.monotonic() + 40
                while run.run_id.encode() not in b"".join(received):
                    assert time.monotonic() < deadline, "the page never showed the run"
                    page.wait_for_timeout(200)
                assert page.locator(".textual-terminal canvas").count() >= 1
            finally:
                browser.close()
        assert server.poll() is None  # still serving
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(5)
        log.close()
