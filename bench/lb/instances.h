/*
 * Real greeter processes for the load-balancing benchmarks: started with
 * their own arguments on grpc://127.0.0.1:0, their URL read from the
 * "listening on URL" line they print once the listener is up (the port is
 * the kernel's choice, so nothing races for it), stopped by PID.
 */
#ifndef SVC_BENCH_LB_INSTANCES_H
#define SVC_BENCH_LB_INSTANCES_H

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct bench_instance {
    pid_t pid;
    char url[256];
} bench_instance;

/* Starts `greeter --listen grpc://127.0.0.1:0 --id ID --workers 16
 * [--delay-ms DELAY]` and waits for its URL. Exits the program on failure:
 * a benchmark without its servers has nothing to say. */
static inline void bench_instance_start(bench_instance *in, const char *greeter, const char *id,
                                        int delay_ms)
{
    int fds[2];
    if (pipe(fds) != 0) {
        perror("pipe");
        exit(1);
    }
    char delay[16];
    snprintf(delay, sizeof delay, "%d", delay_ms);
    in->pid = fork();
    if (in->pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        execl(greeter, greeter, "--listen", "grpc://127.0.0.1:0", "--id", id, "--workers", "16",
              "--delay-ms", delay, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    FILE *out = fdopen(fds[0], "r");
    char line[256];
    const char *prefix = "listening on ";
    in->url[0] = '\0';
    while (out && fgets(line, sizeof line, out))
        if (strncmp(line, prefix, strlen(prefix)) == 0) {
            memcpy(in->url, line + strlen(prefix), strlen(line) - strlen(prefix) + 1);
            in->url[strcspn(in->url, "\n")] = '\0';
            break;
        }
    /* The greeter keeps writing to a pipe nobody reads only at shutdown;
     * closing our end is harmless (it prints nothing more while serving). */
    if (out)
        fclose(out);
    if (!in->url[0]) {
        fprintf(stderr, "%s (%s) did not start\n", greeter, id);
        exit(1);
    }
}

/* SIGKILL (abrupt, as a crash) or SIGTERM (graceful); reaps the process. */
static inline void bench_instance_stop(bench_instance *in, int sig)
{
    if (in->pid > 0) {
        kill(in->pid, sig);
        waitpid(in->pid, NULL, 0);
        in->pid = 0;
    }
}

#endif
