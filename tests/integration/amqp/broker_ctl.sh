#!/usr/bin/env bash
# A private RabbitMQ for the tests: its own epmd, node name, ports, data and
# logs under DIR, no systemd, stopped by PID.
#   broker_ctl.sh start DIR [CERT_DIR]  epmd + broker; writes DIR/broker.env
#                                       (AMQP_PORT, AMQPS_PORT when CERT_DIR)
#   broker_ctl.sh stop DIR              broker, then epmd
#   broker_ctl.sh stop-broker DIR       the broker only (restart tests)
#   broker_ctl.sh start-broker DIR      the broker again, same ports and data
set -euo pipefail
cmd=$1 dir=$(mkdir -p "$2" && cd "$2" && pwd)
server=${RABBITMQ_SERVER:-/usr/lib/rabbitmq/bin/rabbitmq-server}

. "$(dirname "$0")/../../free_port.sh"

wait_listen() { # PORT PID SECONDS LOG
    for _ in $(seq 1 $(($3 * 10))); do
        ss -ltn | grep -q "127.0.0.1:$1 " && return 0
        kill -0 "$2" 2>/dev/null || { echo "process $2 exited early"; tail -n 40 "$4"; return 1; }
        sleep 0.1
    done
    echo "nothing listens on $1 after $3 s"; tail -n 40 "$4"; return 1
}

stop_pid() { # PIDFILE SECONDS
    [ -f "$1" ] || return 0
    local pid; pid=$(cat "$1")
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 $(($2 * 10))); do
        kill -0 "$pid" 2>/dev/null || { rm -f "$1"; return 0; }
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$1"
}

# The server script stops the VM gracefully on SIGTERM; the VM's own PID
# (from its pid file) is the fallback.
stop_broker() {
    stop_pid "$dir/broker.pid" 30
    stop_pid "$dir/rabbit.erlpid" 10
}

start_broker() {
    # shellcheck disable=SC1091
    . "$dir/broker.env"
    # The AMQP ports stay (clients reconnect to them); the distribution
    # port is chosen again: another process may have taken the old one
    # while the broker was down (restart tests).
    for p in "$AMQP_PORT" ${AMQPS_PORT:-}; do
        if ss -ltn | grep -q ":$p "; then echo "port $p is taken by another process"; return 1; fi
    done
    DIST_PORT=$(free_port)
    sed -i "s/DIST_PORT=[0-9]*/DIST_PORT=$DIST_PORT/" "$dir/broker.env"
    HOME=$dir/home RABBITMQ_NODENAME=$NODE RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
    RABBITMQ_NODE_PORT=$AMQP_PORT RABBITMQ_DIST_PORT=$DIST_PORT ERL_EPMD_PORT=$EPMD_PORT \
    RABBITMQ_MNESIA_BASE=$dir/mnesia RABBITMQ_LOG_BASE=$dir/log \
    RABBITMQ_CONF_ENV_FILE=$dir/rabbitmq-env.conf RABBITMQ_ENABLED_PLUGINS_FILE=$dir/enabled_plugins \
    RABBITMQ_CONFIG_FILE=$dir/rabbitmq.conf RABBITMQ_ADVANCED_CONFIG_FILE=$dir/advanced.config \
    RABBITMQ_PID_FILE=$dir/rabbit.erlpid \
        setsid "$server" >>"$dir/broker.out" 2>&1 </dev/null &
    echo $! >"$dir/broker.pid"
    wait_listen "$AMQP_PORT" "$!" 60 "$dir/broker.out"
    if [ -n "${AMQPS_PORT:-}" ]; then wait_listen "$AMQPS_PORT" "$!" 20 "$dir/broker.out"; fi
}

case $cmd in
start)
    certs=${3:-}
    [ -x "$server" ] || { echo "RabbitMQ is not installed ($server missing): apt-get install rabbitmq-server"; exit 1; }
    "$0" stop "$dir" >/dev/null 2>&1 || true
    rm -rf "$dir/mnesia" "$dir/log" "$dir/broker.out"
    mkdir -p "$dir/home" "$dir/log"
    : >"$dir/rabbitmq-env.conf"
    echo '[].' >"$dir/enabled_plugins"
    echo '[].' >"$dir/advanced.config"
    epmd_port=$(free_port) amqp_port=$(free_port) dist_port=$(free_port)
    {
        echo "NODE=svctest$$@localhost"
        echo "EPMD_PORT=$epmd_port AMQP_PORT=$amqp_port DIST_PORT=$dist_port"
    } >"$dir/broker.env"
    {
        echo "loopback_users = none"
        echo "log.console = false"
        echo "log.file.level = warning"
        echo "vm_memory_high_watermark.relative = 0.6"
        echo "disk_free_limit.absolute = 50MB"
    } >"$dir/rabbitmq.conf"
    if [ -n "$certs" ]; then
        amqps_port=$(free_port)
        echo "AMQPS_PORT=$amqps_port" >>"$dir/broker.env"
        {
            echo "listeners.ssl.default = 127.0.0.1:$amqps_port"
            echo "ssl_options.cacertfile = $certs/ca.pem"
            echo "ssl_options.certfile = $certs/server.pem"
            echo "ssl_options.keyfile = $certs/server.key"
            echo "ssl_options.verify = verify_peer"
            echo "ssl_options.fail_if_no_peer_cert = false"
        } >>"$dir/rabbitmq.conf"
    fi
    epmd -address 127.0.0.1 -port "$epmd_port" >"$dir/epmd.out" 2>&1 </dev/null &
    echo $! >"$dir/epmd.pid"
    wait_listen "$epmd_port" "$!" 10 "$dir/epmd.out"
    start_broker
    echo "broker up: amqp://guest:guest@127.0.0.1:$amqp_port/%2f${amqps_port:+ and amqps port $amqps_port}"
    ;;
start-broker) start_broker ;;
stop-broker) stop_broker ;;
stop)
    stop_broker
    stop_pid "$dir/epmd.pid" 5
    echo "broker stopped"
    ;;
*) echo "usage: $0 start|stop|start-broker|stop-broker DIR [CERT_DIR]"; exit 2 ;;
esac
