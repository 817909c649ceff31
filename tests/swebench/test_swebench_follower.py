"""The progress follower on a harness logs folder that the test fills over time."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from engine.swebench.follower import ERROR, GRADED, RUNNING, STALLED, LogFollower
from swebench_helpers import LITE_TEST, instances, write_report

PULL_FAIL = ("2026-12-01 08:06:48,875 - INFO - Image not found locally, attempting to pull...\n"
             "2026-12-01 08:06:48,916 - ERROR - Error creating container for {iid}: 500 Server Error for http+docker:"
             "//localhost/v1.41/images/create?tag=latest&fromImage=amd64.{iid}: Internal Server Error (\"Get "
             "\"https://registry-1.docker.io/v2/\": dial tcp: lookup registry-1.docker.io: no such host\")\n")


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def _append(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fh.write(text)


def test_follower_states_over_time_with_a_stall(tmp_path: Path) -> None:
    data = instances(LITE_TEST)
    a, b, c, d = (data[i] for i in sorted(data)[:4])
    logs = tmp_path / "logs" / "run_evaluation" / "r1"
    write_report(logs, "m", d, d.tests)  # graded by an earlier run with this run id: resumed
    clock = Clock()
    fol = LogFollower(logs, {x.instance_id: "m" for x in (a, b, c, d)}, stall_after_s=60, clock=clock)
    first = fol.poll()
    assert [(ch.what, ch.instance.instance_id, ch.instance.resumed) for ch in first] == [(GRADED, d.instance_id, True)]
    assert fol.count("pending") == 3

    clock.t = 5  # a and c start; b not yet
    _append(logs / "m" / a.instance_id / "run_instance.log", "2026-12-01 08:00:00,000 - INFO - Creating container\n")
    _append(logs / "m" / c.instance_id / "run_instance.log", "2026-12-01 08:00:00,000 - INFO - Creating container\n")
    assert sorted((ch.what, ch.instance.instance_id) for ch in fol.poll()) == sorted(
        [("started", a.instance_id), ("started", c.instance_id)])

    clock.t = 30  # a writes test output; b's image cannot be pulled
    _append(logs / "m" / a.instance_id / "test_output.txt", "PASSED test_x\n")
    _append(logs / "m" / b.instance_id / "run_instance.log", PULL_FAIL.format(iid=b.instance_id))
    changes = {(ch.what, ch.instance.instance_id) for ch in fol.poll()}
    assert changes == {("started", b.instance_id), (ERROR, b.instance_id)}
    assert fol.instances[b.instance_id].failure.reason == "image_unavailable"

    clock.t = 64  # c silent for 59 s: not yet
    assert fol.poll() == []
    clock.t = 66  # c silent for 61 s: stalled; a grew at 30, silent 36 s: fine
    assert [(ch.what, ch.instance.instance_id) for ch in fol.poll()] == [(STALLED, c.instance_id)]
    assert [i.instance_id for i in fol.stalled] == [c.instance_id]

    clock.t = 70  # c's logs grow again: running; a is graded
    _append(logs / "m" / c.instance_id / "run_instance.log", "2026-12-01 08:01:10,000 - INFO - Test runtime: 1s\n")
    write_report(logs, "m", a, a.tests)
    assert {(ch.what, ch.instance.instance_id) for ch in fol.poll()} == {("unstalled", c.instance_id),
                                                                         (GRADED, a.instance_id)}
    assert fol.instances[c.instance_id].state == RUNNING and fol.count(GRADED) == 2

    from engine.swebench.failures import harness_exit_failure

    clock.t = 80  # the harness exits: c was never graded
    end = fol.finish(lambda inst: harness_exit_failure(inst.instance_id, 1, "Killed"))
    assert [(ch.what, ch.instance.instance_id) for ch in end] == [(ERROR, c.instance_id)]
    assert "harness exited (1)" in fol.instances[c.instance_id].failure.message
    assert fol.count(GRADED, ERROR) == 4


def test_follower_in_real_time_with_a_writer_thread(tmp_path: Path) -> None:
    data = instances(LITE_TEST)
    a, b = (data[i] for i in sorted(data)[4:6])
    logs = tmp_path / "run"
    fol = LogFollower(logs, {a.instance_id: "m", b.instance_id: "m"}, stall_after_s=1.0)

    def writer() -> None:
        for k in range(6):  # a's log grows every 0.3 s, then a report appears; b starts and goes silent
            _append(logs / "m" / a.instance_id / "run_instance.log", f"2026-12-01 08:00:0{k},000 - INFO - step {k}\n")
            if k == 1:
                _append(logs / "m" / b.instance_id / "run_instance.log", "2026-12-01 08:00:01,000 - INFO - Building\n")
            time.sleep(0.3)
        write_report(logs, "m", a, a.tests)

    t = threading.Thread(target=writer)
    t.start()
    seen: list[tuple[str, str]] = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not ((GRADED, a.instance_id) in seen and (STALLED, b.instance_id) in seen):
        seen += [(ch.what, ch.instance.instance_id) for ch in fol.poll()]
        time.sleep(0.1)
    t.join()
    assert (GRADED, a.instance_id) in seen and (STALLED, b.instance_id) in seen
    assert (STALLED, a.instance_id) not in seen  # growing every 0.3 s never counts as a stall
