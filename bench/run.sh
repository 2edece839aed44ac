#!/usr/bin/env bash
# The gateway against its baselines, in one run on this machine: starts a
# federation of four connectors whose partners know N people each (default
# 100,000; 1000000 as the option), then measures GetRecord through the
# gateway, the same fetch directly to the slowest connector, through nginx
# (grpc_pass, TLS on both sides), and a naive client asking the four in
# turn; then 32 sources, and the gateway's memory with 1,000 calls open.
# The table goes to bench/results/federation.md (and .json, .txt).
#
#   bench/run.sh [N]
#
# Installs nginx from Debian's packages when it is missing. Extra arguments
# for `trama bench federation` can be given in BENCH_ARGS, for example
# BENCH_ARGS="--duration 30 --concurrency 128".
set -euo pipefail
cd "$(dirname "$0")/.."

N="${1:-100000}"
OUT=bench/results
mkdir -p "$OUT"

if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
  echo "installing nginx (the proxy baseline)"
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nginx >/dev/null
  # The package may start a system-wide nginx; the bench runs its own.
  $SUDO nginx -s stop 2>/dev/null || true
fi

cargo build --release --locked
# shellcheck disable=SC2086
target/release/trama bench federation --subjects "$N" --dir target/bench-data \
  --markdown "$OUT/federation.md" --json "$OUT/federation.json" ${BENCH_ARGS:-} \
  | tee "$OUT/federation.txt"
