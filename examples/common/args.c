#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "args.h"

bool arg_value(int argc, char **argv, int *i, const char *name, const char **out)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0)
        return false;
    if (argv[*i][n] == '=') {
        *out = argv[*i] + n + 1;
        return true;
    }
    if (argv[*i][n] != '\0' || *i + 1 >= argc)
        return false;
    *out = argv[++*i];
    return true;
}

static sigset_t stop_signals(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    return set;
}

void block_signals(void)
{
    sigset_t set = stop_signals();
    pthread_sigmask(SIG_BLOCK, &set, NULL);
}

int wait_for_signal(void)
{
    sigset_t set = stop_signals();
    int sig = 0;
    sigwait(&set, &sig);
    return sig;
}

void print_reply_meta(FILE *f, svc_code code, const svc_msg *m)
{
    fprintf(f, "status: %s (%d)\n", svc_code_name(code), (int)code);
    if (!m)
        return;
    if (*svc_msg_status_message(m))
        fprintf(f, "message: %s\n", svc_msg_status_message(m));
    for (size_t i = 0; i < svc_msg_md_count(m); i++) {
        const char *k, *v;
        size_t len;
        svc_msg_md_at(m, i, &k, &v, &len);
        if (strlen(k) > 4 && strcmp(k + strlen(k) - 4, "-bin") == 0)
            fprintf(f, "%s: (%zu bytes)\n", k, len);
        else
            fprintf(f, "%s: %s\n", k, v);
    }
}

void json_escape_to(FILE *f, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
}

bool split_header(const char *kv, char *key, size_t cap, const char **value)
{
    const char *colon = strchr(kv, ':');
    if (!colon || (size_t)(colon - kv) >= cap)
        return false;
    snprintf(key, cap, "%.*s", (int)(colon - kv), kv);
    for (*value = colon + 1; **value == ' '; (*value)++)
        ;
    return true;
}
