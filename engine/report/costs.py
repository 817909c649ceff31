"""Cost and time per SWE-bench instance from the rollout runs that produced the predictions.

A rollout run is a processing run (``rollout process``: its run.json names its output file) or
a response JSONL file in the OpenAI Batch output format. Every answered line's custom_id is an
instance id, with ``__pass<N>`` (or ``|<N>``) for pass@k samples: the samples of one instance,
and every stage's run, add up to that instance.

- cost: a line's usage at the model's token price (config ``[prices]``, then genai-prices); a
  GPU-hour priced (self-hosted) run's cost, from its state, is shared out by the lines' tokens;
  unknown price → no cost (unknown is not free).
- time: a run's wall time shared out by completion tokens (generation dominates a request's time);
  a bare response file has no wall time.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import orjson

from engine.batchio import parse_custom_id
from engine.config import Price
from engine.cost import resolve_price, token_cost_usd
from engine.errors import InputError
from engine.runs import find_run


@dataclass
class InstanceCost:
    """What the rollout runs spent on one instance."""

    cost_usd: float | None = None
    samples: int = 0
    time_s: float | None = None
    tokens: int = 0
    _sample_ids: set[Any] = field(default_factory=set, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"cost_usd": self.cost_usd, "samples": self.samples, "time_s": self.time_s, "tokens": self.tokens}


@dataclass
class _Line:
    instance: str
    sample: int | None
    model: str | None
    prompt: int
    completion: int
    cached: int


def _read_lines(path: Path) -> list[_Line]:
    out = []
    try:
        fh = open(path, "rb")
    except OSError as exc:
        raise InputError(f"{path}: cannot read rollout output ({exc.strerror}): check --rollout-runs") from None
    with fh:
        for raw in fh:
            try:
                rec = orjson.loads(raw)
            except orjson.JSONDecodeError:
                continue  # a torn last line of a running job
            resp = rec.get("response") if isinstance(rec, dict) else None
            if not isinstance(resp, dict) or resp.get("status_code") != 200 or not isinstance(rec.get("custom_id"), str):
                continue
            body = resp.get("body") if isinstance(resp.get("body"), dict) else {}
            usage = body.get("usage") if isinstance(body.get("usage"), dict) else {}
            details = usage.get("prompt_tokens_details") if isinstance(usage.get("prompt_tokens_details"), dict) else {}
            instance, sample = parse_custom_id(rec["custom_id"])
            out.append(_Line(instance, sample, body.get("model"), int(usage.get("prompt_tokens") or 0),
                             int(usage.get("completion_tokens") or 0), int(details.get("cached_tokens") or 0)))
    return out


def _source(ref: str, workspace: Path) -> tuple[Path, float | None, float | None]:
    """(output file, run cost_usd from its state, run wall seconds) of one rollout reference."""
    p = Path(ref).expanduser()
    if p.is_file():
        return p, None, None
    run = find_run(workspace, ref)
    outputs = run.read_run().get("outputs") or {}
    out = outputs.get("output") if isinstance(outputs, dict) else None
    if not out:
        raise InputError(f"run {run.run_id} names no output file: pass a processing run or a response JSONL file")
    state = run.read_state()
    cost = state.get("cost_usd") if isinstance(state.get("cost_usd"), (int, float)) else None
    elapsed = state.get("elapsed_s") if isinstance(state.get("elapsed_s"), (int, float)) else None
    return Path(out), cost, elapsed


def costs_from_rollouts(refs: list[str], workspace: Path, prices: Mapping[str, Price] | None = None) -> dict[str, InstanceCost]:
    """Cost, samples and time per instance id over every referenced rollout run."""
    per: dict[str, InstanceCost] = defaultdict(InstanceCost)
    price_cache: dict[str | None, Price | None] = {}
    for ref in refs:
        path, run_cost, run_elapsed = _source(ref, workspace)
        lines = _read_lines(path)
        total_tokens = sum(ln.prompt + ln.completion for ln in lines) or 1
        total_completion = sum(ln.completion for ln in lines)
        for ln in lines:
            if ln.model not in price_cache:
                price_cache[ln.model] = resolve_price(ln.model, prices or {}).price
            price = price_cache[ln.model]
            if price is not None and price.gpu_hour_usd is None:
                cost: float | None = token_cost_usd(price, ln.prompt, ln.completion, ln.cached)
            elif run_cost is not None:
                cost = run_cost * (ln.prompt + ln.completion) / total_tokens
            else:
                cost = None
            ic = per[ln.instance]
            if cost is not None:
                ic.cost_usd = round((ic.cost_usd or 0.0) + cost, 6)
            if run_elapsed is not None:
                share = ln.completion / total_completion if total_completion else 1 / len(lines)
                ic.time_s = round((ic.time_s or 0.0) + run_elapsed * share, 3)
            ic.tokens += ln.prompt + ln.completion
            ic._sample_ids.add(ln.sample if ln.sample is not None else 0)
            ic.samples = len(ic._sample_ids)
    return dict(per)
