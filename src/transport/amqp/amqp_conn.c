/*
 * One AMQP connection and its owner thread (the model is in amqp.h):
 * connecting (TCP or TLS), logging in, the work queue, reading frames,
 * reconnecting with backoff, and the connectivity state.
 */
#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>
#include <errno.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "amqp.h"
#include "core/error.h"
#include "core/url.h"
#include "observe/trace.h"

#define FRAME_MAX 131072
#define HEARTBEAT_S 10
#define TICK_NS (50 * 1000 * 1000)
#define BACKOFF_MIN_NS (100 * 1000 * 1000)
#define BACKOFF_MAX_NS (5 * SVC_NSEC_PER_SEC)
#define FRAMES_PER_ROUND 256

static const char *const state_names[] = {"idle", "connecting", "ready", "transient_failure"};

const char *svc_amqp_state_name(svc_amqp_state s)
{
    return s < SVC_AMQP_STATE_COUNT ? state_names[s] : "?";
}

svc_amqp_state svc_amqp_conn_state(const aconn *c)
{
    return (svc_amqp_state)atomic_load(&c->state);
}

static void set_state(aconn *c, svc_amqp_state s)
{
    svc_amqp_state old = (svc_amqp_state)atomic_exchange(&c->state, (int)s);
    if (old == s)
        return;
    svc_counter_add(c->state_changes[s], 1);
    if (s == SVC_AMQP_TRANSIENT_FAILURE)
        svc_log_warn(c->ctx, "amqp", "%s: %s -> %s (%s)", c->target, state_names[old],
                     state_names[s], c->last_error);
    else
        svc_log_info(c->ctx, "amqp", "%s: %s -> %s", c->target, state_names[old], state_names[s]);
}

/* The connection whose owner thread this is (none elsewhere). */
static _Thread_local const aconn *owned;

bool svc_amqp_on_owner(const aconn *c)
{
    return owned == c;
}

static void wake(aconn *c)
{
    uint64_t one = 1;
    ssize_t n = write(c->wake_fd, &one, sizeof one);
    (void)n; /* a full counter wakes the owner just the same */
}

svc_code svc_amqp_conn_wait_first(aconn *c)
{
    pthread_mutex_lock(&c->q_mu);
    while (!c->first_done)
        pthread_cond_wait(&c->first_cv, &c->q_mu);
    svc_code rc = c->first_code;
    char message[256];
    snprintf(message, sizeof message, "%s", c->first_error);
    pthread_mutex_unlock(&c->q_mu);
    return rc ? svc_fail(rc, "%s", message) : SVC_OK;
}

/* Adds `j` at the end of the list head..tail. */
static void append(ajob **head, ajob **tail, ajob *j)
{
    j->next = NULL;
    if (*tail)
        (*tail)->next = j;
    else
        *head = j;
    *tail = j;
}

void svc_amqp_submit(aconn *c, ajob *j)
{
    pthread_mutex_lock(&c->q_mu);
    if (c->stopping) {
        pthread_mutex_unlock(&c->q_mu);
        j->drop(j, SVC_UNAVAILABLE, "the AMQP connection is closing");
        return;
    }
    append(&c->head, &c->tail, j);
    bool sleeping = c->sleeping;
    c->sleeping = false;
    pthread_mutex_unlock(&c->q_mu);
    if (sleeping)
        wake(c);
}

static bool queue_empty(aconn *c)
{
    pthread_mutex_lock(&c->q_mu);
    bool empty = !c->head;
    pthread_mutex_unlock(&c->q_mu);
    return empty && !c->parked;
}

/* True, with io_lock held, when the caller may write at once (see the model
 * in amqp.h). The owner thread already holds io_lock except while asleep
 * or completing calls (owner_holds). */
static bool direct_begin(aconn *c)
{
    if (svc_amqp_on_owner(c) && c->owner_holds) /* not amid queued jobs: keep their order */
        return c->ready && !c->broken && !c->running_jobs && queue_empty(c);
    if (pthread_mutex_trylock(&c->io_lock) != 0)
        return false;
    if (c->ready && !c->broken && queue_empty(c))
        return true;
    pthread_mutex_unlock(&c->io_lock);
    return false;
}

