"""stdout for data, as every reading command writes it. Standard library only: console/launcher.py
uses it for the commands it answers without Typer."""

from __future__ import annotations

import os
import sys


def stdout_is_terminal() -> bool:
    """Is stdout a terminal? Layout (table or live view vs. plain lines for pipes) follows this,
    not ``--color``: ``--color always`` colours a table, it does not make a pipe a terminal."""
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def stderr_is_terminal() -> bool:
    """Is stderr a terminal? (a job's live view or plain progress lines), without loading rich."""
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def write_bytes(data: bytes) -> None:
    """Write ``data`` to stdout whole. Straight to the file descriptor: a buffered write into a
    pipe whose reader left can end short without an error, and the caller must learn of it
    (BrokenPipeError: the CLI then exits 141, quietly)."""
    sys.stdout.flush()  # text written before goes first
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, ValueError, OSError):  # a captured stream (tests): no descriptor
        sys.stdout.write(data.decode())
        sys.stdout.flush()
        return
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
