#!/usr/bin/env bash
# Creates (once) the cached Python venv for the Helm chart's tests: helm-python-sdk (Helm 4 as a
# library: render and lint offline, no helm binary), pytest, PyYAML, jsonschema.
#
#   bash localstack/helm-venv.sh        prints the venv's python on stdout
#
# Idempotent: reinstalls only when the venv is missing/broken or the pinned set changed.
# Location: $BERTH_CACHE/helm-venv (default ${XDG_CACHE_HOME:-$HOME/.cache}/berth/helm-venv).
set -euo pipefail

CACHE="${BERTH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/berth}"
VENV="$CACHE/helm-venv"
REQS="helm-python-sdk==0.2.2 pytest==9.2.0 PyYAML==6.0.4 jsonschema==4.26.0"

log() { echo "localstack: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

STAMP="$VENV/.berth-installed"
if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
  log "creating Python venv $VENV"
  rm -rf "$VENV"
  mkdir -p "$CACHE"
  python3 -m venv "$VENV" \
    || die "python3 -m venv failed; install python3-venv (apt-get install -y python3-venv)"
fi
if [[ "$(cat "$STAMP" 2>/dev/null)" != "$REQS" ]] \
   || ! "$VENV/bin/python" -c 'import helm_python, pytest, yaml, jsonschema' >/dev/null 2>&1; then
  log "installing $REQS into $VENV (first run only)"
  # shellcheck disable=SC2086
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check $REQS >&2 \
    || die "pip install $REQS failed; check that PyPI is reachable (proxy/PIP_INDEX_URL), or delete $VENV and retry"
  echo "$REQS" > "$STAMP"
fi
echo "$VENV/bin/python"
