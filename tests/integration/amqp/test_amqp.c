/*
 * The AMQP transport against a real RabbitMQ (the amqp_broker fixture):
 * exchanges of every type, confirms, mandatory returns, prefetch, dead
 * lettering, RPC with metadata, trace context, status and deadlines, TLS,
 * and bad input.
 */
#include <stdatomic.h>
#include <unistd.h>

#include "../../unit/cmocka_all.h"
#include "amqp_test_util.h"

static svc_ctx *ctx;
static char url[256], certs[512];
static int port;

static int setup(void **state)
{
    (void)state;
    port = broker_port("AMQP_PORT");
    snprintf(url, sizeof url, "amqp://guest:guest@127.0.0.1:%d/%%2f", port);
    snprintf(certs, sizeof certs, "%s/certs", getenv("SVC_TEST_DIR") ?: ".");
    return svc_ctx_new(NULL, &ctx) == SVC_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    svc_ctx_free(ctx);
    return 0;
}

static svc_client *client(void)
{
    svc_client *c = NULL;
    assert_int_equal(svc_client_new(ctx, url, NULL, &c), SVC_OK);
    return c;
}

static svc_msg *text_msg(const char *text)
{
    svc_msg *m;
    assert_int_equal(svc_msg_new_data(text, strlen(text), "text/plain", &m), SVC_OK);
    return m;
}

/* ---- a subscriber that records what it gets ---- */

typedef struct sink {
    counter got;
    pthread_mutex_t mu;
    char last[256], last_topic[256], last_md[256];
    bool redelivered;
    bool hold;                 /* keep events unsettled (manual_ack) */
    bool term;                 /* reject them (dead letter) */
    svc_event *held[64];
    int n_held;
} sink;

static void on_event(svc_event *ev, void *ud)
{
    sink *s = ud;
    const svc_msg *m = svc_event_msg(ev);
    pthread_mutex_lock(&s->mu);
    snprintf(s->last, sizeof s->last, "%.*s", (int)svc_msg_len(m), (const char *)svc_msg_data(m));
    snprintf(s->last_topic, sizeof s->last_topic, "%s", svc_event_topic(ev));
    const char *v = svc_msg_md_get(m, "x-test", NULL);
    snprintf(s->last_md, sizeof s->last_md, "%s", v ? v : "");
    s->redelivered = svc_event_redelivered(ev);
    if (s->hold && s->n_held < 64)
        s->held[s->n_held++] = ev;
    pthread_mutex_unlock(&s->mu);
    if (s->term)
        svc_event_term(ev);
    counter_add(&s->got, 1);
}

static void sink_init(sink *s)
{
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->got.mu, NULL);
    pthread_cond_init(&s->got.cv, NULL);
}

/* ---- pub/sub ---- */

static void exchange_types(void **state)
{
    (void)state;
    static const char *const types[] = {"direct", "topic", "fanout", "headers"};
    svc_client *c = client();
    for (size_t i = 0; i < 4; i++) {
        char pattern[64], topic[64];
        snprintf(pattern, sizeof pattern, "t.%s/%s", types[i],
                 strcmp(types[i], "topic") == 0 ? "order.*" : "order.created");
        snprintf(topic, sizeof topic, "t.%s/order.created", types[i]);
        sink s;
        sink_init(&s);
        svc_sub_opts so = {.exchange_type = types[i]};
        svc_sub *sub;
        assert_int_equal(svc_subscribe(c, pattern, &so, on_event, &s, &sub), SVC_OK);
        svc_msg *m = text_msg(types[i]);
        svc_msg_md_add(m, "x-test", "yes");
        svc_pub_opts po = {.confirm = true};
        assert_int_equal(svc_publish(c, topic, m, &po), SVC_OK);
        svc_msg_free(m);
        assert_int_equal(counter_wait(&s.got, 1, 5000), 1);
        assert_string_equal(s.last, types[i]);
        assert_string_equal(s.last_topic, topic);
        assert_string_equal(s.last_md, "yes");
        svc_sub_free(sub);
    }
    /* The default exchange: a queue's name is its routing key. */
    sink s;
    sink_init(&s);
    svc_sub *sub;
    assert_int_equal(svc_subscribe(c, "t.plain", NULL, on_event, &s, &sub), SVC_OK);
    svc_msg *m = text_msg("plain");
    assert_int_equal(svc_publish(c, "t.plain", m, NULL), SVC_OK);
    svc_msg_free(m);
    assert_int_equal(counter_wait(&s.got, 1, 5000), 1);
    assert_string_equal(s.last_topic, "/t.plain");
    svc_sub_free(sub);
    svc_client_free(c);
}

