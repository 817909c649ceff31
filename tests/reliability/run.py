"""``make reliability``: run the suites (several at once where they do not compete), print each
suite's tried / held / failed, then one table; exit 1 when any case failed.

``python tests/reliability/run.py [suite ...]`` runs some of them; ``-v`` prints every case.
"""

from __future__ import annotations

import importlib
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import Box, scratch  # noqa: E402

#: (module, title); the endpoint suite waits through a 30 s outage, so it starts first
SUITES = [
    ("suite_endpoint", "endpoint faults"),
    ("suite_crash", "crash consistency"),
    ("suite_bad_inputs", "bad inputs"),
    ("suite_hostile", "hostile code"),
    ("suite_disk", "disk trouble"),
    ("suite_secrets", "secrets"),
    ("suite_orphans", "orphans"),
]


def run_suite(module: str, title: str, verbose: bool) -> tuple[str, Box, float]:
    t0 = time.monotonic()
    with scratch(module) as root:
        box = Box(title, root)
        try:
            importlib.import_module(module).run(box)
        except Exception as exc:  # noqa: BLE001 - a suite that crashes is one failed case
            import traceback

            box.record(f"{title}: suite crashed", False, f"{type(exc).__name__}: {exc} {traceback.format_exc()[-600:]}")
    dt = time.monotonic() - t0
    tried = len(box.cases)
    held = sum(1 for c in box.cases if c.held)
    failed = [c for c in box.cases if c.held is False]
    skipped = [c for c in box.cases if c.held is None]
    print(f"{title}: tried {tried}, held {held}, failed {len(failed)}, skipped {len(skipped)} ({dt:.0f} s)", flush=True)
    for c in box.cases if verbose else failed + skipped:
        mark = {True: "held", False: "FAILED", None: "skipped"}[c.held]
        print(f"  {mark}: {c.name}{': ' + c.detail if c.detail else ''}", flush=True)
    return title, box, dt


def main(argv: list[str]) -> int:
    verbose = "-v" in argv
    wanted = [a for a in argv if not a.startswith("-")]
    suites = [(m, t) for m, t in SUITES if not wanted or m in wanted or m.removeprefix("suite_") in wanted]
    known = {m for m, _ in SUITES}
    suites += [(w if w.startswith("suite_") else f"suite_{w}",) * 2 for w in wanted
               if (w if w.startswith("suite_") else f"suite_{w}") not in known]
    t0 = time.monotonic()
    # two at a time: the machine has 2 cores, and most cases wait on child processes
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(lambda s: run_suite(s[0], s[1], verbose), suites))
    print()
    print(f"{'suite':<20} {'tried':>6} {'held':>6} {'failed':>7} {'skipped':>8} {'seconds':>8}")
    total = held = failed = skipped = 0
    for title, box, dt in results:
        t = len(box.cases)
        h = sum(1 for c in box.cases if c.held)
        f = sum(1 for c in box.cases if c.held is False)
        s = sum(1 for c in box.cases if c.held is None)
        total, held, failed, skipped = total + t, held + h, failed + f, skipped + s
        print(f"{title:<20} {t:>6} {h:>6} {f:>7} {s:>8} {dt:>8.0f}")
    print(f"{'all':<20} {total:>6} {held:>6} {failed:>7} {skipped:>8} {time.monotonic() - t0:>8.0f}")
    print(f"reliability: {held} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
