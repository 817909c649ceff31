"""Agentless-style SWE-bench rollout stages.

``gen/`` builds request files (stage 1 localization, stage 2 repair / test-writing prompts);
``extract/`` turns step-2 answers into patches and reproduction tests (stage 3). The readers they
share (repo structures, datasets, reasoning, token estimates, predictions) sit here beside them.
"""
