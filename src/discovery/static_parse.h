/*
 * The static resolver's endpoint syntax (see discovery.h):
 *   item  = URL *( ";" key "=" value )     key: weight | zone | id | md.NAME
 *   list  = item *( "," item )             (inline and $VAR forms)
 *   file  = one item per line; blank lines and lines starting with '#'
 *           (after blanks) are skipped
 * Blanks around items are ignored. Errors set svc_last_error() to a message
 * naming the offending item.
 */
#ifndef SVC_DISCOVERY_STATIC_PARSE_H
#define SVC_DISCOVERY_STATIC_PARSE_H

#include "eplist.h"

/* Parses one item of `len` bytes and appends it to `out`. */
svc_code svc_static_parse_item(const char *item, size_t len, svc_eplist *out);
/* Parses a comma-separated list (`file` false) or a file's text (`file`
 * true) into `out` (appended to). SVC_INVALID_ARGUMENT for a malformed
 * item or an empty list; `out` then holds what parsed before the error. */
svc_code svc_static_parse(const char *text, size_t len, bool file, svc_eplist *out);

#endif
