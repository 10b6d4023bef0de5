/*
 * A NATS client on cnats alone, for the cross-client tests: what any NATS
 * client sees of our messages, and sends to us.
 *   nats_raw URL sub SUBJECT COUNT [HEADER...]  prints "ready", then per
 *       message "<subject> <data> [HEADER=value...]"; exits 1 after 10 s
 *   nats_raw URL pub SUBJECT DATA [KEY:VALUE...]
 *   nats_raw URL req SUBJECT DATA               prints the reply's data and
 *       its Svc-Status header ("-" when absent)
 *   nats_raw URL stream NAME SUBJECT            creates a JetStream stream
 */
#include <nats/nats.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void print_msg(natsMsg *m, int nh, char **headers)
{
    printf("%s %.*s", natsMsg_GetSubject(m), natsMsg_GetDataLength(m), natsMsg_GetData(m));
    for (int i = 0; i < nh; i++) {
        const char *v = NULL;
        printf(" %s=%s", headers[i], natsMsgHeader_Get(m, headers[i], &v) == NATS_OK ? v : "-");
    }
    printf("\n");
    fflush(stdout);
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: nats_raw URL sub|pub|req SUBJECT ARG [...]\n");
        return 2;
    }
    natsConnection *nc = NULL;
    natsStatus s = natsConnection_ConnectTo(&nc, argv[1]);
    const char *mode = argv[2], *subject = argv[3];
    if (s == NATS_OK && strcmp(mode, "sub") == 0) {
        natsSubscription *sub = NULL;
        int want = atoi(argv[4]);
        s = natsConnection_SubscribeSync(&sub, nc, subject);
        if (s == NATS_OK)
            s = natsConnection_Flush(nc);
        printf("ready\n");
        fflush(stdout);
        for (int i = 0; s == NATS_OK && i < want; i++) {
            natsMsg *m = NULL;
            s = natsSubscription_NextMsg(&m, sub, 10000);
            if (s == NATS_OK)
                print_msg(m, argc - 5, argv + 5);
            natsMsg_Destroy(m);
        }
        natsSubscription_Destroy(sub);
    } else if (s == NATS_OK && strcmp(mode, "pub") == 0) {
        natsMsg *m = NULL;
        s = natsMsg_Create(&m, subject, NULL, argv[4], (int)strlen(argv[4]));
        for (int i = 5; s == NATS_OK && i < argc; i++) {
            char *colon = strchr(argv[i], ':');
            if (!colon)
                return 2;
            *colon = '\0';
            s = natsMsgHeader_Add(m, argv[i], colon + 1);
        }
        if (s == NATS_OK)
            s = natsConnection_PublishMsg(nc, m);
        if (s == NATS_OK)
            s = natsConnection_Flush(nc);
        natsMsg_Destroy(m);
    } else if (s == NATS_OK && strcmp(mode, "req") == 0) {
        natsMsg *reply = NULL;
        s = natsConnection_Request(&reply, nc, subject, argv[4], (int)strlen(argv[4]), 5000);
        if (s == NATS_OK) {
            const char *status = NULL;
            printf("%.*s %s\n", natsMsg_GetDataLength(reply), natsMsg_GetData(reply),
                   natsMsgHeader_Get(reply, "Svc-Status", &status) == NATS_OK ? status : "-");
        }
        natsMsg_Destroy(reply);
    } else if (s == NATS_OK && strcmp(mode, "stream") == 0) {
        jsCtx *js = NULL;
        jsStreamConfig cfg;
        jsStreamConfig_Init(&cfg);
        cfg.Name = subject;
        cfg.Subjects = (const char *[]){argv[4]};
        cfg.SubjectsLen = 1;
        s = natsConnection_JetStream(&js, nc, NULL);
        if (s == NATS_OK)
            s = js_AddStream(NULL, js, &cfg, NULL, NULL);
        jsCtx_Destroy(js);
    }
    if (s != NATS_OK)
        fprintf(stderr, "nats_raw: %s\n", natsStatus_GetText(s));
    natsConnection_Destroy(nc);
    nats_Close();
    return s == NATS_OK ? 0 : 1;
}
