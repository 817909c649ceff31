"""Datasets load through `datasets` (local parquet/JSONL/saved folder); selection; CRLF; offline hub names."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import InputError, ServiceError
from engine.agentless.dataset import load_instances, select_instances

from .conftest import fixture_instances


def test_lite_parquet_loads(hf_env: Path, lite_parquet: Path) -> None:
    inst = load_instances(str(lite_parquet))
    assert len(inst) == 300
    one = inst["psf__requests-1963"]
    assert one.repo == "psf/requests" and one.base_commit.startswith("110048f983")
    assert any("\r\n" in i.problem_statement for i in inst.values())


def test_crlf_conversion(hf_env: Path, lite_parquet: Path) -> None:
    raw = load_instances(str(lite_parquet))
    conv = load_instances(str(lite_parquet), convert_crlf=True)
    crlf = [k for k, v in raw.items() if "\r" in v.problem_statement]
    assert crlf
    for k in crlf:
        assert "\r" not in conv[k].problem_statement
        assert conv[k].problem_statement == raw[k].problem_statement.replace("\r\n", "\n")


def test_jsonl_and_saved_folder(hf_env: Path, fixtures: Path, tmp_path: Path) -> None:
    import datasets

    inst = load_instances(str(fixtures / "instances.jsonl"))
    assert sorted(inst) == sorted(r["instance_id"] for r in fixture_instances(fixtures))
    saved = tmp_path / "saved"
    datasets.Dataset.from_list(fixture_instances(fixtures)).save_to_disk(str(saved))
    assert sorted(load_instances(str(saved))) == sorted(inst)
    dd = tmp_path / "saved_dict"
    datasets.DatasetDict({"test": datasets.Dataset.from_list(fixture_instances(fixtures))}).save_to_disk(str(dd))
    assert sorted(load_instances(str(dd), "test")) == sorted(inst)
    with pytest.raises(InputError, match="no split 'dev'"):
        load_instances(str(dd), "dev")


def test_offline_hub_name_is_a_service_error(hf_env: Path) -> None:
    with pytest.raises(ServiceError, match="not in the local cache"):
        load_instances("someone/not-a-cached-dataset")


def test_missing_file_is_input_error(hf_env: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        load_instances(str(tmp_path / "nope.parquet"))


def test_selection() -> None:
    ids = ["b-2", "a-1", "c-3", "b-10"]
    assert select_instances(ids).ids == ["a-1", "b-10", "b-2", "c-3"]
    # the range is over ids sorted as strings, inclusive
    assert select_instances(ids, start="b-10", end="b-2").ids == ["b-10", "b-2"]
    sel = select_instances(ids, instance_ids=["c-3", "zz", "a-1,b-2"])
    assert sel.ids == ["c-3", "a-1", "b-2"] and sel.missing == ["zz"]
    with pytest.raises(InputError, match="--start_file"):
        select_instances(ids, start="nope")


def test_instances_file(tmp_path: Path) -> None:
    f = tmp_path / "ids.txt"
    f.write_text("# chosen\na-1\n\nc-3\n")
    assert select_instances(["a-1", "b-2", "c-3"], instances_file=f).ids == ["a-1", "c-3"]
    f.write_text('["b-2"]')
    assert select_instances(["a-1", "b-2"], instances_file=f).ids == ["b-2"]
