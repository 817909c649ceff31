"""Option models of every job: argv parity with the CLI, every flag spelling, one-line errors by field."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from console.cli import app
from console.commands.jobcommand import parse_job_argv
from engine.config import load_config
from engine.options.base import OptionError, OptionMeta
from engine.options.registry import job_spec, jobs, spec_for_argv

#: fields a job's rules forbid together with the others (process --serve has no --url/--endpoint)
LEAVE_OUT = {"serve-process": {"url", "endpoint", "via"}}


def sample_value(o: OptionMeta, tmp: Path) -> Any:
    """A value for the field that differs from its default and passes its checks."""
    if o.passthrough:
        return ["--trust-remote-code", "--max-running-requests", "8"]
    if o.path and o.exists:
        p = tmp / f"{o.name}.{'d' if o.path == 'dir' else 'jsonl'}"
        if o.path == "dir":
            p.mkdir(exist_ok=True)
        else:
            p.write_text("")
        return str(p)
    if o.path:
        return str(tmp / f"out-{o.name}")
    if o.choices:
        return next(c for c in reversed(o.choices) if c != o.default)
    if o.is_bool:
        return False if (o.tristate and o.default is None) else (not o.default)
    if o.is_list:
        return ["a-1", "b-2"] if "url" not in o.name else ["http://127.0.0.1:9", "http://127.0.0.1:10"]
    t = o.base_type
    if o.name == "port":
        return "8123"
    if t is int:
        return (o.default if isinstance(o.default, int) else 1) + 2
    if t is float:
        return 0.5 if o.name.startswith("mem_") else (o.default or 1.0) + 1.5
    if o.name in ("url", "attach", "endpoint") and o.name != "endpoint":
        return "http://127.0.0.1:9"
    return f"x-{o.name}"


def full_given(spec: Any, tmp: Path) -> dict[str, Any]:
    skip = LEAVE_OUT.get(spec.name, set())
    return {o.name: sample_value(o, tmp) for o in spec.model.options() if o.name not in skip}


@pytest.fixture
def config(workspace: Path):
    return load_config(None)


@pytest.mark.parametrize("name", [s.name for s in jobs()])
def test_argv_parsed_by_the_cli_gives_the_same_model(name: str, tmp_path: Path, config) -> None:
    spec = job_spec(name)
    model = spec.model.resolve(config, full_given(spec, tmp_path))
    argv = model.argv()
    assert argv[:1 + len(spec.cli_path)] == ["rollout", *spec.cli_path]
    assert parse_job_argv(app, argv, config) == model
    assert spec_for_argv(argv) == spec
    # only the required fields: the defaults come back the same
    minimal = spec.model.resolve(config, {o.name: sample_value(o, tmp_path) for o in spec.model.options()
                                          if o.required or (name, o.name) in (("serve", "model_path"),
                                                                              ("serve-process", "model_path"),
                                                                              ("serve-router", "worker_urls"))})
    assert parse_job_argv(app, minimal.argv(), config) == minimal


@pytest.mark.parametrize("name", [s.name for s in jobs()])
def test_every_flag_spelling_gives_the_same_value(name: str, tmp_path: Path, config) -> None:
    spec = job_spec(name)
    model = spec.model.resolve(config, full_given(spec, tmp_path))
    canonical = model.argv()
    for o in spec.model.options():
        if o.name in LEAVE_OUT.get(name, set()) or o.passthrough:
            continue
        on, off = o.on_off()
        spellings = off if (o.is_bool and getattr(model, o.name) is False and off) else on
        for alias in spellings[1:]:
            words = [alias if w == spellings[0] else w for w in canonical]
            assert parse_job_argv(app, words, config) == model, (name, alias)


def test_seed_nargs_plus_and_comma_lists(tmp_path: Path, config) -> None:
    struct = tmp_path / "s"
    struct.mkdir()
    base = ["rollout", "agentless", "gen-step1", "--repostructure_dir", str(struct), "--output_file", "o.jsonl",
            "--model_name", "m"]
    a = parse_job_argv(app, [*base, "--instance_ids", "x-1", "y-2", "--passk", "2"], config)
    b = parse_job_argv(app, [*base, "--instance-ids", "x-1", "--instance_ids", "y-2", "--passk", "2"], config)
    assert a.instance_ids == b.instance_ids == ["x-1", "y-2"] and a == b
    r = parse_job_argv(app, ["rollout", "serve", "router", "--worker-urls", "http://a:1,http://b:2", "http://c:3"], config)
    assert r.worker_urls == ["http://a:1", "http://b:2", "http://c:3"]


def test_bad_values_name_their_field(tmp_path: Path, config) -> None:
    from engine.options.agentless import Stage1Job
    from engine.options.process import ProcessJob
    from engine.options.serve_process import ServeProcessJob

    with pytest.raises(OptionError) as err:
        Stage1Job.resolve(config, {"repostructure_dir": str(tmp_path / "nowhere"), "output_file": "o", "model_name": "m",
                                   "passk": "0", "thinking_style": "loud"})
    by_field = err.value.by_field()
    assert "--repostructure_dir" in by_field["repostructure_dir"] and "not found" in by_field["repostructure_dir"]
    assert by_field["passk"].startswith("--passk '0'")
    assert "both, sglang, toplevel" in by_field["thinking_style"]
    assert "\n" not in str(err.value)
    inp = tmp_path / "in.jsonl"
    inp.write_text("")
    with pytest.raises(OptionError) as err:
        ServeProcessJob.resolve(config, {"input": str(inp), "output": "o", "url": "http://x", "model_path": "m"})
    assert err.value.by_field() == {"url": "--serve launches its own server: drop --url/--endpoint "
                                           "(or drop --serve to use them)"}
    with pytest.raises(OptionError) as err:
        ProcessJob.resolve(config, {"input": str(inp)})
    assert set(err.value.by_field()) == {"output"}


def test_config_defaults_apply_once(tmp_path: Path, workspace: Path) -> None:
    """concurrency, model and the key source come from the named endpoint unless given."""
    from engine.options.process import ProcessJob

    cfg_file = tmp_path / "rollout.toml"
    cfg_file.write_text('default_endpoint = "local"\n[endpoints.local]\nurl = "http://127.0.0.1:9"\n'
                        'model = "m1"\nmax_concurrency = 8\napi_key_env = "K"\n')
    cfg = load_config(str(cfg_file))
    inp = tmp_path / "in.jsonl"
    inp.write_text("")
    m = ProcessJob.resolve(cfg, {"input": str(inp), "output": "o.jsonl"})
    assert (m.url, m.concurrency, m.model, m.api_key_env) == ("http://127.0.0.1:9", 8, "m1", "K")
    assert m.argv() == ["rollout", "process", "--input", str(inp), "--output", "o.jsonl"]
    given = ProcessJob.resolve(cfg, {"input": str(inp), "output": "o.jsonl", "concurrency": "100"})
    assert given.concurrency == 100 and parse_job_argv(app, given.argv(), cfg) == given


def test_cli_errors_are_one_line(tmp_path: Path, rollout_cmd: list[str], child_env: dict) -> None:
    res = subprocess.run([*rollout_cmd, "process", "--input", str(tmp_path / "none.jsonl"), "--output", "o",
                          "--model-path", "m"], capture_output=True, text=True, env=child_env, timeout=60)
    assert res.returncode == 2
    errs = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert errs == ["rollout: error: --model-path goes with --serve: add --serve to launch a server, process a "
                    "request file against it, stop it"], res.stderr
    res = subprocess.run([*rollout_cmd, "demo", "--items", "-3"], capture_output=True, text=True, env=child_env,
                         timeout=60)
    assert res.returncode == 2 and res.stderr.strip() == \
        "rollout: error: --items '-3': should be greater than or equal to 0", res.stderr


def test_option_modules_are_cheap_to_import() -> None:
    code = ("import sys; from engine.options.registry import jobs; jobs(); "
            "heavy = [m for m in ('aiohttp', 'datasets', 'docker', 'textual', 'typer', 'httpx', 'engine.processor',"
            " 'engine.server', 'engine.agentless.gen') if m in sys.modules]; print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.strip() == ""
