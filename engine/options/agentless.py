"""Option models of the Agentless-style stages: gen-step1, gen-step2, gen-repair, extract.

Flags keep the seed scripts' underscore spellings (``--output_file``, written by ``argv()``) and
take hyphenated aliases (``--output-file``). ``--instance_ids a b c`` takes the words after it as
in the seed (argparse nargs="+"); ``--instance_ids a,b`` and repeating the flag work too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, ClassVar, Literal, Optional

from engine.options.base import JobLaunch, JobOptions, WorldCheck, option, seed_flags

Role = Literal["bugfixer", "testwriter"]
ThinkingStyle = Literal["both", "sglang", "toplevel"]
TempPolicy = Literal["auto", "greedy-first", "uniform"]

DEFAULT_DATASET = "princeton-nlp/SWE-bench_Lite"


class _GenCommon(JobOptions):
    """Fields every request-generating stage has."""

    dataset: str = option(DEFAULT_DATASET, *seed_flags("--dataset"),
                          help="Hub name, local parquet/JSON/JSONL file, or saved dataset folder.")
    split: str = option("test", *seed_flags("--split"), help="Dataset split (hub names and saved DatasetDicts).")
    repostructure_dir: str = option(..., *seed_flags("--repostructure_dir"), path="dir", exists=True,
                                    help="Folder of Agentless structure files <instance_id>.json.")
    output_file: str = option(..., *seed_flags("--output_file"), path="file",
                              help="Request JSONL to write (appended; ids already in it are skipped).")
    model_name: str = option(..., *seed_flags("--model_name"), help="body.model of every request.")
    temp: float = option(0.8, *seed_flags("--temp"), ge=0.0, help="Sampling temperature.")
    max_tokens: int = option(4096, *seed_flags("--max_tokens"), ge=1, help="body.max_tokens.")
    enable_thinking: Optional[bool] = option(
        None, "--enable_thinking/--disable_thinking", "--enable-thinking/--disable-thinking",
        help="Ask for thinking, or switch it off, in the request (chat_template_kwargs and top-level fields); "
        "neither: no thinking fields, the server's default.")
    thinking_budget: Optional[int] = option(None, *seed_flags("--thinking_budget"), ge=1,
                                            help="Thinking token budget (sent with the thinking fields).")
    thinking_style: ThinkingStyle = option("both", *seed_flags("--thinking_style"),
                                           help="Where thinking fields go: both, sglang (chat_template_kwargs) or toplevel.")
    convert_crlf: bool = option(False, *seed_flags("--convert_crlf"), help="Turn CRLF line ends of problem statements into LF.")
    num_workers: int = option(2, *seed_flags("--num_workers"), ge=1,
                              help="Worker processes for prompt building (1: in-process).")
    max_prompt_tokens: Optional[int] = option(None, *seed_flags("--max_prompt_tokens"), ge=0,
                                              help="Skip prompts estimated above this many tokens (failure prompt_too_long); "
                                              "default: prompt + max_tokens must fit the model's context length; 0: no guard.")
    context_length: Optional[int] = option(None, *seed_flags("--context_length"), ge=1,
                                           help="The model's context length when the endpoint and the config do not say "
                                           "(default 131072).")
    url: Optional[str] = option(None, *seed_flags("--url"), placeholder="http://127.0.0.1:30000",
                                help="The endpoint the requests are for, asked for its context length (default: the config's).")
    failures_file: Optional[str] = option(None, *seed_flags("--failures_file"), path="file",
                                          help="Where failures go (default: failures.jsonl beside --output_file).")

    def _sampling(self, passk: int, temp_policy: str) -> Any:
        from engine.agentless.gen.requests import SamplingConfig

        return SamplingConfig(model=self.model_name, max_tokens=self.max_tokens, temperature=self.temp, passk=passk,
                              enable_thinking=self.enable_thinking, thinking_budget=self.thinking_budget,
                              thinking_style=self.thinking_style, temp_policy=temp_policy)  # type: ignore[arg-type]

    def _common(self) -> dict[str, Any]:
        return dict(dataset=self.dataset, split=self.split, repostructure_dir=self.repostructure_dir,
                    output_file=self.output_file, convert_crlf=self.convert_crlf, num_workers=self.num_workers,
                    max_prompt_tokens=self.max_prompt_tokens, context_length=self.context_length, url=self.url,
                    failures_file=self.failures_file)

    def _launch(self, job: Any, title: str, inputs: dict[str, Any]) -> JobLaunch:
        return JobLaunch(kind=self.kind, job=job, title=title, inputs=inputs, outputs={"requests": self.output_file},
                         summary=_requests_summary(self.output_file))

    def world_checks(self, config: Any) -> list[WorldCheck]:
        return [dataset_check(self.dataset, self.split), structure_check(self.repostructure_dir)]


class _Selected(_GenCommon):
    """Stages that pick instances of the dataset and take passes (gen-step1, gen-step2)."""

    role: Role = option("bugfixer", *seed_flags("--role"),
                        help="bugfixer (files to edit → SEARCH/REPLACE repair) or testwriter (test files → reproduction test).")
    passk: int = option(1, *seed_flags("--passk"), ge=1, help="Samples per instance; > 1 gives custom_ids <id>__pass<N>.")
    temp_policy: TempPolicy = option("auto", *seed_flags("--temp_policy"),
                                     help="auto (test writer: pass 0 greedy when passk > 1), greedy-first, uniform.")
    instance_ids: list[str] = option(..., *seed_flags("--instance_ids"), default_factory=list, nargs_plus=True,
                                     help="Only these instance ids (space- or comma-separated, or repeat the flag).")
    instances_file: Optional[str] = option(None, *seed_flags("--instances_file"), path="file", exists=True,
                                           help="File of instance ids, one per line (or a JSON list).")
    start_file: Optional[str] = option(None, *seed_flags("--start_file"),
                                       help="First instance id of a range (ids sorted as strings, inclusive).")
    end_file: Optional[str] = option(None, *seed_flags("--end_file"), help="Last instance id of the range (inclusive).")

    def _selected(self) -> dict[str, Any]:
        return dict(role=self.role, sampling=self._sampling(self.passk, self.temp_policy),
                    instance_ids=list(self.instance_ids), instances_file=self.instances_file,
                    start_file=self.start_file, end_file=self.end_file, **self._common())


class Stage1Job(_Selected):
    job_name: ClassVar[str] = "gen-step1"
    title: ClassVar[str] = "Stage 1: localization requests for a dataset's instances"
    cli_path: ClassVar[tuple[str, ...]] = ("agentless", "gen-step1")
    kind: ClassVar[str] = "gen-step1"
    field_order: ClassVar[tuple[str, ...]] = ("role", "dataset", "split", "repostructure_dir", "output_file", "model_name")

    def make_job(self, config: Any, *, warn: Callable[[str], None] = lambda _l: None,
                 notify: Callable[[str], None] | None = None) -> JobLaunch:
        from engine.agentless.gen.stage1 import Stage1Options, make_stage1_job

        job = make_stage1_job(Stage1Options(**self._selected()))
        return self._launch(job, f"gen-step1 {self.role} {self.dataset}",
                            {"dataset": self.dataset, "repostructure_dir": self.repostructure_dir})


class Stage2Job(_Selected):
    job_name: ClassVar[str] = "gen-step2"
    title: ClassVar[str] = "Stage 2: repair or reproduction-test requests from step-1 answers"
    cli_path: ClassVar[tuple[str, ...]] = ("agentless", "gen-step2")
    kind: ClassVar[str] = "gen-step2"
    field_order: ClassVar[tuple[str, ...]] = ("input_file", "role", "dataset", "split", "repostructure_dir",
                                              "output_file", "model_name")

    input_file: str = option(..., *seed_flags("--input_file"), path="file", exists=True, what="step-1 responses file",
                             help="Step-1 responses (OpenAI Batch output JSONL).")

    def make_job(self, config: Any, *, warn: Callable[[str], None] = lambda _l: None,
                 notify: Callable[[str], None] | None = None) -> JobLaunch:
        from engine.agentless.gen.stage2 import Stage2Options, make_stage2_job

        job = make_stage2_job(Stage2Options(input_file=self.input_file, **self._selected()))
        return self._launch(job, f"gen-step2 {self.role} {Path(self.input_file).name}",
                            {"responses": self.input_file, "dataset": self.dataset,
                             "repostructure_dir": self.repostructure_dir})


class RepairJob(_GenCommon):
    job_name: ClassVar[str] = "gen-repair"
    title: ClassVar[str] = "Agentless repair in batch form: requests from localization outputs"
    cli_path: ClassVar[tuple[str, ...]] = ("agentless", "gen-repair")
    kind: ClassVar[str] = "gen-repair"
    field_order: ClassVar[tuple[str, ...]] = ("loc_file", "context_window", "max_samples", "skip_greedy", "top_n")

    loc_file: str = option(..., *seed_flags("--loc_file"), path="file", exists=True, what="loc file",
                           help="Agentless loc_outputs.jsonl (found_files, found_edit_locs).")
    context_window: int = option(10, *seed_flags("--context_window"), ge=0, help="Lines shown around each edit location.")
    max_samples: int = option(1, *seed_flags("--max_samples"), ge=1, help="Samples per instance (ids <instance_id>|<i>).")
    skip_greedy: bool = option(False, *seed_flags("--skip_greedy"), help="Leave out sample 0 (the greedy one at temperature 0).")
    top_n: int = option(1, *seed_flags("--top_n"), ge=1, help="How many of found_files to show (Agentless default 1).")

    def make_job(self, config: Any, *, warn: Callable[[str], None] = lambda _l: None,
                 notify: Callable[[str], None] | None = None) -> JobLaunch:
        from engine.agentless.gen.repair_batch import RepairOptions, make_repair_job

        job = make_repair_job(RepairOptions(
            loc_file=self.loc_file, sampling=self._sampling(1, "uniform"), context_window=self.context_window,
            max_samples=self.max_samples, skip_greedy=self.skip_greedy, top_n=self.top_n, **self._common()))
        return self._launch(job, f"gen-repair {Path(self.loc_file).name}",
                            {"loc_file": self.loc_file, "dataset": self.dataset,
                             "repostructure_dir": self.repostructure_dir})


class ExtractJob(JobOptions):
    job_name: ClassVar[str] = "extract"
    title: ClassVar[str] = "Stage 3: patches or reproduction tests from step-2 answers, one voted prediction each"
    cli_path: ClassVar[tuple[str, ...]] = ("agentless", "extract")
    kind: ClassVar[str] = "extract"

    role: Role = option("bugfixer", *seed_flags("--role"),
                        help="bugfixer (SEARCH/REPLACE → patches) or testwriter (reproduction tests).")
    input_file: str = option(..., *seed_flags("--input_file"), path="file", exists=True, what="step-2 response file",
                             help="Step-2 responses (OpenAI Batch output JSONL).")
    repostructure_dir: str = option(..., *seed_flags("--repostructure_dir"), path="dir", exists=True,
                                    what="repo-structure folder",
                                    help="Folder of Agentless structure files <instance_id>.json.")
    save_dir: str = option(..., *seed_flags("--save_dir"), path="dir",
                           help="Output folder (samples/, output_<pass>_processed.jsonl, predictions.jsonl, failures.jsonl).")
    dataset: Optional[str] = option(None, *seed_flags("--dataset"),
                                    help="Only instances of this dataset (hub name, parquet/JSON/JSONL file, saved folder).")
    split: str = option("test", *seed_flags("--split"), help="Dataset split.")
    step1_file: Optional[str] = option(None, *seed_flags("--step1_file"), path="file", exists=True,
                                       what="step-1 response file",
                                       help="Test writer: the step-1 responses naming the test file to edit.")
    passk: Optional[int] = option(None, *seed_flags("--passk"), ge=1,
                                  help="Passes per instance: output files for passes 0..K-1; later passes are skipped.")
    num_workers: int = option(2, *seed_flags("--num_workers"), ge=0, help="Worker processes (0: in this process).")
    item_timeout: float = option(30.0, *seed_flags("--item_timeout"), ge=0.0, help="Seconds allowed per sample (0: no limit).")
    model_name: Optional[str] = option(None, *seed_flags("--model_name"),
                                       help="model_name_or_path in predictions (default: the responses' model).")

    def make_job(self, config: Any, *, warn: Callable[[str], None] = lambda _l: None,
                 notify: Callable[[str], None] | None = None) -> JobLaunch:
        from engine.agentless.extract.stage3 import ExtractOptions, make_extract_job

        job = make_extract_job(ExtractOptions(
            role=self.role, input_file=self.input_file, repostructure_dir=self.repostructure_dir, save_dir=self.save_dir,
            dataset=self.dataset, split=self.split, step1_file=self.step1_file, passk=self.passk,
            num_workers=self.num_workers, item_timeout_s=self.item_timeout, model_name=self.model_name))
        return JobLaunch(kind=self.kind, job=job, title=f"extract {self.role} {self.input_file}",
                         inputs={"input_file": self.input_file, "repostructure_dir": self.repostructure_dir,
                                 "dataset": self.dataset, "step1_file": self.step1_file},
                         outputs={"save_dir": self.save_dir})

    def world_checks(self, config: Any) -> list[WorldCheck]:
        checks = [structure_check(self.repostructure_dir)]
        if self.dataset:
            checks.insert(0, dataset_check(self.dataset, self.split))
        return checks


def _requests_summary(output_file: str) -> Callable[[dict[str, Any]], str]:
    def summary(state: dict[str, Any]) -> str:
        figs = (state or {}).get("figures") or {}
        reasons = figs.get("failed_by_reason") or {}
        return (f"wrote {figs.get('written', 0)} requests to {output_file}"
                + (f"; failures {dict(reasons)} in {figs.get('failures_file')}" if reasons else ""))

    return summary


def dataset_check(dataset: str, split: str) -> WorldCheck:
    """A local dataset file/folder exists, or a hub name is in the local Hugging Face cache."""
    p = Path(dataset).expanduser()
    if p.exists():
        return WorldCheck("dataset", True, f"{dataset}: found", "dataset")
    if p.suffix in (".jsonl", ".json", ".parquet", ".csv") or dataset.startswith((".", "/", "~")):
        return WorldCheck("dataset", False, f"{dataset}: dataset file not found: check --dataset", "dataset")
    import os

    hub = Path(os.environ.get("HF_DATASETS_CACHE") or Path(os.environ.get("HF_HOME", "~/.cache/huggingface")) / "datasets")
    cached = hub.expanduser() / dataset.replace("/", "___")
    if cached.exists():
        return WorldCheck("dataset", True, f"{dataset}: in the local Hugging Face cache", "dataset")
    return WorldCheck("dataset", True, f"{dataset}: not cached here: it will be downloaded from the Hub (needs network)",
                      "dataset")


def structure_check(repostructure_dir: str) -> WorldCheck:
    """The structure folder exists and holds <instance_id>.json files."""
    p = Path(repostructure_dir).expanduser()
    if not p.is_dir():
        return WorldCheck("structures", False, f"{repostructure_dir}: folder not found: check --repostructure_dir",
                          "repostructure_dir")
    n = sum(1 for _ in zip(range(100000), p.glob("*.json")))
    if n == 0:
        return WorldCheck("structures", False, f"{repostructure_dir}: no <instance_id>.json structure files in it",
                          "repostructure_dir")
    return WorldCheck("structures", True, f"{repostructure_dir}: {n} structure file(s)", "repostructure_dir")
