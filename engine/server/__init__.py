"""Launch, watch and stop OpenAI-compatible servers (SGLang first; vLLM and others by template).

Public API:

* :class:`ServerOptions` / :func:`build_launch` — what to run (argv list, no shell);
* :func:`launch_server` — async context manager giving a :class:`ServerHandle`
  (``wait_ready()``, ``url``, ``stop()``), used by ``rollout serve`` and ``rollout process --serve``;
* :func:`scrape_metrics` / :func:`scrape_metrics_async` -> :class:`ServerMetrics`;
* :func:`make_serve_job` — the ``serve`` job; :func:`stop_server_run` — stop a serve run's server
  even when its job process is gone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.lazy import lazy_attributes

if TYPE_CHECKING:
    from engine.server.command import LaunchSpec, ServerOptions, build_launch, free_port
    from engine.server.handle import ServerHandle, launch_server
    from engine.server.job import CleanupResult, make_serve_job, stop_server_run
    from engine.server.logparse import Diagnosis, diagnose, phase_of
    from engine.server.metrics import MetricsRates, ServerMetrics, parse_metrics, scrape_metrics, scrape_metrics_async
    from engine.server.process import ServerProcess, ServerRecord, StopReport, stop_record

# loaded on first use: the option models' module must stay cheap for `rollout --help`
_HOMES = {
    **dict.fromkeys(("LaunchSpec", "ServerOptions", "build_launch", "free_port"), "command"),
    **dict.fromkeys(("ServerHandle", "launch_server"), "handle"),
    **dict.fromkeys(("CleanupResult", "make_serve_job", "stop_server_run"), "job"),
    **dict.fromkeys(("Diagnosis", "diagnose", "phase_of"), "logparse"),
    **dict.fromkeys(("MetricsRates", "ServerMetrics", "parse_metrics", "scrape_metrics", "scrape_metrics_async"), "metrics"),
    **dict.fromkeys(("ServerProcess", "ServerRecord", "StopReport", "stop_record"), "process"),
}
__all__ = sorted(_HOMES)
__getattr__ = lazy_attributes(__name__, _HOMES)
