"""Theme data for the console: ``*.toml`` theme files and ``base.tcss``, shipped in the wheel.

Only data lives here; console/themes.py turns the files into ``textual.theme.Theme`` objects.
Users add their own theme files in ``<user config dir>/rollout/themes/``.
"""
