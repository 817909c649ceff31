#!/usr/bin/env bash
# The console's tests and benches: tmux (a real pane for tests/bench of redraws, tmux
# capture-pane for "as a new user" tries) and Debian's chromium (headless, for `rollout web`'s
# browser test, driven by Playwright with its executable path: no browser download).
# Idempotent; prints one line; never fails the suite.
set -u
say() { echo "setup-console: $*"; }
want=()
command -v tmux >/dev/null 2>&1 || want+=(tmux)
command -v chromium >/dev/null 2>&1 || want+=(chromium)
if [ ${#want[@]} -eq 0 ]; then say "tmux and chromium present"; exit 0; fi
if [ "$(id -u)" != "0" ]; then say "skipped (needs root to install ${want[*]})"; exit 0; fi
LOG="${TMPDIR:-/tmp}/rollout-setup-console.log"
if { apt-get update -qq >/dev/null 2>&1 || true; } && \
   DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${want[@]}" >"$LOG" 2>&1; then
  say "installed ${want[*]}"
else
  say "could not install ${want[*]} (see $LOG)"
fi
exit 0
