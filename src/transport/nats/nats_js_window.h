/*
 * The window of asynchronous JetStream publishes (nats_js_pub.c says how
 * they travel): a fixed table of slots, one per publish without a verdict,
 * and the life of each one. Shared by nats_js_pub.c (publishing, replies,
 * verdicts) and nats_js_window.c (the slots' states, timeouts, retries).
 *
 * A slot goes FREE → (RESERVED →) SENT → FREE, or from SENT to BACKOFF
 * (a retry is due later) → RESENDING (queued on the pool) → SENT again.
 * Everything in a slot is under the window's lock except `holders`: an
 * attempt out is held by its sender until cnats no longer reads its
 * message, and by its verdict (reply, timeout or close) until one came;
 * whichever lets go last acts on the verdict. The reply really comes
 * after the send, through the server and back, but ThreadSanitizer cannot
 * see that order, and a count costs less than taking the lock again.
 */
#ifndef SVC_NATS_JS_WINDOW_H
#define SVC_NATS_JS_WINDOW_H

#include "core/loop.h"
#include "nats.h"

/* Unconfirmed asynchronous publishes at most, as the Go client's default
 * (cnats 3.4 has no limit unless one is set): the memory a stalled stream
 * can hold is bounded, and the publisher waits (backpressure). */
#define SVC_NATS_JS_WINDOW 4000
/* A token is (generation << INDEX_BITS) | slot index. */
#define SVC_NATS_JS_INDEX_BITS 12
#define SVC_NATS_JS_INDEX_MASK ((UINT64_C(1) << SVC_NATS_JS_INDEX_BITS) - 1)
/* Random letters and digits in the inbox: 65 bits, so no two clients
 * share one; shorter than the calls' because cnats and the server parse
 * every byte of every reply subject. */
#define SVC_NATS_JS_INBOX_RANDOM 11
/* "_INBOX.<random>." */
#define SVC_NATS_JS_PREFIX_LEN (7 + SVC_NATS_JS_INBOX_RANDOM + 1)
/* "<prefix><token>" and its NUL. */
#define SVC_NATS_JS_REPLY_MAX (SVC_NATS_JS_PREFIX_LEN + SVC_NATS_JS_TOKEN_MAX + 1)
/* "take any free slot" for svc_nats_js_begin. */
#define SVC_NATS_JS_ANY_SLOT UINT32_MAX

typedef enum nats_js_state {
    NATS_JS_FREE,
    NATS_JS_RESERVED, /* its publisher builds the message (its reply needs the token) */
    NATS_JS_SENT,     /* an attempt is out */
    NATS_JS_BACKOFF,  /* the attempt failed; the next one is due at `due` */
    NATS_JS_RESENDING /* the next attempt is queued on the pool */
} nats_js_state;

typedef struct nats_js_slot {
    atomic_int holders;  /* the attempt out: its sender and its verdict */
    uint32_t gen;        /* bumped at each use, part of the token */
    uint8_t state;       /* nats_js_state */
    bool decided;        /* the attempt out has its verdict */
    bool confirmed;      /* a PubAck of an earlier attempt came while RESENDING */
    int attempts;
    natsStatus status;   /* the last verdict; NATS_ERR: an API error */
    int err_code, code;  /* the API error's codes */
    char *detail;        /* its description (owned) */
    svc_pub_confirm *pc;
    natsMsg *nm;         /* the message when it has headers (owned) */
    char *buf;           /* else its subject, NUL, payload: kept for the
                          * slot's next publishes when small (KEEP_MAX),
                          * which saves an allocation per publish */
    size_t cap;
    const char *data;    /* the payload, in buf */
    int len;
    svc_time deadline;   /* the publish's */
    svc_time due;        /* SENT: the attempt times out; BACKOFF: the retry */
} nats_js_slot;

/* What a publish brings to its slot: its message (headers) or the size of
 * its subject, NUL and payload (copied by its publisher into the slot's
 * buffer before sending). */
typedef struct nats_js_start {
    svc_pub_confirm *pc;
    svc_time deadline;
    natsMsg *nm;
    size_t need;
} nats_js_start;

/* A publish that has its verdict, taken out of its slot under the lock and
 * answered after it (svc_nats_js_done_run). */
typedef struct nats_js_done {
    svc_pub_confirm *pc;
    natsMsg *nm;
    char *topic;         /* a copy, for the message of a failure */
    char *spare;         /* a buffer too large to keep */
    char *detail;
    natsStatus status;
    int err_code, code, attempts;
    bool closed;         /* answered by the channel's close */
} nats_js_done;

/* What a reply said (detail borrowed). */
typedef struct nats_js_verdict {
    natsStatus status;
    int err_code, code;
    const char *detail;
} nats_js_verdict;

struct nats_js_window {
    nats_channel *ch;
    pthread_mutex_t mu;
    pthread_cond_t room;     /* a slot came free */
    int waiting;             /* publishers waiting for one */
    bool closing;
    uint16_t free[SVC_NATS_JS_WINDOW];
    int n_free;
    svc_timer *timer;        /* the sweep (timeouts, retries due) */
    svc_time armed_at;       /* when it fires; 0 = not armed */
    char prefix[SVC_NATS_JS_PREFIX_LEN + 1]; /* "_INBOX.<random>." */
    nats_sub *acks;          /* "<inbox>.*" */
    nats_js_slot slots[SVC_NATS_JS_WINDOW];
};

/* ---- nats_js_window.c (each takes the lock) ---- */

/* A free slot for a publish whose message needs the token first; waits
 * for room until `deadline`. Fails with DEADLINE_EXCEEDED or, closing,
 * UNAVAILABLE. */
svc_code svc_nats_js_reserve(nats_js_window *w, svc_time deadline, uint32_t *idx, uint32_t *gen);
void svc_nats_js_unreserve(nats_js_window *w, uint32_t idx);
/* Puts the publish into slot idx (reserved, or SVC_NATS_JS_ANY_SLOT: a
 * free one, waiting for room) with its first attempt out, counted as
 * unconfirmed; the caller fills a plain message's buffer and sends it
 * (svc_nats_js_send). On failure the slot is free again and the message
 * still the caller's. */
svc_code svc_nats_js_begin(nats_js_window *w, const nats_js_start *st, uint32_t idx,
                           nats_js_slot **out);
/* The verdict on a slot's attempt out, if it has none yet (`detail` is
 * taken). True when that ended the publish: *d is to be run. Locked. */
bool svc_nats_js_decide(nats_js_window *w, nats_js_slot *sl, natsStatus status, int err_code,
                        int code, char *detail, nats_js_done *d);
/* The sender is done with the attempt's message. */
void svc_nats_js_let_go(nats_js_window *w, nats_js_slot *sl);
/* A reply for slot idx in its generation gen. */
void svc_nats_js_reply(nats_js_window *w, uint32_t idx, uint32_t gen, const nats_js_verdict *v);
/* The timer's task: attempts that timed out, retries that are due. */
void svc_nats_js_sweep(void *w);
/* Answers every publish waiting for a reply or a retry (UNAVAILABLE) and
 * stops the timer; senders and queued retries end theirs themselves. */
void svc_nats_js_window_close(nats_js_window *w);
/* Frees the window once nothing uses it. */
void svc_nats_js_window_free(nats_js_window *w);

/* ---- nats_js_pub.c ---- */

/* Sends the slot's attempt, then lets go of it. */
void svc_nats_js_send(nats_js_window *w, nats_js_slot *sl);
/* Frees what the publish owned and gives its verdict. Not locked. */
void svc_nats_js_done_run(nats_channel *ch, nats_js_done *d);

#endif
