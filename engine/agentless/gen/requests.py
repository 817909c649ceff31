"""Build OpenAI Batch request lines for the stages: body fields, thinking flags, pass@k ids, temperatures.

Body fields follow the seed's batch rollout: ``model``, one user message, ``max_tokens``,
``temperature``, ``top_p`` 0.95. Thinking is asked for in the forms servers understand:
``chat_template_kwargs: {enable_thinking, thinking_budget}`` (SGLang / vLLM chat templates, e.g.
Qwen3) and the top-level ``enable_thinking`` / ``thinking_budget`` the seed sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from engine.batchio import make_custom_id

TOP_P = 0.95
ThinkingStyle = Literal["both", "sglang", "toplevel"]
TempPolicy = Literal["auto", "greedy-first", "uniform"]


@dataclass(frozen=True)
class SamplingConfig:
    """What every request of a stage shares."""

    model: str
    max_tokens: int = 4096
    temperature: float = 0.8
    top_p: float = TOP_P
    passk: int = 1
    #: None: send no thinking fields (the server's default); True/False: ask for / switch off thinking
    enable_thinking: bool | None = None
    thinking_budget: int | None = None
    thinking_style: ThinkingStyle = "both"
    #: "auto": greedy first sample for the test writer when passk > 1 (the seed's behaviour),
    #: uniform for the bug fixer; "greedy-first" / "uniform" force one policy for both roles
    temp_policy: TempPolicy = "auto"


def temperature_for(cfg: SamplingConfig, sample: int, role: str) -> float:
    """The temperature of sample ``sample`` (0-based) under the configured policy."""
    policy = cfg.temp_policy
    if policy == "auto":
        policy = "greedy-first" if role == "testwriter" else "uniform"
    if policy == "greedy-first" and cfg.passk > 1 and sample == 0:
        return 0.0
    return cfg.temperature


def chat_body(cfg: SamplingConfig, prompt: str, temperature: float) -> dict[str, Any]:
    """One chat-completions body with the thinking fields in the configured forms."""
    body: dict[str, Any] = {
        "model": cfg.model,
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": cfg.max_tokens,
        "temperature": temperature,
        "top_p": cfg.top_p,
    }
    if cfg.enable_thinking is not None or cfg.thinking_budget:
        # a budget alone means thinking is wanted
        enabled = cfg.enable_thinking if cfg.enable_thinking is not None else True
        kwargs: dict[str, Any] = {"enable_thinking": enabled}
        if cfg.thinking_budget and enabled:
            kwargs["thinking_budget"] = int(cfg.thinking_budget)
        if cfg.thinking_style in ("both", "sglang"):
            body["chat_template_kwargs"] = dict(kwargs)
        if cfg.thinking_style in ("both", "toplevel"):
            body.update(kwargs)
    return body


def request_line(custom_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI Batch request line."""
    return {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body}


def sample_lines(cfg: SamplingConfig, instance_id: str, prompt: str, role: str,
                 samples: list[int] | None = None) -> list[dict[str, Any]]:
    """The request lines of one instance: one, or ``<id>__pass<N>`` for N in 0..passk-1."""
    out = []
    for n in (samples if samples is not None else range(cfg.passk)):
        cid = make_custom_id(instance_id, n, cfg.passk)
        out.append(request_line(cid, chat_body(cfg, prompt, temperature_for(cfg, n, role))))
    return out
