#!/usr/bin/env bash
# AMQP benchmarks against one private RabbitMQ, ours vs raw librabbitmq,
# rounds interleaved; prints per-round numbers, medians and ratios.
#   bench/amqp/run.sh BUILD_DIR [ROUNDS]     (N=messages per measurement)
set -euo pipefail
build=$(cd "$1" && pwd)
rounds=${2:-3}
n=${N:-50000}
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d)
trap '"$here/../../tests/integration/amqp/broker_ctl.sh" stop "$dir" >/dev/null; rm -rf "$dir"' EXIT
"$here/../../tests/integration/amqp/broker_ctl.sh" start "$dir"
. "$dir/broker.env"
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }
declare -A res
for what in confirm transient consume rpc; do
    count=$n; [ $what = rpc ] && count=$((n / 10))
    for r in $(seq 1 "$rounds"); do
        for who in raw svc; do
            out=$("$build/bench/amqp/${who}_amqp_bench" "$AMQP_PORT" $what $count)
            echo "  $what round $r $who: $out"
            res[$what.$who.rate]+="$(echo "$out" | field msgs_s)"$'\n'
            [ $what = rpc ] && res[$what.$who.p50]+="$(echo "$out" | field p50_us)"$'\n' \
                && res[$what.$who.p99]+="$(echo "$out" | field p99_us)"$'\n'
        done
    done
    raw=$(printf '%s' "${res[$what.raw.rate]}" | median); svc=$(printf '%s' "${res[$what.svc.rate]}" | median)
    echo "$what: median msgs/s libsvccomm $svc | raw librabbitmq $raw | ratio $(awk -v a="$svc" -v b="$raw" 'BEGIN{printf "%.2f", a/b}') (goal >= 0.95)"
    if [ $what = rpc ]; then
        for q in p50 p99; do
            a=$(printf '%s' "${res[$what.svc.$q]}" | median); b=$(printf '%s' "${res[$what.raw.$q]}" | median)
            echo "rpc $q µs: libsvccomm $a | raw $b | ratio $(awk -v a="$a" -v b="$b" 'BEGIN{printf "%.2f", a/b}') (goal <= 1.10)"
        done
    fi
done
