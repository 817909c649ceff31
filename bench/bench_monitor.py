"""Monitoring overhead: one box sample, the sampler's CPU share at 1 Hz, one alert evaluation.

Targets: a sample well under 100 ms (it runs every second), the sampler under 2% of one core,
an alert evaluation of the default rules well under 1 ms (it runs twice a second in every job).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psutil  # noqa: E402

from engine.alerts import AlertEvaluator, build_metrics, default_rules  # noqa: E402
from engine.monitor import NvmlSource, Sampler, SystemProbe, take_sample  # noqa: E402


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ws = Path(tmp)
        probe, source = SystemProbe(), NvmlSource()
        time.sleep(0.2)
        times = []
        for _ in range(20):
            t0 = time.perf_counter()
            sample = take_sample(probe, source, {"workspace": ws})
            times.append((time.perf_counter() - t0) * 1000)
        print(f"FIGURE monitor_sample_ms {statistics.median(times):.1f} ms [target < 100 ms, {len(psutil.pids())} processes]")

        sampler = Sampler(ws, interval_s=1.0, idle_exit_s=None)
        stop = threading.Event()
        thread = threading.Thread(target=sampler.run, args=(stop,))
        cpu0 = time.process_time()
        t0 = time.monotonic()
        thread.start()
        time.sleep(10)
        stop.set()
        thread.join()
        share = 100 * (time.process_time() - cpu0) / (time.monotonic() - t0)
        print(f"FIGURE monitor_sampler_cpu_pct {share:.2f} % [target < 2% of one core at 1 Hz]")

        ev = AlertEvaluator(default_rules(budget_usd=100.0))
        state = {"status": "running", "heartbeat": time.time(), "counters": {"ok": 900, "failed": 10, "done": 910},
                 "figures": {"error_rate_recent": 0.01, "attempts": 1000}, "cost_usd": 3.0, "cost_projected_usd": 9.0}
        n = 5000
        t0 = time.perf_counter()
        for _ in range(n):
            ev.evaluate(build_metrics(state, sample))
        print(f"FIGURE alert_eval_us {(time.perf_counter() - t0) / n * 1e6:.1f} us [target < 1000 us]")


if __name__ == "__main__":
    main()
