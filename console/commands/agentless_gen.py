"""Stage 1 and 2 commands of ``rollout agentless`` (gen-step1, gen-step2, gen-repair, structure).

Flags keep the seed scripts' underscore spellings (``--output_file``) and take hyphenated
aliases (``--output-file``). ``--instance_ids a b c`` works as in the seed (argparse nargs="+"):
the words after it that are not flags are ids too; ``--instance_ids a,b`` and repeating the flag
work as well.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, List, Optional

import typer

from console.commands.agentless import Role, agentless_app, seed_option
from console.jobrun import run_in_foreground
from console.output import CliState
from engine.errors import InputError

if TYPE_CHECKING:  # the engine loads when a command runs (start-up time, see console/cli.py)
    from engine.agentless.gen.requests import SamplingConfig

_EXTRA = {"allow_extra_args": True}


class ThinkingStyle(str, Enum):
    both = "both"
    sglang = "sglang"
    toplevel = "toplevel"


class TempPolicy(str, Enum):
    auto = "auto"
    greedy_first = "greedy-first"
    uniform = "uniform"


def _instance_ids(ctx: typer.Context, ids: Optional[List[str]]) -> list[str]:
    extra = list(ctx.args)
    if extra and not ids:
        raise InputError(f"unexpected argument {extra[0]!r}: instance ids go after --instance_ids")
    return list(ids or []) + extra


def _sampling(model_name: str, max_tokens: int, temp: float, passk: int, enable_thinking: Optional[bool],
              thinking_budget: Optional[int], thinking_style: ThinkingStyle, temp_policy: TempPolicy) -> SamplingConfig:
    from engine.agentless.gen.requests import SamplingConfig

    if passk < 1:
        raise InputError("--passk must be at least 1")
    if max_tokens < 1:
        raise InputError("--max_tokens must be at least 1")
    return SamplingConfig(model=model_name, max_tokens=max_tokens, temperature=temp, passk=passk,
                          enable_thinking=enable_thinking, thinking_budget=thinking_budget,
                          thinking_style=thinking_style.value, temp_policy=temp_policy.value)  # type: ignore[arg-type]


def _check_dir(path: str, flag: str) -> None:
    if not Path(path).is_dir():
        raise InputError(f"{path}: folder not found: check {flag}")


# shared option declarations (Typer reads defaults from the signature, so they are repeated per command)
ROLE = seed_option(Role.bugfixer, "--role", help="bugfixer (files to edit → SEARCH/REPLACE repair) or testwriter (test files → reproduction test).")
DATASET = seed_option("princeton-nlp/SWE-bench_Lite", "--dataset", help="Hub name, local parquet/JSON/JSONL file, or saved dataset folder.")
SPLIT = seed_option("test", "--split", help="Dataset split (hub names and saved DatasetDicts).")
STRUCT = seed_option(..., "--repostructure_dir", help="Folder of Agentless structure files <instance_id>.json.")
OUTPUT = seed_option(..., "--output_file", help="Request JSONL to write (appended; ids already in it are skipped).")
MODEL = seed_option(..., "--model_name", help="body.model of every request.")
TEMP = seed_option(0.8, "--temp", help="Sampling temperature.")
PASSK = seed_option(1, "--passk", help="Samples per instance; > 1 gives custom_ids <id>__pass<N>.")
MAXTOK = seed_option(4096, "--max_tokens", help="body.max_tokens.")
THINK = typer.Option(None, "--enable_thinking/--disable_thinking", "--enable-thinking/--disable-thinking",
                     help="Ask for thinking, or switch it off, in the request (chat_template_kwargs and top-level "
                     "fields); neither: no thinking fields, the server's default.")
BUDGET = seed_option(None, "--thinking_budget", help="Thinking token budget (sent with the thinking fields).")
TSTYLE = seed_option(ThinkingStyle.both, "--thinking_style", help="Where thinking fields go: both, sglang (chat_template_kwargs) or toplevel.")
TPOLICY = seed_option(TempPolicy.auto, "--temp_policy", help="auto (test writer: pass 0 greedy when passk > 1), greedy-first, uniform.")
CRLF = seed_option(False, "--convert_crlf", help="Turn CRLF line ends of problem statements into LF.")
IDS = seed_option(None, "--instance_ids", help="Only these instance ids (space- or comma-separated, or repeat the flag).")
IDSFILE = seed_option(None, "--instances_file", help="File of instance ids, one per line (or a JSON list).")
START = seed_option(None, "--start_file", help="First instance id of a range (ids sorted as strings, inclusive).")
END = seed_option(None, "--end_file", help="Last instance id of the range (inclusive).")
WORKERS = seed_option(2, "--num_workers", min=1, help="Worker processes for prompt building (1: in-process).")
MAXPROMPT = seed_option(None, "--max_prompt_tokens", help="Skip prompts estimated above this many tokens (failure prompt_too_long); "
                        "default: prompt + max_tokens must fit the model's context length; 0: no guard.")
CTXLEN = seed_option(None, "--context_length", min=1, help="The model's context length when the endpoint and the config do not say "
                     "(default 131072).")
URL = seed_option(None, "--url", help="The endpoint the requests are for, asked for its context length (default: the config's).")
FAILURES = seed_option(None, "--failures_file", help="Where failures go (default: failures.jsonl beside --output_file).")
PLAIN = typer.Option(False, "--plain", help="Plain progress lines even on a terminal.")


def _finish(cli: CliState, result, output_file: str) -> None:
    figs = (result.state or {}).get("figures") or {}
    reasons = figs.get("failed_by_reason") or {}
    cli.echo_err(f"wrote {figs.get('written', 0)} requests to {output_file}"
                 + (f"; failures {dict(reasons)} in {figs.get('failures_file')}" if reasons else ""))
    raise typer.Exit(result.exit_code)


@agentless_app.command("gen-step1", context_settings=_EXTRA)
def gen_step1_cmd(
    ctx: typer.Context,
    role: Role = ROLE, dataset: str = DATASET, split: str = SPLIT, repostructure_dir: str = STRUCT,
    output_file: str = OUTPUT, model_name: str = MODEL, temp: float = TEMP, passk: int = PASSK,
    max_tokens: int = MAXTOK, enable_thinking: Optional[bool] = THINK, thinking_budget: Optional[int] = BUDGET,
    thinking_style: ThinkingStyle = TSTYLE, temp_policy: TempPolicy = TPOLICY, convert_crlf: bool = CRLF,
    instance_ids: Optional[List[str]] = IDS, instances_file: Optional[str] = IDSFILE,
    start_file: Optional[str] = START, end_file: Optional[str] = END, num_workers: int = WORKERS,
    max_prompt_tokens: Optional[int] = MAXPROMPT, context_length: Optional[int] = CTXLEN, url: Optional[str] = URL,
    failures_file: Optional[str] = FAILURES, plain: bool = PLAIN,
) -> None:
    """Stage 1: localization requests (which files to edit / which test files) for a dataset's instances."""
    from engine.agentless.gen.stage1 import Stage1Options, make_stage1_job

    cli: CliState = ctx.obj
    _check_dir(repostructure_dir, "--repostructure_dir")
    opts = Stage1Options(
        role=role.value, dataset=dataset, split=split, repostructure_dir=repostructure_dir, output_file=output_file,
        sampling=_sampling(model_name, max_tokens, temp, passk, enable_thinking, thinking_budget, thinking_style, temp_policy),
        convert_crlf=convert_crlf, instance_ids=_instance_ids(ctx, instance_ids), instances_file=instances_file,
        start_file=start_file, end_file=end_file, num_workers=num_workers, max_prompt_tokens=max_prompt_tokens,
        context_length=context_length, url=url,
        failures_file=failures_file,
    )
    result = run_in_foreground(
        cli, "gen-step1", make_stage1_job(opts), plain=plain, title=f"gen-step1 {role.value} {dataset}",
        inputs={"dataset": dataset, "repostructure_dir": repostructure_dir}, outputs={"requests": output_file},
    )
    _finish(cli, result, output_file)


