#!/usr/bin/env bash
# What storage costs the server: N rounds, each running the turn-room workload against `tabula
# serve` with the in-memory log (`memory:`), with the default SQLite log and, when DATABASE_URL
# names a PostgreSQL server, with PostgreSQL (a fresh database per run). Prints per round the
# server's CPU per move and the move latency p50/p99 of each, and the ratios SQLite/memory and
# PostgreSQL/memory (goal: SQLite CPU per move within 1.2x memory's); then the medians.
#
# usage: tools/loadgen/storage.sh [ROOMS] [MOVES] [ROUNDS]     (defaults: 100 1000 5)
# Build first: cargo build --release -p tabula -p tabula-loadgen
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
cd "$here"
. tools/loadgen/serve.sh
rooms=${1:-100}
moves=${2:-1000}
rounds=${3:-5}
bin=target/release
server_cpu="" load_cpu=""
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  server_cpu="taskset -c 0" load_cpu="taskset -c 1"
fi
pg=${DATABASE_URL:-}
data=$(mktemp -d)
pid=""
dbs=()
# Drops the run's PostgreSQL databases (34 MB each), whatever way the script ends.
drop_pg() {
  for db in "${dbs[@]}"; do
    psql "$pg" -qc "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
  done
}
trap '[ -z "$pid" ] || stop_server "$pid"; rm -rf "$data"; drop_pg' EXIT

num() {
  grep -o "\"$1\":[0-9.e+-]*" | head -1 | cut -d: -f2
}
ratio() {
  awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'
}
median() {
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

# run URL: "cpu_us_per_move p50 p99 other_cores" of one run on a server storing in URL.
run() {
  local json
  rm -rf "$data"/*
  start_server env "${load_env[@]}" TABULA_CONNECTION__OUTBOUND_QUEUE=4096 \
    TABULA_DATABASE__URL="$1" $server_cpu "$bin/tabula" serve --listen 127.0.0.1:0 \
    --data-dir "$data"
  json=$($load_cpu "$bin/tabula-load" --url "ws://127.0.0.1:$port/ws" --rooms "$rooms" \
    --moves "$moves" --server-pid "$pid" --json)
  stop_server "$pid"
  pid=""
  if [ "$(num errors <<<"$json")" != 0 ]; then
    echo "the run had errors: $json" >&2
    return 1
  fi
  # Rounded (the JSON's floats carry every digit): CPU per move to a tenth of a µs, cores to a
  # hundredth.
  echo "$(num server_cpu_us_per_move <<<"$json") $(num p50 <<<"$json")" \
    "$(num p99 <<<"$json") $(num other_cpu_cores <<<"$json")" |
    awk '{ printf "%.1f %s %s %.2f\n", $1, $2, $3, $4 }'
}

# A fresh PostgreSQL database for one run.
fresh_pg() {
  local name="tabula_bench_$$_$1"
  PGOPTIONS="-c client_min_messages=warning" psql "$pg" -qc "DROP DATABASE IF EXISTS $name" >/dev/null
  psql "$pg" -qc "CREATE DATABASE $name" >/dev/null
  echo "${pg%/*}/$name"
}

echo "server CPU per move µs, move latency p50/p99 µs; $rooms rooms x $moves moves; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
printf '%-6s %-24s %-24s %-24s %-10s %-10s %s\n' round memory sqlite postgres sqlite/mem pg/mem "other cores"
mc=() sc=() pc=() rs=() rp=() mp=() sp=() pp=()
for round in $(seq "$rounds"); do
  read -r m m50 m99 mo < <(run memory:)
  read -r s s50 s99 so < <(run "sqlite://$data/tabula.db")
  p="-" p50="-" p99="-" po=0 r_p="-"
  if [ -n "$pg" ]; then
    dbs+=("tabula_bench_$$_$round")
    read -r p p50 p99 po < <(run "$(fresh_pg "$round")")
    r_p=$(ratio "$p" "$m")
    pc+=("$p") rp+=("$r_p") pp+=("$p99")
  fi
  mc+=("$m") sc+=("$s") rs+=("$(ratio "$s" "$m")") mp+=("$m99") sp+=("$s99")
  printf '%-6s %-24s %-24s %-24s %-10s %-10s %s\n' "$round" "$m ($m50/$m99)" "$s ($s50/$s99)" \
    "$p ($p50/$p99)" "${rs[-1]}" "$r_p" "$(printf '%s\n' "$mo" "$so" "$po" | sort -g | tail -1)"
done
printf '%-6s %-24s %-24s %-24s %-10s %-10s\n' median "$(median "${mc[@]}") (p99 $(median "${mp[@]}"))" \
  "$(median "${sc[@]}") (p99 $(median "${sp[@]}"))" \
  "$([ -n "$pg" ] && echo "$(median "${pc[@]}") (p99 $(median "${pp[@]}"))" || echo -)" \
  "$(median "${rs[@]}")" "$([ -n "$pg" ] && median "${rp[@]}" || echo -)"
