#!/usr/bin/env bash
# greeter_client and svc-call against the greeter fixture, across processes.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
http=$(url_of http)
[ -n "$http" ] || { echo "greeter fixture is not running"; exit 1; }

check "greeter_client" "Hello John" "$("$BIN_DIR/greeter_client" --target "$http" --name John)"
check "svc-call SayHello" '{"message":"Hello John"}' \
    "$("$BIN_DIR/svc-call" "$http" helloworld.Greeter/SayHello '{"name":"John"}')"
check "svc-call route" '{"message":"Hello, Ann!"}' "$("$BIN_DIR/svc-call" "$http" 'GET /hello?name=Ann')"
verbose=$("$BIN_DIR/svc-call" -v -H 'x-user: ann' "$http" helloworld.Greeter/SayHello '{}' 2>&1 >/dev/null)
check_contains "svc-call -v status" "status: OK (0)" "$verbose"
check_contains "svc-call -v metadata" "x-server-id: g1" "$verbose"

"$BIN_DIR/svc-call" "$http" helloworld.Greeter/Nope '{}' >/dev/null 2>&1
check "svc-call exit code = UNIMPLEMENTED" 12 $?
"$BIN_DIR/svc-call" "$http" helloworld.Greeter/SayHello '{"name":' >/dev/null 2>&1
check "svc-call exit code = INVALID_ARGUMENT" 3 $?
"$BIN_DIR/svc-call" --timeout 500ms http://127.0.0.1:1 helloworld.Greeter/SayHello '{}' >/dev/null 2>&1
check "svc-call exit code = UNAVAILABLE" 14 $?
"$BIN_DIR/svc-call" bogus://x a.B/C >/dev/null 2>&1
check "svc-call exit code = UNIMPLEMENTED scheme" 12 $?
"$BIN_DIR/greeter_client" --target "$http/nope-prefix-does-not-matter" --name x >/dev/null 2>&1
check "greeter_client fails on error" 1 $?
finish
