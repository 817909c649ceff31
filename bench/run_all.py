"""Run every bench/bench_*.py script and print a table of the figures they report.

Each bench script prints lines ``FIGURE <name> <value> <unit> [target]``; this collects them.
Benchmarks are never run as tests.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    rows: list[tuple[str, str, str, str, str]] = []
    failed = 0
    only = sys.argv[1:]
    for script in sorted(HERE.glob("bench_*.py")):
        if only and not any(o in script.stem for o in only):
            continue
        print(f"== {script.name}", flush=True)
        t0 = time.monotonic()
        proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
        sys.stdout.write(proc.stdout)
        if proc.returncode != 0:
            failed += 1
            sys.stdout.write(proc.stderr[-2000:])
            print(f"!! {script.name} exited {proc.returncode}")
        for line in proc.stdout.splitlines():
            parts = line.split(maxsplit=4)
            if len(parts) >= 4 and parts[0] == "FIGURE":
                rows.append((script.stem.removeprefix("bench_"), parts[1], parts[2], parts[3], parts[4] if len(parts) > 4 else ""))
        print(f"   ({time.monotonic() - t0:.1f}s)")
    print()
    print(f"{'bench':<18} {'figure':<40} {'value':>14} {'unit':<10} target")
    for bench, name, value, unit, target in rows:
        print(f"{bench:<18} {name:<40} {value:>14} {unit:<10} {target}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
