#!/usr/bin/env bash
# Builds berth (library and binary) with each cloud feature alone:
#   cargo build -p berth --no-default-features --features <cloud> --locked
# so that the operator stays cloud-neutral (nothing outside a cloud's module and
# operator/src/cli/cloud.rs may name a cloud). Fails on an error or a warning.
# test.sh runs it first; run it alone with:  bash localstack/check-features.sh [aws gcp azure]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
features=("$@")
((${#features[@]})) || features=(aws gcp azure)
for f in "${features[@]}"; do
  t0=$(date +%s)
  out=$(cargo build -p berth --no-default-features --features "$f" --locked --color never 2>&1) || {
    echo "$out" >&2
    echo "check-features: berth does not build with --features $f alone" >&2
    exit 1
  }
  if grep -q '^warning' <<<"$out"; then
    echo "$out" >&2
    echo "check-features: berth builds with warnings with --features $f alone" >&2
    exit 1
  fi
  echo "check-features: --features $f alone builds ($(($(date +%s) - t0)) s)" >&2
done
