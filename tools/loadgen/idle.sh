#!/usr/bin/env bash
# Measures the memory of an idle room and of an idle connection: starts `tabula serve` on a fresh
# data directory, runs tabula-idle against it, stops it.
#
# usage: tools/loadgen/idle.sh [ROOMS] [CONNECTIONS] [tabula-idle options, e.g. --json]
#        (defaults: 2000 2000)
#
# SERVER_BIN chooses the server binary (default: target/release/tabula), to compare builds. (Not
# TABULA_BIN: the server reads every TABULA_* variable as configuration and refuses unknown keys.)
# Both processes hold CONNECTIONS sockets at once: the open-files limit (`ulimit -n`) must exceed
# it; this script raises its soft limit to the hard one, and tabula-idle checks both.
# Build first: cargo build --release -p tabula -p tabula-loadgen
set -euo pipefail
tabula_bin=$(realpath "${SERVER_BIN:-$(dirname "$0")/../../target/release/tabula}")
cd "$(dirname "$0")/../.."
. tools/loadgen/serve.sh
rooms=${1:-2000}
connections=${2:-2000}
shift $(($# < 2 ? $# : 2))
ulimit -n "$(ulimit -Hn)"

data=$(mktemp -d)
pid=""
trap '[ -z "$pid" ] || stop_server "$pid"; rm -rf "$data"' EXIT
# A waiting room whose creator disconnected closes once the reconnect grace and the abandoned-room
# time have passed; load_env's long grace keeps every room for the whole run, and lifts the
# per-address caps (every client is on 127.0.0.1).
start_server env "${load_env[@]}" "$tabula_bin" serve --listen 127.0.0.1:0 --data-dir "$data"
echo "server: $tabula_bin (pid $pid, port $port)"
target/release/tabula-idle --url "ws://127.0.0.1:$port/ws" --server-pid "$pid" \
  --rooms "$rooms" --connections "$connections" "$@"
