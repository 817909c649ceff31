"""Separate a model's reasoning from its answer, and unwrap fenced blocks.

Reasoning arrives as ``<think>...</think>``, Kimi-style ``◁think▷...◁/think▷``, or in the
``reasoning_content`` field (SGLang/vLLM reasoning parsers). An answer that ends inside an
unclosed think block has no answer at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_PAIRS = (("<think>", "</think>"), ("◁think▷", "◁/think▷"), ("<thinking>", "</thinking>"), ("<reasoning>", "</reasoning>"))
_FENCE_RE = re.compile(r"```[ \t]*([\w.+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)


@dataclass
class SplitAnswer:
    """``answer`` is what the model said after reasoning; ``reasoning`` what it thought."""

    answer: str
    reasoning: str


def split_reasoning(content: str | None, reasoning_content: str | None = None) -> SplitAnswer:
    """Strip every think block from ``content``; text after a closing tag with no opener counts as answer.

    A ``</think>`` without an opening tag (templates that put ``<think>`` in the prompt) means all
    text before it is reasoning. An opening tag that is never closed means the answer was cut off
    inside the reasoning: the answer is empty.
    """
    text = content or ""
    thoughts: list[str] = [reasoning_content] if reasoning_content else []
    for open_tag, close_tag in _PAIRS:
        if close_tag in text and open_tag not in text.split(close_tag, 1)[0]:
            before, text = text.split(close_tag, 1)
            thoughts.append(before)
        while open_tag in text:
            before, rest = text.split(open_tag, 1)
            if close_tag in rest:
                inner, after = rest.split(close_tag, 1)
                thoughts.append(inner)
                text = before + after
            else:
                thoughts.append(rest)
                text = before
    return SplitAnswer(answer=text.strip(), reasoning="\n".join(t.strip() for t in thoughts if t and t.strip()))


def strip_reasoning(content: str | None, reasoning_content: str | None = None) -> str:
    """The answer without reasoning (see :func:`split_reasoning`)."""
    return split_reasoning(content, reasoning_content).answer


def fenced_blocks(text: str, language: str | None = None) -> list[str]:
    """The bodies of ```fenced``` blocks (optionally only those tagged ``language``); an unclosed last fence counts."""
    out = []
    for m in _FENCE_RE.finditer(text):
        if language is None or m.group(1).lower() == language.lower():
            out.append(m.group(2))
    return out
