"""Split an instance's tests into public and hidden sets, deterministically.

Each test is ranked by a keyed hash of (seed, instance id, test name); the first
``round(ratio * n)`` are public, the rest hidden. With two or more tests both sets get at least
one, so the hidden pass rate always exists; a single test is public. The same seed gives the same
split on every machine and in every run (no RNG state, no dict order).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True)
class TestSplit:
    public: tuple[str, ...]
    hidden: tuple[str, ...]


def _rank(seed: str, instance_id: str, test: str) -> bytes:
    return hashlib.blake2b(f"{instance_id}\0{test}".encode("utf-8", "surrogatepass"),
                           key=seed.encode()[:64], digest_size=16).digest()


def public_count(n: int, ratio: float) -> int:
    """How many of ``n`` tests are public at ``ratio``."""
    if n <= 1:
        return n
    return min(max(int(ratio * n + 0.5), 1), n - 1)


def split_tests(instance_id: str, tests: list[str], ratio: float = 0.7, seed: str = "rollout-scorecard-v1") -> TestSplit:
    """The public and hidden tests of one instance (each in the order of ``tests``)."""
    unique = list(dict.fromkeys(tests))
    ranked = sorted(unique, key=lambda t: _rank(seed, instance_id, t))
    public = set(ranked[:public_count(len(unique), ratio)])
    return TestSplit(tuple(t for t in unique if t in public), tuple(t for t in unique if t not in public))