static atomic_int verdict_ok, verdict_not_found, verdict_other;

static void on_verdict(svc_code code, const char *message, void *ud)
{
    (void)message;
    (void)ud;
    if (code == SVC_OK)
        atomic_fetch_add(&verdict_ok, 1);
    else if (code == SVC_NOT_FOUND)
        atomic_fetch_add(&verdict_not_found, 1);
    else
        atomic_fetch_add(&verdict_other, 1);
}

static void confirms_and_returns(void **state)
{
    (void)state;
    svc_client *c = client();
    sink s;
    sink_init(&s);
    svc_sub_opts so = {.exchange_type = "direct", .queue = "t.confirms"};
    svc_sub *sub;
    assert_int_equal(svc_subscribe(c, "t.conf/k", &so, on_event, &s, &sub), SVC_OK);
    svc_pub_opts po = {.persistent = true, .mandatory = true, .message_id = "m-1"};
    svc_msg *m = text_msg("x");
    for (int i = 0; i < 2000; i++)
        assert_int_equal(svc_publish_async(c, "t.conf/k", m, &po, on_verdict, NULL), SVC_OK);
    for (int i = 0; i < 10; i++) /* nobody binds "other": returned */
        assert_int_equal(svc_publish_async(c, "t.conf/other", m, &po, on_verdict, NULL), SVC_OK);
    assert_int_equal(svc_publish_flush(c, 20000), SVC_OK);
    sleep_ms(50); /* verdict callbacks run on the pool */
    assert_int_equal(atomic_load(&verdict_ok), 2000);
    assert_int_equal(atomic_load(&verdict_not_found), 10);
    assert_int_equal(atomic_load(&verdict_other), 0);
    /* The blocking forms. */
    assert_int_equal(svc_publish(c, "t.conf/other", m, &po), SVC_NOT_FOUND);
    assert_non_null(strstr(svc_last_error(), "no queue took"));
    po.mandatory = false;
    po.confirm = true;
    assert_int_equal(svc_publish(c, "t.conf/other", m, &po), SVC_OK);
    assert_int_equal(counter_wait(&s.got, 2000, 10000), 2000);
    svc_msg_free(m);
    svc_sub_free(sub);
    svc_client_free(c);
}

static void prefetch_and_no_ack(void **state)
{
    (void)state;
    svc_client *c = client();
    sink s;
    sink_init(&s);
    s.hold = true;
    svc_sub_opts so = {.manual_ack = true, .prefetch = 5, .auto_delete = true};
    svc_sub *sub;
    assert_int_equal(svc_subscribe(c, "t.prefetch", &so, on_event, &s, &sub), SVC_OK);
    svc_msg *m = text_msg("p");
    svc_pub_opts po = {.confirm = true};
    for (int i = 0; i < 20; i++)
        assert_int_equal(svc_publish(c, "t.prefetch", m, &po), SVC_OK);
    svc_msg_free(m);
    assert_int_equal(counter_wait(&s.got, 5, 5000), 5);
    sleep_ms(300);
    assert_int_equal(counter_get(&s.got), 5); /* the handler never acks: delivery stops */
    svc_sub_free(sub);
    /* Held events stay valid after the subscription went; settling them
     * frees everything (the leak checker watches). */
    for (int i = 0; i < s.n_held; i++)
        assert_int_equal(svc_event_nack(s.held[i], 0), SVC_OK);
    svc_client_free(c);
}

