"""Threshold alerts on job state and monitor samples, with hysteresis, and their delivery.

A rule (:class:`engine.config.AlertRule`) names a metric by dotted path into a namespace built by
:func:`build_metrics`:

- the job's state.json dict: ``counters.failed``, ``figures.error_rate_recent``, ``cost_usd``,
  ``cost_projected_usd``, ``rate.items_per_s``...
- the latest monitor sample's metrics (engine.monitor): ``gpu.max_util``, ``gpu.max_mem_pct``,
  ``disk.workspace_free_pct``, ``disk.min_free_pct``, ``cpu.total_pct``, ``mem.used_pct``...
  (the hook also measures the disks of the workspace and the run's outputs itself every 10 s)
- ``derived.*`` figures computed here: ``success_rate`` (the job's ``figures.success_rate`` when it
  reports one, else ok / (ok + failed)), ``cost_per_instance_usd``,
  ``target_gpu_util`` (lowest utilisation among the GPUs the job targets: jobs say which with
  ``ctx.set_figures(gpu_indices=[0, 1])`` or ``targets_gpu=True``), ``heartbeat_age_s``.

The four seed 004 rules are fed by real figures: ``figures.overfit_gap`` (mean public − hidden pass
rate) and ``figures.success_rate``/``success_rate_n`` (Overall ≥ 0.5) from ``rollout eval swebench``;
``figures.cost_per_instance_usd`` from processing runs whose custom_ids are instance ids (pass@k
samples add up to their instance) and from eval runs given ``--rollout-runs``;
``figures.crashes`` = harness/Docker/infrastructure errors of an eval run.

Hysteresis: a rule raises once its condition has held for ``hold_s`` seconds, and clears once the
value has been back past its clear threshold (``clear_threshold``, default 10% of the threshold on
the good side: :func:`clear_threshold`) for ``clear_hold_s`` seconds (default ``hold_s``; built-in
rules wait at least :data:`DEFAULT_CLEAR_HOLD_S`). Between the two thresholds nothing changes, so a
figure hovering at its threshold raises once and clears once. ``[alert_tuning.<rule>]`` in the
config changes a built-in rule's fields. ``min_samples``: the value must rest on
at least that many observations before the rule may fire — ``<metric>_n`` when the state gives it
(e.g. ``figures.error_rate_recent_n``; ``figures.attempts`` for the processor's error rate), items
finished for job figures, evaluations otherwise.
A missing metric does not hold.

Delivery (:class:`AlertHook`, a job state hook): ``ctx.raise_alert``/``ctx.clear_alert`` (events,
state, a stderr line in headless mode), the terminal bell when ``config.bell``, and the
``config.on_alert`` command run with the alert JSON on stdin in a thread, killed after
``config.on_alert_timeout_s`` so it never blocks the job. Alerts the job raises itself (the
processor's ``endpoint_down``) are delivered the same way.
"""

from __future__ import annotations

import collections
import json
import math
import operator
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from engine.config import AlertRule
from engine.errors import InputError
from engine.jobs import Alert, JobContext, StateHook
from engine.monitor.thresholds import THRESHOLDS
from engine.runs import redact_text, run_output_paths

OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le, "==": operator.eq, "!=": operator.ne,
}
#: a monitor sample older than this is not used (seconds)
SAMPLE_MAX_AGE_S = 15.0
#: the default clear threshold sits this fraction of the threshold on the good side
CLEAR_BAND = 0.10
#: a built-in rule clears only after its figure stayed back this long (seconds), unless it says otherwise
DEFAULT_CLEAR_HOLD_S = 30.0
#: how often the hook measures disks itself when no fresh sample exists (seconds)
LOCAL_DISK_EVERY_S = 10.0
#: how often a GPU-targeting job re-asks for the sampler (seconds)
ENSURE_SAMPLER_EVERY_S = 10.0
#: the top-level state keys whose metrics count items finished as their observations
JOB_METRIC_ROOTS = frozenset({"figures", "counters", "tokens", "cost_usd", "cost_projected_usd", "rate"})
#: metrics whose observations are counted by another figure (the processor counts HTTP attempts)
COUNT_FALLBACKS = {"figures.error_rate_recent": "figures.attempts"}


# -- rules -----------------------------------------------------------------------------------


