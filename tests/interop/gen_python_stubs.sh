#!/usr/bin/env bash
# Generates the Python code of the interop protos (grpc.testing, and
# grpc.health.v1) with protoc and gRPC's own Python plugin into OUT.
#   gen_python_stubs.sh PROTO_DIR OUT
set -euo pipefail
proto=$1 out=$2
mkdir -p "$out"
plugin=$(command -v grpc_python_plugin) || { echo "grpc_python_plugin missing (protobuf-compiler-grpc)"; exit 1; }
/usr/bin/python3 -c 'import grpc' || { echo "python3-grpcio missing"; exit 1; }
protoc -I"$proto" --python_out="$out" --grpc_python_out="$out" \
    --plugin=protoc-gen-grpc_python="$plugin" \
    grpc/testing/empty.proto grpc/testing/messages.proto grpc/testing/test.proto \
    grpc/health/v1/health.proto
echo "Python stubs in $out"
