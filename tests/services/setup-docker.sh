#!/usr/bin/env bash
# Docker for the docker executor's tests: install docker.io (Debian), start dockerd with the vfs
# storage driver and no bridge network if it is not running, and build the local image
# rollout-eval-python:test from the host's own python3 (images cannot be pulled here).
# Idempotent: each step is skipped when already done. Prints one line; never fails the suite.
set -u
IMAGE="${ROLLOUT_EVAL_IMAGE:-rollout-eval-python:test}"
STATE="${ROLLOUT_DOCKER_STATE:-/var/lib/rollout-test-docker}"
LOG="$STATE/dockerd.log"
say() { echo "setup-docker: $*"; }

if [ "$(id -u)" != "0" ]; then say "skipped (needs root to run dockerd)"; exit 0; fi
mkdir -p "$STATE"

if ! command -v dockerd >/dev/null 2>&1; then
  if ! { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >"$STATE/apt.log" 2>&1; }; then
    say "could not install docker.io (see $STATE/apt.log)"; exit 0
  fi
fi
DOCKER="$(command -v docker || true)"
if [ -z "$DOCKER" ]; then say "no docker client after install"; exit 0; fi

if ! "$DOCKER" info >/dev/null 2>&1; then
  nohup dockerd --storage-driver vfs --bridge none --iptables=false --ip6tables=false \
    --data-root "$STATE/data" --exec-root "$STATE/exec" --pidfile "$STATE/dockerd.pid" >"$LOG" 2>&1 &
  for _ in $(seq 1 60); do
    "$DOCKER" info >/dev/null 2>&1 && break
    sleep 0.5
  done
  if ! "$DOCKER" info >/dev/null 2>&1; then say "dockerd did not start (see $LOG)"; exit 0; fi
fi

if ! "$DOCKER" image inspect "$IMAGE" >/dev/null 2>&1; then
  # a root filesystem made of the host's python3: the interpreter, the libraries it links and
  # its standard library (no site-packages); docker import needs no registry
  ROOTFS="$(mktemp -d)"
  chmod 755 "$ROOTFS"  # mktemp makes it 0700: the image root must be traversable by nobody
  PY="$(readlink -f /usr/bin/python3)"
  PYVER="$(basename "$PY")"
  mkdir -p "$ROOTFS/usr/bin" "$ROOTFS/tmp" "$ROOTFS/sandbox" "$ROOTFS/etc"
  chmod 1777 "$ROOTFS/tmp"
  cp -a "$PY" "$ROOTFS/usr/bin/$PYVER"
  ln -s "$PYVER" "$ROOTFS/usr/bin/python3"
  copy_libs() {
    ldd "$1" 2>/dev/null | grep -o '/[^ ]*' | while read -r lib; do
      [ -e "$lib" ] || continue
      mkdir -p "$ROOTFS$(dirname "$lib")"
      cp -aL "$lib" "$ROOTFS$lib"
    done
  }
  copy_libs "$PY"
  STDLIB="/usr/lib/$PYVER"
  mkdir -p "$ROOTFS$STDLIB"
  tar -C "$STDLIB" --exclude='site-packages' --exclude='dist-packages' --exclude='test' --exclude='__pycache__' -cf - . \
    | tar -C "$ROOTFS$STDLIB" -xf -
  for so in "$STDLIB"/lib-dynload/*.so; do copy_libs "$so"; done
  printf "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n" >"$ROOTFS/etc/passwd"
  printf "root:x:0:\nnogroup:x:65534:\n" >"$ROOTFS/etc/group"
  if ! tar -C "$ROOTFS" -cf - . | "$DOCKER" import - "$IMAGE" >/dev/null 2>"$STATE/import.log"; then
    rm -rf "$ROOTFS"; say "docker import failed (see $STATE/import.log)"; exit 0
  fi
  rm -rf "$ROOTFS"
fi
say "dockerd ready, image $IMAGE"
exit 0
