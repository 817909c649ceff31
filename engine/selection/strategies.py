"""The selection strategies. Every choice rests on a keyed hash of (seed, instance id), so the
same seed gives the same list on every machine (no RNG state, no dict or set order).

- **stratified**: the count per repo follows the dataset's proportions (largest remainders, so
  each repo is within one of its exact share); inside a repo, the same by difficulty when the
  dataset has it (Verified).
- **representative**: first one instance of every repo (largest first) and of every patch-size
  bin (quantiles of the gold patch's changed lines), then proportional over (repo, bin) cells.
- **random**: the lowest hash ranks.

Baseline ids are always in the list and count towards the targets.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Callable, Hashable, Iterable

from engine.errors import InputError
from engine.swebench.dataset import EvalInstance


def rank(seed: int, instance_id: str) -> bytes:
    return hashlib.blake2b(f"{seed}\0{instance_id}".encode(), digest_size=12).digest()


@dataclass
class SelectionResult:
    ids: list[str]
    strategy: str
    seed: int
    baseline: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _fill(target: int, chosen: list[str], pool: list[EvalInstance], key: Callable[[EvalInstance], Hashable],
          seed: int, weights: dict[Hashable, float] | None = None) -> None:
    """Add instances of ``pool`` to ``chosen`` until it holds ``target``, one at a time to the cell
    whose exact share minus its current count is largest (Hamilton's largest remainders)."""
    taken = set(chosen)
    cells: dict[Hashable, list[EvalInstance]] = defaultdict(list)
    for inst in sorted(pool, key=lambda i: rank(seed, i.instance_id)):
        cells[key(inst)].append(inst)
    size = weights or {k: float(len(v)) for k, v in cells.items()}
    total = sum(size.values()) or 1.0
    have = Counter(key(i) for i in pool if i.instance_id in taken)
    free = {k: [i for i in v if i.instance_id not in taken] for k, v in cells.items()}
    while len(chosen) < target:
        open_cells = [k for k in cells if free[k]]
        if not open_cells:
            break
        best = max(open_cells, key=lambda k: (size.get(k, 0.0) * target / total - have[k], size.get(k, 0.0), str(k)))
        inst = free[best].pop(0)
        chosen.append(inst.instance_id)
        taken.add(inst.instance_id)
        have[best] += 1


def _size_bins(instances: list[EvalInstance], bins: int) -> dict[str, int]:
    """Bin index per instance: quantiles of the gold patch's changed lines."""
    sizes = sorted(i.patch_lines for i in instances)
    edges = [sizes[min(int(len(sizes) * q / bins), len(sizes) - 1)] for q in range(1, bins)]
    out = {}
    for i in instances:
        b = sum(1 for e in edges if i.patch_lines > e)
        out[i.instance_id] = b
    return out


def select(instances: dict[str, EvalInstance], strategy: str, n: int, *, seed: int = 0,
           baseline: Iterable[str] = (), size_bins: int = 3) -> SelectionResult:
    """Choose ``n`` instance ids (baseline ones first, in their order; then by strategy)."""
    base = list(dict.fromkeys(baseline))
    unknown = [b for b in base if b not in instances]
    if unknown:
        raise InputError(f"--ensure-baseline: {len(unknown)} id(s) not in the dataset, e.g. {unknown[0]}: check the file and --dataset")
    res = SelectionResult([], strategy, seed, baseline=base)
    if n > len(instances):
        raise InputError(f"--n {n} is more than the dataset's {len(instances)} instances: lower --n")
    if len(base) > n:
        res.warnings.append(f"the baseline has {len(base)} ids, more than --n {n}: all of them are kept")
        n = len(base)
    chosen = list(base)
    pool = list(instances.values())
    if strategy == "random":
        _fill(n, chosen, pool, key=lambda i: 0, seed=seed)
    elif strategy == "stratified":
        _stratified(n, chosen, pool, seed)
    elif strategy == "representative":
        _representative(n, chosen, pool, seed, size_bins, res)
    else:
        raise InputError(f"unknown strategy {strategy!r}: use stratified, representative or random")
    res.ids = chosen
    return res


def _stratified(n: int, chosen: list[str], pool: list[EvalInstance], seed: int) -> None:
    # repo counts first (so every repo is within one of its share), then difficulty inside each repo
    by_id = {i.instance_id: i for i in pool}
    probe = list(chosen)
    _fill(n, probe, pool, key=lambda i: i.repo, seed=seed)
    if not any(i.difficulty for i in pool):
        chosen[:] = probe
        return
    quota = Counter(by_id[i].repo for i in probe)
    result = list(chosen)
    for repo in sorted(quota):
        sub = [c for c in result if by_id[c].repo == repo]
        before = len(sub)
        _fill(max(quota[repo], before), sub, [i for i in pool if i.repo == repo],
              key=lambda i: i.difficulty or "", seed=seed)
        result.extend(sub[before:])
    chosen[:] = result


def _representative(n: int, chosen: list[str], pool: list[EvalInstance], seed: int, bins: int,
                    res: SelectionResult) -> None:
    bin_of = _size_bins(pool, bins)
    taken = set(chosen)
    repos = Counter(i.repo for i in pool)
    covered_bins = Counter(bin_of[i] for i in chosen)
    covered_repos = {i.repo for i in pool if i.instance_id in taken}
    ranked = sorted(pool, key=lambda i: rank(seed, i.instance_id))
    order = sorted(repos, key=lambda r: (-repos[r], r))
    if n - len(chosen) < len([r for r in order if r not in covered_repos]):
        res.warnings.append(f"--n {n} cannot cover all {len(repos)} repos: the largest ones are covered")
    for repo in order:
        if len(chosen) >= n or repo in covered_repos:
            continue
        cands = [i for i in ranked if i.repo == repo and i.instance_id not in taken]
        best = min(cands, key=lambda i: (covered_bins[bin_of[i.instance_id]], rank(seed, i.instance_id)))
        chosen.append(best.instance_id)
        taken.add(best.instance_id)
        covered_bins[bin_of[best.instance_id]] += 1
        covered_repos.add(repo)
    for b in range(bins):
        if len(chosen) >= n or covered_bins[b]:
            continue
        cands = [i for i in ranked if bin_of[i.instance_id] == b and i.instance_id not in taken]
        if cands:
            chosen.append(cands[0].instance_id)
            taken.add(cands[0].instance_id)
            covered_bins[b] += 1
    _fill(n, chosen, pool, key=lambda i: (i.repo, bin_of[i.instance_id]), seed=seed)
