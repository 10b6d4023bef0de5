/*
 * NATS authentication against real nats-servers: a token
 * (nats://TOKEN@host:port, the fixture "token" started with --auth), and a
 * credentials file (?creds=FILE) on a server in operator mode (decentralized
 * JWT auth, the fixture "jwt"), whose operator, accounts, users and creds
 * files nats_creds_gen made at test time in ${SVC_TEST_DIR}/nats/jwt.
 * The right credentials: a call and an event go through, for a server
 * listener and a client alike. Wrong or missing ones: UNAUTHENTICATED at
 * listen, call and publish, with the server's "Authorization Violation"
 * and no secret in the message. A credentials file that cannot be read or
 * holds no seed: INVALID_ARGUMENT naming the file.
 * A nonce whose ed25519 signature starts with a zero byte (one in 256,
 * which cnats 3.4 sends no signature for): a scripted server on 127.0.0.1
 * hands one out, and the connection still signs in.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <poll.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../unit/cmocka_all.h"
#include "nats_test_util.h"

static svc_ctx *ctx;
static char token_base[256]; /* nats://127.0.0.1:PORT of the token fixture */
static char jwt_base[256];   /* the same for the operator-mode fixture */
static const char *token;

static int setup(void **state)
{
    (void)state;
    token = getenv("NATS_AUTH_TOKEN");
    if (!token || !*token) {
        fprintf(stderr, "FATAL: NATS_AUTH_TOKEN is not set (run through ctest)\n");
        exit(1);
    }
    fixture_url("nats", NULL, "token", token_base, sizeof token_base);
    fixture_url("nats", NULL, "jwt", jwt_base, sizeof jwt_base);
    return svc_ctx_new(NULL, &ctx) == SVC_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    svc_ctx_free(ctx);
    return 0;
}

static void echo(svc_call *c, void *ud)
{
    (void)ud;
    svc_msg *resp;
    assert_int_equal(svc_msg_clone(svc_call_request(c), &resp), SVC_OK);
    svc_call_reply(c, resp);
}

/* The token fixture's URL, with `tok` as its token (none when NULL). */
static void url_with_token(const char *tok, char *out, size_t cap)
{
    char userinfo[128] = "";
    if (tok)
        snprintf(userinfo, sizeof userinfo, "%s@", tok);
    fixture_url("nats", userinfo, "token", out, cap);
}

/* The operator-mode fixture's URL with ?creds= one of the generated files. */
static void url_with_creds(const char *file, char *out, size_t cap)
{
    snprintf(out, cap, "%s?creds=%s/nats/jwt/%s", jwt_base, getenv("SVC_TEST_DIR"), file);
}

/* A server listening at `url` answers a call from a client at `url`, and
 * an event published by one client reaches another's subscription. */
static void roundtrip(const char *url, const char *secret)
{
    svc_server *s;
    assert_int_equal(svc_server_new(ctx, &s), SVC_OK);
    assert_int_equal(svc_server_handle(s, "auth.Echo/Echo", echo, NULL), SVC_OK);
    assert_int_equal(svc_server_listen(s, url), SVC_OK);
    /* The bound address carries no credentials. */
    assert_null(strstr(svc_server_listener_url(s, 0), secret));

    svc_client *c, *sub_client;
    assert_int_equal(svc_client_new(ctx, url, NULL, &c), SVC_OK);
    assert_int_equal(svc_client_new(ctx, url, NULL, &sub_client), SVC_OK);
    svc_msg *req, *resp = NULL;
    assert_int_equal(svc_msg_new_data("ping", 4, NULL, &req), SVC_OK);
    assert_int_equal(svc_client_call(c, "auth.Echo/Echo", req, &resp, NULL), SVC_OK);
    assert_int_equal(svc_msg_len(resp), 4);
    assert_memory_equal(svc_msg_data(resp), "ping", 4);
    svc_msg_free(resp);
    svc_msg_free(req);

    collector got = COLLECTOR_INIT;
    svc_sub *sub;
    assert_int_equal(svc_subscribe(sub_client, "auth.events.>", NULL, collect, &got, &sub), SVC_OK);
    assert_int_equal(publish_text(c, "auth.events.hello", "hi"), SVC_OK);
    assert_int_equal(svc_publish_flush(c, 5000), SVC_OK);
    assert_int_equal(collector_wait(&got, 1, 5000), 1);
    assert_string_equal(got.last_topic, "auth.events.hello");
    assert_string_equal(got.last_data, "hi");
    svc_sub_free(sub);
    collector_clear(&got);
    svc_client_free(sub_client);
    svc_client_free(c);
    svc_server_free(s);
}

