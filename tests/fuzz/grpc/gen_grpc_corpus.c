/*
 * Writes the seed corpora of the gRPC fuzz targets: for fuzz_grpc_server,
 * what nghttp2's own client sends for gRPC calls (good ones and the bad
 * inputs test_grpc_bad_input sends), after the connection preface; for
 * fuzz_grpc_wire, framed messages, gzip and header values. Not built by
 * CMake (it is run once, by hand, when the seeds should change):
 *
 *   cc -o /tmp/gen_grpc_corpus tests/fuzz/grpc/gen_grpc_corpus.c -lnghttp2 -lz
 *   /tmp/gen_grpc_corpus tests/fuzz/corpus
 */
#include <nghttp2/nghttp2.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define MAGIC "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

static const char *root;

static void die(const char *what)
{
    fprintf(stderr, "gen_grpc_corpus: %s\n", what);
    exit(1);
}

static void save(const char *dir, const char *name, const uint8_t *head, size_t hn,
                 const uint8_t *p, size_t n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s/%s", root, dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(head, 1, hn, f) != hn || fwrite(p, 1, n, f) != n || fclose(f) != 0)
        die(path);
}

/* ---- messages ---- */

typedef struct buf {
    uint8_t *p;
    size_t n, off;
} buf;

static void put(buf *b, const void *p, size_t n)
{
    if (!(b->p = realloc(b->p, b->n + n + 1)))
        die("out of memory");
    memcpy(b->p + b->n, p, n);
    b->n += n;
}

static void message(buf *b, uint8_t flag, uint32_t announced, const void *p, size_t n)
{
    uint8_t prefix[5] = {flag, (uint8_t)(announced >> 24), (uint8_t)(announced >> 16),
                         (uint8_t)(announced >> 8), (uint8_t)announced};
    put(b, prefix, 5);
    put(b, p, n);
}

static void msg(buf *b, const char *text)
{
    message(b, 0, (uint32_t)strlen(text), text, strlen(text));
}

static void gzip_msg(buf *b, const void *p, size_t n)
{
    uint8_t z[4096];
    z_stream s = {0};
    if (deflateInit2(&s, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        die("deflateInit2");
    s.next_in = (Bytef *)(uintptr_t)p;
    s.avail_in = (uInt)n;
    s.next_out = z;
    s.avail_out = sizeof z;
    if (deflate(&s, Z_FINISH) != Z_STREAM_END)
        die("deflate");
    message(b, 1, (uint32_t)s.total_out, z, s.total_out);
    deflateEnd(&s);
}

/* ---- a client connection ---- */

typedef struct conn {
    nghttp2_session *h2;
    buf bodies[16];
    int n_bodies;
    bool trailers;
} conn;

static ssize_t read_body(nghttp2_session *h2, int32_t id, uint8_t *p, size_t len,
                         uint32_t *flags, nghttp2_data_source *src, void *ud)
{
    conn *c = ud;
    buf *b = src->ptr;
    size_t k = b->n - b->off < len ? b->n - b->off : len;
    memcpy(p, b->p + b->off, k);
    b->off += k;
    if (b->off == b->n) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        if (c->trailers) {
            /* Trailers from a client: allowed, and ignored by servers. */
            static const nghttp2_nv t[] = {{(uint8_t *)"x-trailer", (uint8_t *)"bye", 9, 3, 0}};
            *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
            nghttp2_submit_trailer(h2, id, t, 1);
        }
    }
    return (ssize_t)k;
}

static ssize_t pad_all(nghttp2_session *h2, const nghttp2_frame *f, size_t max, void *ud)
{
    (void)h2;
    (void)ud;
    return (ssize_t)(f->hd.length + 16 < max ? f->hd.length + 16 : max);
}

static void conn_open(conn *c, bool padded)
{
    memset(c, 0, sizeof *c);
    nghttp2_session_callbacks *cb;
    if (nghttp2_session_callbacks_new(&cb) != 0)
        die("callbacks");
    if (padded)
        nghttp2_session_callbacks_set_select_padding_callback(cb, pad_all);
    if (nghttp2_session_client_new(&c->h2, cb, c) != 0)
        die("session");
    nghttp2_session_callbacks_del(cb);
    nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
                                   {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20}};
    nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, iv, 2);
}

/* A request: name/value pairs (NULL-terminated) after the usual ones, a
 * body (NULL = END_STREAM on the HEADERS). `method`/`ct` replace POST and
 * application/grpc; `path` NULL leaves :path out. */
static int32_t request(conn *c, const char *method, const char *path, const char *ct,
                       const char *const *extra, buf *body)
{
    nghttp2_nv nv[64];
    size_t n = 0;
#define NV(k, v) nv[n++] = (nghttp2_nv){(uint8_t *)(k), (uint8_t *)(v), strlen(k), strlen(v), 0}
    NV(":method", method ? method : "POST");
    NV(":scheme", "http");
    if (path)
        NV(":path", path);
    NV(":authority", "127.0.0.1");
    if (ct)
        NV("content-type", ct);
    NV("te", "trailers");
    for (size_t i = 0; extra && extra[i]; i += 2)
        NV(extra[i], extra[i + 1]);
#undef NV
    nghttp2_data_provider prd = {.source.ptr = body, .read_callback = read_body};
    int32_t id = nghttp2_submit_request(c->h2, NULL, nv, n, body ? &prd : NULL, NULL);
    if (id < 0)
        die("submit_request");
    return id;
}

