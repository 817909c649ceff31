"""The option model of ``rollout report`` (pydantic only: cheap to import)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

FORMATS = ("md", "json")


class ReportOptions(BaseModel):
    """``rollout report``: seed 004's scorecard report of one or more phases."""

    model_config = ConfigDict(extra="forbid")

    runs: list[str] = Field(min_length=1, description="Phases: 'rollout eval swebench' runs (id, prefix, folder) or harness folders logs/run_evaluation/<run_id>.")
    criteria: Path | None = Field(default=None, description="Phase criteria TOML (seed 004's table: 'seed004'); pass/fail per criterion.")
    phase: str | None = Field(default=None, description="The criteria phase to judge against (default: the one nearest the run's size).")
    formats: list[str] = Field(default_factory=lambda: ["md"], description="Output formats: md, json or both (md,json).")
    output: Path | None = Field(default=None, description="Write the report here (.md/.json added per format) instead of stdout.")
    plots: Path | None = Field(default=None, description="Write PNG plots (histograms, metric by phase) to this folder (needs matplotlib).")
    dataset: str | None = Field(default=None, description="Dataset of the harness folders (default: what the run recorded).")
    split: str | None = Field(default=None, description="Dataset split (default: what the run recorded, else test).")
    predictions: Path | None = Field(default=None, description="Predictions (empty patches count as unapplied).")
    repro: list[str] = Field(default_factory=list, description="Repro results (eval repro runs or repro.jsonl) for BRS.")
    rollout_runs: list[str] = Field(default_factory=list, description="Processing runs / response files behind the predictions, for cost and time.")

    @field_validator("formats")
    @classmethod
    def _formats(cls, v: list[str]) -> list[str]:
        out = [p.strip() for f in v for p in f.split(",") if p.strip()]
        bad = [f for f in out if f not in FORMATS]
        if bad or not out:
            raise ValueError(f"unknown format {bad[0] if bad else ''!r}: use md, json or md,json")
        return list(dict.fromkeys(out))

    def argv(self) -> list[str]:
        out = ["rollout", "report", "--runs", *self.runs]
        for name in ("criteria", "phase", "output", "plots", "dataset", "split", "predictions"):
            if getattr(self, name) is not None:
                out += ["--" + name, str(getattr(self, name))]
        if self.formats != ["md"]:
            out += ["--format", ",".join(self.formats)]
        for name in ("repro", "rollout_runs"):
            for v in getattr(self, name):
                out += ["--" + name.replace("_", "-"), v]
        return out
