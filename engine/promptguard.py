"""The prompt-size guard: a request whose prompt cannot fit the model's context is never written
or sent.

The limit, in this order (:func:`resolve_limit`):

1. ``--max_prompt_tokens N``: the estimated prompt alone must not exceed N; ``0`` switches the
   guard off;
2. otherwise the estimated prompt plus the request's ``max_tokens`` must fit the model's context
   length, taken from the endpoint when it answers (``/v1/models``' ``max_model_len``, as vLLM and
   SGLang report it; else SGLang's ``/get_model_info``), else from the config (the endpoint's
   ``context_length``, then the top-level one), else from ``--context_length`` (default
   :data:`DEFAULT_CONTEXT_LENGTH`).

Prompt sizes are estimates (:mod:`engine.agentless.tokens`: tiktoken when its encoding is cached,
else UTF-8 bytes / 3, which errs high): the failure detail names the estimate and the limit.
Standard library only (urllib), so importing it stays cheap.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

#: the context length assumed when neither the endpoint, the config nor a flag says (128k tokens)
DEFAULT_CONTEXT_LENGTH = 131072
#: how long the endpoint may take to say its context length before the config decides
DISCOVERY_TIMEOUT_S = 2.0
_KEYS = ("max_model_len", "context_length", "max_context_length", "max_position_embeddings")


@dataclass(frozen=True)
class PromptLimit:
    """When a prompt is too long to send (picklable: workers get a copy)."""

    #: an explicit cap on the estimated prompt (``--max_prompt_tokens N``)
    max_prompt_tokens: int | None = None
    #: the model's context length: prompt + max_tokens must fit
    context_length: int | None = None
    #: where ``context_length`` came from (a URL, "config", "--context_length", "default")
    source: str = ""

    @property
    def off(self) -> bool:
        return not self.max_prompt_tokens and not self.context_length

    def problem(self, prompt_tokens: int, max_tokens: int | None) -> str | None:
        """Why a prompt of ``prompt_tokens`` (estimated) with ``max_tokens`` cannot be sent, or None."""
        if self.max_prompt_tokens:
            if prompt_tokens > self.max_prompt_tokens:
                return f"{prompt_tokens} estimated prompt tokens > {self.max_prompt_tokens} (--max_prompt_tokens)"
            return None
        budget = max_tokens or 0
        if self.context_length and prompt_tokens + budget > self.context_length:
            return (f"{prompt_tokens} estimated prompt tokens + {budget} max_tokens > {self.context_length} "
                    f"context length ({self.source}); --max_prompt_tokens 0 sends it anyway")
        return None

    def figures(self) -> dict[str, Any]:
        """For the run's figures."""
        if self.off:
            return {"prompt_limit": "off"}
        if self.max_prompt_tokens:
            return {"prompt_limit": f"{self.max_prompt_tokens} prompt tokens (--max_prompt_tokens)"}
        return {"prompt_limit": f"prompt + max_tokens <= {self.context_length}", "context_length": self.context_length,
                "context_length_source": self.source}


#: where an endpoint says its context length, in the order asked
CONTEXT_PATHS = ("/v1/models", "/get_model_info")


def context_length_in(obj: Any) -> int | None:
    """A context length in a /v1/models or /get_model_info answer (top level or its models)."""
    candidates = [obj]
    if isinstance(obj, dict) and isinstance(obj.get("data"), list):
        candidates += obj["data"]
    for item in candidates:
        if not isinstance(item, dict):
            continue
        for key in _KEYS:
            value = item.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                return value
    return None


def fetch_context_length(base_url: str, headers: dict[str, str] | None = None,
                         timeout: float = DISCOVERY_TIMEOUT_S) -> tuple[int | None, str]:
    """``(context length, the URL that said it)`` from an endpoint, or ``(None, "")`` when it does
    not answer or does not say. ``base_url`` is the server's root (``http://host:port``)."""
    import urllib.error  # only when an endpoint is asked: http.client is not cheap to import
    import urllib.request

    base = base_url.rstrip("/").removesuffix("/v1")
    for path in CONTEXT_PATHS:
        url = base + path
        req = urllib.request.Request(url, headers=dict(headers or {}))
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (http(s) URLs from flags/config)
                obj = json.loads(resp.read(1 << 20))
        except (urllib.error.URLError, OSError, ValueError):
            continue
        n = context_length_in(obj)
        if n:
            return n, url
    return None, ""


def config_context_length(config: Any, endpoint_name: str | None = None) -> int | None:
    """The config's context length: the named (else the default) endpoint's, else the top-level one."""
    if config is None:
        return None
    name = endpoint_name or getattr(config, "default_endpoint", None)
    endpoint = (getattr(config, "endpoints", None) or {}).get(name) if name else None
    return getattr(endpoint, "context_length", None) or getattr(config, "context_length", None)


def config_endpoint_url(config: Any) -> str | None:
    """The default endpoint's URL from the config, if it names one."""
    name = getattr(config, "default_endpoint", None) if config is not None else None
    endpoint = (getattr(config, "endpoints", None) or {}).get(name) if name else None
    return getattr(endpoint, "url", None)


def resolve_limit(max_prompt_tokens: int | None, *, url: str | None = None, headers: dict[str, str] | None = None,
                  config_context: int | None = None, flag_context: int | None = None,
                  discovered: tuple[int | None, str] | None = None) -> PromptLimit:
    """The limit in force (see the module docstring for the order). ``discovered``: what the
    caller already learnt from the endpoint (``(length, url)``, as :func:`fetch_context_length`
    gives), so ``url`` is not asked again."""
    if max_prompt_tokens is not None and max_prompt_tokens <= 0:
        return PromptLimit()
    if max_prompt_tokens:
        return PromptLimit(max_prompt_tokens=max_prompt_tokens)
    if discovered is not None or url:
        n, where = discovered if discovered is not None else fetch_context_length(url or "", headers)
        if n:
            return PromptLimit(context_length=n, source=where)
    if config_context:
        return PromptLimit(context_length=config_context, source="config")
    if flag_context:
        return PromptLimit(context_length=flag_context, source="--context_length")
    return PromptLimit(context_length=DEFAULT_CONTEXT_LENGTH, source="default; --context_length sets it")
