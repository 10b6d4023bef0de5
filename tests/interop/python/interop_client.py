#!/usr/bin/python3
"""gRPC interop test client on grpcio, the real gRPC as Debian ships it
(python3-grpcio), following gRPC's doc/interop-test-descriptions.md.

    interop_client.py --stubs_dir=D --server_port=N [--server_host=127.0.0.1]
        [--use_tls=true --ca_file=F --server_host_override=localhost]
        [--test_case=all|name[,name...]]

--stubs_dir holds the Python code protoc made from proto/grpc/testing and
proto/grpc/health (gen_python_stubs.sh). Prints "ok"/"FAIL" per case and
exits 1 if any failed. grpcio cannot see whether a message arrived
compressed, so server_compressed_unary checks the payload only; our own
client (interop_client) checks the flag.
"""
import argparse
import os
import queue
import sys
import threading

import grpc

ZEROS = 271828
LARGE = 314159
SPECIAL = "\t\ntest with whitespace\r\nand Unicode BMP \u263a and non-BMP \U0001f608\t\n"
INITIAL = ("x-grpc-test-echo-initial", "test_initial_metadata_value")
TRAILING = ("x-grpc-test-echo-trailing-bin", b"\xab\xab\xab")


class Failed(Exception):
    pass


def expect(cond, what):
    if not cond:
        raise Failed(what)


def expect_code(err, code, message=None):
    expect(err.code() == code, f"status {err.code()}, wanted {code} ({err.details()})")
    if message is not None:
        expect(err.details() == message, f"message {err.details()!r}, wanted {message!r}")


class Cases:
    def __init__(self, channel, pb, pb_grpc, empty, health, health_grpc):
        self.pb, self.empty, self.health = pb, empty, health
        self.stub = pb_grpc.TestServiceStub(channel)
        self.unimplemented = pb_grpc.UnimplementedServiceStub(channel)
        self.health_stub = health_grpc.HealthStub(channel)

    def payload(self, size):
        return self.pb.Payload(type=self.pb.COMPRESSABLE, body=b"\0" * size)

    def large_request(self, **kw):
        return self.pb.SimpleRequest(response_type=self.pb.COMPRESSABLE, response_size=LARGE,
                                     payload=self.payload(ZEROS), **kw)

    def check_large(self, resp):
        expect(resp.payload.body == b"\0" * LARGE, f"payload of {len(resp.payload.body)} bytes")

    def out_request(self, sizes, payload=0, **kw):
        params = [self.pb.ResponseParameters(size=s) for s in sizes]
        return self.pb.StreamingOutputCallRequest(response_type=self.pb.COMPRESSABLE,
                                                  response_parameters=params,
                                                  payload=self.payload(payload), **kw)

    def duplex(self, **kw):
        """A full duplex call fed from a queue: returns (send, close, call)."""
        q = queue.Queue()

        def requests():
            while True:
                r = q.get()
                if r is None:
                    return
                yield r
        call = self.stub.FullDuplexCall(requests(), **kw)
        return q.put, lambda: q.put(None), call

    # ---- the test cases ----

    def empty_unary(self):
        expect(isinstance(self.stub.EmptyCall(self.empty.Empty()), self.empty.Empty), "not Empty")

    def large_unary(self):
        self.check_large(self.stub.UnaryCall(self.large_request()))

    def client_compressed_unary(self):
        yes, no = self.pb.BoolValue(value=True), self.pb.BoolValue(value=False)
        try:  # the probe: the server must notice an uncompressed request
            self.stub.UnaryCall(self.large_request(expect_compressed=yes))
            raise Failed("the probe (uncompressed, expect_compressed) succeeded")
        except grpc.RpcError as e:
            expect_code(e, grpc.StatusCode.INVALID_ARGUMENT)
        self.check_large(self.stub.UnaryCall(self.large_request(expect_compressed=yes),
                                             compression=grpc.Compression.Gzip))
        self.check_large(self.stub.UnaryCall(self.large_request(expect_compressed=no)))

    def server_compressed_unary(self):
        for flag in (True, False):
            self.check_large(self.stub.UnaryCall(
                self.large_request(response_compressed=self.pb.BoolValue(value=flag))))

    def client_streaming(self):
        reqs = [self.pb.StreamingInputCallRequest(payload=self.payload(n))
                for n in (27182, 8, 1828, 45904)]
        resp = self.stub.StreamingInputCall(iter(reqs))
        expect(resp.aggregated_payload_size == 74922, f"sum {resp.aggregated_payload_size}")

    def server_streaming(self):
        sizes = [31415, 9, 2653, 58979]
        got = [len(r.payload.body) for r in self.stub.StreamingOutputCall(self.out_request(sizes))]
        expect(got == sizes, f"response sizes {got}")

    def ping_pong(self):
        send, close, call = self.duplex()
        for out, payload in ((31415, 27182), (9, 8), (2653, 1828), (58979, 45904)):
            send(self.out_request([out], payload))
            resp = next(call)
            expect(len(resp.payload.body) == out, f"response of {len(resp.payload.body)}")
        close()
        expect(next(call, None) is None, "a response after the last")
        expect(call.code() == grpc.StatusCode.OK, f"status {call.code()}")

    def empty_stream(self):
        expect(list(self.stub.FullDuplexCall(iter([]))) == [], "responses to no requests")

    def custom_metadata(self):
        md = (INITIAL, TRAILING)
        resp, call = self.stub.UnaryCall.with_call(self.large_request(), metadata=md)
        self.check_large(resp)
        self.check_echoed(call)
        send, close, call = self.duplex(metadata=md)
        send(self.out_request([LARGE], ZEROS))
        expect(len(next(call).payload.body) == LARGE, "full duplex response size")
        close()
        expect(next(call, None) is None, "a second response")
        self.check_echoed(call)

    def check_echoed(self, call):
        expect(INITIAL in [tuple(m) for m in call.initial_metadata()],
               f"initial metadata {call.initial_metadata()}")
        expect(TRAILING in [tuple(m) for m in call.trailing_metadata()],
               f"trailing metadata {call.trailing_metadata()}")

    def check_status_echo(self, message):
        status = self.pb.EchoStatus(code=2, message=message)
        try:
            self.stub.UnaryCall(self.pb.SimpleRequest(response_status=status))
            raise Failed("unary call succeeded")
        except grpc.RpcError as e:
            expect_code(e, grpc.StatusCode.UNKNOWN, message)
        send, close, call = self.duplex()
        send(self.pb.StreamingOutputCallRequest(response_status=status))
        close()
        try:
            list(call)
            raise Failed("full duplex call succeeded")
        except grpc.RpcError as e:
            expect_code(e, grpc.StatusCode.UNKNOWN, message)

    def status_code_and_message(self):
        self.check_status_echo("test status message")

    def special_status_message(self):
        self.check_status_echo(SPECIAL)

    def unimplemented_method(self):
        try:
            self.stub.UnimplementedCall(self.empty.Empty())
            raise Failed("succeeded")
        except grpc.RpcError as e:
            expect_code(e, grpc.StatusCode.UNIMPLEMENTED)

    def unimplemented_service(self):
        try:
            self.unimplemented.UnimplementedCall(self.empty.Empty())
            raise Failed("succeeded")
        except grpc.RpcError as e:
            expect_code(e, grpc.StatusCode.UNIMPLEMENTED)

    def cancel_after_begin(self):
        never = threading.Event()

        def nothing():
            never.wait(5)
            return
            yield
        future = self.stub.StreamingInputCall.future(nothing())
        future.cancel()
        never.set()
        expect(future.cancelled(), "not cancelled")
        expect(future.code() == grpc.StatusCode.CANCELLED, f"status {future.code()}")

    def cancel_after_first_response(self):
        send, close, call = self.duplex()
        send(self.out_request([31415], 27182))
        expect(len(next(call).payload.body) == 31415, "first response size")
        call.cancel()
        close()
        expect(call.code() == grpc.StatusCode.CANCELLED, f"status {call.code()}")

    def timeout_on_sleeping_server(self):
        send, close, call = self.duplex(timeout=0.001)
        send(self.out_request([], 27182))
        try:
            list(call)
            raise Failed("succeeded")
        except grpc.RpcError as e:
            expect_code(e, grpc.StatusCode.DEADLINE_EXCEEDED)
        finally:
            close()

    def concurrent_large_unary(self):
        futures = [self.stub.UnaryCall.future(self.large_request()) for _ in range(100)]
        for f in futures:
            self.check_large(f.result(timeout=60))

    def health_check(self):
        resp = self.health_stub.Check(self.health.HealthCheckRequest(service=""))
        expect(resp.status == self.health.HealthCheckResponse.SERVING, f"status {resp.status}")
        try:
            self.health_stub.Check(self.health.HealthCheckRequest(service="no.Such"))
            raise Failed("an unknown service is known")
        except grpc.RpcError as e:
            expect_code(e, grpc.StatusCode.NOT_FOUND)


