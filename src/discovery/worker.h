/*
 * The thread each resolver and registration runs on: it sleeps between
 * looks at the registry and wakes early when kicked (resolve_now) or
 * stopped. Blocking I/O on it is aborted through the stop hook.
 */
#ifndef SVC_DISCOVERY_WORKER_H
#define SVC_DISCOVERY_WORKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <svccomm/common.h>

typedef struct svc_disc_worker {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stopping;
    bool kicked;
    void (*body)(void *ud);
    void *ud;
    /* Called under mu by stop(), to break a blocking call (shut a socket
     * down); optional. */
    void (*on_stop)(void *ud);
} svc_disc_worker;

/* Starts a thread running body(ud). */
svc_code svc_disc_worker_start(svc_disc_worker *w, void (*body)(void *), void *ud,
                               void (*on_stop)(void *));
/* Sleeps up to `ns` or until kicked or stopped; false once stopping. A
 * kick is consumed. */
bool svc_disc_worker_sleep(svc_disc_worker *w, int64_t ns);
bool svc_disc_worker_stopping(svc_disc_worker *w);
void svc_disc_worker_kick(svc_disc_worker *w);
/* Asks the body to return, waits for it, and frees the thread's state.
 * Not from the worker's own thread. */
void svc_disc_worker_stop(svc_disc_worker *w);

#endif