def default_rules(budget_usd: float | None = None) -> list[AlertRule]:
    """The built-in rules: seed 004's quality/cost thresholds and the operational ones."""
    rules = [
        AlertRule(name="overfit_gap_high", metric="figures.overfit_gap", op=">", threshold=0.15,
                  action="patches pass public tests but fail hidden ones: inspect the generated tests"),
        AlertRule(name="success_rate_low", metric="derived.success_rate", op="<", threshold=0.50, min_samples=20,
                  action="fewer than half the items succeed: check prompts, model and endpoint before spending more"),
        AlertRule(name="cost_overrun", metric="derived.cost_per_instance_usd", op=">", threshold=7.0,
                  severity="critical", action="cost per instance is above $7: lower passes/tokens or stop the run"),
        AlertRule(name="infrastructure_failure", metric="figures.crashes", op=">=", threshold=2,
                  severity="critical", action="repeated crashes: check the server, Docker and the run's error log"),
        AlertRule(name="gpu_idle", metric="derived.target_gpu_util", op="<", threshold=10, hold_s=300,
                  action="a GPU this job uses has been idle for 5 minutes: check the server and the request queue"),
        AlertRule(name="gpu_memory_high", metric="gpu.max_mem_pct", op=">", threshold=THRESHOLDS["gpu_mem"].crit,
                  hold_s=30,
                  action="GPU memory is nearly full: expect OOM; lower --mem-fraction-static or concurrency"),
        AlertRule(name="disk_low", metric="disk.min_free_pct", op="<", threshold=THRESHOLDS["disk_free"].crit,
                  hold_s=10, severity="critical",
                  action="less than 10% disk free on the workspace or an output folder: free space before writes fail"),
        AlertRule(name="error_rate_high", metric="figures.error_rate_recent", op=">", threshold=0.05,
                  min_samples=20, hold_s=5,
                  action="more than 5% of the last 200 requests failed: check the endpoint and its log"),
        AlertRule(name="heartbeat_stale", metric="derived.heartbeat_age_s", op=">", threshold=30,
                  severity="critical", action="the job stopped reporting: check that its process is alive"),
    ]
    if budget_usd is not None:
        rules.append(AlertRule(name="budget_exceeded", metric="cost_projected_usd", op=">", threshold=budget_usd,
                               severity="critical",
                               action=f"the projected cost passes the budget of ${budget_usd:g}: stop or shrink the run"))
    return [with_clear_defaults(r) for r in rules]


def with_clear_defaults(rule: AlertRule) -> AlertRule:
    """A built-in rule with the clear side filled in: a recent-window figure (error rate) is
    noisy, so it clears at half its threshold; every built-in rule waits
    :data:`DEFAULT_CLEAR_HOLD_S` (or its own hold, when longer) before clearing."""
    update: dict[str, Any] = {}
    if rule.clear_hold_s is None:
        update["clear_hold_s"] = max(rule.hold_s, DEFAULT_CLEAR_HOLD_S)
    if rule.clear_threshold is None and rule.metric.endswith("_recent") and rule.op in (">", ">="):
        update["clear_threshold"] = rule.threshold / 2
    return rule.model_copy(update=update) if update else rule


def rules_from_config(config: Any) -> list[AlertRule]:
    """Enabled rules: the defaults (unless ``use_default_alerts`` is false) with the config's rules
    added; a config rule with a default's name replaces it; ``alert_tuning`` then changes fields
    of rules by name (an unknown name is an InputError)."""
    if config is None:
        return [r for r in default_rules() if r.enabled]
    by_name: dict[str, AlertRule] = {}
    if getattr(config, "use_default_alerts", True):
        for rule in default_rules(getattr(config, "budget_usd", None)):
            by_name[rule.name] = rule
    for rule in getattr(config, "alerts", None) or []:
        by_name[rule.name] = rule
    for name, tuning in (getattr(config, "alert_tuning", None) or {}).items():
        if name not in by_name:
            raise InputError(f"alert_tuning.{name}: no such alert rule (have: {', '.join(sorted(by_name))}): "
                             "fix the name in the config")
        by_name[name] = by_name[name].model_copy(update=tuning.model_dump(exclude_none=True))
    return [r for r in by_name.values() if r.enabled]