/* `what` is in the last error and `secret` (when given) is not. */
static void assert_error_says(const char *what, const char *secret)
{
    const char *err = svc_last_error();
    if (!strstr(err, what) || (secret && strstr(err, secret)))
        fail_msg("last error '%s': want '%s'%s%s", err, what, secret ? ", without " : "",
                 secret ? secret : "");
}

/* Listen, call and publish at `url` all fail with `code`, saying `what`. */
static void refused(const char *url, svc_code code, const char *what, const char *secret)
{
    svc_server *s;
    assert_int_equal(svc_server_new(ctx, &s), SVC_OK);
    assert_int_equal(svc_server_handle(s, "auth.Echo/Echo", echo, NULL), SVC_OK);
    assert_int_equal(svc_server_listen(s, url), code);
    assert_error_says(what, secret);
    svc_server_free(s);

    svc_client *c;
    svc_msg *resp = NULL;
    assert_int_equal(svc_client_new(ctx, url, NULL, &c), SVC_OK);
    assert_int_equal(svc_client_call(c, "auth.Echo/Echo", NULL, &resp, NULL), code);
    assert_non_null(resp);
    if (!strstr(svc_msg_status_message(resp), what))
        fail_msg("call status message '%s': want '%s'", svc_msg_status_message(resp), what);
    svc_msg_free(resp);
    assert_int_equal(publish_text(c, "auth.events.x", "y"), code);
    assert_error_says(what, secret);
    svc_client_free(c);
}

static void token_roundtrip(void **state)
{
    (void)state;
    char url[256];
    url_with_token(token, url, sizeof url);
    roundtrip(url, token);
}

static void token_wrong_or_missing(void **state)
{
    (void)state;
    char url[256];
    url_with_token("not-the-token", url, sizeof url);
    refused(url, SVC_UNAUTHENTICATED, "Authorization Violation", "not-the-token");
    refused(token_base, SVC_UNAUTHENTICATED, "Authorization Violation", NULL);
    /* The token is the whole userinfo: with a password it is a user. */
    char userpass[128];
    snprintf(userpass, sizeof userpass, "%s:x@", token);
    fixture_url("nats", userpass, "token", url, sizeof url);
    refused(url, SVC_UNAUTHENTICATED, "Authorization Violation", token);
}

static void creds_roundtrip(void **state)
{
    (void)state;
    char url[1200];
    url_with_creds("user.creds", url, sizeof url);
    roundtrip(url, "creds");
}

/* A user the server's accounts did not sign, a seed that is not the JWT's
 * user's, and a JWT whose claims changed after signing: the server says no. */
static void creds_refused(void **state)
{
    (void)state;
    const char *files[] = {"stranger.creds", "wrong_seed.creds", "tampered.creds"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char url[1200];
        url_with_creds(files[i], url, sizeof url);
        refused(url, SVC_UNAUTHENTICATED, "Authorization Violation", NULL);
    }
    /* No credentials at all on an operator-mode server. */
    refused(jwt_base, SVC_UNAUTHENTICATED, "Authorization Violation", NULL);
}

/* Files that are no credentials: the caller's mistake, told before any
 * server sees them, naming the file. */
static void creds_bad_file(void **state)
{
    (void)state;
    const char *files[] = {"garbage.creds", "no-such-file.creds"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char url[1200];
        url_with_creds(files[i], url, sizeof url);
        refused(url, SVC_INVALID_ARGUMENT, files[i], NULL);
        assert_error_says("bad credentials file", NULL);
    }
}

/* ---- a nonce whose signature starts with a zero byte ---- */

/* The user seed of a generated creds file: the line after its second
 * "-----BEGIN" header (the layout nats_creds_gen writes). */
static void creds_seed(const char *file, char *seed, size_t cap)
{
    char path[1024], line[4096];
    snprintf(path, sizeof path, "%s/nats/jwt/%s", getenv("SVC_TEST_DIR"), file);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    int begins = 0;
    seed[0] = '\0';
    while (!seed[0] && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (strncmp(line, "-----BEGIN", 10) == 0)
            begins++;
        else if (begins == 2 && line[0] && strlen(line) < cap)
            memcpy(seed, line, strlen(line) + 1);
    }
    fclose(f);
    if (strncmp(seed, "SU", 2) != 0)
        fail_msg("no user seed in %s", path);
}

static void base64url(const unsigned char *p, int n, char *out, size_t cap)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    for (int i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) |
                     (i + 2 < n ? p[i + 2] : 0);
        int chars = i + 2 < n ? 4 : i + 1 < n ? 3 : 2;
        for (int k = 0; k < chars && o + 1 < cap; k++)
            out[o++] = abc[v >> (18 - 6 * k) & 63];
    }
    out[o] = '\0';
}

