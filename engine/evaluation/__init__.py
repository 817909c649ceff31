"""Checkpoint evaluation: discover checkpoints, run their solutions in a sandbox, score them.

Modules: discovery (checkpoint folders, solution files), suites (humaneval, stdio), executors
(local sandbox, Piston, docker), metrics (pass@k), results (files on disk), curve (learning curve),
job (the run-directory job tying it together).
"""
