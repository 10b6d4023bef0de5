#!/usr/bin/env bash
# Failover through a real etcd, with real greeter processes, over one
# transport (grpc or http, $1): three instances register themselves; a
# client spreads calls over all three; one is killed with SIGKILL while the
# client calls (retries on, SayHello is idempotent) -> no failed call; it
# is gone from the registry within its lease; it comes back -> it gets
# calls again. Needs ETCD_PORT_FILE (the fixture's port), BIN_DIR, WORK.
set -uo pipefail
. "$(dirname "$0")/../lib.sh"
scheme=$1
registry="etcd://127.0.0.1:$(cat "$ETCD_PORT_FILE")"
service="greeter-$scheme-$$"
work=$WORK/$service
mkdir -p "$work"
pids=()

start_greeter() { # start_greeter ID
    "$BIN_DIR/greeter" --listen "$scheme://127.0.0.1:0" --id "$1" --ttl 2 \
        --register "$registry" --service "$service" >"$work/$1.out" 2>"$work/$1.err" &
    echo $! >"$work/$1.pid"
    pids+=($!)
    for _ in $(seq 100); do
        grep -q "^registered" "$work/$1.out" 2>/dev/null && return 0
        sleep 0.05
    done
    echo "greeter $1 did not register:"; cat "$work/$1.err"
    return 1
}
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
}
trap cleanup EXIT

calls() { # calls COUNT [extra svc-call flags] -> the tally
    "$BIN_DIR/svc-call" --resolver "$registry" --lb round_robin --retries 2 --timeout 5s \
        --count "$@" "svc://$service" helloworld.Greeter/SayHello '{"name":"lb"}' 2>"$work/calls.err"
}

for id in g1 g2 g3; do start_greeter $id || exit 1; done

out=$(calls 300)
for id in g1 g2 g3; do check "round robin reaches $id" "$id 100" "$(grep "^$id " <<<"$out")"; done
check "no failures while all are up" "failed 0" "$(grep ^failed <<<"$out")"

# Kill g2 while a client is busy calling.
calls 3000 >"$work/during.out" &
caller=$!
sleep 0.4
kill -9 "$(cat "$work/g2.pid")"
wait $caller
out=$(cat "$work/during.out")
check "no failed call across the SIGKILL" "failed 0" "$(grep ^failed <<<"$out")"
check_contains "g2 answered before it died" "g2 " "$out"

# Its lease (2 s) runs out and it leaves the registry; the others carry on.
sleep 3
out=$(calls 100)
check "g2 is gone" "" "$(grep '^g2 ' <<<"$out")"
check "the survivors share the calls" "g1 50 g3 50" "$(grep -E '^g[13] ' <<<"$out" | sort | xargs)"

# It comes back (another port, same id): it gets calls again.
start_greeter g2 || exit 1
out=$(calls 300)
check "g2 is back" "g2 100" "$(grep '^g2 ' <<<"$out")"
check "no failures after it came back" "failed 0" "$(grep ^failed <<<"$out")"
finish
