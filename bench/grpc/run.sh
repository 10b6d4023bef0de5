#!/usr/bin/env bash
# The gRPC benchmarks in one go, rounds interleaved so drift in the
# machine's load hits every side alike; prints each round, medians, ratios
# and the goals. Builds nothing.
#
#   bench/grpc/run.sh BUILD_DIR [ROUNDS]
#     DUR=seconds per measurement (default 5)
#     SERVERS="bare cpp greeter inline pool-io2 ..." (which servers section 1
#       loads; names below), CLIENTS="cpp svc svc-1x128 ..." (section 2),
#     SECTIONS="1 2 3" (which sections run)
#
# 1. Unary server: h2load (one thread) POSTs a gRPC-framed
#    HelloRequest{name:"world"} to /helloworld.Greeter/SayHello, -c4 -m32
#    (throughput) and -c1 -m1 (unloaded latency). req/s from h2load; mean
#    and p99 from its per-request log. Servers:
#      bare      bare_nghttp2_server: one thread, epoll + nghttp2, canned
#                reply (the ceiling)
#      cpp       grpc_cpp_greeter_server: gRPC C++ callback API, defaults
#      greeter   examples/greeter as shipped (handlers on the pool,
#                1 I/O thread, workers = CPUs)
#      inline    svc_grpc_bench_server --inline (SayHello on the I/O loop,
#                1 I/O thread)
#      pool      svc_grpc_bench_server (SayHello on the pool, 1 I/O thread)
#      inline-io2, pool-io2   the same with 2 I/O threads
#      pool-w1   the pool with 1 worker
# 2. Unary client against the bare server: gRPC C++ callback client vs ours,
#    4 channels (clients) x 32 calls in flight. Clients:
#      cpp, svc (1 I/O thread), svc-io2 (2), svc-1x128 (one client, one
#      connection, 128 in flight)
# 3. Streaming, our client against our server and the gRPC C++ server:
#    server streaming (down) and client streaming (up), 1 KiB and 1 MiB.
#
# Only 127.0.0.1 is used; servers are stopped by PID; every wait is bounded.
set -euo pipefail
build=$(cd "$1" && pwd)
rounds=${2:-5}
dur=${DUR:-5}
servers=${SERVERS:-bare cpp greeter inline pool inline-io2 pool-io2}
clients=${CLIENTS:-cpp svc svc-io2 svc-1x128}
sections=${SECTIONS:-1 2 3}
bin=$build/bench/grpc
tmp=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT

for f in "$bin/bare_nghttp2_server" "$bin/svc_grpc_bench_server" "$bin/svc_grpc_client_bench" \
    "$bin/svc_grpc_stream_bench" "$build/examples/greeter"; do
    [ -x "$f" ] || { echo "missing $f (build the bench preset)" >&2; exit 1; }
done
have_cpp=0
[ -x "$bin/grpc_cpp_greeter_server" ] && [ -x "$bin/grpc_cpp_greeter_client" ] && have_cpp=1
command -v h2load >/dev/null || { echo "h2load missing (apt install nghttp2-client)" >&2; exit 1; }

free_port() {
    local p
    for _ in $(seq 1 1000); do
        p=$((20000 + RANDOM % 10000))
        ss -ltn | grep -q ":$p " || { echo "$p"; return 0; }
    done
    return 1
}

# start_server PORT CMD... → waits (up to 5 s) for the LISTEN socket; sets SERVER_PID
start_server() {
    local port=$1
    shift
    "$@" >/dev/null 2>"$tmp/server.err" &
    SERVER_PID=$!
    pids+=("$SERVER_PID")
    for _ in $(seq 1 100); do
        ss -ltn | grep -Eq "127\.0\.0\.1\]?:$port " && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.05
    done
    echo "server did not start: $*" >&2
    cat "$tmp/server.err" >&2
    return 1
}

stop_server() {
    kill "$1" 2>/dev/null || true
    for _ in $(seq 1 100); do
        kill -0 "$1" 2>/dev/null || break
        sleep 0.05
    done
    kill -9 "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

server_cmd() { # NAME PORT
    case $1 in
    bare) echo "$bin/bare_nghttp2_server $2" ;;
    cpp) echo "$bin/grpc_cpp_greeter_server --port $2" ;;
    greeter) echo "$build/examples/greeter --listen grpc://127.0.0.1:$2" ;;
    inline) echo "$bin/svc_grpc_bench_server --port $2 --inline" ;;
    pool) echo "$bin/svc_grpc_bench_server --port $2" ;;
    inline-io2) echo "$bin/svc_grpc_bench_server --port $2 --inline --io-threads 2" ;;
    pool-io2) echo "$bin/svc_grpc_bench_server --port $2 --io-threads 2" ;;
    pool-w1) echo "$bin/svc_grpc_bench_server --port $2 --workers 1" ;;
    *) echo "unknown server $1" >&2; return 1 ;;
    esac
}

