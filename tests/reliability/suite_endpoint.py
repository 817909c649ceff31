"""Endpoint faults against the OpenAI stand-in, through the whole ``rollout process`` command.

Per fault (429 storms with Retry-After, 500, 502, 503, connection resets, stalls past the
timeout, malformed JSON): a transient storm (every request fails twice, then succeeds: all end in
the output, exit 0) and a permanent subset (ids ending in 3 never succeed: they end in the errors
file with the fault's reason, the rest in the output, exit 1). Then a context-length 400 (no
retry), a server that dies and comes back after 30 s (everything answered; ``endpoint_down``
raised then cleared), and an error-rate storm that stops (``error_rate_high`` raised then
cleared). Every custom_id must be in exactly one of output and errors.
"""

from __future__ import annotations

import json
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from harness import Box

from fakes.batch_files import write_requests
from fakes.openai_server import FakeServer

FAULTS = [("429", "rate_limited"), ("500", "server_error"), ("502", "server_error"), ("503", "server_error"),
          ("reset", "server_disconnected"), ("stall", "timeout"), ("malformed", "invalid_response")]


def _lines(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _exactly_once(ids: list[str], out: Path, errors: Path) -> tuple[dict, dict, str | None]:
    ok = {line["custom_id"]: line for line in _lines(out)}
    bad = {line["custom_id"]: line for line in _lines(errors)}
    n_ok, n_bad = len(_lines(out)), len(_lines(errors))
    if n_ok != len(ok) or n_bad != len(bad):
        return ok, bad, f"duplicated lines: {n_ok - len(ok)} in output, {n_bad - len(bad)} in errors"
    both = set(ok) & set(bad)
    missing = set(ids) - set(ok) - set(bad)
    if both or missing:
        return ok, bad, f"{len(both)} in both files, {len(missing)} in neither"
    return ok, bad, None


def _events(ws: Path) -> list[dict]:
    out = []
    for run in (ws / "runs").glob("process-*"):
        for line in (run / "events.jsonl").read_text().splitlines():
            out.append(json.loads(line))
    return out


def _process(box: Box, name: str, server: FakeServer, n: int, *flags: object, timeout: float = 180):
    d = box.dir(name.replace(" ", "_").replace("/", "_"))
    ws = d / "ws"
    req, out = d / "req.jsonl", d / "out.jsonl"
    ids = write_requests(req, n)
    res = box.rollout(["process", "-i", req, "-o", out, "--url", server.url, "--plain", *flags], ws, cwd=d, timeout=timeout)
    return ids, out, out.with_name(out.name + ".errors.jsonl"), res, ws


def fault(box: Box, mode: str, reason: str, permanent: bool) -> None:
    name = f"{mode} {'permanent subset' if permanent else 'transient storm'}"
    kw = dict(mode=mode, fail_times=100, match=r"-\d*3$") if permanent else dict(mode=mode, fail_times=2)
    server = FakeServer(retry_after="0.2", **kw).start()
    try:
        flags = ["--max-retries", "2" if permanent else "3", "--concurrency", "8"]
        if mode == "stall":
            flags += ["--timeout", "1"]
        ids, out, errors, res, _ = _process(box, name, server, 30, *flags)
        ok, bad, problem = _exactly_once(ids, out, errors)
        want_bad = {i for i in ids if i.endswith("3")} if permanent else set()
        if problem is None and set(bad) != want_bad:
            problem = f"errors hold {sorted(bad)}, wanted {sorted(want_bad)}"
        if problem is None and any(line.get("reason") != reason for line in bad.values()):
            problem = f"reasons {sorted({line.get('reason') for line in bad.values()})}, wanted {reason}"
        want_code = 1 if permanent else 0
        if problem is None and res.returncode != want_code:
            problem = f"exit {res.returncode}, wanted {want_code}: {res.stderr[-200:]}"
        box.record(name, problem is None, problem or "")
    finally:
        server.stop()


def context_length(box: Box) -> None:
    server = FakeServer(mode="400", fail_times=100, match=r"-\d*7$").start()
    try:
        ids, out, errors, res, _ = _process(box, "400 context length", server, 30, "--max-retries", "3")
        ok, bad, problem = _exactly_once(ids, out, errors)
        # the server's own count: a 400 is never sent again (a connection blip before it, on a
        # loaded box, is a legitimate retry that the errors file's attempts would count too)
        seen = server.stats()["attempts"]
        resent = {k: n for k, n in seen.items() if re.search(r"-\d*7$", k) and n != 1}
        if problem is None and (set(bad) != {i for i in ids if i.endswith("7")} or resent
                                or any(b["reason"] != "context_length_exceeded" for b in bad.values())):
            problem = f"errors: {[(k, v.get('reason'), v.get('attempts')) for k, v in bad.items()]}, resent: {resent}"
        box.record("400 context length: never retried, reason context_length_exceeded", problem is None, problem or "")
    finally:
        server.stop()


def outage(box: Box) -> None:
    server = FakeServer(mode="ok", delay=0.02, exit_after=30).start()
    downtime: list[float] = []

    def bring_back() -> None:
        while server.proc is not None and server.proc.poll() is None:
            time.sleep(0.05)
        t0 = time.monotonic()
        time.sleep(30.0)
        server.restart(exit_after=0)
        downtime.append(time.monotonic() - t0)

    helper = threading.Thread(target=bring_back, daemon=True)
    helper.start()
    try:
        ids, out, errors, res, ws = _process(box, "outage", server, 120, "--concurrency", "4", timeout=240)
        helper.join(60)
        ok, bad, problem = _exactly_once(ids, out, errors)
        if problem is None and (bad or res.returncode != 0):
            problem = f"exit {res.returncode}, {len(bad)} in errors: {res.stderr[-200:]}"
        box.record(f"server dies and returns after {downtime[0] if downtime else 30:.0f} s: every id answered",
                   problem is None, problem or "")
        states = [e["state"] for e in _events(ws) if e["type"] == "alert" and e.get("name") == "endpoint_down"]
        box.record("endpoint_down raised while it was gone, cleared when it came back", states == ["raised", "cleared"],
                   f"alert states: {states}")
    finally:
        server.stop()


def error_rate(box: Box) -> None:
    server = FakeServer(mode="500", fail_times=1, delay=0.03).start()
    d = box.dir("error_rate")
    ws = d / "ws"
    req, out = d / "req.jsonl", d / "out.jsonl"
    ids = write_requests(req, 2500)
    proc = box.popen(["process", "-i", req, "-o", out, "--url", server.url, "--plain", "--concurrency", "8",
                      "--max-retries", "3"], ws, cwd=d)
    try:
        def raised() -> bool:
            for state in ws.glob("runs/process-*/state.json"):
                try:
                    alerts = json.loads(state.read_text()).get("alerts") or []
                except ValueError:
                    continue
                if any((a.get("name") if isinstance(a, dict) else a) == "error_rate_high" for a in alerts):
                    return True
            return proc.poll() is not None

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not raised():
            time.sleep(0.2)
        server.control(mode="ok")  # the storm ends: the recent error rate falls back
        proc.communicate(timeout=240)
        ok, bad, problem = _exactly_once(ids, out, out.with_name(out.name + ".errors.jsonl"))
        if problem is None and (bad or proc.returncode != 0):
            problem = f"exit {proc.returncode}, {len(bad)} in errors"
        box.record("500 storm then recovery: every id answered", problem is None, problem or "")
        states = [e["state"] for e in _events(ws) if e["type"] == "alert" and e.get("name") == "error_rate_high"]
        box.record("error_rate_high raised during the storm, cleared after", states == ["raised", "cleared"],
                   f"alert states: {states}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        server.stop()


def run(box: Box) -> None:
    jobs = [lambda: outage(box), lambda: error_rate(box), lambda: context_length(box)]
    jobs += [(lambda m=m, r=r, p=p: fault(box, m, r, p)) for m, r in FAULTS for p in (False, True)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        for f in [pool.submit(j) for j in jobs]:
            f.result()
