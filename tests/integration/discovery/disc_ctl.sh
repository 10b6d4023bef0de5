#!/usr/bin/env bash
# Registries for the discovery tests, one per ctest fixture, on 127.0.0.1
# at ports chosen free at run time, with their data under DIR:
#   disc_ctl.sh start etcd NAME DIR             etcd, data in DIR/NAME.data
#   disc_ctl.sh start dnsmasq NAME DIR ARGS...  dnsmasq (no daemon, no
#                                               system files) with ARGS
#   disc_ctl.sh stop NAME DIR
#   disc_ctl.sh restart NAME DIR [--wipe]       same ports and arguments;
#                                               --wipe drops etcd's data
# start writes DIR/NAME.port (the client port), NAME.pid and NAME.cmd and
# waits for the listening socket; stop kills by that PID, never by name.
set -euo pipefail
cmd=$1
[ "$cmd" = start ] && { kind=$2; shift; }
name=$2 dir=$3
shift 3
mkdir -p "$dir"
pidfile=$dir/$name.pid portfile=$dir/$name.port cmdfile=$dir/$name.cmd log=$dir/$name.log

. "$(dirname "$0")/../../free_port.sh"
. "$(dirname "$0")/../../server_proc.sh"

# The command line for KIND on client port $1 (and peer port $2 for etcd).
command_for() {
    case $kind in
    etcd)
        command -v etcd >/dev/null || { echo "etcd is not installed (apt-get install etcd-server)" >&2; return 1; }
        printf '%s\n' etcd --name default --data-dir "$dir/$name.data" \
            --listen-client-urls "http://127.0.0.1:$1" --advertise-client-urls "http://127.0.0.1:$1" \
            --listen-peer-urls "http://127.0.0.1:$2" --initial-advertise-peer-urls "http://127.0.0.1:$2" \
            --initial-cluster "default=http://127.0.0.1:$2" --log-level warn
        ;;
    dnsmasq)
        [ -x /usr/sbin/dnsmasq ] || { echo "dnsmasq is not installed (apt-get install dnsmasq-base)" >&2; return 1; }
        printf '%s\n' /usr/sbin/dnsmasq "--port=$1" --listen-address=127.0.0.1 --bind-interfaces \
            --no-resolv --no-hosts --conf-file=/dev/null --keep-in-foreground --user=root \
            "--pid-file=$dir/$name.dnsmasq.pid" --log-facility=- "${extra[@]}"
        ;;
    *) echo "unknown kind $kind" >&2; return 1 ;;
    esac
}

# etcd is up once its client port listens (TCP); dnsmasq once it binds UDP.
up() {
    if grep -qx etcd "$dir/$name.kind"; then ss -ltnH "( sport = :$1 )" | grep -q .
    else ss -lunH "( sport = :$1 )" | grep -q .; fi
}

launch() {
    mapfile -t argv <"$cmdfile"
    setsid "${argv[@]}" >>"$log" 2>&1 </dev/null &
    echo $! >"$pidfile"
    wait_up $! "$(cat "$portfile")" up
}

# A UDP port that is free too (free_port checks TCP only).
free_udp_port() {
    local p
    for _ in $(seq 1 50); do
        p=$(free_port)
        [ -z "$(ss -uanH "( sport = :$p )")" ] && { echo "$p"; return 0; }
    done
    echo "no free UDP port found" >&2; return 1
}

case $cmd in
start)
    [ -f "$pidfile" ] && stop
    rm -rf "${dir:?}/$name.data" "$log"
    extra=("$@")
    echo "$kind" >"$dir/$name.kind"
    if [ "$kind" = dnsmasq ]; then port=$(free_udp_port); peer=; else port=$(free_port); peer=$(free_port); fi
    [ "$port" != "$peer" ] || peer=$(free_port)
    command_for "$port" "$peer" >"$cmdfile"
    echo "$port" >"$portfile"
    launch
    ;;
stop)
    stop
    ;;
restart)
    stop
    [ "${1:-}" = --wipe ] && rm -rf "${dir:?}/$name.data"
    launch
    ;;
*)
    echo "usage: $0 start etcd|dnsmasq NAME DIR [ARGS...] | stop NAME DIR | restart NAME DIR [--wipe]"; exit 2 ;;
esac
