"""Everything checked before a processor run starts: flags, endpoint URL, API key header, the
input (streamed: all of it when resuming, its head on a fresh run, whose reader checks the rest
as it sends: engine/processor/inputcheck.py), the resume scan of the output, an exclusive lock
on the output, and the endpoint pre-flight. Nothing here writes an output file; a failure is
one InputError (exit 2) or ServiceError (exit 3) line.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

from engine.batchio import repair_torn_tail
from engine.keys import read_api_key
from engine.errors import ExitCode, InputError, RolloutError, ServiceError
from engine.processor.options import ProcessOptions
from engine.processor import inputcheck
from engine.processor.inputcheck import InputCheck
from engine.processor.resume import scan_done
from engine.promptguard import CONTEXT_PATHS, DISCOVERY_TIMEOUT_S, PromptLimit, context_length_in, resolve_limit
from engine.processor.transport import Reply, Transport, TransportError, make_transport

PREFLIGHT_TIMEOUT_S = 10.0


# -- endpoints ---------------------------------------------------------------------------------
@dataclass
class Endpoint:
    """Where requests go. ``fixed`` is a full URL given by --url (it wins over each line's url)."""

    base: str
    fixed: str | None = None

    @classmethod
    def parse(cls, url: str) -> "Endpoint":
        url = url.strip().rstrip("/")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise InputError(f"--url {url!r} is not an http(s) URL: pass e.g. http://127.0.0.1:30000")
        path = parts.path
        idx = path.find("/v1/")
        if idx >= 0 and path[idx:] not in ("/v1/", "/v1/models"):
            return cls(base=f"{parts.scheme}://{parts.netloc}{path[:idx]}", fixed=url)
        if path.endswith("/v1"):
            path = path[:-3]
        return cls(base=f"{parts.scheme}://{parts.netloc}{path}")

    def target(self, line_url: str) -> str:
        return self.fixed or self.base + line_url

    @property
    def models_url(self) -> str:
        return self.base + "/v1/models"


def output_paths(options: ProcessOptions) -> dict[str, str]:
    """The files a run writes (for run.json)."""
    return {"output": str(options.output), "errors": str(options.errors_path), "sidecar": str(options.sidecar_path)}


def input_fingerprint(path: Path) -> dict[str, Any]:
    st = path.stat()
    return {"path": str(path.resolve()), "size": st.st_size, "mtime": st.st_mtime}


@dataclass
class Plan:
    """What the checks before a run found: input size, ids already done, the model."""

    #: requests in the input (those checked so far when ``check`` is not complete)
    total: int
    already_done: int
    model: str | None
    done: set[int]
    fingerprint: dict[str, Any]
    #: the open lock file that keeps a second process off the same output (released at exit)
    lock: Any = None
    #: the prompt-size guard in force (lines too long for it are refused, never sent)
    prompt_limit: PromptLimit = PromptLimit()
    #: the input's checks; when not ``complete``, the reader checks the lines after ``last_line``
    check: InputCheck | None = None

    @property
    def complete(self) -> bool:
        """Was every line checked (and so ``total`` exact) before the run?"""
        return self.check is None or self.check.complete

    def release(self) -> None:
        """Drop the output lock (and its file, so none is left beside the output)."""
        _unlock(self.lock)
        self.lock = None


def _unlock(fh: Any) -> None:
    if fh is None:
        return
    with contextlib.suppress(OSError):
        os.unlink(fh.name)  # while still held: a racing process fails its lock, never half-succeeds
    fh.close()


def lock_output(options: ProcessOptions) -> Any:
    """An exclusive lock on ``<output>.rollout.lock``: two runs appending to one output would
    send ids twice. InputError (exit 2) when another process holds it."""
    path = options.output.with_name(options.output.name + ".rollout.lock")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(path, "a+")
    except OSError as exc:  # a read-only or unwritable folder, a file in the way: one line, exit 2
        from engine.oserrors import explain

        raise (explain(exc, "--output") or InputError(f"--output {options.output}: cannot write beside it: {exc}")) from None
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.seek(0)
        holder = fh.read().strip() or "?"
        fh.close()
        raise InputError(f"{options.output} is being written by another rollout process (pid {holder}): "
                         "wait for it, stop it, or choose another --output") from None
    fh.seek(0)
    fh.truncate()
    fh.write(str(os.getpid()))
    fh.flush()
    return fh


def _validate_and_count(options: ProcessOptions, done: set[int]) -> tuple[int, int, str | None, InputCheck]:
    """The input's checks before the run (InputError on the first bad line): the whole file when
    resuming (the ids already done are counted before the first request, as progress and rate
    need), its first :data:`~engine.processor.inputcheck.HEAD_BYTES` on a fresh run (the reader checks the rest)."""
    check = InputCheck(options.input, check_duplicates=not options.allow_duplicates, done=done)
    check.head(None if done else inputcheck.HEAD_BYTES)
    return check.requests, check.already, options.model or check.model, check


def prepare_run(options: ProcessOptions, *, warn: Any = None) -> Plan:
    """Checks before a run directory or any output exists: flags, the whole input (streamed),
    the resume scan of the output, and the endpoint pre-flight (GET /v1/models).

    Raises InputError (exit 2) for a bad flag or input line, ServiceError (exit 3) when the
    endpoint cannot be reached. ``warn`` receives one-line warnings (a repaired torn line).
    """
    if options.concurrency < 1:
        raise InputError("--concurrency must be at least 1")
    endpoint = Endpoint.parse(options.url)
    headers = auth_headers(options)
    if not options.input.exists():
        raise InputError(f"{options.input}: file not found: check the --input path")
    if options.output.exists() and options.output.resolve() == options.input.resolve():
        raise InputError(f"--output {options.output} is the input file: choose another output path")
    lock = lock_output(options)
    try:
        return _checks(options, endpoint, headers, lock, warn)
    except BaseException:
        _unlock(lock)
        raise


def _checks(options: ProcessOptions, endpoint: Endpoint, headers: dict[str, str], lock: Any, warn: Any) -> Plan:
    done: set[int] = set()
    if options.output.exists() and not options.restart:
        # repair first so the scan sees whole lines (a torn fragment goes to <output>.torn)
        repair = repair_torn_tail(options.output)
        if repair.action == "moved" and warn is not None:
            warn(f"{options.output}: a torn last line ({repair.nbytes} bytes) was moved to {repair.side_file}")
        done = scan_done(options.output)
    total, already, model, check = _validate_and_count(options, done)
    discovered = None
    if options.preflight:
        discovered = asyncio.run(_preflight_once(options, endpoint, headers))
    return Plan(total, already, model, done, input_fingerprint(options.input), lock,
                prompt_limit(options, discovered), check)


def prompt_limit(options: ProcessOptions, discovered: tuple[int | None, str] | None) -> PromptLimit:
    """The prompt-size guard: the endpoint's context length is what the pre-flight learnt
    (None: it did not run, the endpoint is not asked; see :mod:`engine.promptguard`)."""
    return resolve_limit(options.max_prompt_tokens, discovered=discovered, flag_context=options.context_length)


async def _preflight_once(options: ProcessOptions, endpoint: Endpoint,
                          headers: dict[str, str]) -> tuple[int | None, str]:
    """The pre-flight, then the endpoint's context length, through one transport: ``(length,
    the URL that said it)``, ``(None, "")`` when it does not say (or is not asked: a fixed
    ``--max_prompt_tokens`` needs no length)."""
    transport = make_transport(options.transport, 1, headers)
    try:
        models = await _preflight(transport, endpoint)
        if options.max_prompt_tokens is not None:
            return None, ""
        n = context_length_in(_json_or_none(models.body))
        if n:
            return n, endpoint.models_url
        info_url = endpoint.base + CONTEXT_PATHS[1]
        try:
            info = await transport.request("GET", info_url, None, DISCOVERY_TIMEOUT_S)
        except TransportError:
            return None, ""
        n = context_length_in(_json_or_none(info.body)) if info.status == 200 else None
        return (n, info_url) if n else (None, "")
    finally:
        await transport.close()


def _json_or_none(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


def auth_headers(options: ProcessOptions) -> dict[str, str]:
    """Request headers; the key is read from the environment or a key file (never from a flag
    value or a file we write)."""
    headers = {"Content-Type": "application/json"}
    key = read_key(options)
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return headers


def read_key(options: ProcessOptions) -> str | None:
    """The API key: ``--api-key-file``, else ``--api-key-env``, else OPENAI_API_KEY when set.

    InputError (exit 2) when a named source is empty or unreadable.
    """
    if options.api_key_file is not None:
        key = read_api_key(None, str(options.api_key_file))
        if not key:
            raise InputError(f"--api-key-file {options.api_key_file} is empty: put the key in it or drop the flag")
        return key
    env_var = options.api_key_env or ("OPENAI_API_KEY" if os.environ.get("OPENAI_API_KEY") else None)
    key = read_api_key(env_var) if env_var else None
    if options.api_key_env and not key:
        raise InputError(f"--api-key-env {options.api_key_env}: the variable is not set: export it or drop the flag")
    return key


async def _preflight(transport: Transport, endpoint: Endpoint) -> Reply:
    """``GET /v1/models``: its reply, or the one-line error of an endpoint that cannot serve the run."""
    try:
        reply = await transport.request("GET", endpoint.models_url, None, PREFLIGHT_TIMEOUT_S)
    except TransportError as exc:
        raise ServiceError(f"cannot reach {endpoint.models_url} ({exc}): start the server or fix --url "
                           "(--no-preflight skips this check)") from None
    if reply.status in (401, 403):
        raise RolloutError(f"{endpoint.models_url} refused the API key (HTTP {reply.status}): "
                           "set the key's variable and pass --api-key-env", ExitCode.USAGE)
    if reply.status >= 500:
        raise ServiceError(f"{endpoint.models_url} answered HTTP {reply.status}: check the server "
                           "(--no-preflight skips this check)")
    return reply
