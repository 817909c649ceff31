"""Load SWE-bench-like datasets through ``datasets`` and select instances.

A dataset is given as a hub name (``princeton-nlp/SWE-bench_Lite``), a local parquet / JSON /
JSONL file, or a folder written by ``Dataset.save_to_disk``. Only the columns the stages need
are kept in memory. Selection follows the seed scripts: explicit ids, an ids file, or a range
``--start_file A --end_file B`` over the instance ids sorted as strings (inclusive).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from engine.batchio import first_bad_json_line
from engine.errors import InputError, ServiceError

#: the columns the stages read; others stay on disk
WANTED_COLUMNS = ("instance_id", "repo", "base_commit", "problem_statement", "hints_text", "patch", "test_patch")

_FILE_BUILDERS = {".parquet": "parquet", ".json": "json", ".jsonl": "json", ".csv": "csv", ".arrow": "arrow"}


@dataclass
class Instance:
    """One SWE-bench instance as the prompts need it."""

    instance_id: str
    repo: str
    base_commit: str
    problem_statement: str
    patch: str = ""
    test_patch: str = ""


def _offline() -> bool:
    return any(os.environ.get(k, "").strip().lower() in ("1", "true", "yes", "on")
               for k in ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE"))


def _looks_like_network_error(exc: BaseException) -> bool:
    names = {t.__name__ for t in type(exc).__mro__}
    text = f"{type(exc).__name__}: {exc}".lower()
    return bool(names & {"ConnectionError", "OfflineModeIsEnabled", "LocalEntryNotFoundError", "Timeout",
                         "ConnectTimeout", "ReadTimeout", "MaxRetryError", "NameResolutionError"}) or any(
        s in text for s in ("offline", "connection", "network", "name resolution", "couldn't reach", "timed out"))


def _load_raw(name_or_path: str, split: str) -> Any:
    """A ``datasets.Dataset`` for the source; errors become one-line RolloutErrors."""
    import datasets  # heavy: imported only when a dataset is really loaded

    datasets.disable_progress_bars()
    # their retry warnings would interleave with progress lines; failures surface as one error line
    datasets.logging.set_verbosity(datasets.logging.CRITICAL)  # its failures are ours to say, once
    try:
        from huggingface_hub.utils import logging as hub_logging

        hub_logging.set_verbosity_error()
    except ImportError:  # pragma: no cover - huggingface_hub ships with datasets
        pass
    p = Path(name_or_path).expanduser()
    if p.is_file():
        builder = _FILE_BUILDERS.get(p.suffix.lower())
        if builder is None:
            raise InputError(f"{p}: unknown dataset file type {p.suffix!r}: use .parquet, .json, .jsonl or a saved dataset folder")
        try:
            return datasets.load_dataset(builder, data_files=str(p), split="train")
        except Exception as exc:  # a corrupt file must be one line, not a traceback
            bad = first_bad_json_line(p) if builder == "json" and p.suffix.lower() == ".jsonl" else None
            if bad is not None:
                raise InputError(f"{p}:{bad}: not a JSON object: each line of a .jsonl dataset must be one instance") from None
            raise InputError(f"{p}: cannot read as {builder} ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}): check the file") from None
    if p.is_dir():
        if (p / "dataset_info.json").is_file() or (p / "dataset_dict.json").is_file() or (p / "state.json").is_file():
            try:
                loaded = datasets.load_from_disk(str(p))
            except Exception as exc:
                raise InputError(f"{p}: cannot load saved dataset ({type(exc).__name__}: {exc}): re-save it with save_to_disk") from None
            if isinstance(loaded, datasets.DatasetDict):
                if split not in loaded:
                    raise InputError(f"{p}: saved dataset has no split {split!r} (has {', '.join(loaded)}): pass --split")
                return loaded[split]
            return loaded
        try:
            return datasets.load_dataset(str(p), split=split)
        except Exception as exc:
            raise InputError(f"{p}: cannot load dataset folder ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}): point --dataset at a data file") from None
    if name_or_path.startswith((".", "/", "~")) or name_or_path.endswith(tuple(_FILE_BUILDERS)):
        raise InputError(f"{name_or_path}: dataset file or folder not found: check --dataset")
    try:
        return datasets.load_dataset(name_or_path, split=split)
    except Exception as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if _offline() or _looks_like_network_error(exc):
            raise ServiceError(
                f"dataset {name_or_path!r} is not in the local cache and the Hugging Face hub cannot be reached"
                f"{' (offline mode is on)' if _offline() else ''}: download it where there is network, or pass a local parquet/JSONL file"
            ) from None
        raise InputError(f"dataset {name_or_path!r} (split {split!r}) could not be loaded: {first}") from None


def load_instances(name_or_path: str, split: str = "test", *, convert_crlf: bool = False) -> dict[str, Instance]:
    """Every instance of the dataset by id (only the columns the stages use are read)."""
    ds = _load_raw(name_or_path, split)
    cols = [c for c in WANTED_COLUMNS if c in ds.column_names]
    missing = [c for c in ("instance_id", "problem_statement") if c not in cols]
    if missing:
        raise InputError(f"{name_or_path}: dataset has no column {', '.join(missing)}: is it SWE-bench-like?")
    data = ds.select_columns(cols).to_dict()
    n = len(data["instance_id"])

    def col(name: str) -> list[Any]:
        return data.get(name) or [""] * n

    out: dict[str, Instance] = {}
    for iid, ps, repo, commit, patch, test_patch in zip(
        data["instance_id"], col("problem_statement"), col("repo"), col("base_commit"), col("patch"), col("test_patch")
    ):
        ps = ps or ""
        out[str(iid)] = Instance(
            instance_id=str(iid), repo=str(repo or ""), base_commit=str(commit or ""),
            problem_statement=convert_crlf_text(ps) if convert_crlf else ps,
            patch=str(patch or ""), test_patch=str(test_patch or ""),
        )
    return out


def convert_crlf_text(text: str) -> str:
    """Windows line ends (and stray CRs) to "\\n": problem statements on the hub contain CRLF."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def read_ids_file(path: str | os.PathLike[str]) -> list[str]:
    """Instance ids from a file: one per line (blank lines and ``#`` comments skipped), or a JSON list."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{p}: instances file not found: check --instances_file") from None
    stripped = text.strip()
    if stripped.startswith("["):
        import orjson

        try:
            items = orjson.loads(stripped)
        except orjson.JSONDecodeError as exc:
            raise InputError(f"{p}: invalid JSON list ({exc.msg}): write one id per line or a JSON list") from None
        return [str(x) for x in items]
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]


@dataclass
class Selection:
    """The ids to process, in order, and the asked-for ids that the dataset does not have."""

    ids: list[str]
    missing: list[str]


def select_instances(
    available: Iterable[str],
    *,
    instance_ids: Iterable[str] | None = None,
    instances_file: str | os.PathLike[str] | None = None,
    start: str | None = None,
    end: str | None = None,
) -> Selection:
    """Choose instance ids: explicit ids and/or an ids file, then an inclusive string range.

    With no explicit ids, every available id is a candidate, sorted as strings (the seed's order).
    Explicit ids keep their order (duplicates dropped); those not in the dataset are ``missing``.
    """
    avail = set(available)
    wanted: list[str] = []
    for iid in list(instance_ids or []) + (read_ids_file(instances_file) if instances_file else []):
        # "--instance_ids a,b" and "--instance_ids a b" both work
        for part in str(iid).replace(",", " ").split():
            if part not in wanted:
                wanted.append(part)
    explicit = bool(instance_ids) or instances_file is not None
    candidates = wanted if explicit else sorted(avail)
    if start is not None or end is not None:
        candidates = [i for i in candidates if (start is None or i >= start) and (end is None or i <= end)]
        if not explicit and start is not None and start not in avail:
            raise InputError(f"--start_file {start!r} is not an instance id of the dataset: check the id")
        if not explicit and end is not None and end not in avail:
            raise InputError(f"--end_file {end!r} is not an instance id of the dataset: check the id")
    ids = [i for i in candidates if i in avail]
    missing = [i for i in candidates if i not in avail]
    return Selection(ids=ids, missing=missing)
