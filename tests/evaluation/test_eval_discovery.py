"""Checkpoint discovery: every naming scheme, nested matches, sort order, solution files."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import InputError
from engine.evaluation.discovery import (
    discover_checkpoints,
    find_solution_files,
    label,
    match_checkpoint,
)


@pytest.mark.parametrize("name,scheme,step", [
    ("checkpoint-500", "hf", 500),
    ("checkpoint_49", "accelerate", 49),
    ("global_step_98", "verl", 98),
    ("global_step500", "deepspeed", 500),
    ("global_step500_hf", "openrlhf", 500),
    ("iter_0000100", "megatron", 100),
    ("step_7", "step", 7),
])
def test_every_scheme_matches(name: str, scheme: str, step: int) -> None:
    assert match_checkpoint(name) == (scheme, step)


@pytest.mark.parametrize("name", ["checkpoint", "checkpoint-latest", "latest", "global_step", "iter_x", "step7", "my_checkpoint-5"])
def test_non_checkpoints_do_not_match(name: str) -> None:
    assert match_checkpoint(name) is None


def _touch(p: Path, text: str = '{"task_id": "HumanEval/0", "completion": ""}\n') -> None:
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)


def test_nested_matches_keep_outermost_and_sort_by_int_step(tmp_path: Path) -> None:
    root = tmp_path / "run"
    _touch(root / "global_step_98" / "actor" / "checkpoint-5" / "inner.jsonl")
    _touch(root / "global_step_98" / "a.jsonl")
    _touch(root / "sub" / "checkpoint-1000" / "s.jsonl")
    _touch(root / "iter_0000100" / "x" / "y.jsonl")
    _touch(root / "checkpoint_9" / "z.jsonl")
    (root / "global_step500_hf").mkdir()
    (root / "latest").write_text("global_step500")
    cps = discover_checkpoints(root)
    assert [(c.step, c.name) for c in cps] == [
        (9, "checkpoint_9"), (98, "global_step_98"), (100, "iter_0000100"), (500, "global_step500_hf"),
        (1000, "checkpoint-1000"),
    ]
    # step 1000 sorts after 500 (ints, not strings), and the nested checkpoint-5 is part of step 98
    step98 = cps[1]
    assert step98.rel_files() == ["a.jsonl", "actor/checkpoint-5/inner.jsonl"]
    assert cps[2].rel_files() == ["x/y.jsonl"]
    assert cps[3].files == ()


def test_root_itself_may_be_a_checkpoint(tmp_path: Path) -> None:
    _touch(tmp_path / "checkpoint-7" / "s.jsonl")
    cps = discover_checkpoints(tmp_path / "checkpoint-7")
    assert [(c.step, c.scheme) for c in cps] == [(7, "hf")]


def test_same_step_two_schemes_gets_distinct_labels(tmp_path: Path) -> None:
    (tmp_path / "checkpoint-500").mkdir()
    (tmp_path / "global_step500").mkdir()
    cps = discover_checkpoints(tmp_path)
    assert sorted(label(c, cps) for c in cps) == ["500_checkpoint-500", "500_global_step500"]


def test_solution_files_skip_our_own_results(tmp_path: Path) -> None:
    _touch(tmp_path / "a.jsonl")
    _touch(tmp_path / "b.results.jsonl")
    _touch(tmp_path / "eval_checkpoint_1" / "c.jsonl")
    _touch(tmp_path / "notes.txt")
    assert [p.name for p in find_solution_files(tmp_path)] == ["a.jsonl"]


def test_missing_dir_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        discover_checkpoints(tmp_path / "nope")
