// grpc_cpp_failover_bench — benchmark anchor: bench/lb/lb_failover_bench's
// scenario done by gRPC C++ (the distribution's grpc++) itself, so that the
// two tables can be compared line by line. Three greeter processes (the
// same examples/greeter, same flags, started and read the same way through
// bench/lb/instances.h), one channel to
// "ipv4:127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3" with round_robin chosen by
// the service config, 8 unary helloworld.Greeter/SayHello calls (empty
// HelloRequest, callback API) kept in flight for 3 s; 1 s in, instance 2 is
// killed with SIGKILL (a crash: no GOAWAY). Without, then with retries:
//   lost        calls that failed;
//   recover_ms  from the kill to the last call that failed or took more
//               than ten times the p99 before the kill (p99 of the calls
//               that ended between 300 ms and the kill; at least 2 ms);
//   calls/s     before the kill (after the first 300 ms) and after it.
// Fresh greeters and a fresh channel every round; medians of the rounds.
//
// Why it is the reference: gRPC's own client-side balancing and retries are
// what libsvccomm's svc:// round_robin client and its retry policy imitate.
// The retry configuration is the nearest gRPC can say to lb_failover_bench's
// (svc_retry_policy max_attempts 3, idempotent, UNAVAILABLE only, 50 ms
// initial backoff doubling to at most 2 s; svc_retry_budget's defaults 10
// tokens / 0.1, which that program leaves on): a retryPolicy {maxAttempts 3,
// initialBackoff 0.05s, maxBackoff 2s, backoffMultiplier 2,
// retryableStatusCodes [UNAVAILABLE]} and retryThrottling {maxTokens 10,
// tokenRatio 0.1}. Differences that remain, in gRPC C++ itself:
//  - backoff: ours waits a uniformly random [0, bound] before each retry
//    (full jitter; 0-50 ms before the first); gRPC C++'s retry filter waits
//    exactly initialBackoff before the first retry and bound +-20% after
//    (its BackOff, jitter 0.2), not gRFC A6's random(0, bound);
//  - throttling: ours takes no token for a failure no server saw; gRPC
//    takes one for every failed attempt, so the burst of failures a crash
//    causes (the calls on the dead connection, and those picked for it
//    before the balancer learns it is gone) uses up the half of the tokens
//    that may be spent, and the rest fail without a retry.
//    "grpc_cpp_failover_bench GREETER ROUNDS no-throttling" leaves
//    retryThrottling out (gRPC retries then without a limit).
// Both retry at once, without a policy too, a call that never reached the
// wire (gRPC's transparent retries). Ours sets no per-call deadline; gRPC's
// calls get 5 s, only to bound runs.
//
//   grpc_cpp_failover_bench GREETER [rounds, default 5 [no-throttling]]
#include <grpcpp/grpcpp.h>
#include <pthread.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "helloworld.grpc.pb.h"
#include "lb/instances.h"

namespace {

constexpr int kInFlight = 8;
constexpr double kRunSeconds = 3.0;
constexpr int64_t kKillAfterNs = 1000000000;
constexpr int kMaxRounds = 20;
constexpr size_t kMaxRecords = 4000000; // as LB_BENCH_MAX_RECORDS
constexpr long kMaxCalls = 10000000;    // as BENCH_MAX_CALLS
constexpr int kDeadlineSeconds = 5;

// The clock of bench/latency.h (CLOCK_MONOTONIC), which does not compile
// as C++ (an unconverted malloc) and so is not included.
int64_t now_ns()
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

struct Record {
    int64_t end_ns, latency_ns;
    bool ok;
};

struct Run {
    int64_t end = 0;
    helloworld::HelloRequest req; // empty, as the svc_driver's NULL request
    std::mutex mu;
    std::condition_variable cv;
    std::vector<Record> records; // in the order calls ended, under mu
    long started = 0, failures = 0;
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
};

void issue(Slot *s);

void on_done(Slot *s, const grpc::Status &st)
{
    int64_t t = now_ns();
    Run *r = s->run;
    bool again;
    {
        std::lock_guard<std::mutex> lock(r->mu);
        if (r->records.size() < kMaxRecords)
            r->records.push_back(Record{t, t - s->start, st.ok()});
        r->failures += !st.ok();
        again = t < r->end && r->started < kMaxCalls;
        if (again)
            r->started++;
        else if (--r->in_flight == 0)
            r->cv.notify_one();
    }
    if (again)
        issue(s);
}

void issue(Slot *s)
{
    // A context serves one call; the old one is done once its callback ran.
    s->ctx = std::make_unique<grpc::ClientContext>();
    s->ctx->set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(kDeadlineSeconds));
    s->reply.Clear();
    s->start = now_ns();
    s->stub->async()->SayHello(s->ctx.get(), &s->run->req, &s->reply,
                               [s](grpc::Status st) { on_done(s, st); });
}

