#include "topic.h"

#include <string.h>

/* Bytes that end a token or need a closer look; publishing checks every
 * topic, so the plain bytes cost one load each. */
static const bool special[256] = {
    [0 ... ' '] = true, ['.'] = true, ['*'] = true, ['>'] = true, [0x7F] = true,
};

static bool check(const char *s, bool wildcards)
{
    if (!s || !*s)
        return false;
    const char *tok = s;
    for (const char *p = s;; p++) {
        if (!special[(unsigned char)*p])
            continue;
        if (*p == '.' || *p == '\0') {
            size_t n = (size_t)(p - tok);
            if (n == 0)
                return false;
            bool star = n == 1 && tok[0] == '*', gt = n == 1 && tok[0] == '>';
            if ((star || gt) && !wildcards)
                return false;
            if (gt && *p != '\0')
                return false; /* '>' only as the last token */
            if (*p == '\0')
                return true;
            tok = p + 1;
        } else if ((unsigned char)*p <= ' ' || (unsigned char)*p == 0x7F) {
            return false;
        } else if ((*p == '*' || *p == '>') && !wildcards) {
            return false;
        }
    }
}

bool svc_topic_valid(const char *topic)
{
    return check(topic, false);
}

bool svc_topic_pattern_valid(const char *pattern)
{
    return check(pattern, true);
}

bool svc_topic_match(const char *pattern, const char *topic)
{
    const char *p = pattern, *t = topic;
    for (;;) {
        size_t pn = strcspn(p, "."), tn = strcspn(t, ".");
        if (pn == 1 && p[0] == '>')
            return tn > 0;
        if (!(pn == 1 && p[0] == '*') && (pn != tn || memcmp(p, t, pn) != 0))
            return false;
        p += pn;
        t += tn;
        if (!*p || !*t)
            return !*p && !*t;
        p++;
        t++;
    }
}
