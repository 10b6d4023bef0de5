# Sourced by scripts that start servers: free_port prints a TCP port on
# 127.0.0.1 that no socket uses, below the kernel's ephemeral range (where
# clients' own ends of connections live, which would make a bind fail).
free_port() {
    local p low
    low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range)
    for _ in $(seq 1 200); do
        p=$((10000 + RANDOM % (low - 10000)))
        if [ -z "$(ss -tanH "( sport = :$p )")" ]; then
            echo "$p"
            return 0
        fi
    done
    echo "no free port found" >&2
    return 1
}
