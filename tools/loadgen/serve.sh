# Sourced by the scripts beside it: starts and stops the process under test.
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
