"""The option model of ``rollout process --serve``: launch a server (the flags of ``rollout serve``),
process a request file against it, stop it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, ClassVar, Mapping

from pydantic import model_validator

from engine.options.base import JobLaunch, WorldCheck, option
from engine.options.process import DEFAULT_CONCURRENCY, ProcessJob
from engine.options.serve import ServerFields


class ServeProcessJob(ServerFields, ProcessJob):
    job_name: ClassVar[str] = "serve-process"
    title: ClassVar[str] = "Launch a server, process a request file against it, stop it"
    cli_path: ClassVar[tuple[str, ...]] = ("process",)
    tag_args: ClassVar[tuple[str, ...]] = ("--serve",)
    kind: ClassVar[str] = "process"
    field_order: ClassVar[tuple[str, ...]] = ("input", "output", "model_path", "tp_size", "dp_size", "port")
    #: the launched server is the endpoint, and it is checked by its own start-up
    form_hidden: ClassVar[tuple[str, ...]] = ("url", "endpoint", "no_preflight", "via", "split_lines", "split_bytes",
                                              "poll_interval")

    keep_server: bool = option(False, "--keep-server", help="Leave the server running after the file is done.")

    @classmethod
    def config_defaults(cls, config: Any, given: Mapping[str, Any]) -> dict[str, Any]:
        return {} if given.get("concurrency") is not None else {"concurrency": DEFAULT_CONCURRENCY}

    @model_validator(mode="after")
    def _serve_rules(self) -> "ServeProcessJob":
        if self.via == "batch":
            raise ValueError("--via batch sends the file to a hosted Batch API: drop --serve (or --via batch)")
        if self.url or self.endpoint:
            raise ValueError("--serve launches its own server: drop --url/--endpoint (or drop --serve to use them)")
        if not self.model_path:
            raise ValueError("--model-path is required with --serve: the model the server loads")
        return self

    def make_job(self, config: Any, *, warn: Callable[[str], None] = lambda _l: None,
                 notify: Callable[[str], None] | None = None) -> JobLaunch:
        from engine.config import read_api_key
        from engine.errors import InputError
        from engine.processor import make_serve_process_job, output_paths, prepare_run
        from engine.processor.serve import SERVE_KEY_ENV, ServeSettings
        from engine.server import ServerOptions

        options = self.process_options(config, url="http://127.0.0.1:0", preflight=False)  # the launched server's URL later
        server_key_env = self.api_key_env
        if self.api_key_file:
            key = read_api_key(None, self.api_key_file)
            if not key:
                raise InputError(f"--api-key-file {self.api_key_file} is empty: put the key in it or drop the flag")
            os.environ[SERVE_KEY_ENV] = key  # this process only; the launcher hands it on by environment
            server_key_env = SERVE_KEY_ENV
        elif self.api_key_env and not read_api_key(self.api_key_env):
            raise InputError(f"--api-key-env {self.api_key_env}: the variable is not set: export it or drop the flag")
        server = ServerOptions(api_key_env=server_key_env, engines=dict(getattr(config, "engines", None) or {}),
                               **self.server_kwargs())
        # the input, resume scan and output lock before anything is launched (no pre-flight: no server yet)
        plan = prepare_run(options, warn=warn)
        job = make_serve_process_job(options, ServeSettings(server, keep_server=self.keep_server), plan)
        return JobLaunch(kind=self.kind, job=job,
                         title=f"serve {self.model_path} + process {Path(self.input).name} → {Path(self.output).name}",
                         inputs={"input": plan.fingerprint}, outputs=output_paths(options))

    def world_checks(self, config: Any) -> list[WorldCheck]:
        return [self.engine_check(config)]
