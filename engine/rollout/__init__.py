"""Agentless-style SWE-bench rollout stages: localization (1), repair / test-writing (2), patches (3)."""
