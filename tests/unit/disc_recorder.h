/* Discovery test helpers: a recorder of a resolver's updates that waits for
 * the ones a test expects (each wait bounded in time), file writes as
 * config tools make them, and the ports of the registry fixtures. */
#ifndef SVC_TEST_DISC_RECORDER_H
#define SVC_TEST_DISC_RECORDER_H

#include <pthread.h>
#include <stdbool.h>
#include <svccomm/discovery.h>

#include "discovery/eplist.h"

typedef struct disc_recorder {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int updates;   /* every call */
    int failures;  /* calls with code != SVC_OK */
    svc_code code; /* the last call's */
    char msg[512];
    svc_eplist list; /* the last list (kept over failures, as clients do) */
} disc_recorder;

void disc_recorder_init(disc_recorder *r);
void disc_recorder_free(disc_recorder *r);
/* The svc_resolver_update_fn; ud is the recorder. */
void disc_recorder_update(void *ud, svc_code code, const char *message,
                          const svc_endpoint_info *eps, size_t n);
/* Waits up to timeout_ms until pred(r, arg) holds (checked under the lock
 * after every update); returns whether it did. */
bool disc_recorder_wait(disc_recorder *r, int timeout_ms,
                        bool (*pred)(disc_recorder *r, const void *arg), const void *arg);
/* Predicates. */
bool disc_has_n(disc_recorder *r, const void *n);          /* const size_t *: list size, last ok */
bool disc_has_url(disc_recorder *r, const void *url);      /* const char *: in the list */
bool disc_lacks_url(disc_recorder *r, const void *url);    /* const char *: not in the list */
bool disc_failed(disc_recorder *r, const void *unused);    /* the last update failed */
bool disc_updates_over(disc_recorder *r, const void *n);   /* const int *: more updates than n */
/* The last list's entry with this URL, or NULL (call under no lock, after
 * the updates settled). */
const svc_endpoint_info *disc_find(disc_recorder *r, const char *url);

/* Writes `text` to `path` aside and renames it over, as editors and
 * config tools do. */
void disc_write_file(const char *path, const char *text);
/* The port fixture `name` wrote to $DISC_DIR/NAME.port; fails the test
 * when the fixture is missing. */
int disc_fixture_port(const char *name);

#endif
