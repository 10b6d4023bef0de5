#!/usr/bin/env bash
# Developer entry point. Each command installs what it needs (Debian 12,
# apt-get as root or through sudo), configures, builds and runs.
#
#   ./dev.sh demo          build and run the orders demo          (README quick start)
#   ./dev.sh test          build and run the whole ctest suite    (README quick start, CI)
#   ./dev.sh asan          the suite under AddressSanitizer + UBSan
#   ./dev.sh tsan          the suite under ThreadSanitizer
#   ./dev.sh fuzz [SECS]   build the libFuzzer targets and run each SECS seconds (60)
#   ./dev.sh bench         build and run the benchmarks in bench/ (several minutes)
set -euo pipefail
cd "$(dirname "$0")"

BASE_DEPS=(build-essential cmake pkg-config git ca-certificates curl openssl iproute2 procps
           libevent-dev libmicrohttpd-dev libgnutls28-dev libcjson-dev
           libprotobuf-c-dev protobuf-c-compiler libcmocka-dev)
# The brokers and peers the backends' integration tests start on 127.0.0.1,
# and the libraries the backends link.
GRPC_DEPS=(libnghttp2-dev libssl-dev zlib1g-dev nghttp2-client libprotobuf-dev
           python3-grpcio python3-protobuf protobuf-compiler protobuf-compiler-grpc libgrpc++-dev)
AMQP_DEPS=(librabbitmq-dev rabbitmq-server erlang-base)
# libssl-dev: nats_creds_gen signs the NATS JWTs of the auth tests (ed25519).
NATS_DEPS=(libnats-dev nats-server libssl-dev)
# Service discovery: a real etcd and a DNS server for the tests, c-ares for
# SRV lookups.
DISC_DEPS=(etcd-server dnsmasq-base libc-ares-dev)

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Installs the packages that are not installed yet, in one apt-get run.
need() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "installing: ${missing[*]}"
    # Broker packages start system daemons on their default ports when
    # installed; the tests run private instances instead, so forbid that.
    local policy=/usr/sbin/policy-rc.d made_policy=
    if [ ! -e "$policy" ]; then
        as_root sh -c "printf '#!/bin/sh\\nexit 101\\n' > $policy && chmod +x $policy"
        made_policy=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
    [ -n "$made_policy" ] && as_root rm -f "$policy"
    return 0
}

deps() {
    need "${BASE_DEPS[@]}" "${GRPC_DEPS[@]}" "${AMQP_DEPS[@]}" "${NATS_DEPS[@]}" "${DISC_DEPS[@]}"
    # Either libcurl flavour works; keep the one that is there (libulfius-dev,
    # used by the benchmarks, pulls the GnuTLS one).
    if ! dpkg-query -W -f='${Status}' libcurl4-openssl-dev 2>/dev/null | grep -q "ok installed" &&
       ! dpkg-query -W -f='${Status}' libcurl4-gnutls-dev 2>/dev/null | grep -q "ok installed"; then
        need libcurl4-openssl-dev
    fi
}

build() {
    cmake --preset "$1" >/dev/null
    cmake --build --preset "$1"
}

cmd=${1:-}
case "$cmd" in
demo)
    deps
    build default
    # Private brokers for the demo, when they start: events over NATS and
    # discovery through etcd (the demo falls back to inproc and a static
    # list without them). Stopped by PID when the demo ends.
    brokers=build/default/demo-brokers
    disc_ctl=tests/integration/discovery/disc_ctl.sh nats_ctl=tests/integration/nats/nats_ctl.sh
    trap '$disc_ctl stop demo_etcd $brokers >/dev/null 2>&1; $nats_ctl stop demo_nats $brokers >/dev/null 2>&1' EXIT
    if $disc_ctl start etcd demo_etcd $brokers >/dev/null 2>&1; then
        export SVC_DEMO_REGISTRY=etcd://127.0.0.1:$(cat $brokers/demo_etcd.port)
    fi
    if $nats_ctl start demo_nats $brokers >/dev/null 2>&1; then
        export SVC_DEMO_EVENTS=nats://127.0.0.1:$(cat $brokers/demo_nats.port)
    fi
    ./build/default/examples/orders_demo
    ;;
test)
    deps
    build default
    ctest --preset default
    ;;
asan)
    deps
    build asan
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
        ctest --preset asan -LE install
    ;;
tsan)
    deps
    build tsan
    TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/tests/tsan.supp" \
        ctest --preset tsan -LE install
    ;;
fuzz)
    deps
    need clang libclang-rt-14-dev
    build fuzz
    secs=${2:-60}
    for f in build/fuzz/tests/fuzz/fuzz_*; do
        [ -f "$f" ] && [ -x "$f" ] || continue
        name=$(basename "$f")
        corpus=tests/fuzz/corpus/${name#fuzz_}
        mkdir -p "$corpus" "build/fuzz/corpus/${name#fuzz_}"
        echo "== $name for ${secs}s"
        "$f" -max_total_time="$secs" -print_final_stats=1 "build/fuzz/corpus/${name#fuzz_}" "$corpus" 2>&1 |
            grep -E "^stat::number_of_executed_units|^stat::peak_rss|ERROR|SUMMARY" || true
    done
    ;;
bench)
    deps
    need wrk libulfius-dev nghttp2-client
    build bench
    bench/run.sh build/bench
    ;;
*)
    sed -n '2,12p' "$0"
    exit 2
    ;;
esac
