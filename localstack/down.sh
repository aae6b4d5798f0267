#!/usr/bin/env bash
# Stops what localstack/up.sh started for STATE_DIR (default: $BERTH_STATE_DIR or
# /tmp/berth-localstack): SIGTERM, then SIGKILL after a few seconds. Removes only the pid files;
# logs, certificates and etcd data stay for inspection. Never fails when nothing runs.
set -euo pipefail

STATE_DIR="${1:-${BERTH_STATE_DIR:-/tmp/berth-localstack}}"
GRACE="${BERTH_STOP_GRACE:-5}"
log() { echo "localstack: $*" >&2; }

[[ -d "$STATE_DIR" ]] || exit 0

# Is PID still the process we started (and not a recycled pid)?
ours() { # PID NAME
  local cmdline
  [[ -r "/proc/$1/cmdline" ]] || return 1
  cmdline="$(tr '\0' ' ' < "/proc/$1/cmdline" 2>/dev/null)" || return 1
  case "$2" in
    moto) [[ "$cmdline" == *moto_server* ]] ;;
    *) [[ "$cmdline" == *"$2"* ]] ;;
  esac
}

# Alive and not a zombie (a zombie's parent just has not reaped it yet; it is stopped).
running() { # PID
  local state
  kill -0 "$1" 2>/dev/null || return 1
  state="$(sed -n 's/^.*) \([A-Za-z]\).*$/\1/p' "/proc/$1/stat" 2>/dev/null || true)"
  [[ "$state" != Z ]]
}

# Reverse start order: clients first, etcd last.
for name in moto kube-apiserver etcd; do
  pidfile="$STATE_DIR/$name.pid"
  [[ -f "$pidfile" ]] || continue
  pid="$(cat "$pidfile" 2>/dev/null || true)"
  if [[ "$pid" =~ ^[0-9]+$ ]] && ours "$pid" "$name"; then
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < GRACE * 10; i++)); do
      running "$pid" || break
      sleep 0.1
    done
    if running "$pid"; then
      log "$name (pid $pid) still running after ${GRACE} s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$pidfile"
done
exit 0