// Prints the line bench_report (bench/latency.h) prints for a run.
void report(const char *mode, const std::vector<Record> &rs, double seconds, long failures)
{
    std::vector<int64_t> ns;
    ns.reserve(rs.size());
    for (const Record &r : rs)
        ns.push_back(r.latency_ns);
    std::sort(ns.begin(), ns.end());
    double p50 = ns.empty() ? 0 : static_cast<double>(ns[ns.size() / 2]) / 1000.0;
    double p99 = ns.empty() ? 0 : static_cast<double>(ns[ns.size() * 99 / 100]) / 1000.0;
    std::printf(
        "mode=%s calls=%zu seconds=%.2f calls_per_sec=%.0f p50_us=%.1f p99_us=%.1f failures=%ld\n",
        mode, ns.size(), seconds, static_cast<double>(ns.size()) / seconds, p50, p99, failures);
    std::fflush(stdout);
}

struct Killer {
    bench_instance *victim;
    int64_t at_ns, killed_ns;
};

void *kill_later(void *arg)
{
    Killer *k = static_cast<Killer *>(arg);
    int64_t wait = k->at_ns - now_ns();
    if (wait > 0) {
        struct timespec ts = {static_cast<time_t>(wait / 1000000000),
                              static_cast<long>(wait % 1000000000)};
        nanosleep(&ts, nullptr);
    }
    k->killed_ns = now_ns();
    bench_instance_stop(k->victim, SIGKILL);
    return nullptr;
}

struct Outcome {
    double lost = 0, recover_ms = 0, before_per_s = 0, after_per_s = 0;
};

// The q-quantile of the latencies of records [from, to), in ns (as
// lb_records_quantile_us).
double quantile_ns(const std::vector<Record> &rs, size_t from, size_t to, double q)
{
    if (to <= from)
        return 0;
    std::vector<int64_t> v;
    for (size_t i = from; i < to; i++)
        v.push_back(rs[i].latency_ns);
    std::sort(v.begin(), v.end());
    return static_cast<double>(v[static_cast<size_t>(static_cast<double>(to - from - 1) * q)]);
}

// lb_failover_bench's measure(), on the same kind of records.
Outcome measure(const std::vector<Record> &rs, int64_t start_ns, int64_t killed_ns,
                int64_t end_ns)
{
    Outcome o;
    size_t before = 0, warm = 0;
    while (before < rs.size() && rs[before].end_ns < killed_ns) {
        // the first 300 ms hold the connection set-up
        if (rs[before].end_ns < start_ns + 300000000)
            warm = before + 1;
        before++;
    }
    double p99 = quantile_ns(rs, warm, before, 0.99);
    double slow_ns = p99 * 10 > 2e6 ? p99 * 10 : 2e6;
    int64_t last_bad = killed_ns;
    for (const Record &r : rs) {
        o.lost += !r.ok;
        if ((!r.ok || static_cast<double>(r.latency_ns) > slow_ns) && r.end_ns > last_bad)
            last_bad = r.end_ns;
    }
    o.recover_ms = static_cast<double>(last_bad - killed_ns) / 1e6;
    o.before_per_s = static_cast<double>(before - warm) /
                     (static_cast<double>(killed_ns - start_ns) / 1e9 - 0.3);
    o.after_per_s =
        static_cast<double>(rs.size() - before) / (static_cast<double>(end_ns - killed_ns) / 1e9);
    return o;
}

const char kNoRetries[] = R"({"loadBalancingConfig": [{"round_robin": {}}]})";
// The retry configuration, with or without retryThrottling.
std::string retry_config(bool throttling)
{
    std::string c = R"({
  "loadBalancingConfig": [{"round_robin": {}}],
  "methodConfig": [{
    "name": [{"service": "helloworld.Greeter", "method": "SayHello"}],
    "retryPolicy": {
      "maxAttempts": 3,
      "initialBackoff": "0.05s",
      "maxBackoff": "2s",
      "backoffMultiplier": 2,
      "retryableStatusCodes": ["UNAVAILABLE"]
    }
  }])";
    if (throttling)
        c += R"(,
  "retryThrottling": {"maxTokens": 10, "tokenRatio": 0.1})";
    return c + "\n}";
}

// "grpc://127.0.0.1:PORT" (the greeter's line) → "127.0.0.1:PORT".
std::string host_port(const char *url)
{
    const char *prefix = "grpc://";
    if (std::strncmp(url, prefix, std::strlen(prefix)) != 0 ||
        std::strncmp(url + std::strlen(prefix), "127.0.0.1:", 10) != 0) {
        std::fprintf(stderr, "grpc_cpp_failover_bench: unexpected greeter URL %s\n", url);
        std::exit(1);
    }
    return url + std::strlen(prefix);
}