def clear_threshold(rule: AlertRule) -> float:
    """Where an active rule's value must get back to before it may clear: the rule's own
    ``clear_threshold``, else :data:`CLEAR_BAND` of the threshold on the good side."""
    if rule.clear_threshold is not None:
        return rule.clear_threshold
    band = abs(rule.threshold) * CLEAR_BAND
    if rule.op in (">", ">="):
        return rule.threshold - band
    if rule.op in ("<", "<="):
        return rule.threshold + band
    return rule.threshold


def clear_hold_s(rule: AlertRule) -> float:
    """How long the value must stay past the clear threshold before the rule clears."""
    return rule.hold_s if rule.clear_hold_s is None else rule.clear_hold_s


# -- metrics ---------------------------------------------------------------------------------


def lookup(namespace: Mapping[str, Any], path: str) -> Any:
    """The value at dotted ``path`` (``counters.failed``), or None when any part is missing."""
    cur: Any = namespace
    for part in path.split("."):
        if isinstance(cur, Mapping) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            return None
    return cur


def _num(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)) and not (isinstance(value, float) and math.isnan(value)):
        return float(value)
    return None


def derived_metrics(state: Mapping[str, Any], sample: Mapping[str, Any] | None = None,
                    now: float | None = None) -> dict[str, Any]:
    """Figures computed from the state (and sample) that rules use as ``derived.<name>``."""
    counters = state.get("counters") or {}
    figures = state.get("figures") or {}
    ok, failed = int(counters.get("ok") or 0), int(counters.get("failed") or 0)
    out: dict[str, Any] = {}
    if _num(figures.get("success_rate")) is not None:
        out["success_rate"] = figures["success_rate"]
        out["success_rate_n"] = figures.get("success_rate_n", ok + failed)
    elif "success_rate" in figures:
        pass  # the job defines success itself (SWE-bench: Overall >= 0.5) and has none yet: not ok/failed
    elif ok + failed:
        out["success_rate"] = round(ok / (ok + failed), 4)
        out["success_rate_n"] = ok + failed
    cost = _num(state.get("cost_usd"))
    if _num(figures.get("cost_per_instance_usd")) is not None:
        out["cost_per_instance_usd"] = figures["cost_per_instance_usd"]
    elif cost is not None and ok + failed:
        out["cost_per_instance_usd"] = round(cost / (ok + failed), 6)
        out["cost_per_instance_usd_n"] = ok + failed
    heartbeat = _num(state.get("heartbeat"))
    if heartbeat is not None:
        out["heartbeat_age_s"] = round(max((now if now is not None else time.time()) - heartbeat, 0.0), 3)
    targets = figures.get("gpu_indices")
    if targets is None and figures.get("targets_gpu"):
        targets = "all"
    if targets is not None and sample and state.get("status") in ("running", "serving"):
        gpus = (sample.get("gpu") or {}).get("gpus") or []
        utils = [g.get("util_pct") for g in gpus
                 if (targets == "all" or g.get("index") in targets) and g.get("util_pct") is not None]
        if utils:
            out["target_gpu_util"] = min(utils)
    return out


def build_metrics(state: Mapping[str, Any], sample: Mapping[str, Any] | None = None,
                  local: Mapping[str, Any] | None = None, now: float | None = None) -> dict[str, Any]:
    """The namespace rules look metrics up in: state, sample metrics (or ``local`` ones), derived."""
    ns: dict[str, Any] = dict(state)
    if sample:
        for group, values in (sample.get("metrics") or {}).items():
            ns[group] = values
        ns["monitor"] = {"age_s": sample.get("age_s")}
    for group, values in (local or {}).items():
        merged = {**(ns.get(group) or {}), **values}
        if group == "disk":  # the job's own folders and the sampler's: the fullest disk counts
            frees = [v for v in ((ns.get(group) or {}).get("min_free_pct"), values.get("min_free_pct")) if v is not None]
            merged["min_free_pct"] = min(frees) if frees else None
        ns[group] = merged
    ns["derived"] = derived_metrics(state, sample, now)
    return ns


# -- evaluation ------------------------------------------------------------------------------


@dataclass
class _Track:
    pending_since: float | None = None
    clearing_since: float | None = None
    seen: int = 0
    active: bool = False


@dataclass
class Transition:
    """A rule that raised (``alert`` set) or cleared."""

    rule: AlertRule
    raised: bool
    value: Any
    alert: Alert | None = None


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


