# Sourced by the test scripts that drive `icinfer serve` from outside (frontend/tests/run.sh,
# scripts/icp-cli-test.sh): one way to find the icinfer binary, start serve on a free port
# with a temporary state directory, wait for its ready file and stop it whatever happens.
#
#   source scripts/serve-for-tests.sh   # sets: icinfer, work (a temporary directory)
#   start_serve --wasm FILE [more serve flags]   # sets: url, canister, root_key, server_pid
#
# ICINFER_BIN=<path> uses an icinfer binary already built (scripts/test.sh passes the one its
# workspace build made); otherwise it is built here.
# shellcheck shell=bash
serve_repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
icinfer="${ICINFER_BIN:-}"
if [[ -z "$icinfer" ]]; then
  (cd "$serve_repo" && cargo build --locked -q -p icinfer-cli)
  icinfer="${CARGO_TARGET_DIR:-$serve_repo/target}/debug/icinfer"
fi

work="$(mktemp -d)"
server_pid=""
stop_server() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    # It saves its state on the way out; give it a few seconds, then insist.
    for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap stop_server EXIT

# serve writes {"url", "canister_id", "root_key"} to the ready file once it answers (whole:
# written, then renamed into place). Installing the module compiles it first: allow 300 s.
start_serve() {
  local port ready_file="$work/serve-ready.json"
  port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  "$icinfer" serve --state "$work/state" --listen "127.0.0.1:$port" --ready-file "$ready_file" "$@" \
    >"$work/serve.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 3000); do
    [[ -f "$ready_file" ]] && break
    if ! kill -0 "$server_pid" 2>/dev/null; then
      echo "icinfer serve exited:" >&2
      cat "$work/serve.log" >&2
      exit 1
    fi
    sleep 0.1
  done
  if [[ ! -f "$ready_file" ]]; then
    echo "icinfer serve was not ready within 300 s:" >&2
    cat "$work/serve.log" >&2
    exit 1
  fi
  ready() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$ready_file" "$1"; }
  url="$(ready url)"
  canister="$(ready canister_id)"
  root_key="$(ready root_key)"
  echo "icinfer serve: $url, canister $canister"
}