Outcome one_round(const char *greeter, bool retries, bool throttling, Run *run)
{
    const char *const ids[] = {"g1", "g2", "g3"};
    bench_instance in[3];
    for (int i = 0; i < 3; i++)
        bench_instance_start(&in[i], greeter, ids[i], 0);
    std::string target = "ipv4:";
    for (int i = 0; i < 3; i++)
        target += (i ? "," : "") + host_port(in[i].url);
    grpc::ChannelArguments args;
    args.SetServiceConfigJSON(retries ? retry_config(throttling) : kNoRetries);
    // Fresh connections every round, whatever the process made before.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    auto channel = grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
    auto stub = helloworld::Greeter::NewStub(channel);

    // As lb_failover_bench: the calls start at once, the connections are
    // made by the first ones (the first 300 ms are left out of the p99).
    run->records.clear();
    run->failures = 0;
    std::vector<Slot> slots(kInFlight);
    int64_t start = now_ns();
    run->end = start + static_cast<int64_t>(kRunSeconds * 1e9);
    run->in_flight = run->started = kInFlight;
    Killer k = {&in[1], start + kKillAfterNs, 0};
    pthread_t th;
    if (pthread_create(&th, nullptr, kill_later, &k) != 0)
        std::exit(1);
    for (Slot &s : slots) {
        s.run = run;
        s.stub = stub.get();
    }
    for (Slot &s : slots)
        issue(&s);
    const char *mode = retries ? "grpc-cpp-failover/retries" : "grpc-cpp-failover/no-retries";
    {
        // The last calls end just after the run; a call that never ends
        // (none should: each has a 5 s deadline) exits the program.
        std::unique_lock<std::mutex> lock(run->mu);
        auto limit = std::chrono::steady_clock::now() +
                     std::chrono::milliseconds(static_cast<int64_t>(kRunSeconds * 1000) + 10000);
        if (!run->cv.wait_until(lock, limit, [&] { return run->in_flight == 0; })) {
            std::fprintf(stderr, "%s: %d calls never ended\n", mode, run->in_flight);
            std::_Exit(1);
        }
    }
    int64_t end = now_ns();
    pthread_join(th, nullptr);
    report(mode, run->records, static_cast<double>(end - start) / 1e9, run->failures);
    stub.reset();
    channel.reset();
    for (int i = 0; i < 3; i++)
        bench_instance_stop(&in[i], SIGTERM);
    return measure(run->records, start, k.killed_ns, end);
}

double median(double *v, int n)
{
    std::sort(v, v + n);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

} // namespace

int main(int argc, char **argv)
{
    if (argc < 2) {
        std::fprintf(stderr, "usage: grpc_cpp_failover_bench GREETER [rounds [no-throttling]]\n");
        return 2;
    }
    int rounds = argc > 2 ? std::atoi(argv[2]) : 5;
    if (rounds < 1 || rounds > kMaxRounds) {
        std::fprintf(stderr, "grpc_cpp_failover_bench: 1 <= rounds <= %d\n", kMaxRounds);
        return 2;
    }
    bool throttling = true;
    if (argc > 3) {
        if (std::strcmp(argv[3], "no-throttling") != 0 || argc > 4) {
            std::fprintf(stderr,
                         "usage: grpc_cpp_failover_bench GREETER [rounds [no-throttling]]\n");
            return 2;
        }
        throttling = false;
    }
    Run run;
    run.records.reserve(1 << 20);
    static double v[2][4][kMaxRounds];
    for (int round = 0; round < rounds; round++)
        for (int retries = 0; retries < 2; retries++) {
            Outcome o = one_round(argv[1], retries, throttling, &run);
            v[retries][0][round] = o.lost;
            v[retries][1][round] = o.recover_ms;
            v[retries][2][round] = o.before_per_s;
            v[retries][3][round] = o.after_per_s;
        }
    std::printf("\none of three instances killed (SIGKILL) 1 s into a %.0f s run, round_robin, %d "
                "in flight, medians of %d rounds\n",
                kRunSeconds, kInFlight, rounds);
    std::printf("%-12s %8s %12s %16s %16s\n", "retries", "lost", "recover_ms", "calls/s_before",
                "calls/s_after");
    for (int retries = 0; retries < 2; retries++)
        std::printf("%-12s %8.0f %12.1f %16.0f %16.0f\n", retries ? "3 attempts" : "none",
                    median(v[retries][0], rounds), median(v[retries][1], rounds),
                    median(v[retries][2], rounds), median(v[retries][3], rounds));
    return 0;
}
