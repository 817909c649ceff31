"""Exit codes and the one error type every user-facing failure is raised as."""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """Process exit codes (DESIGN.md principle 5)."""

    OK = 0
    ITEMS_FAILED = 1
    USAGE = 2
    SERVICE = 3
    INTERRUPTED = 130


class RolloutError(Exception):
    """An error meant for the user: one clear line (what, where, what to do) and an exit code.

    Engine code raises it; the CLI prints ``str(err)`` on one stderr line and exits with
    ``err.exit_code``. Never wrap a traceback in it.
    """

    def __init__(self, message: str, exit_code: int = ExitCode.USAGE) -> None:
        super().__init__(message)
        self.exit_code = int(exit_code)


class InputError(RolloutError):
    """Bad input from the user (file, flag, data): exit 2."""

    def __init__(self, message: str) -> None:
        super().__init__(message, ExitCode.USAGE)


class ServiceError(RolloutError):
    """A service (endpoint, server, docker, Piston) could not be reached: exit 3."""

    def __init__(self, message: str) -> None:
        super().__init__(message, ExitCode.SERVICE)
