#!/usr/bin/env bash
# NATS benchmarks: libsvccomm against raw cnats on one nats-server, rounds
# interleaved so the machine's load hits both alike; prints every round,
# the medians and the ratios.
#   bench/nats/run.sh BUILD_DIR [ROUNDS]     (DUR=seconds per run, default 5)
# Only 127.0.0.1 is used; the server is stopped by its PID.
set -euo pipefail
build=$(cd "$1" && pwd)
rounds=${2:-5}
dur=${DUR:-5}
bin=$build/bench/nats
work=$build/bench/nats-run
rm -rf "$work" && mkdir -p "$work"
command -v nats-server >/dev/null || { echo "nats-server is not installed"; exit 1; }

. "$(dirname "$0")/nats_server.sh"
start_nats "$work"
echo "nats-server $(nats-server --version | awk '{print $NF}') on $url, $rounds rounds of ${dur}s"

declare -A results
record() { results[$1]+="$2"$'\n'; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
med() { printf '%s' "${results[$1]}" | median; }
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", (b > 0) ? a / b : 0}'; }

for r in $(seq 1 "$rounds"); do
    for mode in pub pubsub reqrep jspub; do
        for who in raw svc; do
            [ "$mode" = jspub ] && "$bin/raw_nats_bench" "$url" jsreset 0
            line=$("$bin/${who}_nats_bench" "$url" "$mode" "$dur")
            echo "  round $r $who $line"
            if [ "$mode" = reqrep ]; then
                record "${mode}_${who}_p50" "$(field p50_us <<<"$line")"
                record "${mode}_${who}_p99" "$(field p99_us <<<"$line")"
                record "${mode}_${who}" "$(field calls_per_sec <<<"$line")"
            else
                record "${mode}_${who}" "$(field msgs_per_sec <<<"$line")"
            fi
        done
    done
done

echo "== medians of $rounds rounds (ratio = libsvccomm / raw cnats; goal >= 0.95 for throughput)"
for mode in pub pubsub jspub; do
    echo "  $mode: libsvccomm $(med "${mode}_svc") msgs/s, raw cnats $(med "${mode}_raw") msgs/s, ratio $(ratio "$(med "${mode}_svc")" "$(med "${mode}_raw")")"
done
echo "  reqrep: libsvccomm p50 $(med reqrep_svc_p50) us p99 $(med reqrep_svc_p99) us ($(med reqrep_svc) calls/s), raw cnats p50 $(med reqrep_raw_p50) us p99 $(med reqrep_raw_p99) us ($(med reqrep_raw) calls/s)"
echo "          p50 ratio libsvccomm/raw = $(ratio "$(med reqrep_svc_p50)" "$(med reqrep_raw_p50)") (goal <= 1.10)"