median() { sort -g | awk '{a[NR]=$1} END {if (NR == 0) print 0; else print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", (b > 0) ? a / b : 0}'; }
meets() { # A OP B → "met" / "MISSED"
    awk -v a="$1" -v b="$3" -v op="$2" 'BEGIN {
        ok = (op == ">=") ? a >= b : (op == "<") ? a < b : 0; print ok ? "met" : "MISSED" }'
}

declare -A results
record() { results[$1]+="$2"$'\n'; }
med() { printf '%s' "${results[$1]:-}" | median; }

body=$tmp/hello.grpc
# 5-byte gRPC prefix (uncompressed, length 7) + HelloRequest{1: "world"}
printf '\x00\x00\x00\x00\x07\x0a\x05world' >"$body"

# CPU time (user + system, all threads) a process used so far, in ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }

# h2load_run PORT CONNS STREAMS SERVER_PID →
#   "rps mean_us p99_us succeeded total status2xx server_cpu_us_per_request"
h2load_run() {
    local out log=$tmp/h2.log t0 t1
    t0=$(cpu_ticks "$4")
    out=$(timeout $((dur + 30)) h2load -c"$2" -m"$3" -D "$dur" --warm-up-time=1 \
        -H 'content-type: application/grpc' -H 'te: trailers' -d "$body" --log-file="$log" \
        "http://127.0.0.1:$1/helloworld.Greeter/SayHello" 2>&1) || true
    local rps total ok st2
    rps=$(awk '/^finished in/ {print $4}' <<<"$out")
    total=$(awk '/^requests:/ {print $2}' <<<"$out")
    ok=$(awk '/^requests:/ {print $8}' <<<"$out")
    st2=$(awk '/^status codes:/ {print $3}' <<<"$out")
    t1=$(cpu_ticks "$4")
    # The server's CPU time over the run (warm-up included) per request
    # measured: what it costs, whatever share of the CPUs it got.
    local cpu
    cpu=$(awk -v t="$((t1 - t0))" -v hz="$(getconf CLK_TCK)" -v n="${total:-0}" -v d="$dur" \
        'BEGIN {printf "%.2f", (n > 0) ? t / hz * 1e6 / (n * (d + 1) / d) : 0}')
    # Log columns: start (us since epoch), HTTP status, duration (us).
    local lat
    lat=$(cut -f3 "$log" | sort -n | awk '{a[NR] = $1; s += $1} END {
        i = int(NR * 0.99); if (i < 1) i = 1
        if (NR == 0) print "0 0"; else printf "%.1f %d\n", s / NR, a[i]}')
    rm -f "$log"
    echo "${rps:-0} $lat ${ok:-0} ${total:-0} ${st2:-0} $cpu"
}

verify_grpc_status() { # PORT NAME: one request, its trailers must say grpc-status 0
    local v
    v=$(timeout 10 nghttp -v -H 'content-type: application/grpc' -H 'te: trailers' -d "$body" \
        "http://127.0.0.1:$1/helloworld.Greeter/SayHello" 2>&1 | tr -d '\0' || true)
    if grep -aq 'grpc-status: 0' <<<"$v" && grep -aq ':status: 200' <<<"$v"; then
        echo "  $2: one request checked with nghttp -v: :status 200, grpc-status 0"
    else
        echo "  $2: WARNING: nghttp -v did not see :status 200 and grpc-status 0" >&2
        printf '%s\n' "$v" | tail -20 >&2
    fi
}

echo "machine: $(nproc) CPUs; load at start: $(cut -d' ' -f1-3 /proc/loadavg)"

