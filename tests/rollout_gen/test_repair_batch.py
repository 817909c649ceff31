"""gen-repair: Agentless loc_outputs → repair requests with ids <id>|<i>, sample 0 greedy."""

from __future__ import annotations

import json
from pathlib import Path

from engine.batchio import validate_file
from engine.agentless.gen.repair_batch import context_text
from engine.agentless.structure import load_structure

from .conftest import read_jsonl


def _locs(tmp_path: Path) -> Path:
    rows = [
        {"instance_id": "psf__requests-1963", "found_files": ["requests/sessions.py", "requests/models.py"],
         "found_edit_locs": [["function: SessionRedirectMixin.resolve_redirects\nline: 30"], ["class: Request"]]},
        {"instance_id": "pallets__flask-4045", "found_files": ["src/flask/blueprints.py"],
         "found_edit_locs": {"src/flask/blueprints.py": "function: Blueprint.__init__"}},
        {"instance_id": "pallets__flask-4992", "found_files": ["src/flask/config.py"], "found_edit_locs": [["variable: x"]]},
        {"instance_id": "pallets__flask-5063", "found_files": []},
    ]
    path = tmp_path / "loc_outputs.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\nnot json\n")
    return path


def test_gen_repair(cli, fixtures: Path, tmp_path: Path) -> None:
    out = tmp_path / "repair.jsonl"
    res = cli("agentless", "gen-repair", "--loc_file", _locs(tmp_path), "--context_window", "3", "--max_samples", "3",
              "--dataset", fixtures / "instances.jsonl", "--repostructure_dir", fixtures / "structures",
              "--output_file", out, "--model_name", "m", "--num_workers", "1", "--plain")
    assert res.exit_code == 1, res.output
    assert list(validate_file(out, "request")) == []
    lines = {line["custom_id"]: line["body"] for line in read_jsonl(out)}
    assert sorted(lines) == [f"{i}|{n}" for i in ("pallets__flask-4045", "psf__requests-1963") for n in range(3)]
    assert lines["psf__requests-1963|0"]["temperature"] == 0.0
    assert lines["psf__requests-1963|1"]["temperature"] == 0.8
    prompt = lines["psf__requests-1963|0"]["messages"][0]["content"]
    st = load_structure(fixtures / "structures", "psf__requests-1963")
    meth = next(m for c in st.get("requests/sessions.py")["classes"] for m in c["methods"] if m["name"] == "resolve_redirects")
    assert "\n".join(meth["text"]) in prompt
    assert "### requests/sessions.py" in prompt and "### requests/models.py" not in prompt  # top_n 1
    assert "..." in prompt
    reasons = {f["instance_id"]: f["reason"] for f in read_jsonl(tmp_path / "failures.jsonl")}
    assert reasons == {"pallets__flask-4992": "no_edit_locations", "pallets__flask-5063": "no_files_found",
                       None: "malformed_line"}


def test_skip_greedy(cli, fixtures: Path, tmp_path: Path) -> None:
    out = tmp_path / "repair.jsonl"
    res = cli("agentless", "gen-repair", "--loc_file", _locs(tmp_path), "--context_window", "1", "--max_samples", "2",
              "--skip_greedy", "--top_n", "2", "--dataset", fixtures / "instances.jsonl", "--repostructure_dir",
              fixtures / "structures", "--output_file", out, "--model_name", "m", "--num_workers", "1", "--plain")
    assert res.exit_code == 1
    lines = {line["custom_id"]: line["body"] for line in read_jsonl(out)}
    assert sorted(lines) == ["pallets__flask-4045|1", "psf__requests-1963|1"]
    assert all(b["temperature"] == 0.8 for b in lines.values())
    assert "### requests/models.py" in lines["psf__requests-1963|1"]["messages"][0]["content"]


def test_context_text_merges_and_elides() -> None:
    content = "".join(f"l{i}\n" for i in range(1, 21))
    assert context_text(content, [(5, 5), (8, 8)], 1) == "...\nl4\nl5\nl6\nl7\nl8\nl9\n..."
    assert context_text(content, [(1, 1), (20, 20)], 0) == "l1\n...\nl20"
