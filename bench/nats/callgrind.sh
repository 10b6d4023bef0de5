#!/usr/bin/env bash
# Instructions per JetStream publish with ack (jspub), libsvccomm against
# raw cnats, counted by callgrind thread by thread: steadier than wall time
# on a shared machine.
#   bench/nats/callgrind.sh BUILD_DIR [SECONDS]     (default 3)
# Prints, per program, the instructions per publish of each busy thread
# (the caller; cnats' read loop, the ack subscription's delivery thread and
# its garbage collector) and, for the caller, those of the publish call
# itself: svc_publish_async less the first connection, js_PublishAsync.
# Only 127.0.0.1 is used; the server is stopped by its PID.
set -euo pipefail
build=$(cd "$1" && pwd)
secs=${2:-3}
bin=$build/bench/nats
work=$build/bench/nats-callgrind
rm -rf "$work" && mkdir -p "$work"
command -v valgrind >/dev/null || { echo "valgrind is not installed"; exit 1; }

. "$(dirname "$0")/nats_server.sh"
start_nats "$work"

# inclusive FILE FUNCTION: the function's inclusive count in FILE (0 if absent)
inclusive() {
    callgrind_annotate --inclusive=yes "$1" 2>/dev/null |
        awk -v f="???:$2 " 'index($0, f) {gsub(",", "", $1); print $1; found = 1; exit}
                            END {if (!found) print 0}'
}

for who in raw svc; do
    "$bin/raw_nats_bench" "$url" jsreset 0
    line=$(valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$work/$who.%p" \
        "$bin/${who}_nats_bench" "$url" jspub "$secs" 2>/dev/null)
    n=$(sed -n 's/.*msgs=\([0-9]*\).*/\1/p' <<<"$line")
    echo "$who: $line"
    for f in "$work/$who".*-*; do
        total=$(sed -n 's/^\(summary\|totals\): *\([0-9]*\).*/\2/p' "$f" | head -1)
        [ "${total:-0}" -gt $((n * 50)) ] || continue # threads that did little
        what=$(callgrind_annotate --inclusive=yes "$f" 2>/dev/null |
            grep -oE 'natsSub_deliverMsgs|natsParser_Parse|natsMsg_free|\?\?\?:main ' | head -1 || true)
        printf '  thread %-4s %7d per publish  %s\n' "${f##*-}" $((total / n)) "${what:-?}"
    done
    main=$(ls "$work/$who".*-01)
    if [ "$who" = svc ]; then
        call=$(( $(inclusive "$main" svc_publish_async) - $(inclusive "$main" svc_nats_link_get) ))
    else
        call=$(inclusive "$main" js_PublishAsync)
    fi
    echo "  the publish call: $((call / n)) per publish"
done