class AlertEvaluator:
    """Evaluates rules on successive metric namespaces with hysteresis and minimum samples.

    ``clock`` is injectable (monotonic seconds) so tests replay series without sleeping.
    """

    def __init__(self, rules: Iterable[AlertRule], clock: Callable[[], float] = time.monotonic) -> None:
        self.rules = [r for r in rules if r.enabled]
        self.clock = clock
        self._tracks: dict[str, _Track] = {r.name: _Track() for r in self.rules}

    @property
    def active(self) -> set[str]:
        return {name for name, t in self._tracks.items() if t.active}

    def _observations(self, rule: AlertRule, ns: Mapping[str, Any], track: _Track) -> int:
        n = _num(lookup(ns, rule.metric + "_n"))
        if n is None and rule.metric in COUNT_FALLBACKS:
            n = _num(lookup(ns, COUNT_FALLBACKS[rule.metric]))
        if n is not None:
            return int(n)
        if rule.metric.split(".", 1)[0] in JOB_METRIC_ROOTS and "counters" in ns:
            counters = ns.get("counters") or {}
            return int(counters.get("ok") or 0) + int(counters.get("failed") or 0)
        return track.seen

    def evaluate(self, ns: Mapping[str, Any], now: float | None = None, *, final: bool = False) -> list[Transition]:
        """Feed one namespace; return the rules that raised or cleared on it.

        ``final``: the job's last state. An active rule whose value is back past its clear
        threshold clears at once: the clear hold guards against flapping, and nothing follows.
        """
        now = self.clock() if now is None else now
        out: list[Transition] = []
        for rule in self.rules:
            track = self._tracks[rule.name]
            raw = lookup(ns, rule.metric)
            value = _num(raw)
            if value is not None:
                track.seen += 1
            if not track.active:
                holds = value is not None and OPS[rule.op](value, rule.threshold)
                if not holds:
                    track.pending_since = None
                    continue
                if track.pending_since is None:
                    track.pending_since = now
                if now - track.pending_since >= rule.hold_s and self._observations(rule, ns, track) >= rule.min_samples:
                    track.active = True
                    track.pending_since = None
                    out.append(Transition(rule, True, raw, self._alert(rule, raw)))
                continue
            # active: a missing metric counts as clear; between the two thresholds nothing changes
            back = value is None or not OPS[rule.op](value, clear_threshold(rule))
            if not back:
                track.clearing_since = None
                continue
            if track.clearing_since is None:
                track.clearing_since = now
            if final or now - track.clearing_since >= clear_hold_s(rule):
                track.active = False
                track.clearing_since = None
                out.append(Transition(rule, False, raw))
        return out

    @staticmethod
    def _alert(rule: AlertRule, value: Any) -> Alert:
        held = f" for {rule.hold_s:g}s" if rule.hold_s else ""
        return Alert(name=rule.name, severity=rule.severity, value=value, threshold=rule.threshold,
                     action=rule.action or None,
                     message=f"{rule.metric} = {_fmt(value)} {rule.op} {_fmt(rule.threshold)}{held}")


# -- delivery --------------------------------------------------------------------------------


@dataclass
class DeliveryResult:
    """How one run of the ``on_alert`` command went."""

    name: str
    state: str
    returncode: int | None
    timed_out: bool = False
    error: str | None = None
    stderr_tail: str = ""