ALL = ["empty_unary", "large_unary", "client_compressed_unary", "server_compressed_unary",
       "client_streaming", "server_streaming", "ping_pong", "empty_stream", "custom_metadata",
       "status_code_and_message", "special_status_message", "unimplemented_method",
       "unimplemented_service", "cancel_after_begin", "cancel_after_first_response",
       "timeout_on_sleeping_server", "concurrent_large_unary", "health_check"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--stubs_dir", required=True)
    ap.add_argument("--server_host", default="127.0.0.1")
    ap.add_argument("--server_port", type=int, required=True)
    ap.add_argument("--server_host_override", default="")
    ap.add_argument("--use_tls", default="false")
    ap.add_argument("--ca_file", default="")
    ap.add_argument("--test_case", default="all")
    a = ap.parse_args()

    # The generated modules are named grpc.testing and grpc.health.v1, after
    # their proto packages: serve them from stubs_dir inside grpcio's package.
    grpc.__path__.append(os.path.join(a.stubs_dir, "grpc"))
    from grpc.testing import empty_pb2, messages_pb2, test_pb2_grpc
    from grpc.health.v1 import health_pb2, health_pb2_grpc

    target = f"{a.server_host}:{a.server_port}"
    if a.use_tls == "true":
        with open(a.ca_file, "rb") as f:
            creds = grpc.ssl_channel_credentials(root_certificates=f.read())
        opts = [("grpc.ssl_target_name_override", a.server_host_override)] \
            if a.server_host_override else []
        channel = grpc.secure_channel(target, creds, options=opts)
    else:
        channel = grpc.insecure_channel(target)
    cases = Cases(channel, messages_pb2, test_pb2_grpc, empty_pb2, health_pb2, health_pb2_grpc)
    names = ALL if a.test_case == "all" else a.test_case.split(",")
    failed = 0
    for name in names:
        try:
            getattr(cases, name)()
            print(f"ok   - {name}", flush=True)
        except (Failed, grpc.RpcError, StopIteration) as e:
            failed += 1
            detail = f"{e.code()}: {e.details()}" if isinstance(e, grpc.RpcError) else str(e)
            print(f"FAIL - {name}: {detail}", flush=True)
    channel.close()
    print(f"{len(names) - failed} of {len(names)} passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
