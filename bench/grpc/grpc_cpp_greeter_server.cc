// grpc_cpp_greeter_server — benchmark anchor: helloworld.Greeter/SayHello
// in gRPC C++ (the distribution's grpc++), callback API, cleartext, the
// library's default threads. Answers "Hello <name>" as libsvccomm's
// greeter does. Also serves bench.Stream (Down, Up) for the streaming
// benchmark.
//
//   grpc_cpp_greeter_server --port PORT
//
// Listens on 127.0.0.1 only, prints "listening on grpc://127.0.0.1:PORT"
// once the server has started, and stops on SIGINT/SIGTERM.
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "helloworld.grpc.pb.h"
#include "stream_bench.grpc.pb.h"

namespace {

class GreeterImpl final : public helloworld::Greeter::CallbackService {
    grpc::ServerUnaryReactor *SayHello(grpc::CallbackServerContext *ctx,
                                       const helloworld::HelloRequest *req,
                                       helloworld::HelloReply *reply) override
    {
        reply->set_message("Hello " + req->name());
        grpc::ServerUnaryReactor *r = ctx->DefaultReactor();
        r->Finish(grpc::Status::OK);
        return r;
    }
};

// bench.Stream (stream_bench.proto), for the streaming benchmark.
class StreamImpl final : public bench::Stream::CallbackService {
    class Writer final : public grpc::ServerWriteReactor<bench::Chunk> {
    public:
        explicit Writer(const bench::Ask *ask)
            : left_(ask->count() ? ask->count() : UINT64_MAX)
        {
            chunk_.mutable_data()->assign(ask->size(), 'x');
            Next();
        }
        void OnWriteDone(bool ok) override
        {
            if (ok)
                Next();
            else
                Finish(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled"));
        }
        void OnDone() override { delete this; }

    private:
        void Next()
        {
            if (left_ == 0) {
                Finish(grpc::Status::OK);
                return;
            }
            left_--;
            StartWrite(&chunk_);
        }
        bench::Chunk chunk_;
        uint64_t left_;
    };

    class Reader final : public grpc::ServerReadReactor<bench::Chunk> {
    public:
        explicit Reader(bench::Tally *tally) : tally_(tally) { StartRead(&chunk_); }
        void OnReadDone(bool ok) override
        {
            if (!ok) {
                Finish(grpc::Status::OK); // the client closed its side
                return;
            }
            tally_->set_messages(tally_->messages() + 1);
            tally_->set_bytes(tally_->bytes() + chunk_.data().size());
            StartRead(&chunk_);
        }
        void OnDone() override { delete this; }

    private:
        bench::Chunk chunk_;
        bench::Tally *tally_;
    };

    grpc::ServerWriteReactor<bench::Chunk> *Down(grpc::CallbackServerContext *,
                                                 const bench::Ask *ask) override
    {
        return new Writer(ask);
    }
    grpc::ServerReadReactor<bench::Chunk> *Up(grpc::CallbackServerContext *,
                                              bench::Tally *tally) override
    {
        return new Reader(tally);
    }
};

} // namespace

int main(int argc, char **argv)
{
    long port = 0;
    for (int i = 1; i < argc; i++) {
        if (std::strcmp(argv[i], "--port") == 0 && i + 1 < argc)
            port = std::strtol(argv[++i], nullptr, 10);
    }
    if (port <= 0 || port > 65535) {
        std::fprintf(stderr, "usage: grpc_cpp_greeter_server --port PORT\n");
        return 2;
    }
    // Block the stop signals in every thread gRPC starts; sigwait below.
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, nullptr);

    GreeterImpl greeter;
    StreamImpl streams;
    grpc::ServerBuilder builder;
    std::string addr = "127.0.0.1:" + std::to_string(port);
    builder.AddListeningPort(addr, grpc::InsecureServerCredentials());
    builder.RegisterService(&greeter);
    builder.RegisterService(&streams);
    // The same message size limit as libsvccomm's (4 MiB), on purpose.
    builder.SetMaxReceiveMessageSize(4 << 20);
    std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
    if (!server) {
        std::fprintf(stderr, "grpc_cpp_greeter_server: cannot listen on %s\n", addr.c_str());
        return 1;
    }
    std::printf("listening on grpc://%s\n", addr.c_str());
    std::fflush(stdout);
    int sig = 0;
    sigwait(&stop, &sig);
    server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
    return 0;
}
