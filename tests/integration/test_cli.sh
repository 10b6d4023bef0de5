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

# The same calls over gRPC: svc-call sends application/grpc+json, which the
# server transcodes for the protobuf handler; greeter_client sends protobuf.
grpc=$(url_of grpc)
grpcs=$(url_of grpcs)
check "greeter_client over grpc" "Hello John" "$("$BIN_DIR/greeter_client" --target "$grpc" --name John)"
check "svc-call over grpc" '{"message":"Hello John"}' \
    "$("$BIN_DIR/svc-call" "$grpc" helloworld.Greeter/SayHello '{"name":"John"}')"
check "svc-call over grpcs" '{"message":"Hello Ann"}' \
    "$("$BIN_DIR/svc-call" --cacert "$CERT_DIR/ca.pem" "$grpcs" helloworld.Greeter/SayHello '{"name":"Ann"}')"
verbose=$("$BIN_DIR/svc-call" -v "$grpc" helloworld.Greeter/SayHello '{}' 2>&1 >/dev/null)
check_contains "reply headers over grpc" "x-server-id: g1" "$verbose"
"$BIN_DIR/svc-call" "$grpcs" helloworld.Greeter/SayHello '{}' >/dev/null 2>&1
check "grpcs without the CA = UNAVAILABLE" 14 $?
"$BIN_DIR/svc-call" "$grpc" helloworld.Greeter/Nope '{}' >/dev/null 2>&1
check "svc-call over grpc exit code = UNIMPLEMENTED" 12 $?
check "health over grpc" '{"status":"SERVING"}' \
    "$("$BIN_DIR/svc-call" "$grpc" grpc.health.v1.Health/Check '{}')"
check "health over REST" '{"status":"SERVING"}' \
    "$("$BIN_DIR/svc-call" "$http" grpc.health.v1.Health/Check '{}')"
finish
