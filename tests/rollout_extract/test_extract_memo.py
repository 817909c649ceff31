"""A worker works out the outcome of an answer's SEARCH/REPLACE blocks once per instance: passes
that agree (the same blocks, whatever their prose) reuse it, and every output stays what a fresh
extraction of that sample writes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson

from engine.agentless.extract.stage3 import Extractor

from .helpers import content_of, with_content

IID = "psf__requests-1963"


def _sample(save: Path, cid: str) -> dict[str, Any]:
    rec = orjson.loads((save / "samples" / f"{cid}.json").read_bytes())
    rec.pop("seconds")  # how long it took is the one thing allowed to differ
    return rec


def test_passes_that_agree_reuse_one_outcome(fixtures_dir: Path, step2_lines, tmp_path: Path) -> None:
    answer = content_of(step2_lines[IID])
    headerless = re.sub(r"^### .*\n", "", answer, flags=re.MULTILINE)
    assert "`requests/sessions.py`" in headerless
    answers = [
        answer,                                                    # pass 0
        "Here is my fix.\n\n" + answer,                            # the same blocks, other prose: reused
        headerless,                                                # no headers; the prose names the file
        headerless.replace("`requests/sessions.py`", "the sessions module"),  # the same blocks, no file named
        answer,                                                    # pass 0 again: reused
    ]
    lines = [orjson.dumps(with_content(step2_lines[IID], a, custom_id=f"{IID}__pass{k}")) for k, a in enumerate(answers)]
    structures = str(fixtures_dir / "structures")

    (tmp_path / "memo" / "samples").mkdir(parents=True)
    worker = Extractor("bugfixer", structures, str(tmp_path / "memo"), None, 30.0, None)
    outs = [worker.process(n, raw) for n, raw in enumerate(lines, 1)]
    fresh = []
    for n, raw in enumerate(lines, 1):  # a new worker per sample: nothing to reuse
        save = tmp_path / f"fresh{n}"
        (save / "samples").mkdir(parents=True)
        fresh.append((Extractor("bugfixer", structures, str(save), None, 30.0, None).process(n, raw), save))

    assert [o.status for o in outs] == ["valid", "valid", "valid", "failed", "valid"]
    assert outs[3].reason == "missing_file_header"  # the headerless blocks' outcome depends on the prose
    info = worker.fix.cache_info()
    assert (info.hits, info.misses) == (2, 3)
    for out, (ref, save) in zip(outs, fresh):
        assert out == ref
        assert _sample(tmp_path / "memo", out.custom_id) == _sample(save, out.custom_id)
    assert outs[0].processed_line.replace(b"pass0", b"pass1") == outs[1].processed_line
