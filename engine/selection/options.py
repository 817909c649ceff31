"""The option model of ``rollout select`` (pydantic only: cheap to import)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

STRATEGIES = ("stratified", "representative", "random")


class SelectOptions(BaseModel):
    """``rollout select``: choose N instances of a dataset for a phase."""

    model_config = ConfigDict(extra="forbid")

    dataset: str = Field(description="Dataset name or local parquet/JSON/JSONL.")
    split: str = Field(default="test", description="Dataset split.")
    strategy: Literal["stratified", "representative", "random"] = Field(
        default="stratified", description="stratified: proportional by repo (and difficulty when present); "
        "representative: every repo and patch-size bin covered; random: a seeded sample.")
    n: int = Field(ge=1, description="How many instances to select (baseline ones included).")
    ensure_baseline: Path | None = Field(default=None, description="File of instance ids that are always selected (one per line or a JSON list).")
    seed: int = Field(default=0, description="Seed: the same seed gives the same list.")
    size_bins: int = Field(default=3, ge=1, le=10, description="representative: patch-size bins (quantiles of the gold patch's changed lines).")
    output: Path = Field(description="Where the ids go: one per line (.txt), or a JSON document (.json).")

    def argv(self) -> list[str]:
        """The equivalent ``rollout select`` command."""
        out = ["rollout", "select", "--dataset", self.dataset, "--strategy", self.strategy, "--n", str(self.n),
               "--output", str(self.output)]
        if self.split != "test":
            out += ["--split", self.split]
        if self.ensure_baseline is not None:
            out += ["--ensure-baseline", str(self.ensure_baseline)]
        if self.seed:
            out += ["--seed", str(self.seed)]
        if self.size_bins != 3:
            out += ["--size-bins", str(self.size_bins)]
        return out