@dataclass
class OnAlertRunner:
    """Runs the ``on_alert`` command with an alert as JSON on stdin, each in its own thread.

    The command runs in its own process session; past ``timeout_s`` the whole session is killed.
    Results queue up for the job's thread to report (:meth:`drain`); nothing here touches the job.
    """

    command: str
    timeout_s: float = 10.0
    _results: collections.deque[DeliveryResult] = field(default_factory=collections.deque)
    _threads: list[threading.Thread] = field(default_factory=list)

    def submit(self, payload: dict[str, Any]) -> threading.Thread:
        # Not a daemon: at job exit Python waits for it, which the timeout bounds.
        thread = threading.Thread(target=self._run, args=(payload,), name=f"on_alert-{payload.get('name')}")
        self._threads = [t for t in self._threads if t.is_alive()]
        self._threads.append(thread)
        thread.start()
        return thread

    def _run(self, payload: dict[str, Any]) -> None:
        name, state = str(payload.get("name")), str(payload.get("state"))
        # redacted like events: an endpoint URL in a message may carry a key
        data = (redact_text(json.dumps(payload, default=str, ensure_ascii=False)) + "\n").encode()
        try:
            proc = subprocess.Popen(os.path.expanduser(self.command), shell=True, stdin=subprocess.PIPE,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        except OSError as exc:
            self._results.append(DeliveryResult(name, state, None, error=str(exc)))
            return
        try:
            _, err = proc.communicate(data, timeout=self.timeout_s)
            self._results.append(DeliveryResult(name, state, proc.returncode,
                                                stderr_tail=err.decode(errors="replace")[-300:].strip()))
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                proc.kill()
            try:
                proc.communicate(timeout=5)
            except subprocess.TimeoutExpired:  # a grandchild outside the group still holds the pipe
                pass
            self._results.append(DeliveryResult(name, state, proc.returncode, timed_out=True))

    def drain(self) -> list[DeliveryResult]:
        out = []
        while self._results:
            out.append(self._results.popleft())
        return out

    def join(self, timeout: float | None = None) -> None:
        """Wait for running deliveries (tests, and callers that want to flush before exiting)."""
        for t in list(self._threads):
            t.join(timeout)


class AlertHook:
    """The job state hook: evaluates rules on each state write and delivers raised/cleared alerts.

    One per job (it holds the hysteresis state). ``read_sample`` and ``clock`` are injectable.
    """

    __name__ = "alerts"

    def __init__(self, config: Any = None, *, rules: Iterable[AlertRule] | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 read_sample: Callable[[Path], dict[str, Any] | None] | None = None) -> None:
        self.config = config
        self.evaluator = AlertEvaluator(rules if rules is not None else rules_from_config(config), clock=clock)
        self.clock = clock
        command = getattr(config, "on_alert", None)
        self.runner = OnAlertRunner(command, float(getattr(config, "on_alert_timeout_s", 10.0))) if command else None
        self.bell = bool(getattr(config, "bell", False))
        self._read_sample = read_sample
        self._sample_reader: Any = None  # engine.monitor.reader.SampleReader, made on first use
        self._delivered: dict[str, Alert] = {}
        self._next_disk = 0.0
        self._local: dict[str, Any] = {}
        self._disk_paths: dict[str, str] | None = None

    def __call__(self, state: dict[str, Any], ctx: JobContext) -> None:
        now = self.clock()
        self._report_deliveries(ctx)
        workspace = ctx.run.path.parent.parent
        figures = state.get("figures") or {}
        if figures.get("gpu_indices") is not None or figures.get("targets_gpu"):
            self._ensure_sampler(workspace, ctx)
        sample = self._latest(workspace)
        ns = build_metrics(state, sample, self._local_disks(workspace, ctx, now))
        final = state.get("status") in ("done", "failed", "cancelled")
        for t in self.evaluator.evaluate(ns, now, final=final):
            if t.raised and t.alert is not None:
                ctx.raise_alert(t.alert)
            elif not t.raised:
                ctx.clear_alert(t.rule.name, f"{t.rule.metric} = {_fmt(t.value)}: back within the threshold")
        for rule in self.evaluator.rules:  # an active alert shows the current value, not the first one
            value = lookup(ns, rule.metric)
            if rule.name in ctx.alerts and rule.name in self.evaluator.active and _num(value) is not None:
                ctx.alerts[rule.name].value = value
        self._deliver_changes(ctx)

    # -- inputs ------------------------------------------------------------------------------
    def _reader(self, workspace: Path) -> Any:
        if self._sample_reader is None:
            from engine.monitor.reader import SampleReader  # psutil and the sampler: only when a job runs

            self._sample_reader = SampleReader(workspace, max_age_s=SAMPLE_MAX_AGE_S, read_every_s=1.0,
                                               ensure_every_s=ENSURE_SAMPLER_EVERY_S, clock=self.clock)
        return self._sample_reader

    def _latest(self, workspace: Path) -> dict[str, Any] | None:
        if self._read_sample is not None:
            return self._read_sample(workspace)
        return self._reader(workspace).latest()

    def _local_disks(self, workspace: Path, ctx: JobContext, now: float) -> dict[str, Any]:
        """Disk free of the workspace and the run's output folders, measured here every 10 s."""
        if now < self._next_disk:
            return self._local
        self._next_disk = now + LOCAL_DISK_EVERY_S
        from engine.monitor.system import disk_info

        disk: dict[str, Any] = {}
        frees = []
        for label, p in self._job_paths(workspace, ctx).items():
            info = disk_info(label, p)
            if info is not None:
                disk[f"{label}_free_pct"] = info.free_pct
                frees.append(info.free_pct)
        disk["min_free_pct"] = min(frees) if frees else None
        self._local = {"disk": disk}
        return self._local

    def _job_paths(self, workspace: Path, ctx: JobContext) -> dict[str, str]:
        """The workspace and the run's output paths (from run.json, absolute), read once."""
        if self._disk_paths is None:
            self._disk_paths = {"workspace": str(workspace), **run_output_paths(ctx.run.read_run())}
        return self._disk_paths

    def _ensure_sampler(self, workspace: Path, ctx: JobContext) -> None:
        paths = {k: v for k, v in self._job_paths(workspace, ctx).items() if k != "workspace"}
        try:
            self._reader(workspace).keep_alive(paths or None)
        except OSError as exc:
            ctx.warn(f"could not start the monitor sampler in {workspace}: {exc}")

    # -- delivery ----------------------------------------------------------------------------
    def _deliver_changes(self, ctx: JobContext) -> None:
        """Deliver every alert newly active or newly gone on ctx, whoever raised it."""
        current = dict(ctx.alerts)
        for name, alert in current.items():
            if name not in self._delivered:
                self._deliver(ctx, alert, "raised")
        for name, alert in self._delivered.items():
            if name not in current:
                self._deliver(ctx, alert, "cleared")
        self._delivered = current

    def _deliver(self, ctx: JobContext, alert: Alert, state: str) -> None:
        if state == "raised" and self.bell and sys.stderr.isatty():
            sys.stderr.write("\a")
            sys.stderr.flush()
        if self.runner is not None:
            self.runner.submit(alert_payload(alert, state, ctx))

    def _report_deliveries(self, ctx: JobContext) -> None:
        if self.runner is None:
            return
        for r in self.runner.drain():
            if r.timed_out:
                ctx.warn(f"on_alert command for {r.name} ({r.state}) was killed after {self.runner.timeout_s:g}s: "
                         "make it return faster or raise on_alert_timeout_s", alert=r.name)
            elif r.error is not None:
                ctx.warn(f"on_alert command for {r.name} could not start: {r.error}: check on_alert in the config",
                         alert=r.name)
            elif r.returncode:
                ctx.warn(f"on_alert command for {r.name} exited {r.returncode}: {r.stderr_tail[-200:]}", alert=r.name)
            else:
                ctx.event("alert_delivered", name=r.name, state=r.state)


def alert_payload(alert: Alert, state: str, ctx: JobContext) -> dict[str, Any]:
    """The JSON an ``on_alert`` command receives on stdin."""
    return {
        **alert.to_dict(),
        "state": state,
        "run_id": ctx.run.run_id,
        "kind": ctx.kind,
        "run_dir": str(ctx.run.path),
        "host": socket.gethostname(),
        "time": time.time(),
    }


def state_hooks(config: Any) -> list[StateHook]:
    """The state hooks run_job adds for a config: one :class:`AlertHook` (none without a config)."""
    if config is None:
        return []
    return [AlertHook(config)]


def stale_alert(state: Mapping[str, Any], now: float | None = None, max_age_s: float = 30.0) -> Alert | None:
    """For viewers: a ``heartbeat_stale`` alert when an active job's state has not been rewritten
    for ``max_age_s`` (a job cannot notice its own silence)."""
    if state.get("status") not in ("running", "waiting", "serving", "paused", "stopping"):
        return None
    if state.get("status") == "waiting" and state.get("waiting_on"):
        return None  # a hosted batch: the remote service holds the work, no process beats here
    age = derived_metrics(state, None, now).get("heartbeat_age_s")
    if age is None or age <= max_age_s:
        return None
    return Alert(name="heartbeat_stale", severity="critical", value=age, threshold=max_age_s,
                 message=f"no heartbeat for {age:.0f}s", action="check that the job's process is alive")
