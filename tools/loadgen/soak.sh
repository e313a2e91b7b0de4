#!/usr/bin/env bash
# The soak benchmark (issue 9): the turn-room workload once alone and once beside the hostile
# mix (`tabula-load --hostile`: 2,000 waiting rooms, 500 idle sockets, 5 non-readers, 5 clients
# sending list_rooms at their rate limit, 5 toggling watch/leave, 5 binary floods), each against
# a fresh server with the same settings. Prints both reports, then a table of the normal rooms'
# moves/s, p50/p99 move latency, the server's peak RSS and CPU per move, and the ratios
# with/without against the goal: p99 within 2x, peak RSS within +50 MB.
#
# usage: tools/loadgen/soak.sh [ROOMS] [MOVES] [THINK_MS] [mix options, e.g. --floods 10]
#        (defaults: 100 3000 10, a play phase of about 35 s; see `tabula-load --help` for the mix's options)
#
# SERVER_BIN  the server binary (default: target/release/tabula). (Not TABULA_BIN: the server
#             takes every TABULA_* variable as configuration.)
#
# The server keeps its default rate limit (50 frames a second, bursts of 100): the mix's listers
# and floods are measured against it. The normal load therefore paces itself: each client thinks
# THINK_MS before moving, so a room makes at most 1000/THINK_MS moves a second and a client a
# quarter of that. All clients come from 127.0.0.1, so the per-address caps on connections,
# sessions and open rooms are lifted (as in compare.sh), and so is the per-player room cap, for
# the mix's creators of waiting rooms.
# On a machine with two or more CPUs the server runs on CPU 0 and the load generator, hostile mix
# included, on CPU 1. Build first: cargo build --release -p tabula -p tabula-loadgen
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
server_bin=$(realpath "${SERVER_BIN:-$here/target/release/tabula}")
cd "$here"
. tools/loadgen/serve.sh
rooms=${1:-100}
moves=${2:-3000}
think=${3:-10}
shift $(($# < 3 ? $# : 3))
# The load generator holds about 4 x ROOMS + 550 sockets, the server as many.
ulimit -n "$(ulimit -Hn)"
server_cpu="" load_cpu=""
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  server_cpu="taskset -c 0" load_cpu="taskset -c 1"
fi

config=(
  TABULA_CONNECTION__MAX_CONNECTIONS_PER_ADDRESS=100000
  TABULA_CONNECTION__SESSIONS_PER_ADDRESS=100000
  TABULA_CONNECTION__NEW_SESSIONS_PER_MINUTE=100000
  TABULA_ROOM__MAX_OPEN_ROOMS_PER_PLAYER=100000
  TABULA_ROOM__MAX_OPEN_ROOMS_PER_ADDRESS=100000
  TABULA_ROOM__MAX_ROOMS=100000
)

data=$(mktemp -d)
pid=""
trap '[ -z "$pid" ] || stop_server "$pid"; rm -rf "$data"' EXIT

# The number after "KEY": in the JSON file $2.
num() {
  grep -o "\"$1\":[0-9.e+-]*" "$2" | head -1 | cut -d: -f2
}

# run_phase NAME [tabula-load options]: a fresh server, one tabula-load run; the JSON report is
# left in $data/NAME.json and the text printed.
run_phase() {
  local name=$1 rc=0
  shift
  start_server $server_cpu env "${config[@]}" "$server_bin" serve --listen 127.0.0.1:0 \
    --data-dir "$data"
  echo "== $name (server pid $pid, port $port)"
  $load_cpu target/release/tabula-load --url "ws://127.0.0.1:$port/ws" --rooms "$rooms" \
    --moves "$moves" --think-ms "$think" --server-pid "$pid" --json-file "$data/$name.json" \
    "$@" || rc=$?
  stop_server "$pid"
  pid=""
  if [ ! -s "$data/$name.json" ]; then
    echo "tabula-load wrote no report for $name (exit $rc)" >&2
    exit 1
  fi
  [ "$rc" = 0 ] || echo "(tabula-load exited $rc: the normal load saw errors or failures)"
}

row() {
  printf '%-9s %9s %8s %8s %14s %12s %8s %12s\n' "$@"
}

# One row of the table from $data/$1.json.
figures() {
  local f=$data/$1.json
  row "$1" "$(awk -v v="$(num moves_per_sec "$f")" 'BEGIN { printf "%.0f", v }')" \
    "$(num p50 "$f")" "$(num p99 "$f")" \
    "$(awk -v k="$(num server_peak_rss_kib "$f")" 'BEGIN { printf "%.1f", k / 1024 }')" \
    "$(awk -v v="$(num server_cpu_us_per_move "$f")" 'BEGIN { printf "%.1f", v }')" \
    "$(num errors "$f")" "$(awk -v v="$(num other_cpu_cores "$f")" 'BEGIN { printf "%.2f", v }')"
}

# $1.json's KEY over $2.json's, as a ratio.
ratio() {
  awk -v a="$(num "$3" "$data/$1.json")" -v b="$(num "$3" "$data/$2.json")" \
    'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'
}

echo "server: $server_bin"
grep -m1 'model name' /proc/cpuinfo || true
echo "normal load: $rooms rooms x $moves moves, think $think ms; pinned: ${server_cpu:-no}" \
  "(server) / ${load_cpu:-no} (load + mix)"
echo "server settings: ${config[*]}"
# The first start compiles the rules modules into the data directory; neither phase's peak RSS
# should include that.
start_server $server_cpu env "${config[@]}" "$server_bin" serve --listen 127.0.0.1:0 \
  --data-dir "$data"
stop_server "$pid"
pid=""
run_phase without
run_phase with --hostile "$@"

echo
echo "normal rooms, without and with the hostile mix"
row phase moves/s "p50 µs" "p99 µs" "peak RSS MiB" "CPU µs/move" errors "other cores"
figures without
figures with
p99=$(ratio with without p99)
rss=$(awk -v a="$(num server_peak_rss_kib "$data/with.json")" \
  -v b="$(num server_peak_rss_kib "$data/without.json")" 'BEGIN { printf "%+.1f", (a - b) / 1024 }')
echo "with/without: moves/s $(ratio with without moves_per_sec), p50 $(ratio with without p50)," \
  "p99 $p99, CPU per move $(ratio with without server_cpu_us_per_move)," \
  "peak RSS $rss MiB"
awk -v p="$p99" -v r="$rss" 'BEGIN {
  printf "goal (p99 within 2x, peak RSS within +50 MB): p99 %s, RSS %s\n",
    (p != "-" && p <= 2) ? "met" : "missed", (r * 1024 * 1024 <= 50e6) ? "met" : "missed"
}'