# ---------------------------------------------------------------------------
if [[ " $sections " == *" 1 "* ]]; then
echo "== 1. unary server, h2load -t1, ${dur}s (+1s warm-up) per run, $rounds rounds"
[ $have_cpp = 1 ] || servers=${servers//cpp/}
for who in $servers; do # check each once
    port=$(free_port)
    # shellcheck disable=SC2046
    start_server "$port" $(server_cmd "$who" "$port")
    verify_grpc_status "$port" "$who"
    stop_server "$SERVER_PID"
done
for r in $(seq 1 "$rounds"); do
    echo "  round $r (load $(cut -d' ' -f1 /proc/loadavg))"
    for who in $servers; do
        port=$(free_port)
        # shellcheck disable=SC2046
        start_server "$port" $(server_cmd "$who" "$port")
        for load in "4 32" "1 1"; do
            read -r c m <<<"$load"
            read -r rps mean p99 ok total st2 cpu <<<"$(h2load_run "$port" "$c" "$m" "$SERVER_PID")"
            key="s_${who}_c${c}m${m}"
            record "$key" "$rps"
            record "${key}_cpu" "$cpu"
            record "${key}_mean" "$mean"
            record "${key}_p99" "$p99"
            flag=""
            [ "$ok" = "$total" ] && [ "$st2" = "$total" ] && [ "$total" != 0 ] ||
                flag="  <-- NOT ALL SUCCEEDED"
            printf '    %-11s -c%s -m%-2s %9.0f req/s  mean %7.1f us  p99 %7d us  server CPU %6.2f us/req  succeeded %s/%s (2xx %s)%s\n' \
                "$who" "$c" "$m" "$rps" "$mean" "$p99" "$cpu" "$ok" "$total" "$st2" "$flag"
        done
        stop_server "$SERVER_PID"
    done
done
echo "  medians:"
for who in $servers; do
    for cm in c4m32 c1m1; do
        k="s_${who}_$cm"
        printf '    %-11s %-6s %9.0f req/s  mean %7.1f us  p99 %7.0f us  server CPU %6.2f us/req\n' "$who" "$cm" \
            "$(med "$k")" "$(med "${k}_mean")" "$(med "${k}_p99")" "$(med "${k}_cpu")"
    done
done
for who in $servers; do
    case $who in bare | cpp) continue ;; esac
    echo "  $who vs the goals:"
    if [[ " $servers " == *" cpp "* ]]; then
        rv=$(ratio "$(med "s_${who}_c4m32")" "$(med s_cpp_c4m32)")
        echo "    req/s (-c4 -m32) / gRPC C++: $rv (goal >= 3): $(meets "$rv" ">=" 3)"
        echo "    server CPU per request (-c4 -m32), gRPC C++ / ours: $(ratio "$(med s_cpp_c4m32_cpu)" "$(med "s_${who}_c4m32_cpu")")"
        for cm in c4m32 c1m1; do
            for st in mean p99; do
                a=$(med "s_${who}_${cm}_$st"); b=$(med "s_cpp_${cm}_$st")
                echo "    $st latency $cm: $a us vs gRPC C++ $b us, ratio $(ratio "$a" "$b") (goal < 1): $(meets "$a" "<" "$b")"
            done
        done
    fi
    if [[ " $servers " == *" bare "* ]]; then
        rv=$(ratio "$(med "s_${who}_c4m32")" "$(med s_bare_c4m32)")
        echo "    req/s (-c4 -m32) / bare nghttp2: $rv (goal >= 0.5): $(meets "$rv" ">=" 0.5)"
        echo "    server CPU per request (-c4 -m32), bare / ours: $(ratio "$(med s_bare_c4m32_cpu)" "$(med "s_${who}_c4m32_cpu")")"
    fi
done
if [[ " $servers " == *" cpp "* && " $servers " == *" bare "* ]]; then
    echo "    (gRPC C++ / bare nghttp2: $(ratio "$(med s_cpp_c4m32)" "$(med s_bare_c4m32)"))"
fi
fi

