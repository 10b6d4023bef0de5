// grpc_cpp_greeter_client — benchmark anchor: gRPC C++ (the distribution's
// grpc++) calling helloworld.Greeter/SayHello through the callback API,
// CHANNELS channels (each its own connection) with INFLIGHT calls in flight
// on each, for SECONDS seconds; each completion issues the next call from
// its callback.
//
//   grpc_cpp_greeter_client HOST:PORT SECONDS CHANNELS INFLIGHT
//
// Prints the line every benchmark program prints (bench/latency.h):
// "mode=... calls=N seconds=S calls_per_sec=R p50_us=X p99_us=Y failures=F",
// then "client_cpu_us_per_call=X" (the process's CPU time over the run, all
// threads, user + system, per call).
// A call fails unless its status is OK and its reply is "Hello world".
#include <grpcpp/grpcpp.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "helloworld.grpc.pb.h"

namespace {

constexpr long kMaxCalls = 10000000; // bound on the calls of one run
constexpr size_t kMaxSamplesPerSlot = 1 << 20;

int64_t now_ns()
{
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

struct Run {
    int64_t end = 0;
    helloworld::HelloRequest req;
    std::atomic<long> started{0};
    std::atomic<long> failures{0};
    std::mutex mu;
    std::condition_variable cv;
    int in_flight = 0;
};

// One call kept in flight: its callbacks run one after another, so the
// slot's fields need no lock.
struct Slot {
    Run *run = nullptr;
    helloworld::Greeter::Stub *stub = nullptr;
    std::unique_ptr<grpc::ClientContext> ctx;
    helloworld::HelloReply reply;
    int64_t start = 0;
    std::vector<int64_t> ns;
};

void issue(Slot *s);

double cpu_seconds()
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

void on_done(Slot *s, const grpc::Status &st)
{
    int64_t t = now_ns();
    Run *r = s->run;
    if (s->ns.size() < kMaxSamplesPerSlot)
        s->ns.push_back(t - s->start);
    if (!st.ok() || s->reply.message() != "Hello world")
        r->failures++;
    if (t < r->end && r->started.fetch_add(1) < kMaxCalls) {
        issue(s);
        return;
    }
    std::lock_guard<std::mutex> lock(r->mu);
    if (--r->in_flight == 0)
        r->cv.notify_one();
}

void issue(Slot *s)
{
    // A context serves one call; the old one is done once its callback runs.
    s->ctx = std::make_unique<grpc::ClientContext>();
    s->reply.Clear();
    s->start = now_ns();
    s->stub->async()->SayHello(s->ctx.get(), &s->run->req, &s->reply,
                               [s](grpc::Status st) { on_done(s, st); });
}

} // namespace

int main(int argc, char **argv)
{
    if (argc != 5) {
        std::fprintf(stderr, "usage: grpc_cpp_greeter_client HOST:PORT SECONDS CHANNELS INFLIGHT\n");
        return 2;
    }
    double secs = std::atof(argv[2]);
    int n_channels = std::atoi(argv[3]);
    int in_flight = std::atoi(argv[4]);
    if (secs <= 0 || secs > 3600 || n_channels < 1 || n_channels > 64 || in_flight < 1 ||
        in_flight > 1000) {
        std::fprintf(stderr, "grpc_cpp_greeter_client: bad arguments\n");
        return 2;
    }
    std::vector<std::shared_ptr<grpc::Channel>> channels;
    std::vector<std::unique_ptr<helloworld::Greeter::Stub>> stubs;
    for (int i = 0; i < n_channels; i++) {
        grpc::ChannelArguments args;
        // Channels with equal arguments would share one connection (the
        // global subchannel pool); each channel gets its own.
        args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
        channels.push_back(
            grpc::CreateCustomChannel(argv[1], grpc::InsecureChannelCredentials(), args));
        if (!channels.back()->WaitForConnected(std::chrono::system_clock::now() +
                                               std::chrono::seconds(5))) {
            std::fprintf(stderr, "grpc_cpp_greeter_client: cannot connect to %s\n", argv[1]);
            return 1;
        }
        stubs.push_back(helloworld::Greeter::NewStub(channels.back()));
    }

    Run run;
    run.req.set_name("world");
    std::vector<Slot> slots(static_cast<size_t>(n_channels * in_flight));
    double cpu0 = cpu_seconds();
    int64_t start = now_ns();
    run.end = start + static_cast<int64_t>(secs * 1e9);
    run.in_flight = static_cast<int>(slots.size());
    run.started = static_cast<long>(slots.size());
    for (size_t i = 0; i < slots.size(); i++) {
        slots[i].run = &run;
        slots[i].stub = stubs[i % stubs.size()].get();
        slots[i].ns.reserve(1 << 16);
    }
    for (Slot &s : slots)
        issue(&s);
    {
        std::unique_lock<std::mutex> lock(run.mu);
        // The last calls end just after `secs`; a server that stops
        // answering is given 10 s more, then the run is abandoned.
        auto limit = std::chrono::steady_clock::now() +
                     std::chrono::milliseconds(static_cast<int64_t>(secs * 1000) + 10000);
        if (!run.cv.wait_until(lock, limit, [&] { return run.in_flight == 0; })) {
            std::fprintf(stderr, "grpc_cpp_greeter_client: %d calls never ended\n",
                         run.in_flight);
            std::_Exit(1);
        }
    }
    double elapsed = static_cast<double>(now_ns() - start) / 1e9;
    double cpu = cpu_seconds() - cpu0;

    std::vector<int64_t> all;
    for (Slot &s : slots)
        all.insert(all.end(), s.ns.begin(), s.ns.end());
    std::sort(all.begin(), all.end());
    double p50 = all.empty() ? 0 : static_cast<double>(all[all.size() / 2]) / 1000.0;
    double p99 = all.empty() ? 0 : static_cast<double>(all[all.size() * 99 / 100]) / 1000.0;
    char mode[64];
    std::snprintf(mode, sizeof mode, "grpc-cpp-%dx%d", n_channels, in_flight);
    std::printf("mode=%s calls=%zu seconds=%.2f calls_per_sec=%.0f p50_us=%.1f p99_us=%.1f "
                "failures=%ld\n",
                mode, all.size(), elapsed, static_cast<double>(all.size()) / elapsed, p50, p99,
                run.failures.load());
    std::printf("client_cpu_us_per_call=%.2f\n",
                all.empty() ? 0.0 : cpu * 1e6 / static_cast<double>(all.size()));
    return 0;
}
