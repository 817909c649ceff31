#!/usr/bin/env bash
# Installs and starts what the test suite needs beyond the Python venv. Idempotent.
# Each service script prints one line and never fails the suite by itself when a service
# cannot be had: the tests that need it then fail with a clear message.
set -u
here="$(cd "$(dirname "$0")" && pwd)"
for script in "$here"/setup-*.sh; do
  [ -e "$script" ] || continue
  bash "$script"
done
exit 0
