#!/usr/bin/env bash
# Runs the foundation benchmarks in one go and prints medians and ratios.
#   bench/run.sh BUILD_DIR [ROUNDS]     (DUR=seconds per measurement, default 5)
# 1. REST server: GET /hello on our greeter vs a bare libmicrohttpd server vs
#    Ulfius, each loaded by wrk -t2 -c64 (rounds interleaved, so drift in the
#    machine's load hits all three alike).
# 2. REST client: our client vs raw libcurl (easy handle loop; multi with 64
#    in flight, both curl_multi_perform+poll and multi_socket on libevent)
#    against the same bare libmicrohttpd server.
# 3. inproc request/reply: calls/s and p50/p99 latency.
# Only 127.0.0.1 is used; every server is stopped by its PID.
set -euo pipefail
build=$(cd "$1" && pwd)
rounds=${2:-3}
dur=${DUR:-5}
bench=$build/bench
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT

. "$(dirname "$0")/../tests/free_port.sh"

# start_server PORT CMD... → waits for the LISTEN socket; sets SERVER_PID
start_server() {
    local port=$1
    shift
    "$@" >/dev/null 2>&1 &
    SERVER_PID=$!
    pids+=("$SERVER_PID")
    for _ in $(seq 1 100); do
        ss -ltn | grep -q "127.0.0.1:$port " && return 0
        sleep 0.05
    done
    echo "server did not start: $*" >&2
    return 1
}

stop_server() {
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", (b > 0) ? a / b : 0}'; }

wrk_rps() {
    wrk -t2 -c64 -d"${dur}s" "$1" | awk '/Requests\/sec/ {print $2}'
}

declare -A results
record() { results[$1]+="$2"$'\n'; }
med() { printf '%s' "${results[$1]}" | median; }

echo "== 1. REST server, GET /hello, wrk -t2 -c64 -d${dur}s, $rounds rounds"
for r in $(seq 1 "$rounds"); do
    for who in bare ours ulfius ulfius_pool; do
        port=$(free_port)
        case $who in
        bare) start_server "$port" "$bench/bare_mhd" "$port" 2 ;;
        ours) start_server "$port" "$build/examples/greeter" --listen "http://127.0.0.1:$port" --threads 2 ;;
        ulfius) start_server "$port" "$bench/ulfius_hello" "$port" 0 ;;      # Ulfius as shipped
        ulfius_pool) start_server "$port" "$bench/ulfius_hello" "$port" 2 ;; # tuned: MHD epoll pool
        esac
        wrk -t2 -c64 -d1s "http://127.0.0.1:$port/hello" >/dev/null # warm up
        rps=$(wrk_rps "http://127.0.0.1:$port/hello")
        stop_server "$SERVER_PID"
        record "server_$who" "$rps"
        echo "  round $r  $who: $rps req/s"
    done
done
s_bare=$(med server_bare); s_ours=$(med server_ours); s_ulf=$(med server_ulfius); s_ulp=$(med server_ulfius_pool)
echo "  median req/s: libsvccomm $s_ours | bare libmicrohttpd $s_bare | Ulfius $s_ulf | Ulfius on an epoll pool $s_ulp"
echo "  ratio libsvccomm/bare = $(ratio "$s_ours" "$s_bare") (goal >= 0.90), libsvccomm/Ulfius = $(ratio "$s_ours" "$s_ulf") (goal >= 1.20), libsvccomm/Ulfius-pool = $(ratio "$s_ours" "$s_ulp")"

echo "== 2. REST client against bare libmicrohttpd, ${dur}s per run, $rounds rounds"
port=$(free_port)
start_server "$port" "$bench/bare_mhd" "$port" 2
url="http://127.0.0.1:$port"
for r in $(seq 1 "$rounds"); do
    line=$("$bench/raw_curl_client" "$url/hello?name=bench" easy "$dur"); record c_easy "$(field calls_per_sec <<<"$line")"; echo "  raw easy      $line"
    line=$("$bench/svc_rest_client_bench" "$url" seq "$dur"); record c_seq "$(field calls_per_sec <<<"$line")"; echo "  ours seq      $line"
    line=$("$bench/raw_curl_client" "$url/hello?name=bench" multi "$dur" 64); record c_multi "$(field calls_per_sec <<<"$line")"; echo "  raw multi 64  $line"
    line=$("$bench/raw_curl_socket" "$url/hello?name=bench" "$dur" 64); record c_socket "$(field calls_per_sec <<<"$line")"; echo "  raw socket 64 $line"
    line=$("$bench/svc_rest_client_bench" "$url" async "$dur" 64); record c_async "$(field calls_per_sec <<<"$line")"; echo "  ours async 64 $line"
done
stop_server "$SERVER_PID"
echo "  median calls/s sequential: ours $(med c_seq) vs raw easy $(med c_easy): ratio $(ratio "$(med c_seq)" "$(med c_easy)") (goal >= 0.90)"
echo "  median calls/s 64 in flight: ours $(med c_async) vs raw multi_perform loop $(med c_multi): ratio $(ratio "$(med c_async)" "$(med c_multi)") (goal >= 0.90)"
echo "                               ours $(med c_async) vs raw multi_socket on libevent $(med c_socket): ratio $(ratio "$(med c_async)" "$(med c_socket)") (like for like)"

echo "== 3. inproc request/reply, ${dur}s per run"
for mode in seq-inline seq-pool async-pool; do
    for r in $(seq 1 "$rounds"); do
        line=$("$bench/svc_inproc_bench" "$mode" "$dur" 64)
        record "i_$mode" "$(field calls_per_sec <<<"$line")"
        record "i_${mode}_p50" "$(field p50_us <<<"$line")"
        record "i_${mode}_p99" "$(field p99_us <<<"$line")"
    done
    echo "  $mode: median $(med "i_$mode") calls/s, p50 $(med "i_${mode}_p50") us, p99 $(med "i_${mode}_p99") us"
done
