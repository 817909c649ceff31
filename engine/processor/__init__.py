"""The request processor: stream an OpenAI Batch request file through an OpenAI-compatible
endpoint, resumable and exactly once per custom_id (``rollout process``).

Modules, one job each: :mod:`.options` (settings), :mod:`.transport` (HTTP clients),
:mod:`.retry` (what to retry, how long to wait), :mod:`.resume` (which ids are done),
:mod:`.cache` (answers keyed by custom_id + body), :mod:`.ratelimit` (client-side rpm/tpm),
:mod:`.stats` (live latency/error figures), :mod:`.gate` (endpoint down → wait → resume), :mod:`.plan` (checks before a run),
:mod:`.job` (the pipeline and its entry function :func:`make_process_job`),
:mod:`.endpoints` (``--endpoint NAME`` from the config; local-server checks),
:mod:`.servermetrics` (the target server's /metrics into ``figures["server"]``),
:mod:`.serve` (``process --serve``: launch a server, process against it, stop it).

The names below load on first use (PEP 562): importing ``engine.processor.options`` for a
command's help must not pull aiohttp in, since every ``rollout`` start pays for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.lazy import lazy_attributes

if TYPE_CHECKING:
    from engine.processor.job import make_process_job, run_processing
    from engine.processor.options import ProcessOptions
    from engine.processor.plan import Plan, output_paths, prepare_run
    from engine.processor.serve import ServeSettings, make_serve_process_job

_HOMES = {
    "make_process_job": "job", "run_processing": "job", "ProcessOptions": "options", "Plan": "plan",
    "output_paths": "plan", "prepare_run": "plan", "ServeSettings": "serve", "make_serve_process_job": "serve",
}
__all__ = sorted(_HOMES)

__getattr__ = lazy_attributes(__name__, _HOMES)
