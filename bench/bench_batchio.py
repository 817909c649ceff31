"""Batch file reading with flat memory: validate + stream 100 MB and 1 GB request files.

Prints peak RSS of a fresh process streaming each file (target: flat from 100 MB to 1 GB) and
the read throughput.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LINE_KB = 100


def make_file(path: Path, size_mb: int) -> int:
    """Write ~size_mb of ~100 KB chat requests; returns the line count."""
    filler = "lorem ipsum dolor sit amet " * (LINE_KB * 1024 // 27)
    lines = size_mb * 1024 // LINE_KB
    with open(path, "w") as fh:
        for i in range(lines):
            body = {"model": "m", "max_tokens": 16, "messages": [{"role": "user", "content": f"{i} {filler}"}]}
            fh.write(json.dumps({"custom_id": f"item-{i}", "method": "POST", "url": "/v1/chat/completions", "body": body}) + "\n")
    return lines


READER = """
import resource, sys, time
sys.path.insert(0, {repo!r})
from engine.batchio import iter_requests, validate_file
t0 = time.perf_counter()
problems = sum(1 for _ in validate_file(sys.argv[1]))
n = sum(1 for _ in iter_requests(sys.argv[1]))
dt = time.perf_counter() - t0
print(problems, n, dt, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def measure(path: Path) -> tuple[int, float, float]:
    out = subprocess.run([sys.executable, "-c", READER.format(repo=str(REPO)), str(path)],
                         capture_output=True, text=True, check=True).stdout.split()
    problems, n, dt, rss_kb = int(out[0]), int(out[1]), float(out[2]), int(out[3])
    assert problems == 0
    return n, dt, rss_kb / 1024


def main() -> None:
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        results = {}
        for size in (100, 1024):
            f = Path(tmp) / f"req-{size}.jsonl"
            make_file(f, size)
            real_mb = f.stat().st_size / 2**20
            n, dt, rss = measure(f)
            results[size] = rss
            # validate + typed read = two passes over the file
            print(f"FIGURE batchio_read_{size}MB_peak_rss {rss:.1f} MB flat-from-100MB-to-1GB")
            print(f"FIGURE batchio_read_{size}MB_throughput {2 * real_mb / dt:.0f} MB/s ({n} lines, validate+read)")
            f.unlink()
        growth = results[1024] - results[100]
        print(f"FIGURE batchio_rss_growth_100MB_to_1GB {growth:.1f} MB target<=10MB")


if __name__ == "__main__":
    main()
