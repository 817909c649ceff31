"""SWE-bench evaluation: the official harness as a child job, its logs followed live, its reports read.

- (option models: :mod:`engine.options.swebench`, registered jobs ``eval-swebench`` and ``eval-repro``)
- :mod:`engine.swebench.dataset`  the instances' tests, repos, difficulty and gold patch sizes
- :mod:`engine.swebench.layout`   where the harness writes (logs/run_evaluation/<run_id>/<model>/<id>/)
- :mod:`engine.swebench.reports`  report.json and the run summary, read into typed records
- :mod:`engine.swebench.follower` live progress from the log folders, with stall detection
- :mod:`engine.swebench.preflight` harness installed? Docker reachable? (exit 3 otherwise)
- :mod:`engine.swebench.driver`   the ``swebench`` job: harness in its own process group
- :mod:`engine.swebench.repro`    reproduction tests before/after each patch through the harness
"""