/* Everything the client would send, without the preface: seed `name`. */
static void conn_save(conn *c, const char *name, uint8_t mode)
{
    buf out = {0};
    const uint8_t *p;
    ssize_t n;
    while ((n = nghttp2_session_mem_send(c->h2, &p)) > 0)
        put(&out, p, (size_t)n);
    if (n < 0 || out.n < sizeof MAGIC - 1 || memcmp(out.p, MAGIC, sizeof MAGIC - 1) != 0)
        die("mem_send");
    size_t skip = mode >= 0xf0 ? 0 : sizeof MAGIC - 1; /* raw mode sends its own */
    save("grpc_server", name, &mode, 1, out.p + skip, out.n - skip);
    free(out.p);
    nghttp2_session_del(c->h2);
    for (int i = 0; i < c->n_bodies; i++)
        free(c->bodies[i].p);
}

static buf *body(conn *c)
{
    if (c->n_bodies == 16)
        die("too many bodies");
    return &c->bodies[c->n_bodies++];
}

/* One call: `path` with one message `text` (and `extra` headers). */
static void one_call(const char *name, const char *path, const char *ct, const char *const *extra,
                     const char *text)
{
    conn c;
    conn_open(&c, false);
    buf *b = body(&c);
    msg(b, text);
    request(&c, NULL, path, ct, extra, b);
    conn_save(&c, name, 0);
}

