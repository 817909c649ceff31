"""One clear line for a file-system failure (read-only, no permission, a file in the way, disk full).

Jobs and commands raise OSError from deep inside (``mkdir``, ``open``, a write that hits a full
disk); :func:`explain` turns one into a RolloutError naming the path, the reason and what to do,
with DESIGN.md's exit code: 2 when the path cannot be used (the user must choose another), 1 when
the disk filled up during the run (what was written is intact; rerunning resumes).
"""

from __future__ import annotations

import errno
import os

from engine.errors import ExitCode, RolloutError

#: the run could not finish writing: free space (or raise the limit) and rerun to resume
_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
#: the path cannot be used as given
_BAD_PATH = {errno.EROFS, errno.EACCES, errno.EPERM, errno.EEXIST, errno.ENOTDIR, errno.EISDIR, errno.ENOENT,
             errno.ENAMETOOLONG, errno.ELOOP}


def explain(exc: OSError, what: str = "", fallback: str = "") -> RolloutError | None:
    """The RolloutError for ``exc``, or None when it is not a file-system failure we can explain.

    ``what`` names the flag or role of the path (``--output``), when the caller knows it;
    ``fallback`` names the outputs when the error itself carries no file name (a failed write).
    """
    path = exc.filename if exc.filename is not None else (fallback or None)
    if exc.errno not in _FULL and exc.errno not in _BAD_PATH:
        return None
    if path is None and exc.errno not in _FULL:
        return None
    reason = exc.strerror or os.strerror(exc.errno or 0)
    where = f"{what} {path}" if what and path else str(path) if path else (what or "the output")
    if exc.errno in _FULL:
        return RolloutError(f"{where}: {reason} while writing: free space (or raise the file-size limit) and rerun "
                            "the same command: what was written is kept and the run resumes", ExitCode.ITEMS_FAILED)
    if exc.errno in (errno.EEXIST, errno.ENOTDIR):
        hint = "a file is in the way of a folder on that path: choose another path"
    elif exc.errno == errno.EISDIR:
        hint = "it is a folder, a file is needed: choose a file path"
    elif exc.errno == errno.ENOENT:
        hint = "check the path"
    else:
        hint = "choose a writable location (or fix its permissions)"
    return RolloutError(f"{where}: {reason}: {hint}", ExitCode.USAGE)
