/*
 * The NATS transport's reading of what arrives from the network: headers
 * (ours: Svc-Status, Svc-Message, Svc-Timeout, Content-Type; the rest
 * metadata with "-bin" base64), the subject of a request (→ method), and
 * the content-type sniffing of header-less bodies.
 * Input: "subject\nkey:value\n...\n\nbody". The headers go through a real
 * natsMsg (cnats' header store) and straight into svc_nats_header_in.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/msg.h"
#include "transport/nats/nats.h"

static void direct(const char *key, const char *value)
{
    svc_msg *m = NULL;
    nats_in in = {0};
    if (svc_msg_new(&m) != SVC_OK)
        return;
    svc_nats_header_in(m, &in, key, value);
    svc_nats_in_finish(m, &in);
    svc_msg_free(m);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* cnats frees messages through its library threads: open it once. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    nats_Open(-1);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    char *body = strstr(text, "\n\n");
    size_t body_len = 0;
    if (body) {
        *body = '\0';
        body += 2;
        body_len = size - (size_t)(body - text);
    }
    char *save = NULL, *subject = strtok_r(text, "\n", &save);
    char method[256], back[512];
    if (subject && svc_nats_subject_to_method("svc", subject, method, sizeof method))
        svc_nats_method_to_subject("svc", method, back, sizeof back);
    if (subject)
        svc_nats_method_to_subject("svc", subject, back, sizeof back);
    natsMsg *nm = NULL;
    if (natsMsg_Create(&nm, "fuzz.subject", NULL, body, (int)body_len) != NATS_OK) {
        free(text);
        return 0;
    }
    for (char *line; (line = strtok_r(NULL, "\n", &save)) != NULL;) {
        char *colon = strchr(line, ':');
        if (!colon)
            continue;
        *colon = '\0';
        direct(line, colon + 1);
        natsMsgHeader_Add(nm, line, colon + 1);
    }
    nats_in in;
    svc_msg *m = NULL;
    /* Taken, as core NATS events and requests are: nm goes with m. */
    if (svc_nats_msg_in(nm, true, &in, &m) == SVC_OK)
        svc_msg_free(m);
    free(text);
    return 0;
}
