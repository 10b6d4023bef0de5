// grpc.testing.TestService on gRPC C++ (Debian's libgrpc++), the real
// server our interop_client is checked against. It follows gRPC's own
// interop server (test/cpp/interop/interop_server.cc): metadata echo,
// status echo, per-message compression, and the check that a request
// arrived compressed or not as it says (client_compressed_unary's probe).
//
//   grpc_cpp_interop_server --port=N [--use_tls=true --tls_cert_file=F
//                                     --tls_key_file=F]
//
// Prints "listening on grpc[s]://127.0.0.1:PORT"; stops on SIGINT/SIGTERM.
// Also serves grpc.health.v1.Health (gRPC's default health service) and
// server reflection (gRPC's plugin: v1alpha in Debian's 1.51), the reference
// for reflection_client's checks.
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "grpc/testing/test.grpc.pb.h"

// gRPC exports this for its own interop server (declared in
// src/core/lib/surface/call_test_only.h, which Debian does not install):
// the compression the client announced for the call (grpc-encoding). gRPC's
// interop server also checks the compressed flag of the last message
// (grpc_call_test_only_get_message_flags); with Debian's 1.51 that flag
// never shows a compressed message (gRPC's own Python client fails the
// check as ours does), so this server checks the call's encoding only.
// Our interop_server checks each message's flag.
grpc_compression_algorithm grpc_call_test_only_get_compression_algorithm(grpc_call* call);

using grpc::ServerContext;
using grpc::Status;
using grpc::StatusCode;
using namespace grpc::testing;

namespace {

const char kEchoInitial[] = "x-grpc-test-echo-initial";
const char kEchoTrailing[] = "x-grpc-test-echo-trailing-bin";

void EchoMetadata(ServerContext* ctx) {
  const auto& md = ctx->client_metadata();
  auto initial = md.find(kEchoInitial);
  if (initial != md.end())
    ctx->AddInitialMetadata(kEchoInitial, std::string(initial->second.data(),
                                                      initial->second.size()));
  auto trailing = md.find(kEchoTrailing);
  if (trailing != md.end())
    ctx->AddTrailingMetadata(kEchoTrailing, std::string(trailing->second.data(),
                                                        trailing->second.size()));
}

bool CompressionAsExpected(ServerContext* ctx, bool expected) {
  bool compressed =
      grpc_call_test_only_get_compression_algorithm(ctx->c_call()) != GRPC_COMPRESS_NONE;
  return compressed == expected;
}

void Fill(Payload* p, int size) {
  p->set_type(COMPRESSABLE);
  p->set_body(std::string(size > 0 ? size : 0, '\0'));
}

template <typename Request>
bool EchoedStatus(const Request& req, Status* out) {
  if (!req.has_response_status() || req.response_status().code() == 0) return false;
  *out = Status(static_cast<StatusCode>(req.response_status().code()),
                req.response_status().message());
  return true;
}

template <typename Stream>
bool Respond(ServerContext* ctx, const StreamingOutputCallRequest& req, Stream* stream) {
  for (const auto& p : req.response_parameters()) {
    if (p.interval_us() > 0) usleep(p.interval_us());
    StreamingOutputCallResponse resp;
    Fill(resp.mutable_payload(), p.size());
    grpc::WriteOptions opts;
    if (p.has_compressed()) {
      ctx->set_compression_algorithm(GRPC_COMPRESS_GZIP);
      if (!p.compressed().value()) opts.set_no_compression();
    }
    if (!stream->Write(resp, opts)) return false;
  }
  return true;
}

class TestServiceImpl final : public TestService::Service {
  Status EmptyCall(ServerContext* ctx, const Empty*, Empty*) override {
    EchoMetadata(ctx);
    return Status::OK;
  }

  Status UnaryCall(ServerContext* ctx, const SimpleRequest* req, SimpleResponse* resp) override {
    EchoMetadata(ctx);
    if (req->has_response_compressed())
      ctx->set_compression_algorithm(req->response_compressed().value() ? GRPC_COMPRESS_GZIP
                                                                         : GRPC_COMPRESS_NONE);
    if (!CompressionAsExpected(ctx, req->expect_compressed().value()))
      return Status(StatusCode::INVALID_ARGUMENT, "Compressed request expectation not met.");
    Status st;
    if (EchoedStatus(*req, &st)) return st;
    Fill(resp->mutable_payload(), req->response_size());
    return Status::OK;
  }

