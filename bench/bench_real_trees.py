"""The Agentless chain on real code trees, offline: structure → stage 1 tree → stage 3 patch.

Trees: packages installed in this .venv (real codebases with nested packages), each copied into
a fresh git checkout named like the package, with the package inside it (a package named like
the repository, merging into the root key) and a root ``setup.py``; plus any git checkouts given
on the command line (``python bench/bench_real_trees.py /path/to/pylint``).

Per tree, through the real CLI (whole processes): ``rollout agentless structure --commit HEAD``;
``rollout agentless gen-step1`` (the prompt must hold the structure's tree); every ``.py`` file of
the checkout must be listed in that tree, its lines must equal the file's as Agentless reads them
and its bytes must come back exactly; then a SEARCH/REPLACE answer inserting a line in a file of
the deepest folder goes through ``rollout agentless extract`` and its patch must ``git apply`` and
give the expected bytes. Prints ``FIGURE`` lines of counts per tree; exit 1 if a check failed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine.agentless.fidelity import apply_and_compare, check_files, plan_edit, response_line  # noqa: E402
from engine.agentless.structure import load_structure_file  # noqa: E402

SITE = Path(next(p for p in sys.path if p.endswith("site-packages")))
PACKAGES = ("rich", "textual", "pydantic", "aiohttp", "datasets", "pandas", "numpy", "requests")
ROLLOUT = [str(Path(sys.executable).with_name("rollout"))]
GIT = ["git", "-c", "user.email=bench@example", "-c", "user.name=bench", "-c", "core.autocrlf=false"]


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def copy_package(name: str, dest: Path) -> Path:
    """``dest/<name>/<name>/`` from site-packages, a root setup.py, committed (bytes kept as they are)."""
    repo = dest / name
    shutil.copytree(SITE / name, repo / name, ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.pyc"))
    (repo / "setup.py").write_text(f"from setuptools import setup\n\nsetup(name={name!r})\n")
    _run([*GIT, "init", "-q", str(repo)], check=True)
    (repo / ".git" / "info" / "attributes").write_text("* -text\n")
    _run([*GIT, "-C", str(repo), "add", "-A", "-f"], check=True)
    _run([*GIT, "-C", str(repo), "commit", "-q", "-m", "tree"], check=True)
    return repo


def check_tree(repo: Path, work: Path) -> dict:
    name = repo.name
    iid = f"bench__{name}-1"
    sdir = work / f"{name}-structures"
    t0 = time.perf_counter()
    built = _run([*ROLLOUT, "agentless", "structure", "--repo-dir", str(repo), "--commit", "HEAD", "--repo", f"bench/{name}",
                  "--instance-id", iid, "--output", str(sdir / f"{iid}.json")])
    build_s = time.perf_counter() - t0
    if built.returncode != 0:
        return {"tree": name, "error": built.stderr.strip()}
    st = load_structure_file(sdir / f"{iid}.json")
    row: dict = {"tree": name, "build_s": round(build_s, 2), "warnings": built.stderr.count("warning:")}

    ds = work / f"{name}-instances.jsonl"
    ds.write_text(json.dumps({"instance_id": iid, "repo": f"bench/{name}", "base_commit": st.base_commit,
                              "problem_statement": "Check.", "hints_text": "", "patch": "", "test_patch": ""}) + "\n")
    step1 = work / f"{name}-step1.jsonl"
    gen = _run([*ROLLOUT, "--workspace", str(work / "ws"), "agentless", "gen-step1", "--dataset", str(ds),
                "--repostructure_dir", str(sdir), "--output_file", str(step1), "--model_name", "m", "--num_workers", "1",
                "--plain", "--max_prompt_tokens", "0"])
    prompt = json.loads(step1.read_text().splitlines()[0])["body"]["messages"][0]["content"] if gen.returncode == 0 else ""
    row["tree_in_stage1_prompt"] = bool(prompt) and st.tree_text() in prompt

    check = check_files(repo, st)
    row.update(py_files=check.py_files, listed=check.listed, hidden_root_files=len(check.hidden_root_files),
               text_equal=check.text_equal, bytes_exact=check.bytes_exact,
               problems=(check.not_listed + check.text_differs + check.bytes_differ)[:5])

    edit = plan_edit(st)
    row["edited"] = edit.repo_path if edit else None
    if edit is not None:
        inp = work / f"{name}-step2-out.jsonl"
        inp.write_text(json.dumps(response_line(iid, edit.answer)) + "\n")
        save = work / f"{name}-extract"
        ext = _run([*ROLLOUT, "--workspace", str(work / "ws"), "agentless", "extract", "--input_file", str(inp),
                    "--repostructure_dir", str(sdir), "--save_dir", str(save), "--num_workers", "0", "--plain"])
        preds = (save / "all_preds.jsonl").read_text().splitlines() if ext.returncode == 0 else []
        patch = json.loads(preds[0])["model_patch"] if preds else ""
        row["patch_applies"] = bool(patch) and apply_and_compare(repo, patch, edit) is None
    return row


def main() -> int:
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        trees = [copy_package(name, work) for name in PACKAGES if (SITE / name).is_dir()]
        trees += [Path(p).resolve() for p in sys.argv[1:]]
        for repo in trees:
            row = check_tree(repo, work)
            print("# " + json.dumps(row))
            good = ("error" not in row and row["tree_in_stage1_prompt"] and row["listed"] + row["hidden_root_files"] == row["py_files"]
                    and row["text_equal"] == row["listed"] and row.get("patch_applies", False))
            ok = ok and good
            if "error" in row:
                print(f"FIGURE real_tree_{row['tree']} error - {row['error'][:200]}")
                continue
            print(f"FIGURE real_tree_{row['tree']}_py_files {row['py_files']} files [every one listed, read right]")
            print(f"FIGURE real_tree_{row['tree']}_listed {row['listed']} files [+{row['hidden_root_files']} hidden root files]")
            print(f"FIGURE real_tree_{row['tree']}_text_equal {row['text_equal']} files [= listed]")
            print(f"FIGURE real_tree_{row['tree']}_bytes_exact {row['bytes_exact']} files [= listed]")
            print(f"FIGURE real_tree_{row['tree']}_patch_applies {int(row.get('patch_applies', False))} bool "
                  f"[1: {row['edited']} round trip]")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