@agentless_app.command("gen-step2", context_settings=_EXTRA)
def gen_step2_cmd(
    ctx: typer.Context,
    input_file: str = seed_option(..., "--input_file", help="Step-1 responses (OpenAI Batch output JSONL)."),
    role: Role = ROLE, dataset: str = DATASET, split: str = SPLIT, repostructure_dir: str = STRUCT,
    output_file: str = OUTPUT, model_name: str = MODEL, temp: float = TEMP, passk: int = PASSK,
    max_tokens: int = MAXTOK, enable_thinking: Optional[bool] = THINK, thinking_budget: Optional[int] = BUDGET,
    thinking_style: ThinkingStyle = TSTYLE, temp_policy: TempPolicy = TPOLICY, convert_crlf: bool = CRLF,
    instance_ids: Optional[List[str]] = IDS, instances_file: Optional[str] = IDSFILE,
    start_file: Optional[str] = START, end_file: Optional[str] = END, num_workers: int = WORKERS,
    max_prompt_tokens: Optional[int] = MAXPROMPT, context_length: Optional[int] = CTXLEN, url: Optional[str] = URL,
    failures_file: Optional[str] = FAILURES, plain: bool = PLAIN,
) -> None:
    """Stage 2: parse step-1 answers; repair requests (full found files) or reproduction-test requests."""
    from engine.agentless.gen.stage2 import Stage2Options, make_stage2_job

    cli: CliState = ctx.obj
    _check_dir(repostructure_dir, "--repostructure_dir")
    if not Path(input_file).is_file():
        raise InputError(f"{input_file}: step-1 responses file not found: check --input_file")
    opts = Stage2Options(
        role=role.value, dataset=dataset, split=split, repostructure_dir=repostructure_dir, input_file=input_file,
        output_file=output_file,
        sampling=_sampling(model_name, max_tokens, temp, passk, enable_thinking, thinking_budget, thinking_style, temp_policy),
        convert_crlf=convert_crlf, instance_ids=_instance_ids(ctx, instance_ids), instances_file=instances_file,
        start_file=start_file, end_file=end_file, num_workers=num_workers, max_prompt_tokens=max_prompt_tokens,
        context_length=context_length, url=url,
        failures_file=failures_file,
    )
    result = run_in_foreground(
        cli, "gen-step2", make_stage2_job(opts), plain=plain, title=f"gen-step2 {role.value} {Path(input_file).name}",
        inputs={"responses": input_file, "dataset": dataset, "repostructure_dir": repostructure_dir},
        outputs={"requests": output_file},
    )
    _finish(cli, result, output_file)


