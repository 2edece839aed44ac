#!/usr/bin/env bash
# Runs every fuzz target for FUZZ_SECONDS (default 120) each, from the kept
# corpora; stops at the first crash and says where it is.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-120}"
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi
for target in tax_code mapping policy request; do
  mkdir -p "fuzz/corpus/$target"
  echo "== $target ($seconds s)"
  cargo +nightly fuzz run -O "$target" "fuzz/corpus/$target" -- \
    -max_total_time="$seconds" -rss_limit_mb=4096 -print_final_stats=1 2>&1 | tail -n 12
done
