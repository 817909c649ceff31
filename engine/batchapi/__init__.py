"""Hosted Files + Batches APIs (OpenAI's, and servers that copy it): submit a request file,
detach, and collect the results later by run id (``rollout batch …``, ``process --via batch``).

Modules, one job each: :mod:`.options` (the jobs' parameters), :mod:`.split` (check and cut a
request file into parts within the limits, streamed), :mod:`.client` (the HTTP API),
:mod:`.connect` (URL and key sources), :mod:`.record` (``batch.json`` in the run directory),
:mod:`.figures` (live figures from the record), :mod:`.submit`, :mod:`.fetch` (append answers
exactly once per custom_id), :mod:`.follow` (poll with backoff, wait, fetch, resubmit, status,
cancel), :mod:`.via` (``process --via batch``).

Importing this package is cheap; the submodules load httpx only when used.
"""