@agentless_app.command("gen-repair")
def gen_repair_cmd(
    ctx: typer.Context,
    loc_file: str = seed_option(..., "--loc_file", help="Agentless loc_outputs.jsonl (found_files, found_edit_locs)."),
    context_window: int = seed_option(10, "--context_window", min=0, help="Lines shown around each edit location."),
    max_samples: int = seed_option(1, "--max_samples", min=1, help="Samples per instance (ids <instance_id>|<i>)."),
    skip_greedy: bool = seed_option(False, "--skip_greedy", help="Leave out sample 0 (the greedy one at temperature 0)."),
    top_n: int = seed_option(1, "--top_n", min=1, help="How many of found_files to show (Agentless default 1)."),
    dataset: str = DATASET, split: str = SPLIT, repostructure_dir: str = STRUCT, output_file: str = OUTPUT,
    model_name: str = MODEL, temp: float = TEMP, max_tokens: int = MAXTOK, enable_thinking: Optional[bool] = THINK,
    thinking_budget: Optional[int] = BUDGET, thinking_style: ThinkingStyle = TSTYLE, convert_crlf: bool = CRLF,
    num_workers: int = WORKERS, max_prompt_tokens: Optional[int] = MAXPROMPT, context_length: Optional[int] = CTXLEN,
    url: Optional[str] = URL, failures_file: Optional[str] = FAILURES, plain: bool = PLAIN,
) -> None:
    """Agentless repair in batch form: requests from localization outputs (sample 0 greedy)."""
    from engine.agentless.gen.repair_batch import RepairOptions, make_repair_job

    cli: CliState = ctx.obj
    _check_dir(repostructure_dir, "--repostructure_dir")
    opts = RepairOptions(
        loc_file=loc_file, dataset=dataset, split=split, repostructure_dir=repostructure_dir, output_file=output_file,
        sampling=_sampling(model_name, max_tokens, temp, 1, enable_thinking, thinking_budget, thinking_style, TempPolicy.uniform),
        context_window=context_window, max_samples=max_samples, skip_greedy=skip_greedy, top_n=top_n,
        convert_crlf=convert_crlf, num_workers=num_workers, max_prompt_tokens=max_prompt_tokens,
        context_length=context_length, url=url, failures_file=failures_file,
    )
    result = run_in_foreground(
        cli, "gen-repair", make_repair_job(opts), plain=plain, title=f"gen-repair {Path(loc_file).name}",
        inputs={"loc_file": loc_file, "dataset": dataset, "repostructure_dir": repostructure_dir},
        outputs={"requests": output_file},
    )
    _finish(cli, result, output_file)


@agentless_app.command("structure")
def structure_cmd(
    ctx: typer.Context,
    repo_dir: str = typer.Option(..., "--repo-dir", "--repo_dir", help="A git checkout of the repository."),
    instance_id: str = typer.Option(..., "--instance-id", "--instance_id", help="Instance id stored in the file."),
    output: str = typer.Option(..., "--output", "-o", help="Structure JSON to write (e.g. <dir>/<instance_id>.json)."),
    commit: Optional[str] = typer.Option(None, "--commit", help="Read the files at this commit (git objects); default: the working tree."),
    repo: Optional[str] = typer.Option(None, "--repo", help="owner/name: the 'repo' field and the root-files key (default: the folder name)."),
    nested: bool = typer.Option(False, "--nested", help="List nested classes/functions too (upstream Agentless's ast.walk)."),
    no_git: bool = typer.Option(False, "--no-git", "--no_git", help="Read a folder that is not a git checkout, every file under it."),
) -> None:
    """Build an Agentless repo-structure JSON from a git checkout (no network)."""
    from engine.agentless.structure_build import build, write_structure

    cli: CliState = ctx.obj
    built = build(repo_dir, commit=commit, repo=repo, instance_id=instance_id, nested=nested, use_git=not no_git)
    for warning in built.warnings:
        cli.echo_err(f"warning: {warning}")
    out = write_structure(built.obj, output)
    cli.echo_err(f"wrote {out} ({built.obj['repo']} from the {built.source}: {built.files} files, "
                 f"{built.python_files} Python)")
