"""Option model of ``rollout demo``: a synthetic job to try the console and the run directory with."""

from __future__ import annotations

from typing import Any, Callable, ClassVar

from engine.options.base import JobLaunch, JobOptions, option


class DemoJob(JobOptions):
    job_name: ClassVar[str] = "demo"
    title: ClassVar[str] = "A synthetic job (try the console and run directories)"
    cli_path: ClassVar[tuple[str, ...]] = ("demo",)
    kind: ClassVar[str] = "demo"

    items: int = option(200, "--items", ge=0, help="How many fake items.")
    delay: float = option(0.05, "--delay", ge=0.0, help="Seconds per item.")
    fail_every: int = option(0, "--fail-every", ge=0, help="Fail every Nth item (0: never).")
    concurrency: int = option(4, "--concurrency", ge=1, help="Items at a time.")

    def make_job(self, config: Any, *, warn: Callable[[str], None] = lambda _l: None,
                 notify: Callable[[str], None] | None = None) -> JobLaunch:
        from engine.demo import make_demo_job

        return JobLaunch(kind=self.kind, job=make_demo_job(self.items, self.delay, self.fail_every, self.concurrency,
                                                           tokens_per_item=500),
                         title=f"demo {self.items} items")
