#!/usr/bin/env bash
# Prints the resident memory (VmRSS, VmHWM from /proc/<pid>/status) of `berth run` while it
# manages 0, 1 and 50 Services (two ports each, three Nodes; default --resync, --cloud-api-qps) against the local kube-apiserver and
# moto. A measurement, not a test: it asserts nothing. The chart's resources are sized from it
# (README, "Install on EKS").
#
#   bash localstack/measure-memory.sh                 # release build (cargo build --release)
#   BERTH_BIN=target/debug/berth bash localstack/measure-memory.sh
#   BERTH_MEASURE_COUNTS=1,10,100 bash localstack/measure-memory.sh
#
# Starts its own environment in $BERTH_STATE_DIR (default /tmp/berth-localstack-memory) and
# stops it at the end.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
STATE_DIR="${BERTH_STATE_DIR:-/tmp/berth-localstack-memory}"
CACHE="${BERTH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/berth}"

BIN="${BERTH_BIN:-}"
if [[ -z "$BIN" ]]; then
  (cd "$ROOT" && cargo build --release --locked -p berth >&2)
  BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/berth"
fi
[[ -x "$BIN" ]] || { echo "measure-memory: $BIN is not an executable" >&2; exit 1; }

trap 'bash "$HERE/down.sh" "$STATE_DIR" || true' EXIT
ENV_FILE="$(bash "$HERE/up.sh" "$STATE_DIR" | tail -n 1)"
# shellcheck disable=SC1090
source "$ENV_FILE"
"$CACHE/moto-venv/bin/python" "$HERE/measure_memory.py" "$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")"