/* Connection failures so far on the fixture broker (all its clients). */
static long connection_failures(void)
{
    char *text = NULL, needle[128];
    size_t len = 0;
    assert_int_equal(svc_metrics_prometheus(ctx, &text, &len), SVC_OK);
    snprintf(needle, sizeof needle, "127.0.0.1:%d/%%2f\",state=\"transient_failure\"} ", port);
    long n = 0;
    for (char *at = strstr(text, needle); at; at = strstr(at + 1, needle))
        n += atol(at + strlen(needle));
    free(text);
    return n;
}

/* Unsubscribing while deliveries are on their way: the ones that arrive
 * after the consumer's channel closed are not answered on it (that would
 * cost the whole connection). */
static void unsubscribe_with_deliveries_waiting(void **state)
{
    (void)state;
    svc_client *c = client();
    sink s;
    sink_init(&s);
    svc_sub_opts so = {.prefetch = 50};
    svc_sub *sub;
    assert_int_equal(svc_subscribe(c, "t.busy", &so, on_event, &s, &sub), SVC_OK);
    svc_sub_free(sub);
    svc_msg *m = text_msg("busy");
    svc_pub_opts po = {.confirm = true};
    for (int i = 0; i < 300; i++)
        assert_int_equal(svc_publish_async(c, "/t.busy", m, &po, NULL, NULL), SVC_OK);
    assert_int_equal(svc_publish_flush(c, 10000), SVC_OK);
    long before = connection_failures();
    for (int i = 0; i < 5; i++) {
        assert_int_equal(svc_subscribe(c, "t.busy", &so, on_event, &s, &sub), SVC_OK);
        svc_sub_free(sub);
    }
    assert_int_equal(svc_publish(c, "/t.busy", m, &po), SVC_OK);
    assert_int_equal(connection_failures(), before);
    svc_msg_free(m);
    svc_client_free(c);
}

static void nack_to_dead_letter(void **state)
{
    (void)state;
    svc_client *c = client();
    sink dead, live;
    sink_init(&dead);
    sink_init(&live);
    live.term = true;
    svc_sub_opts dso = {.exchange_type = "fanout", .queue = "t.dlq"};
    svc_sub *dsub, *lsub;
    assert_int_equal(svc_subscribe(c, "t.dlx/#", &dso, on_event, &dead, &dsub), SVC_OK);
    const char *args[] = {"x-dead-letter-exchange=t.dlx", "x-message-ttl=60000",
                          "x-max-length=1000", NULL};
    svc_sub_opts lso = {.manual_ack = true, .queue_args = args, .durable = true};
    char work[64]; /* durable: a name of its own per run */
    snprintf(work, sizeof work, "t.work.%d", (int)getpid());
    assert_int_equal(svc_subscribe(c, work, &lso, on_event, &live, &lsub), SVC_OK);
    svc_msg *m = text_msg("to the dead");
    svc_msg_md_add(m, "x-test", "dl");
    svc_pub_opts po = {.confirm = true};
    assert_int_equal(svc_publish(c, work, m, &po), SVC_OK);
    svc_msg_free(m);
    assert_int_equal(counter_wait(&dead.got, 1, 5000), 1);
    assert_string_equal(dead.last, "to the dead");
    assert_string_equal(dead.last_md, "dl");
    svc_sub_free(lsub);
    /* Declaring it again with other arguments is refused, not fatal. */
    svc_sub_opts other = {.durable = false};
    svc_sub *bad = NULL;
    assert_int_equal(svc_subscribe(c, work, &other, on_event, &live, &bad), SVC_FAILED_PRECONDITION);
    assert_null(bad);
    /* ...and the connection still works. */
    m = text_msg("after");
    assert_int_equal(svc_publish(c, "/t.after", m, &po), SVC_OK);
    svc_msg_free(m);
    svc_sub_free(dsub);
    svc_client_free(c);
}

