"""Follow a growing text file by offset: each read returns only the new whole lines.

The file is never re-read: the follower keeps its byte offset, holds back a partial last line
until its newline arrives, starts near the end of a big file (the last ``start_bytes``), and
starts over if the file shrinks (rotated or truncated).
"""

from __future__ import annotations

import os
from pathlib import Path

#: at most this many bytes are read in one call (a huge burst is read over several polls)
READ_MAX = 1 << 20


class FileFollower:
    def __init__(self, path: str | os.PathLike[str], start_bytes: int = 64 * 1024) -> None:
        self.path = Path(path)
        self.start_bytes = start_bytes
        self.offset: int | None = None
        self._partial = b""

    def read_new(self) -> list[str]:
        """The whole lines appended since the last call (the first call: the file's last lines)."""
        try:
            size = self.path.stat().st_size
        except OSError:
            return []
        skip_first = False
        if self.offset is None or size < self.offset:
            self.offset = max(0, size - self.start_bytes)
            skip_first = self.offset > 0  # landed mid-line
            self._partial = b""
        if size == self.offset:
            return []
        with open(self.path, "rb") as fh:
            fh.seek(self.offset)
            data = fh.read(min(size - self.offset, READ_MAX))
        self.offset += len(data)
        data = self._partial + data
        lines = data.split(b"\n")
        self._partial = lines.pop()  # b"" when the data ended with a newline
        if skip_first and lines:
            lines = lines[1:]
        return [ln.decode("utf-8", "replace").rstrip("\r") for ln in lines]