static void server_seeds(void)
{
    const char *md[] = {"grpc-timeout", "5S", "grpc-accept-encoding", "identity,gzip",
                        "user-agent", "grpc-c/1.0", "x-user", "ann", "x-raw-bin", "AAEC/w",
                        "traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                        NULL};
    one_call("unary_echo", "/test.Echo/Echo", "application/grpc", md, "hello");
    one_call("unary_fail", "/test.Echo/Fail", "application/grpc+proto", NULL, "x");
    one_call("unknown_method", "/no.Such/Method", "application/grpc", NULL, "x");
    one_call("bad_content_type", "/test.Echo/Echo", "text/plain", NULL, "x");
    one_call("no_content_type", "/test.Echo/Echo", NULL, NULL, "x");
    one_call("greeter_proto", "/helloworld.Greeter/SayHello", "application/grpc", NULL,
             "\x0a\x03" "Ann");
    one_call("greeter_json", "/helloworld.Greeter/SayHello", "application/grpc+json", NULL,
             "{\"name\":\"Bob\"}");
    one_call("greeter_bad_proto", "/helloworld.Greeter/SayHello", "application/grpc", NULL,
             "\xff\xff\xff");
    const char *bad_timeout[] = {"grpc-timeout", "abc", NULL};
    one_call("bad_timeout", "/test.Echo/Echo", "application/grpc", bad_timeout, "x");
    const char *zero_timeout[] = {"grpc-timeout", "0n", NULL};
    one_call("zero_timeout", "/test.Echo/Echo", "application/grpc", zero_timeout, "x");
    const char *bad_bin[] = {"x-raw-bin", "!!!", "x-two-bin", "YQ,Yg==", NULL};
    one_call("bin_metadata", "/test.Echo/Echo", "application/grpc", bad_bin, "x");

    static char pad[1024];
    memset(pad, 'p', sizeof pad - 1);
    const char *big[2 * 20 + 1];
    static char names[20][16];
    for (int i = 0; i < 20; i++) {
        snprintf(names[i], sizeof names[i], "x-pad-%d", i);
        big[2 * i] = names[i];
        big[2 * i + 1] = pad;
    }
    big[40] = NULL;
    one_call("headers_too_large", "/test.Echo/Echo", "application/grpc", big, "x");

    conn c;
    conn_open(&c, false);
    buf *b = body(&c);
    const char *gz[] = {"grpc-encoding", "gzip", "grpc-accept-encoding", "gzip", NULL};
    static const char text[] = "hello hello hello hello hello hello hello hello";
    gzip_msg(b, text, sizeof text - 1);
    request(&c, NULL, "/test.Echo/Echo", "application/grpc", gz, b);
    conn_save(&c, "unary_gzip", 0);

    struct {
        const char *name;
        uint8_t flag;
        uint32_t announced;
        size_t sent;
    } bad[] = {{"truncated", 0, 10, 3}, {"oversized", 0, 1 << 20, 4}, {"flag_2", 2, 3, 3},
               {"flag_1_plain", 1, 3, 3}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        conn_open(&c, false);
        b = body(&c);
        message(b, bad[i].flag, bad[i].announced, "abcd", bad[i].sent);
        request(&c, NULL, "/test.Echo/Echo", "application/grpc", NULL, b);
        conn_save(&c, bad[i].name, 0);
    }

    /* Streams: bidi, client streaming (with client trailers), large. */
    conn_open(&c, false);
    b = body(&c);
    msg(b, "one");
    msg(b, "two");
    msg(b, "");
    request(&c, NULL, "/test.Stream/Echo", "application/grpc", NULL, b);
    conn_save(&c, "bidi", 0);
    conn_open(&c, false);
    c.trailers = true;
    b = body(&c);
    msg(b, "1");
    msg(b, "2");
    request(&c, NULL, "/test.Stream/Sum", "application/grpc", NULL, b);
    conn_save(&c, "client_stream_trailers", 0);
    conn_open(&c, false);
    b = body(&c);
    char *large = malloc(40000);
    memset(large, 'L', 40000);
    message(b, 0, 40000, large, 40000);
    free(large);
    request(&c, NULL, "/test.Echo/Echo", "application/grpc", NULL, b);
    conn_save(&c, "large_message", 0);

    /* Several calls on one connection, with the other frames a client
     * sends: PING, WINDOW_UPDATE, PRIORITY, RST_STREAM, GOAWAY. */
    conn_open(&c, true);
    for (int i = 0; i < 3; i++) {
        b = body(&c);
        msg(b, "many");
        request(&c, NULL, "/test.Echo/Echo", "application/grpc", NULL, b);
    }
    int32_t held = request(&c, NULL, "/test.Echo/Echo", "application/grpc", NULL, body(&c));
    nghttp2_submit_ping(c.h2, NGHTTP2_FLAG_NONE, NULL);
    nghttp2_submit_window_update(c.h2, NGHTTP2_FLAG_NONE, 0, 1 << 20);
    nghttp2_priority_spec pri;
    nghttp2_priority_spec_init(&pri, 1, 32, 1);
    nghttp2_submit_priority(c.h2, NGHTTP2_FLAG_NONE, held, &pri);
    nghttp2_submit_rst_stream(c.h2, NGHTTP2_FLAG_NONE, held, NGHTTP2_CANCEL);
    nghttp2_submit_goaway(c.h2, NGHTTP2_FLAG_NONE, 0, NGHTTP2_NO_ERROR, NULL, 0);
    conn_save(&c, "many_frames_padded", 0);

    /* Only POST; no :path; a bad preface; the preface in the seed itself. */
    conn_open(&c, false);
    request(&c, "GET", "/test.Echo/Echo", "application/grpc", NULL, NULL);
    request(&c, NULL, NULL, "application/grpc", NULL, NULL);
    conn_save(&c, "get_and_no_path", 0);
    static const uint8_t raw = 0xf0;
    static const char http1[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    save("grpc_server", "http1", &raw, 1, (const uint8_t *)http1, sizeof http1 - 1);
    conn_open(&c, false);
    b = body(&c);
    msg(b, "raw mode");
    request(&c, NULL, "/test.Echo/Echo", "application/grpc", NULL, b);
    conn_save(&c, "raw_mode", 0xf0);
}

/* ---- fuzz_grpc_wire: limit exponent, chunk seed, header cut, data ---- */

static void wire(const char *name, uint8_t limit, uint8_t cut, const void *p, size_t n)
{
    uint8_t head[3] = {limit, 0x5a, cut};
    save("grpc_wire", name, head, 3, p, n);
}

static void wire_seeds(void)
{
    buf b = {0};
    msg(&b, "hello");
    msg(&b, "");
    gzip_msg(&b, "zipped zipped zipped", 20);
    wire("messages", 16, 0, b.p, b.n);
    b.n = 0;
    message(&b, 0, 1 << 20, "abc", 3);
    wire("over_limit", 10, 0, b.p, b.n);
    b.n = 0;
    gzip_msg(&b, "a gzip stream on its own", 24);
    wire("gzip", 16, 0, b.p + 5, b.n - 5);
    free(b.p);
    static const char bin[] = "x-raw-binYQ,Yg==";
    wire("bin_header", 16, 9, bin, sizeof bin - 1);
    static const char text[] = "x-userann";
    wire("text_header", 16, 6, text, sizeof text - 1);
    const char *values[][2] = {{"timeout_h", "99999999H"}, {"timeout_s", "1S"},
                               {"timeout_zero", "0n"}, {"status", "13"},
                               {"message", "t%C3%A4st %25 100% %0"},
                               {"content_type", "application/grpc+json;charset=utf-8"},
                               {"accept_encoding", "identity, deflate,gzip"}};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++)
        wire(values[i][0], 16, 0, values[i][1], strlen(values[i][1]));
}

int main(int argc, char **argv)
{
    if (argc != 2)
        die("usage: gen_grpc_corpus <tests/fuzz/corpus>");
    root = argv[1];
    server_seeds();
    wire_seeds();
    return 0;
}