static void direct_end(aconn *c)
{
    if (svc_amqp_on_owner(c) && c->owner_holds)
        return; /* the owner's loop reads what came in meanwhile */
    /* A write may have read frames while it waited for the socket: the
     * owner, asleep in poll(), would not see them. */
    bool w = c->broken || amqp_frames_enqueued(c->conn) || amqp_data_in_buffer(c->conn);
    pthread_mutex_unlock(&c->io_lock);
    if (w)
        wake(c);
}

void svc_amqp_run_or_submit(aconn *c, ajob *j)
{
    if (direct_begin(c)) {
        j->run(c, j);
        direct_end(c);
    } else {
        svc_amqp_submit(c, j);
    }
}

void svc_amqp_later(aconn *c, ajob *j)
{
    append(&c->later, &c->later_tail, j);
}

static void record_error(aconn *c, svc_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void record_error(aconn *c, svc_code code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->last_error, sizeof c->last_error, fmt, ap);
    va_end(ap);
    c->last_code = code;
}

void svc_amqp_broken(aconn *c, int amqp_status, const char *what)
{
    if (!c->broken)
        record_error(c, SVC_UNAVAILABLE, "%s: %s: %s", c->target, what,
                     amqp_error_string2(amqp_status));
    c->broken = true;
}

svc_code svc_amqp_write_status(aconn *c, int status, const char *what)
{
    if (status == AMQP_STATUS_OK)
        return SVC_OK;
    svc_amqp_broken(c, status, what);
    return svc_fail(SVC_UNAVAILABLE, "%s", c->last_error);
}

svc_code svc_amqp_channel_open(aconn *c, amqp_channel_t ch)
{
    amqp_channel_open(c->conn, ch);
    return svc_amqp_rpc_status(c, ch, "channel.open", false);
}

static void text_of(amqp_bytes_t b, char *out, size_t cap)
{
    snprintf(out, cap, "%.*s", (int)(b.len < cap ? b.len : cap - 1), (const char *)b.bytes);
}

/* The broker closed a channel: acknowledge so the number can be reused. */
static svc_code channel_closed(aconn *c, amqp_channel_t ch, const amqp_channel_close_t *m,
                               char *text, size_t cap)
{
    text_of(m->reply_text, text, cap);
    amqp_channel_close_ok_t ok = {0};
    int st = amqp_send_method(c->conn, ch, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
    if (st)
        svc_amqp_broken(c, st, "channel.close-ok");
    return svc_amqp_code_from_reply(m->reply_code);
}

static svc_code connection_closed(aconn *c, const amqp_connection_close_t *m)
{
    char text[200];
    text_of(m->reply_text, text, sizeof text);
    amqp_connection_close_ok_t ok = {0};
    amqp_send_method(c->conn, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
    svc_code code = svc_amqp_code_from_reply(m->reply_code);
    if (!c->broken)
        record_error(c, code, "%s: the broker closed the connection: %s", c->target, text);
    c->broken = true;
    return code;
}

svc_code svc_amqp_rpc_status(aconn *c, amqp_channel_t ch, const char *what, bool reopen)
{
    amqp_rpc_reply_t r = amqp_get_rpc_reply(c->conn);
    char text[200];
    switch (r.reply_type) {
    case AMQP_RESPONSE_NORMAL:
        return SVC_OK;
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
        svc_amqp_broken(c, r.library_error, what);
        return svc_fail(SVC_UNAVAILABLE, "%s", c->last_error);
    case AMQP_RESPONSE_SERVER_EXCEPTION:
        if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
            svc_code code = channel_closed(c, ch, r.reply.decoded, text, sizeof text);
            if (reopen && !c->broken)
                svc_amqp_channel_open(c, ch);
            return svc_fail(code, "%s: %s", what, text);
        }
        if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
            svc_code code = connection_closed(c, r.reply.decoded);
            return svc_fail(code, "%s: %s", what, c->last_error);
        }
        break;
    default:
        break;
    }
    return svc_fail(SVC_INTERNAL, "%s: unexpected reply from librabbitmq", what);
}

/* ---- connecting ---- */

