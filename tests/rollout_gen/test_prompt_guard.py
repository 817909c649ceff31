"""The prompt-size guard of the generating stages: on by default, from the endpoint, the flag, or off."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from engine.agentless.fidelity import response_line

from .conftest import read_jsonl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: `fakes` importable
from fakes.openai_server import fake_openai  # noqa: E402,F401  (a fixture)

IID = "psf__requests-1963"


def _with_huge_file(fixtures: Path, tmp_path: Path) -> Path:
    """The fixture structure plus a 1.3 MB file (~440k estimated tokens: past any default context)."""
    sdir = tmp_path / "structures"
    sdir.mkdir()
    obj = json.loads((fixtures / "structures" / f"{IID}.json").read_text())
    obj["structure"]["requests"]["huge.py"] = {"classes": [], "functions": [], "text": ["x = 1  # " + "a" * 100] * 12000}
    (sdir / f"{IID}.json").write_text(json.dumps(obj))
    return sdir


def _step2(cli, fixtures: Path, sdir: Path, tmp_path: Path, *extra):
    tmp_path.mkdir(parents=True, exist_ok=True)
    inp = tmp_path / "step1_out.jsonl"
    inp.write_text(json.dumps(response_line(IID, "```\nrequests/huge.py\nrequests/sessions.py\n```")) + "\n")
    out = tmp_path / "o" / "step2.jsonl"
    res = cli("agentless", "gen-step2", "--dataset", fixtures / "instances.jsonl", "--repostructure_dir", sdir,
              "--input_file", inp, "--output_file", out, "--model_name", "m", "--num_workers", "1", "--plain", *extra)
    fails = read_jsonl(out.parent / "failures.jsonl") if (out.parent / "failures.jsonl").exists() else []
    return res, (read_jsonl(out) if out.exists() else []), fails


def test_doomed_prompt_is_not_written_by_default(cli, fixtures: Path, tmp_path: Path) -> None:
    sdir = _with_huge_file(fixtures, tmp_path)
    res, written, fails = _step2(cli, fixtures, sdir, tmp_path)
    assert res.exit_code == 1, res.output
    assert written == [] and [f["reason"] for f in fails] == ["prompt_too_long"]
    assert "estimated prompt tokens + 4096 max_tokens > 131072 context length (default" in fails[0]["detail"]
    # asked for: written
    res, written, _ = _step2(cli, fixtures, sdir, tmp_path / "off", "--max_prompt_tokens", "0")
    assert res.exit_code == 0 and len(written) == 1


def test_context_length_from_the_endpoint_then_the_flag(cli, fixtures: Path, tmp_path: Path, fake_openai) -> None:
    server = fake_openai(extra_args=["--max-model-len", "8000"])
    res, written, fails = _step2(cli, fixtures, fixtures / "structures", tmp_path / "a", "--url", server.url)
    # requests/sessions.py alone (~7k estimated tokens) + 4096 max_tokens does not fit 8000
    assert res.exit_code == 1 and written == []
    assert f"> 8000 context length ({server.url}/v1/models)" in fails[0]["detail"]
    res, written, fails = _step2(cli, fixtures, fixtures / "structures", tmp_path / "b", "--context_length", "65536")
    assert res.exit_code == 0 and len(written) == 1 and fails == []
    # the endpoint's figure wins over the flag
    res, written, fails = _step2(cli, fixtures, fixtures / "structures", tmp_path / "c", "--url", server.url,
                                 "--context_length", "65536")
    assert res.exit_code == 1 and fails[0]["reason"] == "prompt_too_long"