/* ---- RPC ---- */

static atomic_int expire_calls;

static void echo(svc_call *call, void *ud)
{
    (void)ud;
    const svc_msg *req = svc_call_request(call);
    svc_msg *m;
    svc_msg_clone(req, &m);
    const char *want = svc_msg_md_get(req, "x-want-code", NULL);
    if (want)
        svc_msg_set_status(m, (svc_code)atoi(want), "as you asked");
    svc_msg_md_set(m, "x-deadline", svc_call_deadline(call) ? "yes" : "no");
    svc_msg_md_set(m, "x-traceparent", svc_call_traceparent(call));
    svc_call_reply(call, m);
}

static void slow(svc_call *call, void *ud)
{
    (void)ud;
    for (int i = 0; i < 100 && !svc_call_cancelled(call); i++)
        sleep_ms(10);
    svc_call_reply(call, NULL);
}

static void expire_handler(svc_call *call, void *ud)
{
    (void)ud;
    atomic_fetch_add(&expire_calls, 1);
    svc_call_reply(call, NULL);
}

static void rpc(void **state)
{
    (void)state;
    svc_server *srv;
    assert_int_equal(svc_server_new(ctx, &srv), SVC_OK);
    svc_server_handle(srv, "test.Echo/Echo", echo, NULL);
    svc_server_handle(srv, "test.Echo/Slow", slow, NULL);
    assert_int_equal(svc_server_listen(srv, url), SVC_OK);
    assert_non_null(strstr(svc_server_listener_url(srv, 0), "amqp://guest@127.0.0.1:"));
    svc_client *c = client();

    svc_msg *req = text_msg("hi"), *resp = NULL;
    unsigned char bin[] = {0, 1, 2, 250, 255};
    svc_msg_md_add(req, "x-text", "hello there");
    svc_msg_md_add_bin(req, "x-blob-bin", bin, sizeof bin);
    svc_msg_md_add(req, "traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    svc_call_opts co = {.timeout_ms = 5000};
    assert_int_equal(svc_client_call(c, "test.Echo/Echo", req, &resp, &co), SVC_OK);
    assert_memory_equal(svc_msg_data(resp), "hi", 2);
    assert_string_equal(svc_msg_content_type(resp), "text/plain");
    assert_string_equal(svc_msg_md_get(resp, "x-text", NULL), "hello there");
    size_t len;
    const char *b = svc_msg_md_get(resp, "x-blob-bin", &len);
    assert_int_equal(len, sizeof bin);
    assert_memory_equal(b, bin, sizeof bin);
    assert_string_equal(svc_msg_md_get(resp, "x-deadline", NULL), "yes");
    /* The server's span is a child of ours: same trace id. */
    assert_memory_equal(svc_msg_md_get(resp, "x-traceparent", NULL), "00-0af7651916cd43dd8448eb211c80319c-", 36);
    svc_msg_free(resp);

    svc_msg_md_add(req, "x-want-code", "9");
    assert_int_equal(svc_client_call(c, "test.Echo/Echo", req, &resp, &co), SVC_FAILED_PRECONDITION);
    assert_string_equal(svc_msg_status_message(resp), "as you asked");
    svc_msg_free(resp);
    assert_int_equal(svc_client_call(c, "test.Echo/Nope", req, &resp, &co), SVC_UNIMPLEMENTED);
    svc_msg_free(resp);
    assert_int_equal(svc_client_call(c, "test.Nobody/Call", req, &resp, &co), SVC_UNAVAILABLE);
    assert_non_null(strstr(svc_msg_status_message(resp), "no server serves test.Nobody"));
    svc_msg_free(resp);
    co.timeout_ms = 100;
    assert_int_equal(svc_client_call(c, "test.Echo/Slow", req, &resp, &co), SVC_DEADLINE_EXCEEDED);
    svc_msg_free(resp);
    svc_msg_free(req);

    /* Many in flight at once. */
    co.timeout_ms = 10000;
    for (int i = 0; i < 200; i++) {
        svc_msg *r = text_msg("many");
        assert_int_equal(svc_client_call(c, "test.Echo/Echo", r, &resp, &co), SVC_OK);
        svc_msg_free(resp);
        svc_msg_free(r);
    }
    svc_client_free(c);
    svc_server_free(srv);
}

/* Requests that outlive their deadline in the queue are never served. */
static void expired_requests_dropped(void **state)
{
    (void)state;
    svc_client *c = client();
    /* Hold the service's queue with a consumer that takes one request and
     * never settles it (prefetch 1): the rest wait in the queue. */
    sink s;
    sink_init(&s);
    s.hold = true;
    svc_sub_opts so = {.manual_ack = true, .prefetch = 1, .queue = "test.Expire",
                       .auto_delete = true, .exchange_type = "topic"};
    svc_sub *sub;
    assert_int_equal(svc_subscribe(c, "svc.rpc/test.Expire.*", &so, on_event, &s, &sub), SVC_OK);
    svc_call_opts co = {.timeout_ms = 200};
    for (int i = 0; i < 3; i++) {
        svc_msg *resp = NULL;
        assert_int_equal(svc_client_call(c, "test.Expire/Do", NULL, &resp, &co), SVC_DEADLINE_EXCEEDED);
        svc_msg_free(resp);
    }
    assert_int_equal(counter_get(&s.got), 1);
    sleep_ms(300);
    svc_server *srv;
    assert_int_equal(svc_server_new(ctx, &srv), SVC_OK);
    svc_server_handle(srv, "test.Expire/Do", expire_handler, NULL);
    assert_int_equal(svc_server_listen(srv, url), SVC_OK);
    svc_event_term(s.held[0]);
    sleep_ms(300);
    assert_int_equal(atomic_load(&expire_calls), 0);
    co.timeout_ms = 5000;
    svc_msg *resp = NULL;
    assert_int_equal(svc_client_call(c, "test.Expire/Do", NULL, &resp, &co), SVC_OK);
    svc_msg_free(resp);
    assert_int_equal(atomic_load(&expire_calls), 1);
    svc_sub_free(sub);
    svc_server_free(srv);
    svc_client_free(c);
}

/* ---- graceful shutdown ---- */

static atomic_int slow_started;

/* Answers with the server's name (ud), after `x-sleep-ms` if asked. */
static void named(svc_call *call, void *ud)
{
    const char *ms = svc_msg_md_get(svc_call_request(call), "x-sleep-ms", NULL);
    if (ms) {
        atomic_store(&slow_started, 1);
        sleep_ms(atol(ms));
    }
    svc_call_reply(call, text_msg(ud));
}

typedef struct async_result {
    counter done;
    svc_code code;
    char body[32];
} async_result;

static void on_reply(svc_code code, svc_msg *resp, void *ud)
{
    async_result *r = ud;
    r->code = code;
    snprintf(r->body, sizeof r->body, "%.*s", (int)svc_msg_len(resp), (const char *)svc_msg_data(resp));
    svc_msg_free(resp);
    counter_add(&r->done, 1);
}

static void *shutdown_srv(void *srv)
{
    svc_server_shutdown(srv, 5000);
    return NULL;
}

/* Quiesce: the server stops taking requests (basic.cancel), the one in
 * progress finishes, new ones go to the other server of the service. */
static void quiesce(void **state)
{
    (void)state;
    svc_server *one, *two;
    assert_int_equal(svc_server_new(ctx, &one), SVC_OK);
    assert_int_equal(svc_server_new(ctx, &two), SVC_OK);
    svc_server_handle(one, "test.Quiesce/Who", named, "one");
    svc_server_handle(two, "test.Quiesce/Who", named, "two");
    assert_int_equal(svc_server_listen(one, url), SVC_OK);
    svc_client *c = client();

    async_result slow_call = {.done = COUNTER_INIT};
    svc_msg *req = text_msg("slow");
    svc_msg_md_add(req, "x-sleep-ms", "600");
    svc_call_opts co = {.timeout_ms = 5000};
    assert_int_equal(svc_client_call_async(c, "test.Quiesce/Who", req, &co, on_reply, &slow_call), SVC_OK);
    for (int i = 0; i < 200 && !atomic_load(&slow_started); i++)
        sleep_ms(5);
    assert_true(atomic_load(&slow_started)); /* server one has it in progress */
    assert_int_equal(svc_server_listen(two, url), SVC_OK);

    svc_time t0 = svc_now();
    pthread_t th;
    pthread_create(&th, NULL, shutdown_srv, one);
    /* Until one's consumer is cancelled a request may still reach it (core
     * answers UNAVAILABLE: closing); after that all go to two. */
    svc_msg *resp = NULL;
    svc_code rc = SVC_UNAVAILABLE;
    for (int i = 0; i < 50 && rc != SVC_OK; i++) {
        svc_msg_free(resp);
        resp = NULL;
        rc = svc_client_call(c, "test.Quiesce/Who", NULL, &resp, &co);
    }
    assert_int_equal(rc, SVC_OK);
    svc_msg_free(resp);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(svc_client_call(c, "test.Quiesce/Who", NULL, &resp, &co), SVC_OK);
        assert_memory_equal(svc_msg_data(resp), "two", 3);
        svc_msg_free(resp);
    }
    /* The call in progress finished on one, and shutdown waited for it. */
    assert_int_equal(counter_wait(&slow_call.done, 1, 5000), 1);
    assert_int_equal(slow_call.code, SVC_OK);
    assert_string_equal(slow_call.body, "one");
    pthread_join(th, NULL);
    assert_true(svc_now() - t0 < 3 * SVC_NSEC_PER_SEC);
    svc_server_free(one);

    /* With no server left the service's queue is gone: UNAVAILABLE at once. */
    svc_server_shutdown(two, 1000);
    assert_int_equal(svc_client_call(c, "test.Quiesce/Who", NULL, &resp, &co), SVC_UNAVAILABLE);
    assert_non_null(strstr(svc_msg_status_message(resp), "no server serves test.Quiesce"));
    svc_msg_free(resp);
    svc_server_free(two);
    svc_client_free(c);
}

