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
. "$(dirname "$0")/../../server_proc.sh"

launch() { # launch PORT ARGS...
    local port=$1
    shift
    setsid nats-server -a 127.0.0.1 -p "$port" -js -sd "$dir/$name.store" "$@" >>"$log" 2>&1 </dev/null &
    echo $! >"$pidfile"
    wait_up $! "$port" listening
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