static svc_code tls_setup(aconn *c, amqp_socket_t *sock)
{
    if (c->ca_file && amqp_ssl_socket_set_cacert(sock, c->ca_file))
        return svc_fail(SVC_INVALID_ARGUMENT, "cannot read CA file %s", c->ca_file);
    if (c->cert_file && amqp_ssl_socket_set_key(sock, c->cert_file, c->key_file ? c->key_file
                                                                                : c->cert_file))
        return svc_fail(SVC_INVALID_ARGUMENT, "cannot read certificate %s or its key",
                        c->cert_file);
    amqp_ssl_socket_set_verify_peer(sock, !c->insecure);
    /* librabbitmq's own name check knows DNS names only: OpenSSL's chain
     * check does it instead, for the server name asked for or the host
     * (an IP address matches the certificate's IP entries). */
    amqp_ssl_socket_set_verify_hostname(sock, 0);
    if (!c->insecure) {
        const char *name = c->server_name ? c->server_name : c->host;
        X509_VERIFY_PARAM *param = SSL_CTX_get0_param(amqp_ssl_socket_get_context(sock));
        if (!X509_VERIFY_PARAM_set1_ip_asc(param, name) &&
            !X509_VERIFY_PARAM_set1_host(param, name, 0))
            return svc_fail_oom();
    }
    return SVC_OK;
}

static svc_code login_status(aconn *c, amqp_rpc_reply_t r)
{
    char text[200];
    if (r.reply_type == AMQP_RESPONSE_NORMAL)
        return SVC_OK;
    if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
        r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
        const amqp_connection_close_t *m = r.reply.decoded;
        text_of(m->reply_text, text, sizeof text);
        svc_code code = svc_amqp_code_from_reply(m->reply_code);
        if (m->reply_code == AMQP_ACCESS_REFUSED)
            code = SVC_UNAUTHENTICATED;
        else if (m->reply_code == AMQP_NOT_ALLOWED && strstr(text, "not found"))
            code = SVC_NOT_FOUND; /* no such vhost */
        record_error(c, code, "%s: login refused: %s", c->target, text);
        return code;
    }
    int err = r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION ? r.library_error : 0;
    record_error(c, SVC_UNAVAILABLE, "%s: login failed: %s", c->target,
                 err ? amqp_error_string2(err) : "no reply");
    return SVC_UNAVAILABLE;
}

static svc_code connect_once(aconn *c)
{
    set_state(c, SVC_AMQP_CONNECTING);
    if (!(c->conn = amqp_new_connection())) {
        record_error(c, SVC_RESOURCE_EXHAUSTED, "out of memory");
        return c->last_code;
    }
    amqp_socket_t *sock = c->tls ? amqp_ssl_socket_new(c->conn) : amqp_tcp_socket_new(c->conn);
    if (!sock) {
        record_error(c, SVC_INTERNAL, "%s: cannot create a socket", c->target);
        return c->last_code;
    }
    if (c->tls && tls_setup(c, sock) != SVC_OK) {
        record_error(c, SVC_INVALID_ARGUMENT, "%s", svc_last_error());
        return c->last_code;
    }
    struct timeval tv = {c->connect_timeout_ms / 1000, (c->connect_timeout_ms % 1000) * 1000};
    amqp_set_handshake_timeout(c->conn, &tv);
    int st = amqp_socket_open_noblock(sock, c->host, c->port, &tv);
    if (st) {
        record_error(c, SVC_UNAVAILABLE, "%s: cannot connect: %s", c->target,
                     amqp_error_string2(st));
        return c->last_code;
    }
    svc_code rc = login_status(c, amqp_login(c->conn, c->vhost, 0, FRAME_MAX, HEARTBEAT_S,
                                             AMQP_SASL_METHOD_PLAIN, c->user, c->password));
    if (rc)
        return rc;
    struct timeval rpc_tv = {10, 0}; /* a broker that stops answering counts as gone */
    amqp_set_rpc_timeout(c->conn, &rpc_tv);
    c->frame_max = amqp_get_frame_max(c->conn);
    c->gen++;
    c->ready = true;
    c->broken = false;
    if ((rc = svc_amqp_channel_open(c, AMQP_CH_CONTROL)) == SVC_OK)
        rc = c->ops->on_ready(c);
    if (rc) {
        if (!c->broken)
            record_error(c, rc, "%s: %s", c->target, svc_last_error());
        c->ready = false;
        return rc;
    }
    c->ever_ready = true;
    set_state(c, SVC_AMQP_READY);
    return SVC_OK;
}

static void drop_conn(aconn *c)
{
    if (!c->conn)
        return;
    amqp_destroy_connection(c->conn); /* closes the socket */
    c->conn = NULL;
}

/* The connection is gone: tell the owner module, then start over. */
static void lose(aconn *c)
{
    bool was_ready = c->ready;
    c->ready = false;
    c->broken = false;
    drop_conn(c);
    set_state(c, SVC_AMQP_TRANSIENT_FAILURE);
    if (was_ready)
        c->ops->on_lost(c, c->last_code, c->last_error);
}

