#!/usr/bin/env bash
# Across processes on the fixture's broker: the greeter serving over AMQP,
# called by svc-call and greeter_client; svc-pub to svc-sub with headers; a
# raw librabbitmq peer (amqp_peer) reading what svc-pub sent and sending
# what svc-sub prints; and the bad input of the issue, each with its exit
# status. Needs BIN_DIR (the examples), PEER (amqp_peer) and SVC_TEST_DIR.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib.sh"
env_file=$SVC_TEST_DIR/amqp_broker/broker.env
[ -f "$env_file" ] || { echo "no broker: $env_file is missing (the amqp_broker fixture did not run)"; exit 1; }
# shellcheck disable=SC1090
. "$env_file"
url="amqp://guest:guest@127.0.0.1:$AMQP_PORT/%2f"
work=$(mktemp -d)
greeter_pid=
cleanup() {
    [ -n "$greeter_pid" ] && kill -KILL "$greeter_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

# wait_for FILE TEXT SECONDS PID: TEXT appears in FILE, while PID lives.
wait_for() {
    for _ in $(seq 1 $(($3 * 20))); do
        grep -q "$2" "$1" && return 0
        kill -0 "$4" 2>/dev/null || { echo "process $4 exited early:"; cat "$1"; return 1; }
        sleep 0.05
    done
    echo "no '$2' in $1 after $3 s:"; cat "$1"; return 1
}

# ---- RPC: the greeter over AMQP, called from other processes ----
setsid "$BIN_DIR/greeter" --listen "$url" --id g-amqp >"$work/greeter.log" 2>&1 </dev/null &
greeter_pid=$!
wait_for "$work/greeter.log" '^listening on amqp://' 10 "$greeter_pid" || exit 1
check_contains "greeter's listener URL has no password" "listening on amqp://guest@127.0.0.1:$AMQP_PORT/%2f" \
    "$(cat "$work/greeter.log")"
check "svc-call SayHello" '{"message":"Hello John"}' \
    "$("$BIN_DIR/svc-call" "$url" helloworld.Greeter/SayHello '{"name":"John"}')"
check "greeter_client" "Hello John" "$("$BIN_DIR/greeter_client" --target "$url" --name John)"
verbose=$("$BIN_DIR/svc-call" -v -H 'x-user: ann' "$url" helloworld.Greeter/SayHello '{}' 2>&1 >/dev/null)
check_contains "svc-call -v status" "status: OK (0)" "$verbose"
check_contains "svc-call -v reply metadata (svc_call_reply_md)" "x-server-id: g-amqp" "$verbose"
"$BIN_DIR/svc-call" "$url" helloworld.Greeter/Nope '{}' >/dev/null 2>&1
check "unknown method = UNIMPLEMENTED" 12 $?
"$BIN_DIR/svc-call" "$url" helloworld.Greeter/SayHello '{"name":' >/dev/null 2>&1
check "bad JSON = INVALID_ARGUMENT" 3 $?
out=$("$BIN_DIR/svc-call" "$url" helloworld.Nobody/Hi '{}' 2>&1)
check "a service nobody serves = UNAVAILABLE" 14 $?
check_contains "... and says so" "no server serves helloworld.Nobody" "$out"
kill -TERM "$greeter_pid"
for _ in $(seq 1 100); do kill -0 "$greeter_pid" 2>/dev/null || break; sleep 0.05; done
kill -0 "$greeter_pid" 2>/dev/null && { echo "FAIL - greeter did not stop on SIGTERM in 5 s"; fails=$((fails + 1)); }
greeter_pid=
if grep -qE 'ERROR: (Address|Leak|Thread)Sanitizer|WARNING: ThreadSanitizer|runtime error:' "$work/greeter.log"; then
    echo "FAIL - the greeter reported sanitizer errors:"; cat "$work/greeter.log"; fails=$((fails + 1))
fi

# ---- svc-pub → svc-sub, with headers ----
"$BIN_DIR/svc-sub" --count 3 --timeout 10s --ack --exchange-type topic "$url" 'cli.orders/order.*' \
    >"$work/sub.out" 2>"$work/sub.err" &
sub_pid=$!
wait_for "$work/sub.err" 'subscribed to' 10 "$sub_pid" || exit 1
"$BIN_DIR/svc-pub" -H 'x-tenant: acme' -H 'x-note:two words' --confirm --count 3 \
    "$url" cli.orders/order.created '{"n":{n}}'
check "svc-pub exit" 0 $?
wait "$sub_pid"
check "svc-sub exit" 0 $?
check "svc-sub printed 3 events" 3 "$(wc -l <"$work/sub.out")"
line=$(sed -n 2p "$work/sub.out")
check_contains "topic" '"topic":"cli.orders/order.created"' "$line"
check_contains "header x-tenant" '"x-tenant":"acme"' "$line"
check_contains "header x-note" '"x-note":"two words"' "$line"
check_contains "content type travels too" '"data":"{\"n\":2}"' "$line"

# ---- a raw librabbitmq peer reads what svc-pub published ----
"$PEER" "$AMQP_PORT" declare cli.peer.in
check "peer declares its queue" 0 $?
"$BIN_DIR/svc-pub" -H 'x-tenant: acme' -H 'traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' \
    --confirm --persistent --mandatory --id m-42 --correlation-id c-7 --app-id svc-pub-test \
    "$url" /cli.peer.in '{"n":1}'
check "svc-pub to the peer's queue" 0 $?
props=$("$PEER" "$AMQP_PORT" get cli.peer.in 5000)
check "peer got it" 0 $?
for want in "content-type: application/json" "message-id: m-42" "correlation-id: c-7" \
    "app-id: svc-pub-test" "delivery-mode: 2" "timestamp: recent" "header x-tenant: S acme" \
    "header traceparent: S 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" 'body: {"n":1}'; do
    check_contains "peer sees $want" "$want" "$props"
done

# ---- svc-sub prints what the raw peer published ----
"$BIN_DIR/svc-sub" --count 1 --timeout 10s --exchange-type direct --queue cli.peer.out "$url" \
    cli.peer/from.peer >"$work/peer_sub.out" 2>"$work/peer_sub.err" &
sub_pid=$!
wait_for "$work/peer_sub.err" 'subscribed to' 10 "$sub_pid" || exit 1
"$PEER" "$AMQP_PORT" publish cli.peer from.peer 'hello from the peer'
check "peer publishes" 0 $?
wait "$sub_pid"
check "svc-sub exit" 0 $?
line=$(cat "$work/peer_sub.out")
for want in '"topic":"cli.peer/from.peer"' '"data":"hello from the peer"' '"x-str":"hello peer"' \
    '"x-raw-bin":"\u0001\u0002"' '"x-int":"-42"' '"x-long":"1099511627776"' '"x-bool":"true"' \
    '"x-double":"2.5"' '"amqp-message-id":"peer-1"' '"amqp-correlation-id":"peer-corr"' \
    '"amqp-app-id":"raw-peer"' '"amqp-type":"peer.test"' '"amqp-timestamp":"1700000000"' \
    '"amqp-persistent":"true"' '"amqp-skipped-headers":"x-table,x-array,x-void"'; do
    check_contains "svc-sub shows $want" "$want" "$line"
done

# ---- bad input: a clear status (the exit code) for each ----
bad_pub() { # DESCRIPTION EXPECTED_CODE EXPECTED_TEXT svc-pub ARGS...
    local desc=$1 code=$2 text=$3
    shift 3
    out=$(timeout 20 "$BIN_DIR/svc-pub" "$@" 2>&1)
    check "$desc = exit $code" "$code" $?
    check_contains "$desc says why" "$text" "$out"
}
bad_pub "broker down" 14 "cannot connect" --confirm "amqp://guest:guest@127.0.0.1:1/%2f" /q x
bad_pub "wrong password" 16 "login refused" --confirm "amqp://guest:nope@127.0.0.1:$AMQP_PORT/%2f" /q x
bad_pub "wrong vhost" 5 "login refused" --confirm "amqp://guest:guest@127.0.0.1:$AMQP_PORT/nope" /q x
bad_pub "unknown exchange" 5 "no exchange 'cli.none'" --confirm "$url" cli.none/k x
bad_pub "mandatory, no queue" 5 "no queue took the event" --mandatory "$url" /cli.nobody.here x
big=$(head -c 131050 /dev/zero | tr '\0' 'v')
bad_pub "headers over frame_max" 3 "frame_max" --confirm -H "x-big: $big" "$url" /cli.peer.in x
out=$(timeout 20 "$BIN_DIR/svc-call" "amqp://guest:nope@127.0.0.1:$AMQP_PORT/%2f" helloworld.Greeter/SayHello '{}' 2>&1)
check "svc-call, wrong password = UNAUTHENTICATED" 16 $?
finish
