# Sourced by the NATS benchmark scripts: start_nats WORK starts a JetStream
# nats-server on a free port of 127.0.0.1 with its store and log in WORK,
# waits (up to 5 s) for its LISTEN socket, sets `server` (its PID) and
# `url`, and stops it by that PID when the script exits.
. "$(dirname "${BASH_SOURCE[0]}")/../../tests/free_port.sh"

start_nats() {
    local work=$1 port
    port=$(free_port)
    nats-server -a 127.0.0.1 -p "$port" -js -sd "$work/store" >"$work/server.log" 2>&1 &
    server=$!
    trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true' EXIT
    for _ in $(seq 1 100); do ss -ltn | grep -q "127.0.0.1:$port " && break; sleep 0.05; done
    url=nats://127.0.0.1:$port
}