/* The ed25519 key of an nkey seed: base32 of 2 prefix bytes, the 32-byte
 * private key and a CRC16. */
static EVP_PKEY *seed_key(const char *seed)
{
    unsigned char raw[64];
    size_t n = 0;
    unsigned buf = 0;
    int bits = 0;
    for (const char *p = seed; *p && n < sizeof raw; p++) {
        const char *at = strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", *p);
        assert_non_null(at);
        buf = buf << 5 | (unsigned)(at - "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567");
        bits += 5;
        if (bits >= 8) {
            raw[n++] = (unsigned char)(buf >> (bits - 8));
            bits -= 8;
        }
    }
    assert_int_equal(n, 36);
    EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, raw + 2, 32);
    assert_non_null(k);
    return k;
}

/* The signature (base64url) a client holding `key` must send for `nonce`;
 * returns its first byte. OpenSSL's ed25519, not cnats'. */
static int expected_sig(EVP_PKEY *key, const char *nonce, char *out, size_t cap)
{
    unsigned char sig[64];
    size_t len = sizeof sig;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    assert_non_null(md);
    assert_int_equal(EVP_DigestSignInit(md, NULL, NULL, NULL, key), 1);
    assert_int_equal(EVP_DigestSign(md, sig, &len, (const unsigned char *)nonce, strlen(nonce)), 1);
    EVP_MD_CTX_free(md);
    assert_int_equal(len, 64);
    base64url(sig, (int)len, out, cap);
    return sig[0];
}

/* A nonce like nats-server's (15 characters) whose signature with `seed`
 * starts with a zero byte, or does not. */
static void find_nonce(EVP_PKEY *key, bool zero, char *out, size_t cap)
{
    char sig[128];
    for (unsigned i = 0; i < 100000; i++) {
        snprintf(out, cap, "svcNonce%07u", i);
        if ((expected_sig(key, out, sig, sizeof sig) == 0) == zero)
            return;
    }
    fail_msg("no nonce found in 100000 tries");
}

/* Just enough of a NATS server for a client to connect and publish: INFO
 * with the first nonce to the first connection and the second one to the
 * rest; a CONNECT whose "sig" is not the right signature of its nonce gets
 * "-ERR 'Authorization Violation'" and is closed, as nats-server does; PING
 * gets PONG; the rest is read and dropped. At most 10 connections, each
 * read waits at most 10 s. */
typedef struct fake_server {
    int lfd, port;
    EVP_PKEY *key; /* the user's */
    char nonce[2][32];
    pthread_t thread;
    atomic_bool stop;
    int conns;            /* accepted */
    int signed_connects;  /* CONNECTs with the right signature */
    int bad_connects;     /* CONNECTs without it */
    int first_connects;   /* CONNECTs on the first connection */
} fake_server;

static void fake_serve(fake_server *f, int fd, const char *nonce)
{
    char buf[16384];
    int n = snprintf(buf, sizeof buf,
                     "INFO {\"server_id\":\"FAKE\",\"server_name\":\"fake\",\"version\":\"2.9.10\","
                     "\"proto\":1,\"go\":\"go1.19\",\"host\":\"127.0.0.1\",\"port\":%d,"
                     "\"headers\":true,\"auth_required\":true,\"max_payload\":1048576,"
                     "\"client_id\":%d,\"nonce\":\"%s\"}\r\n",
                     f->port, f->conns, nonce);
    if (write(fd, buf, (size_t)n) != n)
        return;
    size_t have = 0;
    for (int waited = 0; waited < 10000 && !atomic_load(&f->stop);) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 100) == 0) {
            waited += 100;
            continue;
        }
        ssize_t r = read(fd, buf + have, sizeof buf - 1 - have);
        if (r <= 0)
            return; /* the client closed */
        waited = 0;
        have += (size_t)r;
        buf[have] = '\0';
        char *line = buf, *end;
        while ((end = strstr(line, "\r\n"))) {
            *end = '\0';
            if (strncmp(line, "CONNECT ", 8) == 0) {
                if (f->conns == 1)
                    f->first_connects++;
                char want[128], got[128] = "";
                expected_sig(f->key, nonce, want, sizeof want);
                const char *sig = strstr(line, "\"sig\":\"");
                if (sig)
                    snprintf(got, sizeof got, "%.*s", (int)strcspn(sig + 7, "\""), sig + 7);
                if (strcmp(got, want) != 0) {
                    f->bad_connects++;
                    static const char no[] = "-ERR 'Authorization Violation'\r\n";
                    if (write(fd, no, sizeof no - 1) < 0)
                        return;
                    return;
                }
                f->signed_connects++;
            } else if (strcmp(line, "PING") == 0 && write(fd, "PONG\r\n", 6) != 6) {
                return;
            }
            line = end + 2;
        }
        have = strlen(line);
        memmove(buf, line, have);
        if (have >= sizeof buf - 1)
            have = 0; /* a payload too long to care about */
    }
}

