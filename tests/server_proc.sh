# Sourced by the fixture scripts that run a server in the background
# (nats_ctl.sh, disc_ctl.sh); they set $name, $log and $pidfile.
#   wait_up PID PORT CHECK   until `CHECK PORT` succeeds (the server's
#                            listening socket, seen by ss), at most 10 s
#   stop                     SIGTERM by the PID in $pidfile, SIGKILL after 10 s
wait_up() {
    local pid=$1 port=$2 check=$3
    for _ in $(seq 1 100); do
        if "$check" "$port"; then echo "$name (pid $pid) listening on 127.0.0.1:$port"; return 0; fi
        kill -0 "$pid" 2>/dev/null || { echo "$name exited early:"; cat "$log"; return 1; }
        sleep 0.1
    done
    echo "$name did not listen within 10 s:"; cat "$log"; kill "$pid"; return 1
}

stop() {
    [ -f "$pidfile" ] || { echo "$name: no pid file"; return 0; }
    local pid
    pid=$(cat "$pidfile")
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || { rm -f "$pidfile"; echo "$name stopped"; return 0; }
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$pidfile"
    echo "$name did not stop on SIGTERM within 10 s"; return 1
}
