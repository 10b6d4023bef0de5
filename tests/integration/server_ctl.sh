#!/usr/bin/env bash
# Starts or stops a server for a ctest fixture.
#   server_ctl.sh start NAME DIR PROGRAM ARGS...   (ports 0: the server picks)
#   server_ctl.sh stop NAME DIR
# start waits for each "listening on URL" line, then writes DIR/NAME.pid and
# DIR/NAME.urls (one URL per line). stop kills by that PID, never by name.
set -euo pipefail
cmd=$1 name=$2 dir=$3
shift 3
mkdir -p "$dir"
pidfile=$dir/$name.pid log=$dir/$name.log urls=$dir/$name.urls
case $cmd in
start)
    [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
    rm -f "$pidfile" "$urls"
    want=$(printf '%s\n' "$@" | grep -c -- '^--listen$' || true)
    [ "$want" -ge 1 ] || want=1 # a program listening where its own flags say
    setsid "$@" >"$log" 2>&1 </dev/null &
    pid=$!
    echo $pid >"$pidfile"
    for _ in $(seq 1 100); do
        got=$(grep -c '^listening on ' "$log" || true)
        if [ "$got" -ge "$want" ]; then
            sed -n 's/^listening on //p' "$log" >"$urls"
            echo "$name (pid $pid) up:"; cat "$urls"
            exit 0
        fi
        kill -0 $pid 2>/dev/null || { echo "$name exited early:"; cat "$log"; exit 1; }
        sleep 0.1
    done
    echo "$name did not come up in 10 s:"; cat "$log"; kill $pid; exit 1
    ;;
stop)
    [ -f "$pidfile" ] || { echo "$name: no pid file"; exit 0; }
    pid=$(cat "$pidfile")
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
        if ! kill -0 "$pid" 2>/dev/null; then
            rm -f "$pidfile"
            # A server under a sanitizer reports at exit; nobody else sees it.
            if grep -qE 'ERROR: (Address|Leak|Thread)Sanitizer|WARNING: ThreadSanitizer|runtime error:' "$log"; then
                echo "$name reported sanitizer errors:"; cat "$log"; exit 1
            fi
            echo "$name stopped"; exit 0
        fi
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$pidfile"
    echo "$name did not stop on SIGTERM within 5 s"; exit 1
    ;;
*)
    echo "usage: $0 start|stop NAME DIR [PROGRAM ARGS...]"; exit 2 ;;
esac
