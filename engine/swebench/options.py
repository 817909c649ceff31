"""The option models of ``rollout eval swebench`` and ``rollout eval repro`` (pydantic only: cheap to import)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_DATASET = "SWE-bench/SWE-bench_Lite"


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: fields that are positional/trailing in argv (``-- harness args``)
    _trailing: tuple[str, ...] = ()

    def argv(self) -> list[str]:
        """The ``rollout …`` command that runs with these options (defaults left out)."""
        out = list(self._command())
        trailing: list[str] = []
        for name, field in type(self).model_fields.items():
            value = getattr(self, name)
            if name in self._trailing:
                trailing = [str(v) for v in value]
                continue
            if value == field.default or value is None or value == []:
                continue
            if isinstance(value, bool):
                out.append(_flag(name) if value else "--no-" + name.replace("_", "-"))
            elif isinstance(value, list):
                for v in value:
                    out += [_flag(name), str(v)]
            else:
                out += [_flag(name), str(value)]
        return out + (["--", *trailing] if trailing else [])

    def _command(self) -> list[str]:  # pragma: no cover - every model overrides it
        raise NotImplementedError


class _HarnessOptions(_Options):
    """What every harness-driving job takes."""

    _trailing = ("harness_args",)

    dataset: str = Field(default=DEFAULT_DATASET, description="Dataset name or local parquet/JSON/JSONL the harness grades against.")
    split: str = Field(default="test", description="Dataset split.")
    max_workers: int = Field(default=4, ge=1, description="Instances evaluated at once (harness --max_workers).")
    instance_ids: list[str] = Field(default_factory=list, description="Only these instances (default: all).")
    work_dir: Path = Field(default=Path("."), description="Folder where the harness writes logs/run_evaluation/ (and its summary).")
    stall_after: float = Field(default=900.0, gt=0, description="Flag an instance whose logs have not grown for this many seconds.")
    harness_python: str | None = Field(default=None, description="Python interpreter that runs the harness (default: this one; env ROLLOUT_SWEBENCH_PYTHON).")
    harness_args: list[str] = Field(default_factory=list, description="Extra arguments passed to the harness as they are (after --).")


class SwebenchEvalOptions(_HarnessOptions):
    """``rollout eval swebench``: the official harness on a predictions file, followed live."""

    predictions: Path = Field(description="Predictions JSONL/JSON (instance_id, model_name_or_path, model_patch).")
    run_id: str | None = Field(default=None, description="Harness run id (default: a new swebench-<time>-<hex>). Same id = resume: graded instances are skipped.")
    timeout: int = Field(default=1800, ge=1, description="Seconds per instance's tests (harness --timeout).")
    repro: list[str] = Field(default_factory=list, description="Repro results (eval repro run or repro.jsonl) for BRS.")
    rollout_runs: list[str] = Field(default_factory=list, description="Processing runs / response files behind the predictions, for cost and time per instance.")

    def _command(self) -> list[str]:
        return ["rollout", "eval", "swebench"]

    def to_inputs(self, harness_run_id: str, logs_dir: Path) -> dict[str, Any]:
        """What run.json records (``rollout report`` re-reads a phase from it)."""
        return {"predictions": str(self.predictions.resolve()), "dataset": self.dataset, "split": self.split,
                "harness_run_id": harness_run_id, "logs_dir": str(logs_dir.resolve()),
                "work_dir": str(self.work_dir.resolve()), "repro": self.repro, "rollout_runs": self.rollout_runs,
                "instance_ids": self.instance_ids}


class ReproOptions(_HarnessOptions):
    """``rollout eval repro``: stage 3's reproduction tests before and after each patch, in the harness."""

    tests: Path = Field(description="Reproduction tests: predictions-format file whose model_patch adds reproduce_bug.py (stage 3 test writer).")
    predictions: Path = Field(description="The model's predictions (the patches the tests are run after).")
    run_id: str | None = Field(default=None, description="Harness run id prefix (default: a new repro-<time>-<hex>); -before/-after are added.")
    timeout: int = Field(default=300, ge=1, description="Seconds for one reproduction test run.")
    output: Path | None = Field(default=None, description="Where the repro results go (default: <work dir>/logs/rollout-repro/<id>/repro.jsonl).")

    def _command(self) -> list[str]:
        return ["rollout", "eval", "repro"]
