/* Small helpers the example programs share: flags, signals, printing. */
#ifndef SVC_EXAMPLE_ARGS_H
#define SVC_EXAMPLE_ARGS_H

#include <stdbool.h>
#include <stdio.h>
#include <svccomm/svccomm.h>

/* "--name value" or "--name=value" at argv[*i]; advances *i past it. */
bool arg_value(int argc, char **argv, int *i, const char *name, const char **out);

/* Blocks SIGINT and SIGTERM in this thread and every thread started after,
 * so that wait_for_signal() can take them synchronously. Call first. */
void block_signals(void);
/* Waits for SIGINT or SIGTERM; returns the signal. */
int wait_for_signal(void);

/* Prints a reply's status and metadata, one "key: value" per line. */
void print_reply_meta(FILE *f, svc_code code, const svc_msg *m);

/* Writes `n` bytes of `s` as the inside of a JSON string (no quotes). */
void json_escape_to(FILE *f, const char *s, size_t n);

/* Splits "key:value" (spaces after the colon skipped) into key (copied into
 * `key`, `cap` bytes) and *value; false if there is no colon. */
bool split_header(const char *kv, char *key, size_t cap, const char **value);

#endif
