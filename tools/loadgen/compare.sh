#!/usr/bin/env bash
# Measures the Tabula server against its baselines in the same run: N rounds, each running the
# turn-room workload once against `tabula serve`, once against `tabula-relay` and, when it is
# built, once against bench-limit's `limit` (driven by its own `limit-load`, same rooms and
# moves). Prints per round the CPU per move of each, split into user and kernel time, and the
# ratios server/relay and server/limit; then the median of every column. The last column is the
# most CPU other processes took during one of the round's runs, in cores: on a shared machine,
# a round where it is not near zero was measured against competition.
#
# usage: tools/loadgen/compare.sh [ROOMS] [MOVES] [ROUNDS]     (defaults: 100 1000 5)
#
# SERVER_BIN  the server binary (default: target/release/tabula), to compare builds in one
#             session. (Not TABULA_BIN: the server takes every TABULA_* variable as configuration.)
# LIMIT_DIR   where bench-limit was built: its binaries are in $LIMIT_DIR/target/release (default:
#             ../shared/bench-limit beside this repository). bench-limit is a separate project:
#             copy it somewhere writable and build it there as its README says. Without its
#             binaries, limit is skipped with a note.
#
# On a machine with two or more CPUs the process under test runs on CPU 0 and the load generator
# on CPU 1, so that the two do not take turns on the same core; the ratio is then much steadier.
# tabula-load splits the play phase's CPU into user and kernel time itself; limit-load reports
# only the total, so limit's split applies the user:kernel proportion of its /proc/PID/stat times
# over the whole limit-load run (connecting included, a small part) to that total.
# Build first: cargo build --release -p tabula -p tabula-loadgen
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
server_bin=$(realpath "${SERVER_BIN:-$here/target/release/tabula}")
limit_dir=$(realpath -m "${LIMIT_DIR:-$here/../shared/bench-limit}")/target/release
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
with_limit=false
if [ -x "$limit_dir/limit" ] && [ -x "$limit_dir/limit-load" ]; then
  with_limit=true
else
  echo "note: limit skipped: no limit and limit-load in $limit_dir (build bench-limit, set LIMIT_DIR)"
fi

data=$(mktemp -d)
pid=""
trap '[ -z "$pid" ] || stop_server "$pid"; rm -rf "$data"' EXIT

# Stops the process under test.
stop() {
  stop_server "$pid"
  pid=""
}

# The number after "KEY": in a JSON line on stdin.
num() {
  grep -o "\"$1\":[0-9.e+-]*" | head -1 | cut -d: -f2
}

# utime and stime (fields 14 and 15) of process $1, in ticks; fields counted after the name.
ticks() {
  sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12, $13 }'
}

# Prints "total user kernel" µs per move of one tabula-load run against the process in $pid/$port,
# then the cores other processes used meanwhile.
tabula_load() {
  local json
  json=$($load_cpu "$bin/tabula-load" --url "ws://127.0.0.1:$port/ws" --rooms "$rooms" \
    --moves "$moves" --server-pid "$pid" --json)
  echo "$(num server_cpu_us_per_move <<<"$json") $(num server_user_us_per_move <<<"$json")" \
    "$(num server_kernel_us_per_move <<<"$json") $(num other_cpu_cores <<<"$json")"
}

# The same for limit under limit-load (see the header for how its split is made).
limit_load() {
  local json u0 s0 u1 s1
  read -r u0 s0 < <(ticks "$pid")
  json=$($load_cpu "$limit_dir/limit-load" --url "ws://127.0.0.1:$port/ws" --rooms "$rooms" \
    --moves "$moves" --server-pid "$pid" --max-seconds 300) || {
    echo "limit-load failed: $json" >&2
    return 1
  }
  read -r u1 s1 < <(ticks "$pid")
  if [ "$(num movesTotal <<<"$json")" != $((rooms * moves)) ]; then
    echo "limit-load did not play every move: $json" >&2
    return 1
  fi
  awk -v cpu="$(num serverCpuS <<<"$json")" -v n=$((rooms * moves)) \
    -v u=$((u1 - u0)) -v s=$((s1 - s0)) -v other="$(num otherCpuPerS <<<"$json")" 'BEGIN {
      total = cpu * 1e6 / n
      user = (u + s > 0) ? total * u / (u + s) : 0
      print total, user, total - user, other
    }'
}

# "total (user+kernel)" from "total user kernel".
cell() {
  awk -v t="$1" -v u="$2" -v k="$3" 'BEGIN { printf "%.1f (%.1f+%.1f)", t, u, k }'
}

median() {
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

ratio() {
  awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'
}

most() {
  printf '%s\n' "$@" | sort -g | tail -1 | awk '{ printf "%.2f", $1 }'
}

row() {
  printf '%-8s %-22s %-22s %-22s %-13s %-13s %s\n' "$@"
}

echo "CPU per move of the process under test, µs: total (user+kernel); $rooms rooms x $moves moves"
echo "server: $server_bin"
if $with_limit; then echo "limit: $limit_dir"; fi
row round server tabula-relay limit server/relay server/limit "other cores"
# Per column: s(erver), r(elay), l(imit) x t(otal), u(ser), k(ernel); ratios rr and rl.
st=() su=() sk=() rt=() ru=() rk=() lt=() lu=() lk=() rr=() rl=()
for round in $(seq "$rounds"); do
  # The load generator sends as fast as the game allows: lift the limits (serve.sh's load_env).
  start_server env "${load_env[@]}" TABULA_CONNECTION__OUTBOUND_QUEUE=4096 \
    $server_cpu "$server_bin" serve --listen 127.0.0.1:0 --data-dir "$data"
  out=$(tabula_load)
  stop
  read -r s u k o_server <<<"$out"
  st+=("$s") su+=("$u") sk+=("$k")
  server_cell=$(cell "$s" "$u" "$k")

  start_server $server_cpu "$bin/tabula-relay" --listen 127.0.0.1:0
  out=$(tabula_load)
  stop
  read -r r u k o_relay <<<"$out"
  rt+=("$r") ru+=("$u") rk+=("$k")
  relay_cell=$(cell "$r" "$u" "$k")
  rr+=("$(ratio "$s" "$r")")

  limit_cell=- limit_ratio=- o_limit=0
  if $with_limit; then
    start_server $server_cpu "$limit_dir/limit" --listen 127.0.0.1:0
    out=$(limit_load)
    stop
    read -r l u k o_limit <<<"$out"
    lt+=("$l") lu+=("$u") lk+=("$k")
    limit_cell=$(cell "$l" "$u" "$k")
    limit_ratio=$(ratio "$s" "$l")
    rl+=("$limit_ratio")
  fi
  row "$round" "$server_cell" "$relay_cell" "$limit_cell" "${rr[-1]}" "$limit_ratio" \
    "$(most "$o_server" "$o_relay" "$o_limit")"
done
m() { median "$@"; }
limit_cell=- limit_ratio=-
if $with_limit; then
  limit_cell=$(cell "$(m "${lt[@]}")" "$(m "${lu[@]}")" "$(m "${lk[@]}")")
  limit_ratio=$(m "${rl[@]}")
fi
row median "$(cell "$(m "${st[@]}")" "$(m "${su[@]}")" "$(m "${sk[@]}")")" \
  "$(cell "$(m "${rt[@]}")" "$(m "${ru[@]}")" "$(m "${rk[@]}")")" "$limit_cell" \
  "$(m "${rr[@]}")" "$limit_ratio"
echo "(each median is taken over its own column: the parts need not add up to the total)"