/* ---- TLS ---- */

static void tls(void **state)
{
    (void)state;
    char tls_url[256], ca[600], cert[600], key[600];
    snprintf(tls_url, sizeof tls_url, "amqps://guest:guest@127.0.0.1:%d/%%2f", broker_port("AMQPS_PORT"));
    snprintf(ca, sizeof ca, "%s/ca.pem", certs);
    snprintf(cert, sizeof cert, "%s/client.pem", certs);
    snprintf(key, sizeof key, "%s/client.key", certs);
    svc_server *srv;
    assert_int_equal(svc_server_new(ctx, &srv), SVC_OK);
    svc_server_handle(srv, "test.Tls/Echo", echo, NULL);
    svc_listen_opts lo = {.tls = {.ca_file = ca, .cert_file = cert, .key_file = key}};
    assert_int_equal(svc_server_listen_ex(srv, tls_url, &lo), SVC_OK);

    svc_client_opts o;
    svc_client_opts_init(&o);
    o.tls.ca_file = ca;
    o.tls.cert_file = cert;
    o.tls.key_file = key;
    o.tls.server_name = "localhost";
    svc_client *c;
    assert_int_equal(svc_client_new(ctx, tls_url, &o, &c), SVC_OK);
    svc_msg *req = text_msg("secure"), *resp = NULL;
    svc_call_opts co = {.timeout_ms = 5000};
    assert_int_equal(svc_client_call(c, "test.Tls/Echo", req, &resp, &co), SVC_OK);
    assert_memory_equal(svc_msg_data(resp), "secure", 6);
    svc_msg_free(resp);
    svc_client_free(c);

    /* A server certificate we cannot verify: refused. */
    svc_client_opts_init(&o);
    o.tls.ca_file = cert; /* not the CA */
    assert_int_equal(svc_client_new(ctx, tls_url, &o, &c), SVC_OK);
    assert_int_equal(svc_client_call(c, "test.Tls/Echo", req, &resp, &co), SVC_UNAVAILABLE);
    svc_msg_free(resp);
    svc_client_free(c);
    svc_msg_free(req);
    svc_server_free(srv);
}

