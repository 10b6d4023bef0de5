#!/usr/bin/env bash
# Runs an interop client against a fixture server.
#   run_client.sh URLS_FILE CA_FILE CLIENT ARGS...
# The first grpc:// or grpcs:// URL in URLS_FILE says where and whether TLS; the
# TLS name checked is "localhost" (--server_host_override), not the address.
set -euo pipefail
urls=$1 ca=$2
shift 2
url=$(grep -m 1 '^grpcs\?://' "$urls") || { echo "no gRPC server: $urls"; exit 1; }
port=${url##*:}
case $url in
grpcs://*) tls=(--use_tls=true "--ca_file=$ca" --server_host_override=localhost) ;;
*) tls=() ;;
esac
exec "$@" --server_host=127.0.0.1 "--server_port=$port" "${tls[@]}"
