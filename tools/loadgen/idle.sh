#!/usr/bin/env bash
# Measures the memory of an idle room and of an idle connection: starts `tabula serve` on a fresh
# data directory, runs tabula-idle against it, stops it.
#
# usage: tools/loadgen/idle.sh [ROOMS] [CONNECTIONS] [tabula-idle options, e.g. --json]
#        (defaults: 2000 2000)
#
# TABULA_BIN chooses the server binary (default: target/release/tabula), to compare builds.
# Both processes hold CONNECTIONS sockets at once: the open-files limit (`ulimit -n`) must exceed
# it; this script raises its soft limit to the hard one, and tabula-idle checks both.
# Build first: cargo build --release -p tabula -p tabula-loadgen
set -euo pipefail
tabula_bin=$(realpath "${TABULA_BIN:-$(dirname "$0")/../../target/release/tabula}")
cd "$(dirname "$0")/../.."
rooms=${1:-2000}
connections=${2:-2000}
shift $(($# < 2 ? $# : 2))
port=${IDLE_PORT:-18070}
ulimit -n "$(ulimit -Hn)"

data=$(mktemp -d)
# Rooms whose creator disconnected stay open (only `leave` starts the abandoned-room countdown),
# so the defaults keep every room for the whole run. The clients send one message or two each;
# the rate limit is lifted only so that the warm-up's bursts are never refused.
TABULA_CONNECTION__MESSAGES_PER_SECOND=100000 TABULA_CONNECTION__BURST=100000 \
  "$tabula_bin" serve --listen "127.0.0.1:$port" --data-dir "$data" >/dev/null 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 200); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.05
done
echo "server: $tabula_bin (pid $server)"
target/release/tabula-idle --url "ws://127.0.0.1:$port/ws" --server-pid "$server" \
  --rooms "$rooms" --connections "$connections" "$@"