/* ---- the work queue ---- */

static ajob *take_queue(aconn *c)
{
    pthread_mutex_lock(&c->q_mu);
    ajob *j = c->head;
    c->head = c->tail = NULL;
    pthread_mutex_unlock(&c->q_mu);
    return j;
}

/* Runs what can run now; the rest waits (parked, in order) for a
 * connection, or fails at once while no broker was ever reached (unless the
 * caller asked to wait). */
static void run_jobs(aconn *c, ajob *list)
{
    bool fail_fast = !c->ever_ready && !c->wait_for_ready && c->last_code != SVC_OK;
    c->running_jobs = true;
    while (list) {
        ajob *j = list;
        list = j->next;
        if (c->ready && !c->broken)
            j->run(c, j);
        else if (j->offline)
            j->run(c, j);
        else if (fail_fast)
            j->drop(j, c->last_code, c->last_error);
        else
            append(&c->parked, &c->parked_tail, j);
    }
    c->running_jobs = false;
}

static void run_parked_then_queue(aconn *c)
{
    if (c->parked && c->ready) {
        ajob *p = c->parked;
        c->parked = c->parked_tail = NULL;
        run_jobs(c, p);
    }
    ajob *q = take_queue(c);
    if (q)
        run_jobs(c, q);
}

static void expire_parked(aconn *c, svc_time now)
{
    bool fail_fast = !c->ever_ready && !c->wait_for_ready && c->last_code != SVC_OK;
    ajob *keep = NULL, **tail = &keep, *j = c->parked;
    c->parked = c->parked_tail = NULL;
    while (j) {
        ajob *next = j->next;
        if (fail_fast) {
            j->drop(j, c->last_code, c->last_error);
        } else if (j->deadline && now >= j->deadline) {
            j->drop(j, SVC_DEADLINE_EXCEEDED, c->last_error[0] ? c->last_error
                                                               : "no AMQP connection in time");
        } else {
            j->next = NULL;
            *tail = j;
            tail = &j->next;
            c->parked_tail = j;
        }
        j = next;
    }
    c->parked = keep;
}

/* ---- reading ---- */

static void read_frames(aconn *c)
{
    for (int i = 0; i < FRAMES_PER_ROUND && c->ready && !c->broken; i++) {
        struct timeval zero = {0, 0};
        amqp_frame_t f;
        int st = amqp_simple_wait_frame_noblock(c->conn, &f, &zero);
        if (st == AMQP_STATUS_TIMEOUT)
            break;
        if (st) {
            svc_amqp_broken(c, st, "read");
            break;
        }
        if (f.frame_type != AMQP_FRAME_METHOD)
            continue; /* content of a message nobody waits for */
        if (f.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD) {
            char text[200];
            svc_code code = channel_closed(c, f.channel, f.payload.method.decoded, text, sizeof text);
            c->ops->on_channel_closed(c, f.channel, code, text);
        } else if (f.payload.method.id == AMQP_CONNECTION_CLOSE_METHOD) {
            connection_closed(c, f.payload.method.decoded);
        } else {
            c->ops->on_method(c, &f);
        }
    }
    if (c->conn)
        amqp_maybe_release_buffers(c->conn);
}

/* ---- the owner thread ---- */

static bool stopping(aconn *c)
{
    pthread_mutex_lock(&c->q_mu);
    bool s = c->stopping;
    pthread_mutex_unlock(&c->q_mu);
    return s;
}

static void run_list(aconn *c, ajob *j)
{
    while (j) {
        ajob *next = j->next;
        j->run(c, j);
        j = next;
    }
}

/* Sleeps until the socket or the queue has something, or `timeout_ms`.
 * The svc_amqp_later() work runs first, without io_lock: a caller it wakes
 * (the next call of a loop) then finds the connection free and writes at
 * once instead of queueing for this thread. */