# ---------------------------------------------------------------------------
if [[ " $sections " == *" 2 "* ]]; then
echo "== 2. unary client against bare_nghttp2_server, ${dur}s per run, $rounds rounds"
[ $have_cpp = 1 ] || clients=${clients//cpp/}
port=$(free_port)
start_server "$port" "$bin/bare_nghttp2_server" "$port"
bare_pid=$SERVER_PID
for r in $(seq 1 "$rounds"); do
    echo "  round $r (load $(cut -d' ' -f1 /proc/loadavg))"
    for who in $clients; do
        case $who in
        cpp) cmd=("$bin/grpc_cpp_greeter_client" "127.0.0.1:$port" "$dur" 4 32) ;;
        svc) cmd=("$bin/svc_grpc_client_bench" "grpc://127.0.0.1:$port" "$dur" 4 32 1) ;;
        svc-io2) cmd=("$bin/svc_grpc_client_bench" "grpc://127.0.0.1:$port" "$dur" 4 32 2) ;;
        svc-1x128) cmd=("$bin/svc_grpc_client_bench" "grpc://127.0.0.1:$port" "$dur" 1 128 1) ;;
        *) echo "unknown client $who" >&2; exit 1 ;;
        esac
        line=$(timeout $((dur + 30)) "${cmd[@]}" | tr '\n' ' ') || line="failed"
        record "c_$who" "$(field calls_per_sec <<<"$line")"
        record "c_${who}_p50" "$(field p50_us <<<"$line")"
        record "c_${who}_p99" "$(field p99_us <<<"$line")"
        record "c_${who}_cpu" "$(field client_cpu_us_per_call <<<"$line")"
        printf '    %-10s %s\n' "$who" "$line"
    done
done
stop_server "$bare_pid"
echo "  medians:"
for who in $clients; do
    printf '    %-10s %9.0f calls/s  p50 %8.1f us  p99 %8.1f us  client CPU %6.2f us/call\n' "$who" \
        "$(med "c_$who")" "$(med "c_${who}_p50")" "$(med "c_${who}_p99")" "$(med "c_${who}_cpu")"
done
if [[ " $clients " == *" cpp "* ]]; then
    for who in $clients; do
        [ "$who" = cpp ] && continue
        rv=$(ratio "$(med "c_$who")" "$(med c_cpp)")
        echo "  $who / gRPC C++ client: calls/s $rv (goal >= 2): $(meets "$rv" ">=" 2);" \
            "p99 $(med "c_${who}_p99") vs $(med c_cpp_p99) us: ratio $(ratio "$(med "c_${who}_p99")" "$(med c_cpp_p99)");" \
            "client CPU per call, gRPC C++ / ours: $(ratio "$(med c_cpp_cpu)" "$(med "c_${who}_cpu")")"
    done
fi
fi

# ---------------------------------------------------------------------------
if [[ " $sections " == *" 3 "* ]]; then
echo "== 3. streaming, our client, ${dur}s per run, $rounds rounds"
targets="svc"
[ $have_cpp = 1 ] && targets="svc cpp"
for r in $(seq 1 "$rounds"); do
    echo "  round $r (load $(cut -d' ' -f1 /proc/loadavg))"
    for srv in $targets; do
        port=$(free_port)
        if [ "$srv" = svc ]; then
            start_server "$port" "$bin/svc_grpc_bench_server" --port "$port"
        else
            start_server "$port" "$bin/grpc_cpp_greeter_server" --port "$port"
        fi
        for kind in down up; do
            for size in 1024 1048576; do
                t0=$(cpu_ticks "$SERVER_PID")
                line=$(timeout $((dur + 30)) "$bin/svc_grpc_stream_bench" \
                    "grpc://127.0.0.1:$port" "$kind" "$size" "$dur") || line="failed: $line"
                t1=$(cpu_ticks "$SERVER_PID")
                k="st_${srv}_${kind}_$size"
                n=$(field messages <<<"$line")
                cpu=$(awk -v t="$((t1 - t0))" -v hz="$(getconf CLK_TCK)" -v n="${n:-0}" \
                    'BEGIN {printf "%.1f", (n > 0) ? t / hz * 1e6 / n : 0}')
                record "$k" "$(field msgs_per_sec <<<"$line")"
                record "${k}_mb" "$(field MB_per_sec <<<"$line")"
                record "${k}_cpu" "$cpu"
                printf '    server %-4s %s server_cpu_us_per_msg=%s\n' "$srv" "$line" "$cpu"
            done
        done
        stop_server "$SERVER_PID"
    done
done
echo "  medians (MB = 10^6 bytes of payload):"
for kind in down up; do
    for size in 1024 1048576; do
        line="    $kind $size B:"
        for srv in $targets; do
            k="st_${srv}_${kind}_$size"
            line+=$(printf '  server %s %9.0f msg/s %8.1f MB/s (server CPU %7.1f us/msg)' "$srv" \
                "$(med "$k")" "$(med "${k}_mb")" "$(med "${k}_cpu")")
        done
        if [ "$targets" = "svc cpp" ]; then
            line+="  (ours/C++ $(ratio "$(med "st_svc_${kind}_$size")" "$(med "st_cpp_${kind}_$size")"))"
        fi
        echo "$line"
    done
done
fi
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
