#!/usr/bin/env bash
# The example programs over nats:// across processes, and a raw cnats client
# against them both ways: greeter + svc-call, svc-pub / svc-sub with
# wildcards, headers, queue groups and JetStream.
set -uo pipefail
. "$LIB_SH"
port=$(cat "$NATS_DIR/js.port" 2>/dev/null) || { echo "nats-server fixture 'js' is not running"; exit 1; }
url=nats://127.0.0.1:$port
tmp=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$tmp"' EXIT

wait_for() { # wait_for FILE TEXT: until FILE holds TEXT (10 s at most)
    for _ in $(seq 1 100); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
    echo "timed out waiting for '$2' in $1"; cat "$1"; return 1
}

# Request/reply across processes; a plain NATS request reaches the greeter.
"$BIN_DIR/greeter" --listen "$url" --id g1 >"$tmp/greeter.log" 2>&1 &
greeter=$!
pids+=($greeter)
wait_for "$tmp/greeter.log" "listening on"
check "svc-call over nats" '{"message":"Hello John"}' \
    "$("$BIN_DIR/svc-call" "$url" helloworld.Greeter/SayHello '{"name":"John"}')"
verbose=$("$BIN_DIR/svc-call" -v "$url" helloworld.Greeter/SayHello '{}' 2>&1 >/dev/null)
check_contains "reply metadata over nats" "x-server-id: g1" "$verbose"
check "raw NATS request to the documented subject" '{"message":"Hello Raw"} -' \
    "$("$RAW" "$url" req svc.helloworld.Greeter.SayHello '{"name":"Raw"}')"
check "raw NATS request, unknown method: status header" "12" \
    "$("$RAW" "$url" req svc.helloworld.Greeter.Nope '{}' | awk '{print $NF}')"
"$BIN_DIR/svc-call" --timeout 2s "$url" nobody.Here/Call '{}' >/dev/null 2>&1
check "svc-call, no responders → UNAVAILABLE" 14 $?

# Our events as a raw client sees them: subject, body, headers.
"$RAW" "$url" sub 'cli.*' 1 x-user traceparent >"$tmp/raw.out" &
pids+=($!)
wait_for "$tmp/raw.out" ready
"$BIN_DIR/svc-pub" -H 'x-user: ann' -H 'traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' \
    "$url" cli.created '{"id":1}'
wait_for "$tmp/raw.out" cli.created
check "raw client sees our event and headers" \
    'cli.created {"id":1} x-user=ann traceparent=00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' \
    "$(grep cli.created "$tmp/raw.out")"

# A raw client's event as svc-sub prints it (wildcard '>').
"$BIN_DIR/svc-sub" --count 1 --timeout 10s "$url" 'raw.>' >"$tmp/sub.out" 2>"$tmp/sub.err" &
sub=$!
wait_for "$tmp/sub.err" subscribed
"$RAW" "$url" pub raw.a.b 'hello' 'X-Origin:cnats'
wait $sub
check "svc-sub exit code" 0 $?
check "svc-sub prints the raw client's event" \
    '{"topic":"raw.a.b","headers":{"x-origin":"cnats"},"data":"hello","redelivered":false,"delivery_count":1}' \
    "$(cat "$tmp/sub.out")"

# Queue group: two svc-sub in one group share 10 events.
for i in 1 2; do
    "$BIN_DIR/svc-sub" --group g --timeout 3s "$url" 'grp.*' >"$tmp/g$i.out" 2>"$tmp/g$i.err" &
    pids+=($!)
    wait_for "$tmp/g$i.err" subscribed
done
"$BIN_DIR/svc-pub" --count 10 "$url" grp.job 'job {n}'
sleep 3.5
check "queue group: each event once" 10 "$(cat "$tmp/g1.out" "$tmp/g2.out" | wc -l)"

# JetStream: a stream made through the library, published to with ids
# (one duplicate), read back by a durable consumer with acks.
"$BIN_DIR/svc-pub" --persistent "$url" clijs.x 'x' >/dev/null 2>&1
check "persistent publish without a stream → NOT_FOUND" 5 $?
"$RAW" "$url" stream CLIJS 'clijs.>'
check "stream created by a raw client" 0 $?
"$BIN_DIR/svc-pub" --persistent --id a "$url" clijs.x 'first'
"$BIN_DIR/svc-pub" --persistent --id a "$url" clijs.x 'first again'
"$BIN_DIR/svc-pub" --async --persistent --count 3 "$url" clijs.y 'n{n}'
check "async persistent publishes confirmed" 0 $?
got=$("$BIN_DIR/svc-sub" --stream CLIJS --durable d1 --ack --count 4 --timeout 10s "$url" 'clijs.>' 2>>"$tmp/js.err")
check "durable consumer: duplicate dropped, 4 events" 4 "$(wc -l <<<"$got")"
check_contains "first event" '"data":"first"' "$(head -n 1 <<<"$got")"
check_contains "Nats-Msg-Id visible" '"nats-msg-id":"a"' "$(head -n 1 <<<"$got")"
"$BIN_DIR/svc-sub" --stream CLIJS --durable d1 --ack --count 1 --timeout 1s "$url" 'clijs.>' >/dev/null 2>>"$tmp/js.err"
check "the durable resumes: nothing left (DEADLINE_EXCEEDED)" 4 $?
got=$("$BIN_DIR/svc-sub" --stream CLIJS --durable p1 --pull --ack --count 4 --timeout 10s "$url" 'clijs.>' 2>>"$tmp/js.err")
check "pull consumer reads the stream" 4 "$(wc -l <<<"$got")"

# A consumer killed by a sanitizer would look like a short stream.
check "consumers' logs have no sanitizer report" 0 \
    "$(grep -cE 'ERROR: (Address|Leak|Thread)Sanitizer|WARNING: ThreadSanitizer|runtime error:' "$tmp/js.err")"

# The greeter stops cleanly on SIGTERM (under a sanitizer: with no report).
kill -TERM "$greeter"
wait "$greeter"
check "greeter exit code" 0 $?
check "greeter log has no sanitizer report" 0 \
    "$(grep -cE 'ERROR: (Address|Leak|Thread)Sanitizer|WARNING: ThreadSanitizer|runtime error:' "$tmp/greeter.log")"
finish