static void sleep_io(aconn *c, int timeout_ms)
{
    ajob *later = c->later;
    c->later = c->later_tail = NULL;
    bool idle = !(c->ready && (amqp_data_in_buffer(c->conn) || amqp_frames_enqueued(c->conn)));
    if (idle) {
        pthread_mutex_lock(&c->q_mu);
        idle = !c->head && !c->stopping;
        c->sleeping = idle; /* from now on a submit wakes us */
        pthread_mutex_unlock(&c->q_mu);
    }
    if (!idle && !later)
        return;
    struct pollfd fds[2] = {{.fd = c->wake_fd, .events = POLLIN},
                            {.fd = c->ready ? amqp_get_sockfd(c->conn) : -1, .events = POLLIN}};
    c->owner_holds = false;
    pthread_mutex_unlock(&c->io_lock);
    run_list(c, later);
    if (idle)
        poll(fds, 2, timeout_ms);
    pthread_mutex_lock(&c->io_lock);
    c->owner_holds = true;
    if (!idle)
        return;
    pthread_mutex_lock(&c->q_mu);
    c->sleeping = false;
    pthread_mutex_unlock(&c->q_mu);
    if (fds[0].revents & POLLIN) {
        uint64_t n;
        ssize_t r = read(c->wake_fd, &n, sizeof n);
        (void)r;
    }
}

static void shutdown_conn(aconn *c)
{
    if (c->ready && !c->broken) {
        run_parked_then_queue(c); /* writes still queued go out */
        amqp_connection_close(c->conn, AMQP_REPLY_SUCCESS);
    }
    record_error(c, SVC_UNAVAILABLE, "%s: the connection is closed", c->target);
    c->ready = false;
    drop_conn(c);
    c->ops->on_lost(c, SVC_UNAVAILABLE, c->last_error);
    c->ever_ready = false;
    c->wait_for_ready = false; /* everything left fails now */
    run_parked_then_queue(c);
    expire_parked(c, svc_now());
}

static void *owner_main(void *arg)
{
    aconn *c = arg;
    owned = c;
    pthread_mutex_lock(&c->io_lock);
    c->owner_holds = true;
    int64_t backoff = 0;
    svc_time next_attempt = 0, next_tick = 0;
    while (!stopping(c)) {
        svc_time now = svc_now();
        if (!c->ready && now >= next_attempt) {
            svc_code rc = connect_once(c);
            pthread_mutex_lock(&c->q_mu);
            if (!c->first_done) {
                c->first_done = true;
                c->first_code = rc;
                snprintf(c->first_error, sizeof c->first_error, "%s", c->last_error);
                pthread_cond_broadcast(&c->first_cv);
            }
            pthread_mutex_unlock(&c->q_mu);
            if (rc == SVC_OK) {
                backoff = 0;
            } else {
                lose(c);
                backoff = backoff ? backoff * 2 : BACKOFF_MIN_NS;
                if (backoff > BACKOFF_MAX_NS)
                    backoff = BACKOFF_MAX_NS;
                /* Up to a quarter less, so a fleet does not retry in step. */
                next_attempt = svc_now() + backoff - (int64_t)(svc_random_u64() % (uint64_t)(backoff / 4));
            }
        }
        run_parked_then_queue(c);
        if (c->ready)
            read_frames(c);
        if (c->broken)
            lose(c);
        now = svc_now();
        if (now >= next_tick) {
            next_tick = now + TICK_NS;
            expire_parked(c, now);
            c->ops->on_tick(c, now);
        }
        int64_t wait_ns = next_tick - now;
        if (!c->ready && next_attempt - now < wait_ns)
            wait_ns = next_attempt - now;
        sleep_io(c, wait_ns > 0 ? (int)(wait_ns / SVC_NSEC_PER_MSEC) + 1 : 0);
    }
    shutdown_conn(c);
    ajob *later = c->later;
    c->later = c->later_tail = NULL;
    c->owner_holds = false;
    pthread_mutex_unlock(&c->io_lock);
    run_list(c, later);
    return NULL;
}

/* ---- life ---- */

svc_code svc_amqp_dup_opt(const char *in, char **out)
{
    *out = NULL;
    return in && !(*out = strdup(in)) ? svc_fail_oom() : SVC_OK;
}

static void conn_destroy(aconn *c)
{
    if (c->wake_fd >= 0)
        close(c->wake_fd);
    pthread_mutex_destroy(&c->io_lock);
    pthread_mutex_destroy(&c->q_mu);
    pthread_cond_destroy(&c->first_cv);
    free(c->host);
    free(c->vhost);
    free(c->user);
    free(c->password);
    free(c->ca_file);
    free(c->cert_file);
    free(c->key_file);
    free(c->server_name);
    free(c->target);
    free(c);
}

