#include "test_service.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../unit/cmocka_all.h"
#include "helloworld.pb-c.h"

static atomic_bool slow_saw_cancel, slow_done;

/* Payloads are bytes, not strings: copy before parsing. */
static void text_of(const svc_msg *m, char *out, size_t n)
{
    size_t len = svc_msg_len(m) < n - 1 ? svc_msg_len(m) : n - 1;
    memcpy(out, svc_msg_data(m), len);
    out[len] = '\0';
}

static long number_of(const svc_msg *m)
{
    char text[32];
    text_of(m, text, sizeof text);
    return atol(text);
}

static void echo(svc_call *c, void *ud)
{
    (void)ud;
    svc_msg *resp;
    assert_int_equal(svc_msg_clone(svc_call_request(c), &resp), SVC_OK);
    svc_msg_md_remove(resp, "traceparent");
    svc_msg_md_remove(resp, "user-agent");
    svc_msg_md_add(resp, "x-echo-method", svc_call_method(c));
    svc_msg_md_add(resp, "x-transport", svc_call_transport(c));
    svc_call_reply_md(c, "x-reply-md", "yes");
    if (svc_msg_was_compressed(svc_call_request(c))) {
        svc_msg_md_add(resp, "x-was-compressed", "yes");
        svc_msg_set_compress(resp, true);
    }
    svc_call_reply(c, resp);
}

static void fail_as_asked(svc_call *c, void *ud)
{
    (void)ud;
    const char *want = svc_msg_md_get(svc_call_request(c), "x-want-code", NULL);
    svc_call_fail(c, want ? (svc_code)atoi(want) : SVC_NOT_FOUND, "as you asked");
}

static void slow(svc_call *c, void *ud)
{
    (void)ud;
    const char *ms = svc_msg_md_get(svc_call_request(c), "x-sleep-ms", NULL);
    int limit = ms ? atoi(ms) : 2000;
    for (int i = 0; i < limit && !svc_call_cancelled(c); i++)
        usleep(1000);
    atomic_store(&slow_saw_cancel, svc_call_cancelled(c));
    atomic_store(&slow_done, true);
    svc_call_reply(c, NULL); /* SVC_CANCELLED (dropped) if too late */
}

static void *reply_later_thread(void *arg)
{
    usleep(20000);
    svc_msg *m;
    svc_msg_new_data("later", 5, NULL, &m);
    svc_call_reply(arg, m);
    return NULL;
}

static void later(svc_call *c, void *ud)
{
    (void)ud;
    pthread_t t;
    pthread_create(&t, NULL, reply_later_thread, c);
    pthread_detach(t);
}

static void bidi_echo(svc_call *c, void *ud)
{
    (void)ud;
    svc_call_reply_md(c, "x-initial", "hi");
    svc_msg *m;
    int n = 0;
    svc_code rc;
    while ((rc = svc_call_recv(c, &m)) == SVC_OK && m) {
        char prefix[16];
        int plen = snprintf(prefix, sizeof prefix, "%d:", ++n);
        size_t len = (size_t)plen + svc_msg_len(m);
        char *text = malloc(len);
        memcpy(text, prefix, (size_t)plen);
        memcpy(text + plen, svc_msg_data(m), svc_msg_len(m));
        svc_msg_free(m);
        svc_msg *out;
        svc_msg_new_data(text, len, NULL, &out);
        free(text);
        if ((rc = svc_call_send(c, out)) != SVC_OK)
            break;
    }
    if (rc != SVC_OK) {
        svc_call_fail(c, rc, "gone"); /* answered already: dropped */
        return;
    }
    svc_msg *end;
    svc_msg_new(&end);
    svc_msg_md_add(end, "x-trailer", "bye");
    svc_call_reply(c, end);
}

static void count_up(svc_call *c, void *ud)
{
    (void)ud;
    svc_msg *req;
    if (svc_call_recv(c, &req) != SVC_OK || !req) {
        svc_call_fail(c, SVC_INVALID_ARGUMENT, "want a count");
        return;
    }
    int n = (int)number_of(req);
    svc_msg_free(req);
    for (int i = 0; i < n; i++) {
        char text[16];
        int len = snprintf(text, sizeof text, "%d", i);
        svc_msg *out;
        svc_msg_new_data(text, (size_t)len, NULL, &out);
        svc_code rc = svc_call_send(c, out);
        if (rc != SVC_OK) {
            svc_call_fail(c, rc, "stopped");
            return;
        }
    }
    if (n > 5)
        svc_call_reply(c, NULL);
    else
        svc_call_fail(c, SVC_OUT_OF_RANGE, "too few");
}

