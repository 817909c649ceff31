#!/usr/bin/env bash
# tmux for the console's end-to-end test (a real terminal at 80x24, keys sent with send-keys).
# Idempotent: installs the Debian package only when tmux is missing. Prints one line; never fails the suite.
set -u
say() { echo "setup-tmux: $*"; }
if command -v tmux >/dev/null 2>&1; then say "$(tmux -V) present"; exit 0; fi
if [ "$(id -u)" != "0" ]; then say "skipped (tmux missing and installing it needs root)"; exit 0; fi
if ! { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tmux >/tmp/setup-tmux-apt.log 2>&1; }; then
  say "could not install tmux (see /tmp/setup-tmux-apt.log)"; exit 0
fi
say "installed $(tmux -V)"
