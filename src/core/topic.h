/*
 * Dot-separated topics with NATS wildcards: "*" matches one token, ">" (only
 * as the last token) one or more. Shared by every transport whose subjects
 * follow these rules (inproc, NATS).
 */
#ifndef SVC_CORE_TOPIC_H
#define SVC_CORE_TOPIC_H

#include <stdbool.h>

/* A concrete topic: no empty tokens, no spaces or control bytes, no
 * wildcards. */
bool svc_topic_valid(const char *topic);
/* A subscription pattern: like a topic, plus "*" and a final ">" tokens. */
bool svc_topic_pattern_valid(const char *pattern);
bool svc_topic_match(const char *pattern, const char *topic);

#endif
