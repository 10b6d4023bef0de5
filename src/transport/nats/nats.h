/*
 * The NATS backend on cnats, for nats:// and tls:// URLs.
 *
 * Wire mapping (docs/nats.md has the user's view):
 *   method "pkg.Service/Method" → subject "<prefix>.pkg.Service.Method",
 *   served in queue group "pkg.Service"; prefix "svc" unless the URL has a
 *   path; status in headers Svc-Status / Svc-Message (absent = OK); the
 *   deadline as Svc-Timeout (grpc-timeout syntax); metadata as headers,
 *   "-bin" values base64; the content type as Content-Type.
 *
 * Threads: cnats runs its own (one per asynchronous subscription, plus its
 * flusher and reconnect threads) and calls us on them. Core's functions are
 * thread-safe and move handlers where DESIGN §4 wants them.
 *
 * Connections: each svc_client has up to two, made on first use: one for
 * events and JetStream (buffered, for throughput) and one for calls (sent at
 * once, for latency: cnats otherwise holds a message until its flusher
 * runs). Each server listener has one, also sent at once.
 */
#ifndef SVC_NATS_H
#define SVC_NATS_H

#include <nats/nats.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "core/metadata.h"
#include "core/strmap.h"
#include "observe/metrics.h"
#include "transport/transport.h"

extern const svc_transport_ops svc_nats_transport;

/* ---- nats_config.c: what a URL and the options say about connecting ---- */

typedef struct nats_config {
    char **servers;       /* "nats://host:port" or "tls://host:port" */
    int n_servers;
    char *label;          /* the URL without credentials: logs and metrics */
    char *prefix;         /* subject prefix of request/reply, "svc" by default */
    char *user, *password, *token, *creds;
    bool tls, insecure;
    char *ca_file, *cert_file, *key_file, *server_name;
    int64_t connect_timeout_ms;
} nats_config;

svc_code svc_nats_config_parse(const svc_url *url, const svc_tls_opts *tls,
                               int64_t connect_timeout_ms, nats_config *out);
void svc_nats_config_clear(nats_config *c);
/* A stream or consumer name: one subject token, printable, no wildcards. */
bool svc_nats_name_valid(const char *name);

/* ---- nats_link.c: one connection, its connectivity state and metrics ---- */


typedef struct nats_link nats_link;
/* Called once the link is connected, before anyone else uses it, under the
 * link's lock (set up subscriptions the link's users rely on). */
typedef svc_code (*nats_link_ready_fn)(nats_link *l, natsConnection *nc, void *ud);

struct nats_link {
    svc_ctx *ctx;
    const nats_config *cfg;
    const char *role;             /* "events", "calls", "server" */
    bool send_asap;
    nats_link_ready_fn on_ready;
    void *ready_ud;
    pthread_mutex_t mu;           /* connecting, closed */
    pthread_cond_t closed_cv;
    bool closed;                  /* cnats' closed callback ran */
    atomic_bool closing;          /* we are closing it */
    _Atomic(natsConnection *) nc; /* set once connected, never changes */
    /* The server's max_payload, read at connect and at each reconnect:
     * asking cnats takes its connection lock, once per message otherwise
     * (cnats still refuses a message over the limit of a server we just
     * reconnected to, before this is updated). */
    atomic_llong max_payload;
    atomic_int state;
    /* The creds signature handler refused a signature (nats_creds.c). */
    atomic_bool sig_refused;
    svc_counter *state_gauge;
    svc_counter *changes[SVC_CONN_STATES];
    /* Subscriptions to tell about slow-consumer errors (nats_pubsub.c). */
    pthread_mutex_t subs_mu;
    struct nats_sub *subs;
};

void svc_nats_link_init(nats_link *l, svc_ctx *ctx, const nats_config *cfg, const char *role,
                        bool send_asap);
/* The connection, connecting first if needed (UNAVAILABLE when the server
 * cannot be reached, UNAUTHENTICATED when it refuses us). Blocks while
 * connecting: the first use only. */
