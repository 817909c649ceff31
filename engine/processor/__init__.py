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
"""

from engine.processor.job import make_process_job, run_processing
from engine.processor.options import ProcessOptions
from engine.processor.plan import Plan, output_paths, prepare_run
from engine.processor.serve import ServeSettings, make_serve_process_job

__all__ = ["Plan", "ProcessOptions", "ServeSettings", "make_process_job", "make_serve_process_job", "output_paths",
           "prepare_run", "run_processing"]
