#!/usr/bin/env bash
# Starts, stops or restarts a nats-server for a ctest fixture, on 127.0.0.1
# with JetStream and its store in DIR/NAME.store.
#   nats_ctl.sh start NAME DIR [nats-server options...]
#   nats_ctl.sh stop NAME DIR
#   nats_ctl.sh restart NAME DIR      (same port, options and store)
# start picks a free high port (checked with ss), waits for the LISTEN
# socket, and writes DIR/NAME.port, DIR/NAME.pid and DIR/NAME.args. stop
# kills by that PID, never by name.
set -euo pipefail
cmd=$1 name=$2 dir=$3
shift 3
mkdir -p "$dir"
pidfile=$dir/$name.pid portfile=$dir/$name.port argsfile=$dir/$name.args log=$dir/$name.log
command -v nats-server >/dev/null || { echo "nats-server is not installed (apt-get install nats-server)"; exit 1; }

listening() { ss -ltn | grep -q "127.0.0.1:$1 "; }

. "$(dirname "$0")/../../free_port.sh"

launch() { # launch PORT ARGS...
    local port=$1
    shift
    setsid nats-server -a 127.0.0.1 -p "$port" -js -sd "$dir/$name.store" "$@" >>"$log" 2>&1 </dev/null &
    local pid=$!
    echo $pid >"$pidfile"
    for _ in $(seq 1 100); do
        if listening "$port"; then
            echo "$name (pid $pid) listening on 127.0.0.1:$port"
            return 0
        fi
        kill -0 $pid 2>/dev/null || { echo "$name exited early:"; cat "$log"; return 1; }
        sleep 0.1
    done
    echo "$name did not listen within 10 s:"; cat "$log"; kill $pid; return 1
}

stop() {
    [ -f "$pidfile" ] || { echo "$name: no pid file"; return 0; }
    local pid
    pid=$(cat "$pidfile")
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
        if ! kill -0 "$pid" 2>/dev/null; then
            rm -f "$pidfile"
            echo "$name stopped"
            return 0
        fi
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$pidfile"
    echo "$name did not stop on SIGTERM within 10 s"
    return 1
}

case $cmd in
start)
    [ -f "$pidfile" ] && stop
    rm -rf "$dir/$name.store" "$log"
    port=$(free_port)
    : >"$argsfile"
    [ $# -eq 0 ] || printf '%s\n' "$@" >"$argsfile"
    echo "$port" >"$portfile"
    launch "$port" "$@"
    ;;
stop)
    stop
    ;;
restart)
    stop
    mapfile -t args <"$argsfile"
    launch "$(cat "$portfile")" ${args[@]+"${args[@]}"}
    ;;
*)
    echo "usage: $0 start|stop|restart NAME DIR [nats-server options...]"; exit 2 ;;
esac
