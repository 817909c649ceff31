"""The parameters of every ``rollout batch`` job, one pydantic model each (cheap to import).

Each model holds its flags once: type, default, help (the field description), validation, and
:meth:`BatchOptionsBase.argv` giving the equivalent ``rollout …`` command line. The Typer
commands in console/commands/batch.py are written from these models.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator

#: the hosted API's limits per input file (OpenAI: 50,000 requests, 200 MB)
DEFAULT_SPLIT_LINES = 50_000
DEFAULT_SPLIT_BYTES = 200_000_000
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9, "t": 10**12,
          "tb": 10**12, "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40, "ki": 2**10, "mi": 2**20, "gi": 2**30}


def parse_size(value: Any) -> int:
    """Bytes from ``200MB``, ``512k``, ``1.5GiB`` or a plain number (MB = 10^6, MiB = 2^20)."""
    if isinstance(value, int):
        return value
    m = _SIZE_RE.match(str(value))
    if not m or m.group(2).lower() not in _UNITS:
        raise ValueError(f"{value!r} is not a size: write e.g. 200MB, 512kB, 1GiB or a number of bytes")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


class BatchOptionsBase(BaseModel):
    """Shared by every batch job: where the API is and where its key comes from (names only)."""

    model_config = ConfigDict(extra="forbid")

    #: the ``rollout`` words before the flags (``("batch", "submit")``)
    command: ClassVar[tuple[str, ...]] = ()
    #: fields given as positional arguments, in order
    positional: ClassVar[tuple[str, ...]] = ()

    url: Optional[str] = Field(None, description="Batch API base URL (default: the config's default_endpoint, "
                               "else http://127.0.0.1:30000; later commands reuse the run's).")
    endpoint: Optional[str] = Field(None, description="A named endpoint from the config ([endpoints.NAME]: url, key).")
    api_key_env: Optional[str] = Field(None, description="Environment variable holding the API key "
                                       "(default: OPENAI_API_KEY when set).")
    api_key_file: Optional[Path] = Field(None, description="File holding the API key (read, never copied or logged).")

    def argv(self) -> list[str]:
        """The equivalent command line (``rollout batch submit --input F ...``); defaults left out."""
        out = ["rollout", *self.command]
        fields = type(self).model_fields
        for name in self.positional:
            value = getattr(self, name)
            if value is not None:
                out.append(str(value))
        for name, info in fields.items():
            if name in self.positional:
                continue
            value = getattr(self, name)
            if value == info.default:
                continue
            flag = "--" + name.replace("_", "-")
            if isinstance(value, bool):
                out.append(flag if value else f"--no-{name.replace('_', '-')}")
            elif value is not None:
                out += [flag, str(value)]
        return out


class FollowFields(BaseModel):
    """How a command that follows remote batches polls them."""

    poll_interval: float = Field(5.0, gt=0, description="Seconds before the first status poll; grows with backoff.")
    poll_max: float = Field(300.0, gt=0, description="Longest pause between two polls (seconds).")


class SubmitOptions(BatchOptionsBase):
    """``rollout batch submit``: validate, split, upload and create one batch per part; then exit."""

    command: ClassVar[tuple[str, ...]] = ("batch", "submit")

    input: Path = Field(..., description="OpenAI Batch request JSONL (one model, one url).")
    output: Optional[Path] = Field(None, description="Output JSONL that fetch appends to (recorded for "
                                   "'batch fetch'); ids already answered in it are not submitted.")
    errors: Optional[Path] = Field(None, description="Errors file (default: <output>.errors.jsonl).")
    completion_window: str = Field("24h", pattern=r"^\d+h$", description="The batches' completion window.")
    split_lines: int = Field(DEFAULT_SPLIT_LINES, ge=1, description="At most this many requests per part.")
    split_bytes: int = Field(DEFAULT_SPLIT_BYTES, ge=1024, description="At most this many bytes per part "
                             "(200MB, 512kB, 1GiB...).")
    allow_duplicates: bool = Field(False, description="Accept repeated custom_ids (the hosted API does not).")

    @field_validator("split_bytes", mode="before")
    @classmethod
    def _size(cls, value: Any) -> int:
        return parse_size(value)


class ViaBatchOptions(SubmitOptions, FollowFields):
    """``rollout process --via batch``: submit, wait and fetch as one job."""

    command: ClassVar[tuple[str, ...]] = ("process",)

    output: Path = Field(..., description="Output JSONL (appended; a rerun resumes it).")  # type: ignore[assignment]

    def argv(self) -> list[str]:
        return [*super().argv(), "--via", "batch"]


class RunRef(BatchOptionsBase):
    """A command on an existing batch run (the key and URL default to the ones it was submitted with)."""

    positional: ClassVar[tuple[str, ...]] = ("run",)

    run: str = Field("last", description="Run id, unique prefix, folder, or 'last'.")


class StatusOptions(RunRef):
    """``rollout batch status [RUN]``: poll each part once and print its remote status and counts."""

    command: ClassVar[tuple[str, ...]] = ("batch", "status")

    run: Optional[str] = Field(None, description="Run id, prefix, folder or 'last' (default: every waiting "  # type: ignore[assignment]
                               "batch run).")
    json_out: bool = Field(False, description="Print JSON.")


class WaitOptions(RunRef, FollowFields):
    """``rollout batch wait RUN``: follow the remote batches until every part has ended."""

    command: ClassVar[tuple[str, ...]] = ("batch", "wait")

    timeout: Optional[float] = Field(None, gt=0, description="Give up following after this many seconds "
                                     "(the batches go on).")


class FetchOptions(RunRef, FollowFields):
    """``rollout batch fetch RUN``: append every finished part's answers to the output, once per id."""

    command: ClassVar[tuple[str, ...]] = ("batch", "fetch")

    output: Optional[Path] = Field(None, description="Output JSONL (default: the one given at submit).")
    errors: Optional[Path] = Field(None, description="Errors file (default: the one given at submit, "
                                   "else <output>.errors.jsonl).")
    wait: bool = Field(False, description="Wait for parts still running, then fetch them too.")


class ResubmitOptions(RunRef):
    """``rollout batch resubmit RUN``: a new part of each expired/cancelled part's unanswered ids."""

    command: ClassVar[tuple[str, ...]] = ("batch", "resubmit")

    output: Optional[Path] = Field(None, description="Output JSONL the answered ids are read from "
                                   "(default: the run's).")
    errors: Optional[Path] = Field(None, description="Errors file (default: the run's).")


class CancelOptions(RunRef):
    """``rollout batch cancel RUN``: cancel every part still running (answers so far stay fetchable)."""

    command: ClassVar[tuple[str, ...]] = ("batch", "cancel")