svc_code svc_nats_link_get(nats_link *l, natsConnection **out);
svc_conn_state svc_nats_link_state(const nats_link *l);
/* The connected server's max_payload (0 before the first connect). */
int64_t svc_nats_link_max_payload(nats_link *l);
/* Flushes what is buffered (bounded wait), closes and frees. */
void svc_nats_link_close(nats_link *l);

/* ---- nats_creds.c: ?creds=FILE, read at each connect ---- */

/* cnats' natsUserJWTHandler and natsSignatureHandler for the link (the
 * closure) and its cfg->creds file. The signature handler refuses a
 * signature that starts with a zero byte, which cnats 3.4 would not send:
 * it sets l->sig_refused and fails the attempt with SVC_NATS_SIG_REFUSED. */
natsStatus svc_nats_creds_jwt(char **jwt, char **err, void *closure);
natsStatus svc_nats_creds_sign(char **err, unsigned char **sig, int *sig_len, const char *nonce,
                               void *closure);
#define SVC_NATS_SIG_REFUSED                                                                       \
    "the nonce signature starts with a zero byte, which cnats 3.4 would not send; "              \
    "a new connection gets a new nonce"

/* ---- nats_status.c: cnats errors → status ---- */

/* svc_fail() with the code for `s` and cnats' own text after `what`. */
svc_code svc_nats_fail(natsStatus s, const char *what);
svc_code svc_nats_code(natsStatus s);
/* JetStream API errors carry their own codes (jsErrCode). */
svc_code svc_nats_js_fail(natsStatus s, jsErrCode err, const char *what);
/* The code for a JetStream API error (err != 0). */
svc_code svc_nats_js_code(jsErrCode err);

/* ---- nats_wire.c: messages ⇄ natsMsg (headers, status, deadline) ---- */

#define SVC_NATS_HDR_STATUS "Svc-Status"
#define SVC_NATS_HDR_MESSAGE "Svc-Message"
#define SVC_NATS_HDR_TIMEOUT "Svc-Timeout"
#define SVC_NATS_HDR_CT "Content-Type"
#define SVC_NATS_HDR_MSG_ID "Nats-Msg-Id"

/* Extra headers of our own on an outgoing message. */
typedef struct nats_out {
    const char *reply;      /* reply subject or NULL */
    svc_time deadline;      /* 0 = none: Svc-Timeout */
    bool with_status;       /* replies: Svc-Status / Svc-Message when not OK */
    const char *message_id; /* Nats-Msg-Id */
    bool need_msg;          /* a natsMsg even without headers (JetStream's API) */
} nats_out;

/* Whether m (with x) goes out with headers, so as a natsMsg. */
bool svc_nats_msg_needs_headers(const svc_msg *m, const nats_out *x);
/* A natsMsg for `m` on `subject`, or NULL in *out when m needs no headers
 * (unless x->need_msg): svc_nats_msg_publish then sends a plain PUB. Fails
 * with INVALID_ARGUMENT when the headers alone exceed `max_payload` (the
 * server's limit; <= 0 = unknown) and with RESOURCE_EXHAUSTED when headers
 * and payload do. */
svc_code svc_nats_msg_out(const char *subject, const svc_msg *m, const nats_out *x,
                          int64_t max_payload, natsMsg **out);
/* Publishes what svc_nats_msg_out made for m: nm (destroyed here) or, when
 * NULL, m's payload as a plain PUB with x->reply. */
natsStatus svc_nats_msg_publish(natsConnection *nc, const char *subject, const svc_msg *m,
                                const nats_out *x, natsMsg *nm);

/* What our own headers said on an incoming message. */
typedef struct nats_in {
    svc_time deadline;          /* from Svc-Timeout, 0 = none */
    bool has_status;
    svc_code status;
    const char *status_message; /* borrowed from the natsMsg */
} nats_in;