/* ---- bad input ---- */

static void bad_input(void **state)
{
    (void)state;
    svc_msg *m = text_msg("x");
    svc_pub_opts po = {.confirm = true};
    svc_client *c;
    char u[256];
    svc_time t0 = svc_now();
    /* Nothing listens there. */
    snprintf(u, sizeof u, "amqp://guest:guest@127.0.0.1:%d/%%2f", 1);
    assert_int_equal(svc_client_new(ctx, u, NULL, &c), SVC_OK);
    assert_int_equal(svc_publish(c, "/q", m, &po), SVC_UNAVAILABLE);
    svc_msg *resp = NULL;
    assert_int_equal(svc_client_call(c, "a.B/C", NULL, &resp, NULL), SVC_UNAVAILABLE);
    svc_msg_free(resp);
    svc_client_free(c);
    assert_true(svc_now() - t0 < 3 * SVC_NSEC_PER_SEC);

    snprintf(u, sizeof u, "amqp://guest:wrong@127.0.0.1:%d/%%2f", port);
    assert_int_equal(svc_client_new(ctx, u, NULL, &c), SVC_OK);
    assert_int_equal(svc_publish(c, "/q", m, &po), SVC_UNAUTHENTICATED);
    svc_client_free(c);
    svc_server *srv;
    assert_int_equal(svc_server_new(ctx, &srv), SVC_OK);
    svc_server_handle(srv, "a.B/C", echo, NULL);
    assert_int_equal(svc_server_listen(srv, u), SVC_UNAUTHENTICATED);
    svc_server_free(srv);

    snprintf(u, sizeof u, "amqp://guest:guest@127.0.0.1:%d/novhost", port);
    assert_int_equal(svc_client_new(ctx, u, NULL, &c), SVC_OK);
    assert_int_equal(svc_publish(c, "/q", m, &po), SVC_NOT_FOUND);
    svc_client_free(c);

    c = client();
    assert_int_equal(svc_publish(c, "no.such.exchange/k", m, &po), SVC_NOT_FOUND);
    assert_non_null(strstr(svc_last_error(), "no exchange 'no.such.exchange'"));
    /* Headers that cannot fit in one frame (frame_max 128 KiB). */
    svc_msg *big = text_msg("x");
    char *v = malloc(200001);
    memset(v, 'v', 200000);
    v[200000] = '\0';
    svc_msg_md_add(big, "x-huge", v);
    free(v);
    assert_int_equal(svc_publish(c, "/q", big, &po), SVC_INVALID_ARGUMENT);
    assert_non_null(strstr(svc_last_error(), "frame_max"));
    svc_msg_free(big);
    assert_int_equal(svc_publish(c, "", m, &po), SVC_INVALID_ARGUMENT);
    /* The connection survived all of it. */
    assert_int_equal(svc_publish(c, "/t.after", m, &po), SVC_OK);
    svc_client_free(c);
    svc_msg_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(exchange_types),
        cmocka_unit_test(confirms_and_returns),
        cmocka_unit_test(prefetch_and_no_ack),
        cmocka_unit_test(unsubscribe_with_deliveries_waiting),
        cmocka_unit_test(nack_to_dead_letter),
        cmocka_unit_test(rpc),
        cmocka_unit_test(expired_requests_dropped),
        cmocka_unit_test(quiesce),
        cmocka_unit_test(tls),
        cmocka_unit_test(bad_input),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
