#!/usr/bin/env bash
# Installs, with apt-get, the system packages the local test environment needs and that this
# machine lacks. Fast (no apt-get update) when everything is already present.
#
#   bash localstack/deps.sh          install what is missing (needs root and apt-get)
#   bash localstack/deps.sh --check  only list what is missing; exit 1 if anything is
set -euo pipefail

log() { echo "localstack: $*" >&2; }

# "how to test for it" -> Debian package providing it
missing=()
need_cmd() { command -v "$1" >/dev/null 2>&1 || missing+=("$2"); }
need_cmd openssl openssl
need_cmd curl curl
need_cmd python3 python3
need_cmd make make            # build-kube-apiserver.sh runs Kubernetes' Makefile
need_cmd tar tar
need_cmd setsid util-linux
need_cmd base64 coreutils
[[ -r /etc/ssl/certs/ca-certificates.crt ]] || missing+=(ca-certificates)  # pip over https
# `python3 -m venv` needs ensurepip, which Debian ships in python3-venv.
if command -v python3 >/dev/null 2>&1; then
  if [[ "$(readlink -f "$(command -v python3)")" == /usr/bin/python3* ]] && command -v dpkg-query >/dev/null 2>&1; then
    dpkg-query -W -f='${Status}' python3-venv 2>/dev/null | grep -q 'ok installed' || missing+=(python3-venv)
  else
    python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)
  fi
else
  missing+=(python3-venv)
fi

if ((${#missing[@]} == 0)); then
  exit 0
fi

if [[ "${1:-}" == "--check" ]]; then
  echo "${missing[*]}"
  exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
  log "ERROR: missing ${missing[*]} and no apt-get here; install them with your package manager"
  exit 1
fi
if [[ "$(id -u)" != 0 ]]; then
  log "ERROR: missing ${missing[*]}; run as root: apt-get update && apt-get install -y ${missing[*]}"
  exit 1
fi

log "installing missing packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null \
  || { log "ERROR: apt-get update failed (is deb.debian.org reachable?)"; exit 1; }
apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null \
  || { log "ERROR: apt-get install ${missing[*]} failed; run it by hand to see why"; exit 1; }
log "installed ${missing[*]}"