/* The svc_msg of an incoming natsMsg: headers → metadata (ours read into
 * `in` and the status, not kept as metadata), content type from
 * Content-Type or, without one, JSON when the body looks like it. With
 * `take`, nm is consumed: the payload borrows nm's data, and nm is
 * destroyed once no message uses it (at once on failure); without, the
 * payload is copied and nm stays the caller's (JetStream events, whose
 * natsMsg is acknowledged and destroyed when they are settled). */
svc_code svc_nats_msg_in(natsMsg *nm, bool take, nats_in *in, svc_msg **out);

/* One incoming header applied to m (fuzzed): ours fill `in` and the status,
 * the rest become metadata; what is not valid metadata is skipped. */
svc_code svc_nats_header_in(svc_msg *m, nats_in *in, const char *key, const char *value);
/* After the headers: the status and, for a body without a content type,
 * the sniffed one. */
svc_code svc_nats_in_finish(svc_msg *m, const nats_in *in);
/* The content type to assume for a body that came without one. */
const char *svc_nats_sniff_ct(const void *data, size_t len);

/* "<prefix>.pkg.Service.Method" → "pkg.Service/Method" into out (cap
 * bytes); false when the subject is not one of ours. */
bool svc_nats_subject_to_method(const char *prefix, const char *subject, char *out, size_t cap);
/* "pkg.Service/Method" → "<prefix>.pkg.Service.Method"; false when the
 * method cannot be a subject. */
bool svc_nats_method_to_subject(const char *prefix, const char *method, char *out, size_t cap);

/* ---- nats_rpc_server.c / nats_rpc_client.c ---- */

svc_code svc_nats_listen(svc_server *s, const svc_url *url, const svc_listen_opts *o,
                         svc_listener **out);
void svc_nats_listener_quiesce(svc_listener *l);
void svc_nats_listener_free(svc_listener *l);
void svc_nats_call_reply(svc_call *c, svc_msg *resp);
void svc_nats_call_free(svc_call *c);
const char *svc_nats_call_peer(const svc_call *c);

typedef struct nats_channel nats_channel;
typedef struct nats_js_window nats_js_window;
void svc_nats_call_start(svc_channel *ch, svc_ccall *cc);
void svc_nats_call_cancel(svc_channel *ch, svc_ccall *cc);

/* ---- subscriptions shared by core NATS and JetStream ---- */

typedef struct nats_sub {
    svc_sub *sub;              /* NULL for a server's request subscription */
    void *owner;               /* the listener of such a subscription */
    nats_link *link;
    natsSubscription *ns;
    bool js;                   /* events carry a natsMsg to settle */
    atomic_bool closing;
    atomic_bool draining;      /* ends by itself (a quiescing listener) */
    atomic_uint_fast64_t dropped_seen; /* cnats' drop count already reported */
    atomic_uint delivered;
    atomic_int refs;           /* ours, plus one per unsettled JetStream event */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool complete;             /* cnats will call us no more */
    pthread_t puller;          /* pull consumers: the fetching thread */
    bool has_puller;
    struct nats_sub *next;     /* the link's list (subs_mu) */
} nats_sub;

/* nats_sub.c */
nats_sub *svc_nats_sub_new(svc_sub *sub, void *owner, nats_link *l, bool js);
/* Subscribes `subject` (in queue `group` unless NULL) with cnats' pending
 * limits and starts s; on failure s is gone and `what` leads the error. */
svc_code svc_nats_sub_open(nats_sub *s, natsConnection *nc, const char *subject, const char *group,
                           natsMsgHandler cb, int max_msgs, int max_bytes, const char *what);
