#!/usr/bin/env bash
# Matching at scale: seeds the comune's legacy schema on PostgreSQL and the
# asl's on MariaDB with N synthetic people each (default 1,000,000), then
# runs `trama bench match` on both. Results go to bench/results/.
#
#   bench/match.sh [N]
#
# Needs PostgreSQL at 127.0.0.1:5432 (user postgres, trust) and MariaDB at
# 127.0.0.1:3306 (root, no password), as on the project's machines. It
# creates and drops its own databases trama_bench_comune and trama_bench_asl.
set -euo pipefail
cd "$(dirname "$0")/.."

N="${1:-1000000}"
QUERIES="${QUERIES:-10000}"
PG="${TRAMA_BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432}"
MY="${TRAMA_BENCH_MYSQL:-mysql://root@127.0.0.1:3306}"
OUT=bench/results
mkdir -p "$OUT"

cargo build --release --locked
T=target/release/trama

psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS trama_bench_comune WITH (FORCE)" -c "CREATE DATABASE trama_bench_comune"
mariadb -h 127.0.0.1 -u root -e "DROP DATABASE IF EXISTS trama_bench_asl; CREATE DATABASE trama_bench_asl CHARACTER SET utf8mb4"
# MariaDB's default buffer pool (128 MiB) is smaller than one million
# patients and their indexes; a partner's DBA sizes it to the data.
mariadb -h 127.0.0.1 -u root -e "SET GLOBAL innodb_buffer_pool_size = 1073741824"

"$T" seed --partner comune --subjects "$N" --db "$PG/trama_bench_comune" | tee "$OUT/seed-postgres.txt"
"$T" seed --partner asl --subjects "$N" --db "$MY/trama_bench_asl" | tee "$OUT/seed-mariadb.txt"

"$T" bench match --partner comune --db "$PG/trama_bench_comune" --subjects "$N" --queries "$QUERIES" --warmup 1000 \
  | tee "$OUT/match-postgres.txt"
"$T" bench match --partner asl --db "$MY/trama_bench_asl" --subjects "$N" --queries "$QUERIES" --warmup 1000 \
  | tee "$OUT/match-mariadb.txt"
