#!/usr/bin/env bash
# The greeter's REST side seen by the curl command-line tool, an independent
# HTTP client: routes, RPC style, status codes, errors, TLS, keep-alive.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
http=$(url_of http)
https=$(url_of https)
[ -n "$http" ] && [ -n "$https" ] || { echo "greeter fixture is not running"; exit 1; }
c() { curl -sS --max-time 5 "$@"; }

check "GET /hello" '{"message":"Hello, World!"}' "$(c "$http/hello")"
check "GET /hello?name=John" '{"message":"Hello, John!"}' "$(c "$http/hello?name=John")"
check "GET /hello escapes" '{"message":"Hello, a\"b!"}' "$(c "$http/hello?name=a%22b")"
check_contains "x-server-id header" "x-server-id: g1" "$(c -i "$http/hello" | tr -d '\r')"
check "POST SayHello JSON" '{"message":"Hello John"}' \
    "$(c -H 'Content-Type: application/json' -d '{"name":"John"}' "$http/helloworld.Greeter/SayHello")"

# protobuf on the wire: field 1, length 4, "Jane"; the reply is field 1 "Hello Jane"
reply=$(printf '\x0a\x04Jane' | c -H 'Content-Type: application/proto' --data-binary @- \
    "$http/helloworld.Greeter/SayHello" | od -An -c | tr -s ' ' | tr -d '\n')
check_contains "POST SayHello protobuf" "H e l l o J a n e" "$reply"

code() { c -o /dev/null -w '%{http_code}' "$@"; }
body() { c "$@"; }
check "malformed JSON -> 400" 400 "$(code -H 'Content-Type: application/json' -d '{"name":' "$http/helloworld.Greeter/SayHello")"
check_contains "malformed JSON body" '"status":"INVALID_ARGUMENT"' \
    "$(body -H 'Content-Type: application/json' -d '{"name":' "$http/helloworld.Greeter/SayHello")"
check "unknown method -> 404" 404 "$(code -H 'Content-Type: application/json' -d '{}' "$http/helloworld.Greeter/Nope")"
check_contains "unknown method code" '"code":12,"status":"UNIMPLEMENTED"' \
    "$(body -H 'Content-Type: application/json' -d '{}' "$http/helloworld.Greeter/Nope")"
check "unknown route -> 404" 404 "$(code "$http/nowhere")"
check_contains "unknown route code" '"code":5,"status":"NOT_FOUND"' "$(body "$http/nowhere")"
check "wrong verb -> 405" 405 "$(code -X DELETE "$http/hello")"
check "unsupported type -> 415" 415 "$(code -H 'Content-Type: text/xml' -d '<a/>' "$http/helloworld.Greeter/SayHello")"
head -c 5000000 /dev/zero | tr '\0' ' ' > "$SERVER_DIR/big.json"
check "body over 4 MiB -> 413" 413 "$(code -H 'Content-Type: application/json' --data-binary @"$SERVER_DIR/big.json" "$http/helloworld.Greeter/SayHello")"
check "chunked body over 4 MiB -> 413" 413 "$(code -H 'Content-Type: application/json' -H 'Transfer-Encoding: chunked' --data-binary @"$SERVER_DIR/big.json" "$http/helloworld.Greeter/SayHello")"
check "expired grpc-timeout -> 504" 504 "$(code -H 'grpc-timeout: 1n' -H 'Content-Type: application/json' -d '{}' "$http/helloworld.Greeter/SayHello")"

metrics=$(c "$http/metrics")
check_contains "metrics exposition" 'svc_server_handled_total{transport="rest",method="GET /hello",code="OK"}' "$metrics"
check_contains "metrics histogram" 'svc_server_handling_seconds_bucket{transport="rest",method="helloworld.Greeter/SayHello",le="+Inf"}' "$metrics"

check "https GET /hello" '{"message":"Hello, TLS!"}' "$(c --cacert "$CERT_DIR/ca.pem" "$https/hello?name=TLS")"
check "https untrusted fails" 60 "$(curl -s -o /dev/null --max-time 5 "$https/hello"; echo $?)"

# Two requests on one curl command line reuse one connection (keep-alive).
verbose=$(c -v "$http/hello" "$http/hello?name=again" 2>&1 >/dev/null)
check_contains "keep-alive reuse" "Re-using existing connection" "$verbose"
finish