/* The CLOCK_REALTIME time `ms` from now, for timed waits. */
void svc_nats_abstime(int64_t ms, struct timespec *out);
/* Registers with cnats' "no more callbacks" notice and the link's list. */
svc_code svc_nats_sub_started(nats_sub *s);
/* Unsubscribes, waits until cnats calls no more, drops our reference. */
void svc_nats_sub_stop(nats_sub *s);
void svc_nats_sub_unref(nats_sub *s);
/* Reports events cnats dropped for this subscription since last time. */
void svc_nats_sub_check_drops(nats_sub *s);
/* The link's error handler: slow consumers. */
void svc_nats_on_async_error(natsConnection *nc, natsSubscription *ns, natsStatus err, void *ud);

/* ---- nats_channel.c ---- */

/* "_INBOX." and n random letters and digits (out has room for n + 8): a
 * subject prefix no other client uses, for replies. */
void svc_nats_inbox_name(char *out, int n);
/* The calls' inbox: 22 random, as cnats' own inboxes. */
#define SVC_NATS_INBOX_LEN 29

struct nats_channel {
    svc_channel base;
    nats_config cfg;
    nats_link events; /* publish, subscribe, JetStream */
    nats_link calls;  /* requests and their replies */
    /* calls: replies come to "<inbox>.<token>" on one subscription */
    char inbox[SVC_NATS_INBOX_LEN + 1];
    nats_sub *inbox_done;
    pthread_mutex_t calls_mu;
    svc_strmap pending; /* token → svc_ccall */
    uint64_t next_token;
    /* JetStream (events link) */
    pthread_mutex_t js_mu;       /* making js and jsw */
    _Atomic(void *) js;          /* jsCtx: set once made, until the channel goes */
    _Atomic(void *) jsw;         /* nats_js_window: asynchronous publishes
                                  * (nats_js_pub.c) */
    pthread_mutex_t async_mu;    /* async_cv's waits */
    pthread_cond_t async_cv;
    atomic_size_t async_pending; /* asynchronous publishes without a verdict */
};

svc_code svc_nats_channel_new(svc_ctx *ctx, const svc_url *url, const svc_client_opts *o,
                              svc_channel **out);
void svc_nats_channel_free(svc_channel *ch);
/* The calls link's ready hook: the reply inbox subscription. */
svc_code svc_nats_calls_ready(nats_link *l, natsConnection *nc, void *ud);
/* Connectivity of the channel for the load balancer: the calls link's state
 * once it was used, else the events link's. */
svc_conn_state svc_nats_channel_state(const svc_channel *ch);

/* ---- nats_pubsub.c: core NATS events ---- */

svc_code svc_nats_publish(svc_channel *ch, const char *topic, const svc_msg *m,
                          const svc_pub_opts *o);
svc_code svc_nats_publish_async(svc_channel *ch, const char *topic, const svc_msg *m,
                                const svc_pub_opts *o, svc_pub_confirm *pc);
svc_code svc_nats_publish_flush(svc_channel *ch, int64_t timeout_ms);
svc_code svc_nats_subscribe(svc_channel *ch, svc_sub *sub);
void svc_nats_unsubscribe(svc_channel *ch, svc_sub *sub);
/* Builds the event's message and hands it to core (JetStream passes the
 * natsMsg as tdata; core NATS messages are destroyed here). */
void svc_nats_deliver(nats_sub *s, natsMsg *msg);

/* ---- nats_js.c: JetStream context, stores, publishing with a wait ---- */

/* The channel's JetStream context (connecting first if needed). */
svc_code svc_nats_js_get(nats_channel *ch, jsCtx **out);
/* *slot (ch->js or ch->jsw) in *out, made by make(ch, nc, out) on the
 * events link the first time: under js_mu once, lock-free after (every
 * JetStream publish comes here). */
svc_code svc_nats_js_lazy(nats_channel *ch, _Atomic(void *) *slot,
                          svc_code (*make)(nats_channel *ch, natsConnection *nc, void **out),
                          void **out);
/* Frees the context. */
void svc_nats_js_close(nats_channel *ch);
svc_code svc_nats_store_ensure(svc_channel *ch, const svc_store_opts *o);
svc_code svc_nats_store_delete(svc_channel *ch, const char *name);
svc_code svc_nats_js_publish(nats_channel *ch, const char *topic, const svc_msg *m,
                             const svc_pub_opts *o);