static svc_code conn_setup(aconn *c, const aconn_config *cfg)
{
    const svc_url *u = cfg->url;
    if (u->n_hosts != 1)
        return svc_fail(SVC_INVALID_ARGUMENT, "an AMQP URL names one host");
    c->tls = strcmp(u->scheme, "amqps") == 0;
    c->port = svc_url_port_or(u, c->tls ? 5671 : 5672);
    /* "/%2f" decodes to "//": the vhost is the path without its first '/'. */
    const char *vhost = u->path[0] ? u->path + 1 : "/";
    svc_code rc = svc_amqp_dup_opt(u->host, &c->host);
    if (!rc)
        rc = svc_amqp_dup_opt(*vhost ? vhost : "/", &c->vhost);
    if (!rc)
        rc = svc_amqp_dup_opt(u->user ? u->user : "guest", &c->user);
    if (!rc)
        rc = svc_amqp_dup_opt(u->password ? u->password : "guest", &c->password);
    if (!rc && c->tls) {
        rc = svc_amqp_dup_opt(cfg->tls->ca_file, &c->ca_file);
        if (!rc)
            rc = svc_amqp_dup_opt(cfg->tls->cert_file, &c->cert_file);
        if (!rc)
            rc = svc_amqp_dup_opt(cfg->tls->key_file, &c->key_file);
        if (!rc)
            rc = svc_amqp_dup_opt(cfg->tls->server_name, &c->server_name);
        c->insecure = cfg->tls->insecure;
    }
    /* The vhost goes back into the path with its '/' encoded. */
    char path[800] = "/";
    size_t n = 1;
    for (const char *p = c->vhost ? c->vhost : ""; *p && n < sizeof path - 4; p++) {
        if (*p == '/')
            n += (size_t)snprintf(path + n, sizeof path - n, "%%2f");
        else
            path[n++] = *p;
    }
    path[n] = '\0';
    char target[1200];
    bool v6 = strchr(u->host, ':') != NULL;
    snprintf(target, sizeof target, "%s://%s@%s%s%s:%d%s", u->scheme, u->user ? u->user : "guest",
             v6 ? "[" : "", u->host, v6 ? "]" : "", c->port, path);
    if (!rc)
        rc = svc_amqp_dup_opt(target, &c->target);
    return rc;
}

svc_code svc_amqp_conn_new(svc_ctx *ctx, const aconn_config *cfg, aconn **out)
{
    aconn *c = calloc(1, sizeof *c);
    if (!c)
        return svc_fail_oom();
    c->ctx = ctx;
    c->ops = cfg->ops;
    c->owner = cfg->owner;
    c->wake_fd = -1;
    c->connect_timeout_ms = cfg->connect_timeout_ms > 0 ? cfg->connect_timeout_ms : 5000;
    c->wait_for_ready = cfg->wait_for_ready;
    pthread_mutex_init(&c->io_lock, NULL);
    pthread_mutex_init(&c->q_mu, NULL);
    pthread_cond_init(&c->first_cv, NULL);
    svc_code rc = conn_setup(c, cfg);
    if (!rc && (c->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
        rc = svc_fail(SVC_INTERNAL, "eventfd: %s", strerror(errno));
    if (rc) {
        conn_destroy(c);
        return rc;
    }
    for (int s = 0; s < SVC_AMQP_STATE_COUNT; s++)
        c->state_changes[s] = svc_metrics_counter(
            ctx->metrics, "svc_amqp_connectivity_changes_total",
            "AMQP connections entering each connectivity state.", SVC_METRIC_COUNTER, "target",
            c->target, "state", state_names[s], NULL);
    atomic_init(&c->state, SVC_AMQP_IDLE);
    *out = c; /* before the thread starts: its callbacks reach c through it */
    if (pthread_create(&c->thread, NULL, owner_main, c) != 0) {
        *out = NULL;
        conn_destroy(c);
        return svc_fail(SVC_RESOURCE_EXHAUSTED, "cannot start the AMQP connection's thread");
    }
    return SVC_OK;
}

void svc_amqp_conn_free(aconn *c)
{
    pthread_mutex_lock(&c->q_mu);
    c->stopping = true;
    pthread_mutex_unlock(&c->q_mu);
    wake(c);
    pthread_join(c->thread, NULL);
    ajob *j = take_queue(c); /* submitted while it stopped */
    while (j) {
        ajob *next = j->next;
        j->drop(j, SVC_UNAVAILABLE, "the AMQP connection is closed");
        j = next;
    }
    conn_destroy(c);
}
