"""Parsing localization answers: reasoning, fences, bullets, numbering, paths that exist."""

from __future__ import annotations

from pathlib import Path

from engine.agentless.gen.localize import candidate_paths, parse_localization
from engine.agentless.structure import load_structure


def test_candidates_from_messy_answers() -> None:
    answer = "Here you go:\n```text\n1. `src/a.py`\n- b/c.py  # the cause\n* ./d.py\n(4) e\\f.py,\n```\nalso g.py"
    assert candidate_paths(answer) == ["src/a.py", "b/c.py", "d.py", "e/f.py"]
    assert candidate_paths("no fence\n  - x/y.py\n") == ["x/y.py"]


def test_parse_against_structure(fixtures: Path) -> None:
    st = load_structure(fixtures / "structures", "pallets__flask-4045")
    loc = parse_localization("◁think▷maybe app.py◁/think▷```\nflask/blueprints.py\nsrc/flask/app.py\nsrc/flask/app.py\nsrc/nope.py\n```", None, st)
    assert loc.found == ["src/flask/blueprints.py", "src/flask/app.py"] and loc.reason is None
    assert parse_localization("", "thinking only", st).reason == "reasoning_only"
    assert parse_localization("<think>cut off", None, st).reason == "reasoning_only"
    assert parse_localization("  ", None, st).reason == "empty_response"
    assert parse_localization("```\nREADME.rst\n```", None, st).reason == "no_files_found"
    many = "\n".join(p for p in st.python_files()[:8])
    assert len(parse_localization(many, None, st).found) == 5