/* ---- nats_js_pub.c: asynchronous publishes, acks on our own inbox ---- */

svc_code svc_nats_js_publish_async(nats_channel *ch, const char *topic, const svc_msg *m,
                                   const svc_pub_opts *o, svc_pub_confirm *pc);
/* One asynchronous publish has its verdict (counts for publish_flush). */
void svc_nats_async_done(nats_channel *ch, svc_pub_confirm *pc, svc_code code, const char *msg);
/* Answers the publishes still waiting (UNAVAILABLE), waits for those
 * being sent or retried, and stops reading replies. */
void svc_nats_js_async_close(nats_channel *ch);

/* ---- nats_json.c: a strict JSON reader for replies off the network ---- */

typedef struct nats_json {
    const char *p, *end; /* what is left to read */
} nats_json;

/* A member's key; len 0 when it is too long to be one the caller knows. */
typedef struct nats_json_key {
    const char *s;
    size_t len;
} nats_json_key;

static inline bool svc_nats_json_key_is(nats_json_key k, const char *name)
{
    size_t n = strlen(name); /* a constant: folded */
    return k.len == n && memcmp(k.s, name, n) == 0;
}

/* Reads (or skips) the value of member k; false when it is not valid. */
typedef bool (*nats_json_member_fn)(nats_json *j, nats_json_key k, void *ud, int depth);

/* Each read below skips white space first and fails on anything that is
 * not strict JSON. depth is the caller's nesting (0 at the top). */
/* An object: every member's key goes to fn. */
bool svc_nats_json_object(nats_json *j, nats_json_member_fn fn, void *ud, int depth);
/* Any value, checked and passed over. */
bool svc_nats_json_skip(nats_json *j, int depth);
/* A string decoded into buf (NUL-terminated, cap bytes at most, cut
 * before a UTF-8 sequence that does not fit whole: *cut). */
bool svc_nats_json_string(nats_json *j, char *buf, size_t cap, size_t *len, bool *cut);
/* A non-negative integer no larger than max, without fraction or exponent
 * (what Go writes for its integers). */
bool svc_nats_json_uint(nats_json *j, uint64_t max, uint64_t *out);
bool svc_nats_json_bool(nats_json *j, bool *out);
/* Nothing but white space is left. */
bool svc_nats_json_end(nats_json *j);

/* ---- nats_js_ack.c: a publish's reply, from the network (fuzzed) ---- */

/* A token in a reply subject: base 64 in letters, digits, '-' and '_',
 * at most 11 digits (64 bits). */
#define SVC_NATS_JS_TOKEN_MAX 11
size_t svc_nats_js_token_format(uint64_t token, char out[SVC_NATS_JS_TOKEN_MAX + 1]);
/* s[0..len) as svc_nats_js_token_format writes it, and nothing else. */
bool svc_nats_js_token_parse(const char *s, size_t len, uint64_t *out);

typedef struct nats_puback {
    bool has_stream;        /* a PubAck: "stream" is there and not empty */
    bool duplicate;
    uint64_t seq;
    bool is_error;          /* an "error" member: an API error */
    int code, err_code;     /* its HTTP-like and JetStream codes */
    char description[256];  /* its text, UTF-8, cut to fit */
} nats_puback;

/* The JSON body of a reply to a JetStream publish; false when it is not
 * strict JSON or neither a PubAck nor an error. */
bool svc_nats_puback_parse(const char *data, size_t len, nats_puback *out);

/* ---- nats_js_sub.c: JetStream consumers ---- */

svc_code svc_nats_js_subscribe(nats_channel *ch, svc_sub *sub);
svc_code svc_nats_event_settle(svc_event *ev, svc_settle how, int64_t delay_ms);
svc_code svc_nats_event_in_progress(svc_event *ev);

#endif
