# Sourced by the scripts beside it: starts and stops the process under test.

# Configuration for a Tabula server under load (`start_server env "${load_env[@]}" tabula ...`):
# every client comes from 127.0.0.1 and plays as fast as it can, so the per-connection rate limit
# and the per-address caps on connections, sessions and rooms are lifted, and waiting rooms whose
# creators went away stay open for the length of a run.
load_env=(
  TABULA_CONNECTION__MESSAGES_PER_SECOND=100000 TABULA_CONNECTION__BURST=100000
  TABULA_CONNECTION__MAX_CONNECTIONS_PER_ADDRESS=100000
  TABULA_CONNECTION__SESSIONS_PER_ADDRESS=100000 TABULA_CONNECTION__NEW_SESSIONS_PER_MINUTE=100000
  TABULA_ROOM__MAX_OPEN_ROOMS_PER_ADDRESS=100000 TABULA_ROOM__MAX_ROOMS=1000000
  TABULA_ROOM__RECONNECT_GRACE_MS=3600000
)
#
# start_server CMD...: runs CMD in the background and waits until it prints the address it
# listens on (tabula serve, tabula-relay and limit all print one line with it); sets `pid` and
# `port`. CMD should listen on 127.0.0.1:0, so that the kernel picks a free port: a fixed port
# can still be held by the previous run's connections in TIME_WAIT, and the bind then fails.
start_server() {
  local out
  out=$(mktemp)
  "$@" >"$out" 2>/dev/null &
  pid=$!
  port=""
  for _ in $(seq 600); do
    port=$(grep -m1 -o '127\.0\.0\.1:[0-9]*' "$out" | cut -d: -f2 || true)
    if [ -n "$port" ]; then
      rm -f "$out"
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$out"
      echo "'$*' exited before it listened" >&2
      return 1
    fi
    sleep 0.1
  done
  rm -f "$out"
  kill "$pid" 2>/dev/null || true
  echo "'$*' did not listen within 60 s" >&2
  return 1
}

# stop_server PID: stops it and waits for it.
stop_server() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