  Status StreamingOutputCall(ServerContext* ctx, const StreamingOutputCallRequest* req,
                             grpc::ServerWriter<StreamingOutputCallResponse>* writer) override {
    EchoMetadata(ctx);
    Status st;
    if (EchoedStatus(*req, &st)) return st;
    return Respond(ctx, *req, writer) ? Status::OK : Status(StatusCode::UNKNOWN, "write failed");
  }

  Status StreamingInputCall(ServerContext* ctx,
                            grpc::ServerReader<StreamingInputCallRequest>* reader,
                            StreamingInputCallResponse* resp) override {
    EchoMetadata(ctx);
    StreamingInputCallRequest req;
    int total = 0;
    while (reader->Read(&req)) {
      if (!CompressionAsExpected(ctx, req.expect_compressed().value()))
        return Status(StatusCode::INVALID_ARGUMENT, "Compressed request expectation not met.");
      total += static_cast<int>(req.payload().body().size());
    }
    resp->set_aggregated_payload_size(total);
    return Status::OK;
  }

  Status FullDuplexCall(ServerContext* ctx,
                        grpc::ServerReaderWriter<StreamingOutputCallResponse,
                                                 StreamingOutputCallRequest>* stream) override {
    EchoMetadata(ctx);
    StreamingOutputCallRequest req;
    Status st;
    while (stream->Read(&req)) {
      if (EchoedStatus(req, &st)) return st;
      if (!Respond(ctx, req, stream)) return Status(StatusCode::UNKNOWN, "write failed");
    }
    return Status::OK;
  }

  Status HalfDuplexCall(ServerContext* ctx,
                        grpc::ServerReaderWriter<StreamingOutputCallResponse,
                                                 StreamingOutputCallRequest>* stream) override {
    EchoMetadata(ctx);
    std::vector<StreamingOutputCallRequest> reqs;
    StreamingOutputCallRequest req;
    while (stream->Read(&req)) reqs.push_back(req);
    Status st;
    for (const auto& r : reqs) {
      if (EchoedStatus(r, &st)) return st;
      if (!Respond(ctx, r, stream)) return Status(StatusCode::UNKNOWN, "write failed");
    }
    return Status::OK;
  }
};

std::string ReadFile(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

bool Flag(const char* arg, const char* name, std::string* out) {
  size_t n = std::strlen(name);
  if (std::strncmp(arg, name, n) != 0 || arg[n] != '=') return false;
  *out = arg + n + 1;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::string port = "0", use_tls = "false", cert, key, v;
  for (int i = 1; i < argc; i++) {
    if (Flag(argv[i], "--port", &v)) port = v;
    else if (Flag(argv[i], "--use_tls", &v)) use_tls = v;
    else if (Flag(argv[i], "--tls_cert_file", &v)) cert = v;
    else if (Flag(argv[i], "--tls_key_file", &v)) key = v;
    else {
      std::cerr << "usage: " << argv[0]
                << " --port=N [--use_tls=true --tls_cert_file=F --tls_key_file=F]\n";
      return 2;
    }
  }
  bool tls = use_tls == "true";
  std::shared_ptr<grpc::ServerCredentials> creds = grpc::InsecureServerCredentials();
  if (tls) {
    grpc::SslServerCredentialsOptions opts;
    opts.pem_key_cert_pairs.push_back({ReadFile(key), ReadFile(cert)});
    creds = grpc::SslServerCredentials(opts);
  }
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);  // for sigwait, in every thread

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  TestServiceImpl service;
  grpc::ServerBuilder builder;
  int selected = 0;
  builder.AddListeningPort("127.0.0.1:" + port, creds, &selected);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || selected == 0) {
    std::cerr << "cannot listen on 127.0.0.1:" << port << "\n";
    return 1;
  }
  std::printf("listening on %s://127.0.0.1:%d\n", tls ? "grpcs" : "grpc", selected);
  std::fflush(stdout);
  int sig = 0;
  sigwait(&stop, &sig);
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  // Not grpc_shutdown's teardown: after some test cases it waits forever to
  // join one of its executor threads. The calls are over; just leave.
  std::fflush(stdout);
  std::_Exit(0);
}
