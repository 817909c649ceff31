"""rollout engine: the UI-free core of the rollout console.

Nothing in this package imports textual or typer (tests/test_import_hygiene.py proves it).
"""

__version__ = "0.1.0"
