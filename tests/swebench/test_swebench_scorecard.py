"""Scorecard figures from harness-shaped report.json files built from real SWE-bench instances."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.config import ScorecardSettings, ScorecardWeights
from engine.report.scorecard import ERROR, SCORED, UNAPPLIED, overall_score, score_instance
from engine.report.split import public_count, split_tests
from engine.swebench.failures import classify_instance_log
from engine.swebench.reports import read_report
from swebench_helpers import LITE_DEV, LITE_TEST, VERIFIED, instances, write_report

SETTINGS = ScorecardSettings()


def _pick(path: Path, n_tests: int) -> object:
    return next(i for i in sorted(instances(path).values(), key=lambda i: i.instance_id) if len(i.tests) == n_tests)


def test_split_is_deterministic_and_70_30_on_every_lite_instance() -> None:
    total = public_total = 0
    for inst in instances(LITE_TEST).values():
        a = split_tests(inst.instance_id, inst.tests, 0.7, "seed-a")
        b = split_tests(inst.instance_id, list(inst.tests), 0.7, "seed-a")
        assert a == b
        n = len(inst.tests)
        assert set(a.public) | set(a.hidden) == set(inst.tests) and not set(a.public) & set(a.hidden)
        if n >= 2:
            assert a.public and a.hidden
            assert abs(len(a.public) - 0.7 * n) <= 1
        total += n
        public_total += len(a.public)
    assert 0.68 <= public_total / total <= 0.72


def test_split_seed_and_ratio_change_the_split() -> None:
    big = [i for i in instances(LITE_TEST).values() if len(i.tests) >= 20]
    assert big
    changed = sum(split_tests(i.instance_id, i.tests, 0.7, "a").public != split_tests(i.instance_id, i.tests, 0.7, "b").public
                  for i in big)
    assert changed >= len(big) * 0.9
    inst = big[0]
    assert len(split_tests(inst.instance_id, inst.tests, 0.5, "a").public) == public_count(len(inst.tests), 0.5)


def test_all_tests_pass_scores_one(tmp_path: Path) -> None:
    inst = _pick(LITE_TEST, 10)
    path = write_report(tmp_path, "m", inst, inst.tests)
    [rep] = read_report(path)
    sc = score_instance(inst, rep, SETTINGS)
    assert sc.status == SCORED and sc.resolved
    assert (sc.public_pass_rate, sc.hfs, sc.overfit_gap, sc.tss, sc.brs) == (1.0, 1.0, 0.0, 1.0, None)
    assert sc.overall == 1.0 and sc.success
    assert (sc.public_n, sc.hidden_n) == (7, 3)


def test_public_only_patch_overfits_exactly(tmp_path: Path) -> None:
    inst = _pick(LITE_TEST, 10)
    split = split_tests(inst.instance_id, inst.tests, SETTINGS.public_ratio, SETTINGS.split_seed)
    [rep] = read_report(write_report(tmp_path, "m", inst, split.public, resolved=False))
    sc = score_instance(inst, rep, SETTINGS, brs=1.0)
    assert (sc.public_pass_rate, sc.hfs, sc.overfit_gap, sc.tss) == (1.0, 0.0, 1.0, 0.7)
    # Overall = (0.4*0 + 0.3*0.7 + 0.2*1 + 0.1*0) / 1.0
    assert sc.overall == pytest.approx(0.41) and not sc.success and not sc.resolved


def test_two_test_instance_one_passes(tmp_path: Path) -> None:
    inst = _pick(LITE_DEV, 2) if any(len(i.tests) == 2 for i in instances(LITE_DEV).values()) else _pick(LITE_TEST, 2)
    split = split_tests(inst.instance_id, inst.tests, 0.7, SETTINGS.split_seed)
    assert len(split.public) == 1 and len(split.hidden) == 1
    [rep] = read_report(write_report(tmp_path, "m", inst, split.hidden))
    sc = score_instance(inst, rep, SETTINGS, brs=0.0)
    assert (sc.public_pass_rate, sc.hfs, sc.overfit_gap, sc.tss) == (0.0, 1.0, -1.0, 0.5)
    assert sc.overall == pytest.approx((0.4 * 1 + 0.3 * 0.5 + 0.2 * 0 + 0.1 * 0) / 1.0)


def test_f2p_failing_p2p_passing_on_verified(tmp_path: Path) -> None:
    inst = next(i for i in sorted(instances(VERIFIED).values(), key=lambda i: i.instance_id)
                if len(i.fail_to_pass) >= 2 and len(i.pass_to_pass) >= 8)
    split = split_tests(inst.instance_id, inst.tests, SETTINGS.public_ratio, SETTINGS.split_seed)
    passed = set(inst.pass_to_pass)
    [rep] = read_report(write_report(tmp_path, "m", inst, passed, resolved=False))
    sc = score_instance(inst, rep, SETTINGS)
    pub = sum(t in passed for t in split.public) / len(split.public)
    hid = sum(t in passed for t in split.hidden) / len(split.hidden)
    assert sc.public_pass_rate == round(pub, 6) and sc.hfs == round(hid, 6)
    assert sc.overfit_gap == round(round(pub, 6) - round(hid, 6), 6)
    assert sc.tss == round(len(inst.pass_to_pass) / len(inst.tests), 6)
    assert sc.overall == pytest.approx((0.4 * sc.hfs + 0.3 * sc.tss) / 0.8, abs=1e-6)
    assert sc.difficulty == inst.difficulty


def test_unapplied_and_error_statuses() -> None:
    inst = _pick(LITE_TEST, 10)
    empty = score_instance(inst, None, SETTINGS, empty_patch=True)
    assert empty.status == UNAPPLIED and empty.overall == 0.0 and empty.counted and not empty.success
    log = ("2026-12-01 08:06:48,875 - INFO - Image not found locally, attempting to pull...\n"
           "2026-12-01 08:06:48,916 - ERROR - Error creating container for x: 500 Server Error for http+docker://"
           "localhost/v1.41/images/create?tag=latest&fromImage=amd64.x: Internal Server Error (\"Get \"https://"
           "registry-1.docker.io/v2/\": dial tcp: lookup registry-1.docker.io: no such host\")\n")
    f = classify_instance_log(log, inst.instance_id)
    assert f is not None and f.reason == "image_unavailable" and f.infrastructure and "amd64.x" in f.message
    err = score_instance(inst, None, SETTINGS, failure=f)
    assert err.status == ERROR and err.overall is None and not err.counted
    patch = classify_instance_log("x - INFO - >>>>> Patch Apply Failed:\npatch: **** malformed\n", inst.instance_id)
    assert patch is not None and patch.reason == "patch_apply_failed"
    assert score_instance(inst, None, SETTINGS, failure=patch).status == UNAPPLIED


def test_weights_come_from_the_settings() -> None:
    s = ScorecardSettings(weights=ScorecardWeights(hfs=1, tss=0, brs=0, resolved=0))
    assert overall_score({"hfs": 0.25, "tss": 1.0, "brs": 1.0, "resolved": 1.0}, s) == 0.25
    assert overall_score({"hfs": None, "tss": 0.5, "brs": None, "resolved": 0.0}, SETTINGS) == pytest.approx(0.375)


def test_harness_infra_flag_makes_an_error(tmp_path: Path) -> None:
    inst = _pick(LITE_TEST, 10)
    path = tmp_path / "report.json"
    path.write_text(json.dumps({inst.instance_id: {"patch_is_None": False, "patch_exists": True,
                                                  "patch_successfully_applied": False, "resolved": False,
                                                  "infra_failure": True, "infra_failure_reason": "out_of_memory"}}))
    [rep] = read_report(path)
    sc = score_instance(inst, rep, SETTINGS)
    assert sc.status == ERROR and sc.failure["reason"] == "harness_out_of_memory"
