"""Selection on the real Lite and Verified datasets: proportions, baseline, seeds, coverage, CLI."""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from engine.errors import InputError
from engine.selection.strategies import _size_bins, select
from swebench_helpers import LITE_TEST, VERIFIED, instances


@pytest.mark.parametrize("path,n", [(LITE_TEST, 50), (LITE_TEST, 10), (LITE_TEST, 100), (VERIFIED, 50)])
def test_stratified_proportions_within_one_per_repo(path: Path, n: int) -> None:
    data = instances(path)
    res = select(data, "stratified", n, seed=7)
    assert len(res.ids) == n == len(set(res.ids))
    got = Counter(data[i].repo for i in res.ids)
    share = Counter(i.repo for i in data.values())
    for repo, count in share.items():
        assert abs(got[repo] - count * n / len(data)) <= 1, (repo, got[repo], count * n / len(data))


def test_stratified_follows_difficulty_inside_repos_on_verified() -> None:
    data = instances(VERIFIED)
    res = select(data, "stratified", 100, seed=1)
    got = Counter(data[i].difficulty for i in res.ids)
    share = Counter(i.difficulty for i in data.values())
    for d, count in share.items():
        assert abs(got[d] - count * 100 / len(data)) <= 4  # one per repo at most, over a handful of repos


def test_baseline_kept_same_seed_same_list_other_seed_other_list() -> None:
    data = instances(LITE_TEST)
    baseline = ["psf__requests-1963", "pallets__flask-4045", "django__django-11099"]
    for strategy in ("stratified", "representative", "random"):
        a = select(data, strategy, 30, seed=3, baseline=baseline)
        b = select(data, strategy, 30, seed=3, baseline=baseline)
        c = select(data, strategy, 30, seed=4, baseline=baseline)
        assert a.ids == b.ids and a.ids[:3] == baseline and len(a.ids) == 30 == len(set(a.ids))
        assert set(c.ids) != set(a.ids) and c.ids[:3] == baseline


def test_stratified_with_baseline_still_within_one_per_repo() -> None:
    data = instances(LITE_TEST)
    baseline = ["psf__requests-1963", "pallets__flask-4045"]
    res = select(data, "stratified", 50, seed=0, baseline=baseline)
    got = Counter(data[i].repo for i in res.ids)
    for repo, count in Counter(i.repo for i in data.values()).items():
        assert abs(got[repo] - count * 50 / len(data)) <= 1, repo


def test_representative_covers_every_repo_and_size_bin() -> None:
    data = instances(LITE_TEST)
    res = select(data, "representative", 15, seed=2, size_bins=3)
    repos = {i.repo for i in data.values()}
    assert {data[i].repo for i in res.ids} == repos  # 12 repos in Lite test
    bins = _size_bins(list(data.values()), 3)
    assert {bins[i] for i in res.ids} == {0, 1, 2}
    small = select(data, "representative", 5, seed=2)
    assert small.warnings and len(small.ids) == 5


def test_bad_inputs_are_input_errors() -> None:
    data = instances(LITE_TEST)
    with pytest.raises(InputError, match="not in the dataset"):
        select(data, "random", 5, baseline=["nope__nope-1"])
    with pytest.raises(InputError, match="more than the dataset"):
        select(data, "random", 10_000)


def test_select_cli_writes_ids_and_json(tmp_path: Path, workspace: Path, rollout_cmd: list[str],
                                        child_env: dict[str, str]) -> None:
    base = tmp_path / "baseline.txt"
    base.write_text("# phase-1 instances\npsf__requests-1963\n")
    out = tmp_path / "phase2.txt"
    cmd = rollout_cmd + ["select", "--dataset", str(LITE_TEST), "--strategy", "stratified", "--n", "10",
                         "--ensure-baseline", str(base), "--seed", "5", "--output", str(out)]
    r = subprocess.run(cmd, env=child_env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    ids = out.read_text().split()
    assert len(ids) == 10 and ids[0] == "psf__requests-1963"
    assert "django/django" in r.stdout
    js = tmp_path / "phase2.json"
    r = subprocess.run(cmd[:-1] + [str(js)], env=child_env, capture_output=True, text=True, timeout=120)
    doc = json.loads(js.read_text())
    assert doc["ids"] == ids and doc["strategy"] == "stratified" and doc["seed"] == 5
    r = subprocess.run(rollout_cmd + ["select", "--dataset", str(LITE_TEST), "--strategy", "clever", "--n", "3",
                                      "--output", str(out)], env=child_env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "stratified, representative, random" in r.stderr
