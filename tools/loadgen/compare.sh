#!/usr/bin/env bash
# Measures the Tabula server against the bare relay in the same run: N rounds, each running the
# turn-room workload once against `tabula serve` and once against `tabula-relay`, and prints the
# server CPU per move of both and their ratio per round, then the median ratio.
#
# usage: tools/loadgen/compare.sh [ROOMS] [MOVES] [ROUNDS]     (defaults: 100 1000 5)
#
# On a machine with two or more CPUs the server (or relay) runs on CPU 0 and the load generator
# on CPU 1, so that the two do not take turns on the same core; the ratio is then much steadier.
# Build first: cargo build --release -p tabula -p tabula-loadgen
set -euo pipefail
cd "$(dirname "$0")/../.."
rooms=${1:-100}
moves=${2:-1000}
rounds=${3:-5}
bin=target/release
server_cpu="" load_cpu=""
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  server_cpu="taskset -c 0" load_cpu="taskset -c 1"
fi

# Prints the server CPU per move of one load run against ws://127.0.0.1:$1/ws, pid $2.
load() {
  $load_cpu "$bin/tabula-load" --url "ws://127.0.0.1:$1/ws" --rooms "$rooms" --moves "$moves" \
    --server-pid "$2" --json | grep -o '"server_cpu_us_per_move":[0-9.e-]*' | cut -d: -f2 |
    awk '{ printf "%.1f", $1 }'
}

# Waits until something listens on port $1.
wait_port() {
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "nothing listens on port $1" >&2
  return 1
}

ratios=()
for round in $(seq "$rounds"); do
  # The load generator sends as fast as the game allows: lift the per-connection rate limit.
  TABULA_CONNECTION__MESSAGES_PER_SECOND=100000 TABULA_CONNECTION__BURST=100000 \
    TABULA_CONNECTION__OUTBOUND_QUEUE=4096 \
    $server_cpu "$bin/tabula" serve --listen 127.0.0.1:18080 >/dev/null 2>&1 &
  server=$!
  wait_port 18080
  s=$(load 18080 "$server")
  kill "$server" && wait "$server" 2>/dev/null || true

  $server_cpu "$bin/tabula-relay" --listen 127.0.0.1:18090 >/dev/null 2>&1 &
  relay=$!
  wait_port 18090
  r=$(load 18090 "$relay")
  kill "$relay" && wait "$relay" 2>/dev/null || true

  ratio=$(awk -v s="$s" -v r="$r" 'BEGIN { printf "%.2f", s / r }')
  ratios+=("$ratio")
  echo "round $round: server $s us/move, relay $r us/move, ratio $ratio"
done
median=$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
echo "median ratio over $rounds rounds ($rooms rooms x $moves moves): $median"
