"""Launch, watch and stop OpenAI-compatible servers (SGLang first; vLLM and others by template).

Public API:

* :class:`ServerOptions` / :func:`build_launch` — what to run (argv list, no shell);
* :func:`launch_server` — async context manager giving a :class:`ServerHandle`
  (``wait_ready()``, ``url``, ``stop()``), used by ``rollout serve`` and ``rollout process --serve``;
* :func:`scrape_metrics` / :func:`scrape_metrics_async` -> :class:`ServerMetrics`;
* :func:`make_serve_job` — the ``serve`` job; :func:`stop_server_run` — stop a serve run's server
  even when its job process is gone.
"""

from engine.server.command import LaunchSpec, ServerOptions, build_launch, free_port
from engine.server.handle import ServerHandle, launch_server
from engine.server.job import CleanupResult, make_serve_job, stop_server_run
from engine.server.logparse import Diagnosis, diagnose, phase_of
from engine.server.metrics import MetricsRates, ServerMetrics, parse_metrics, scrape_metrics, scrape_metrics_async
from engine.server.process import ServerProcess, ServerRecord, StopReport, stop_record

__all__ = [
    "CleanupResult", "Diagnosis", "LaunchSpec", "MetricsRates", "ServerHandle", "ServerMetrics", "ServerOptions",
    "ServerProcess", "ServerRecord", "StopReport", "build_launch", "diagnose", "free_port", "launch_server",
    "make_serve_job", "parse_metrics", "phase_of", "scrape_metrics", "scrape_metrics_async", "stop_record",
    "stop_server_run",
]
