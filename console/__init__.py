"""The rollout console: a Typer CLI (cli.py) and a Textual app (app.py), both thin over engine/."""