static void *fake_run(void *arg)
{
    fake_server *f = arg;
    while (!atomic_load(&f->stop) && f->conns < 10) {
        struct pollfd p = {f->lfd, POLLIN, 0};
        if (poll(&p, 1, 100) <= 0)
            continue;
        int fd = accept(f->lfd, NULL, NULL);
        if (fd < 0)
            continue;
        f->conns++;
        fake_serve(f, fd, f->nonce[f->conns == 1 ? 0 : 1]);
        close(fd);
    }
    return NULL;
}

static void fake_start(fake_server *f, const char *creds_file)
{
    memset(f, 0, sizeof *f);
    char seed[128];
    creds_seed(creds_file, seed, sizeof seed);
    f->key = seed_key(seed);
    explicit_bzero(seed, sizeof seed);
    find_nonce(f->key, true, f->nonce[0], sizeof f->nonce[0]);
    find_nonce(f->key, false, f->nonce[1], sizeof f->nonce[1]);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    f->lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(f->lfd >= 0);
    assert_int_equal(bind(f->lfd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(f->lfd, 8), 0);
    assert_int_equal(getsockname(f->lfd, (struct sockaddr *)&a, &alen), 0);
    f->port = ntohs(a.sin_port);
    atomic_init(&f->stop, false);
    assert_int_equal(pthread_create(&f->thread, NULL, fake_run, f), 0);
}

static void fake_stop(fake_server *f)
{
    atomic_store(&f->stop, true);
    pthread_join(f->thread, NULL);
    close(f->lfd);
    EVP_PKEY_free(f->key);
}

/* cnats 3.4 base64-encodes the nonce signature with a function that takes
 * a leading zero byte for the end of the input: it sent CONNECT without
 * "sig" for one nonce in 256, and nats-server refused the user
 * (creds_roundtrip failed so now and then). The first connection here gets
 * such a nonce: it is given up before CONNECT, the next one gets another
 * nonce, signs, and the event goes out. */
static void creds_signature_zero_byte(void **state)
{
    (void)state;
    fake_server f;
    fake_start(&f, "user.creds");
    char url[1200];
    snprintf(url, sizeof url, "nats://127.0.0.1:%d?creds=%s/nats/jwt/user.creds", f.port,
             getenv("SVC_TEST_DIR"));
    svc_client *c;
    assert_int_equal(svc_client_new(ctx, url, NULL, &c), SVC_OK);
    svc_code rc = publish_text(c, "auth.events.zero", "hi");
    const char *err = rc == SVC_OK ? "" : svc_last_error();
    char why[600];
    snprintf(why, sizeof why, "%s", err);
    svc_code flushed = rc == SVC_OK ? svc_publish_flush(c, 5000) : rc;
    svc_client_free(c);
    fake_stop(&f);
    if (rc != SVC_OK || flushed != SVC_OK || f.bad_connects || f.first_connects ||
        f.signed_connects != 1 || f.conns != 2)
        fail_msg("publish %d (%s), flush %d; connections %d, CONNECT on the first %d, "
                 "signed %d, without the right signature %d (want 0, 0, 2, 0, 1, 0)",
                 rc, why, flushed, f.conns, f.first_connects, f.signed_connects, f.bad_connects);
}

/* What the operator-mode server said about each connection it refused:
 * its fixture runs with -D, so the line before each error says why
 * ("Signature missing", "User JWT issuer is not known", ...). creds_refused
 * makes 12 such refusals on purpose. */
static void print_jwt_server_refusals(void)
{
    char path[1024], prev[2048] = "", line[2048];
    snprintf(path, sizeof path, "%s/nats/jwt.log", getenv("SVC_TEST_DIR"));
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "(no %s)\n", path);
        return;
    }
    fprintf(stderr, "--- refusals in %s ---\n", path);
    while (fgets(line, sizeof line, f)) {
        if (strstr(line, "[ERR]"))
            fprintf(stderr, "%s%s", prev, line);
        memcpy(prev, line, sizeof line);
    }
    fclose(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(token_roundtrip),
        cmocka_unit_test(token_wrong_or_missing),
        cmocka_unit_test(creds_roundtrip),
        cmocka_unit_test(creds_refused),
        cmocka_unit_test(creds_bad_file),
        cmocka_unit_test(creds_signature_zero_byte),
    };
    int failed = cmocka_run_group_tests(tests, setup, teardown);
    if (failed)
        print_jwt_server_refusals();
    return failed;
}