static void sum_up(svc_call *c, void *ud)
{
    (void)ud;
    long sum = 0;
    svc_msg *m;
    while (svc_call_recv(c, &m) == SVC_OK && m) {
        sum += number_of(m);
        svc_msg_free(m);
    }
    char text[32];
    int len = snprintf(text, sizeof text, "%ld", sum);
    svc_msg *out;
    svc_msg_new_data(text, (size_t)len, NULL, &out);
    svc_call_reply(c, out); /* a client-streaming reply: the final payload */
}

static atomic_int flood_sent;

static void flood(svc_call *c, void *ud)
{
    (void)ud;
    svc_msg *req;
    if (svc_call_recv(c, &req) != SVC_OK || !req) {
        svc_call_fail(c, SVC_INVALID_ARGUMENT, "want \"count size\"");
        return;
    }
    int n = 0, size = 0;
    char ask[32];
    text_of(req, ask, sizeof ask);
    sscanf(ask, "%d %d", &n, &size);
    svc_msg_free(req);
    char *fill = malloc((size_t)size + 1);
    memset(fill, 'f', (size_t)size);
    for (int i = 0; i < n; i++) {
        int len = snprintf(fill, (size_t)size + 1, "%d", i);
        if (len < size)
            fill[len] = 'f'; /* the number, then filler */
        svc_msg *out;
        svc_msg_new_data(fill, (size_t)(size > len ? size : len), NULL, &out);
        svc_code rc = svc_call_send(c, out);
        if (rc != SVC_OK) {
            free(fill);
            svc_call_fail(c, rc, "stopped");
            return;
        }
        atomic_fetch_add(&flood_sent, 1);
    }
    free(fill);
    svc_call_reply(c, NULL);
}

int test_service_flood_sent(void)
{
    return atomic_load(&flood_sent);
}

static void greeter_say_hello(Helloworld__Greeter_Service *s, const Helloworld__HelloRequest *in,
                              Helloworld__HelloReply_Closure closure, void *data)
{
    (void)s;
    char text[128];
    snprintf(text, sizeof text, "Hello %s", in->name);
    Helloworld__HelloReply out = HELLOWORLD__HELLO_REPLY__INIT;
    out.message = text;
    closure(&out, data);
}
static Helloworld__Greeter_Service greeter = HELLOWORLD__GREETER__INIT(greeter_);

void test_service_register(svc_server *s)
{
    svc_handler_opts bidi = {.kind = SVC_BIDI_STREAMING};
    svc_handler_opts server_streaming = {.kind = SVC_SERVER_STREAMING};
    svc_handler_opts client_streaming = {.kind = SVC_CLIENT_STREAMING};
    assert_int_equal(svc_server_handle(s, "test.Echo/Echo", echo, NULL), SVC_OK);
    assert_int_equal(svc_server_handle(s, "test.Echo/Fail", fail_as_asked, NULL), SVC_OK);
    assert_int_equal(svc_server_handle(s, "test.Echo/Slow", slow, NULL), SVC_OK);
    assert_int_equal(svc_server_handle(s, "test.Echo/Later", later, NULL), SVC_OK);
    assert_int_equal(svc_server_handle_ex(s, "test.Stream/Echo", bidi_echo, NULL, &bidi), SVC_OK);
    assert_int_equal(svc_server_handle_ex(s, "test.Stream/Count", count_up, NULL, &server_streaming),
                     SVC_OK);
    assert_int_equal(svc_server_handle_ex(s, "test.Stream/Sum", sum_up, NULL, &client_streaming),
                     SVC_OK);
    assert_int_equal(svc_server_handle_ex(s, "test.Stream/Flood", flood, NULL, &server_streaming),
                     SVC_OK);
    assert_int_equal(svc_server_handle_pb(s, &greeter.base), SVC_OK);
}

void test_service_reset(void)
{
    atomic_store(&slow_saw_cancel, false);
    atomic_store(&slow_done, false);
    atomic_store(&flood_sent, 0);
}

bool test_service_saw_cancel(void)
{
    for (int i = 0; i < 400 && !atomic_load(&slow_done); i++)
        usleep(5000);
    return atomic_load(&slow_saw_cancel);
}

svc_msg *test_text(const char *text)
{
    svc_msg *m;
    assert_int_equal(svc_msg_new_data(text, strlen(text), NULL, &m), SVC_OK);
    return m;
}

void test_expect_text(svc_stream *st, const char *want)
{
    svc_msg *m = NULL;
    assert_int_equal(svc_stream_recv(st, &m), SVC_OK);
    assert_non_null(m);
    if (svc_msg_len(m) != strlen(want) || memcmp(svc_msg_data(m), want, strlen(want)) != 0)
        fail_msg("got '%.*s', wanted '%s'", (int)svc_msg_len(m), (const char *)svc_msg_data(m), want);
    svc_msg_free(m);
}
