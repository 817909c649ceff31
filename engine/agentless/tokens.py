"""Estimate a prompt's size in tokens, offline.

tiktoken's ``cl100k_base`` is used when the package is importable AND its encoding file is
already cached (we never download it: the machines these jobs run on are often offline).
Otherwise a byte heuristic: UTF-8 bytes / 3, rounded up. BPE tokenizers of current code
models average about 3.5-4.5 bytes per token on English and source code; dividing by 3
over-estimates on purpose, so a ``--max_prompt_tokens`` guard errs towards flagging a prompt
rather than sending one the server will reject for length.
"""

from __future__ import annotations

import functools
import math
import os
from typing import Any, Callable

BYTES_PER_TOKEN = 3.0


def heuristic_tokens(text: str) -> int:
    """UTF-8 bytes / 3, rounded up (see the module docstring)."""
    return math.ceil(len(text.encode("utf-8", "surrogatepass")) / BYTES_PER_TOKEN)


_CL100K_URL = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"


def _tiktoken_cached() -> bool:
    """Whether tiktoken's cache already holds cl100k_base (tiktoken.load's cache layout)."""
    import hashlib
    import tempfile

    if "TIKTOKEN_CACHE_DIR" in os.environ:
        cache_dir = os.environ["TIKTOKEN_CACHE_DIR"]
    elif "DATA_GYM_CACHE_DIR" in os.environ:
        cache_dir = os.environ["DATA_GYM_CACHE_DIR"]
    else:
        cache_dir = os.path.join(tempfile.gettempdir(), "data-gym-cache")
    if not cache_dir:  # tiktoken's "caching disabled" setting: it would download
        return False
    return os.path.isfile(os.path.join(cache_dir, hashlib.sha1(_CL100K_URL.encode()).hexdigest()))


@functools.lru_cache(maxsize=1)
def _tiktoken_counter() -> Callable[[str], int] | None:
    try:
        import tiktoken  # optional
    except ImportError:
        return None
    # never let tiktoken reach for the network: only an already cached encoding counts
    if not _tiktoken_cached():
        return None
    try:
        enc: Any = tiktoken.get_encoding("cl100k_base")
    except Exception:
        return None
    return lambda text: len(enc.encode(text, disallowed_special=()))


def estimator_name() -> str:
    """``tiktoken:cl100k_base`` or ``bytes/3``: recorded in the run's figures."""
    return "tiktoken:cl100k_base" if _tiktoken_counter() is not None else f"bytes/{BYTES_PER_TOKEN:g}"


def estimate_tokens(text: str) -> int:
    """The estimated token count of ``text``."""
    counter = _tiktoken_counter()
    return counter(text) if counter is not None else heuristic_tokens(text)
