/* SPDX-License-Identifier: MIT */
/*
 * py_pub_peer — a C publisher for the Python suite (python/tests), so that
 * a Python subscriber is tested against a publisher in another language.
 *
 *   py_pub_peer URI COUNT
 *
 * Creates the publisher, prints "ready", waits for a line on standard input
 * (sent once the subscribers have attached), publishes COUNT messages
 * "m0", "m1", ... and closes: the subscribers then drain them and see the
 * end (-EPIPE).  Exit status 0, or 1 with the reason on standard error.
 * Built only when <uipc/uipc.h> declares UIPC_PUB (tests/CMakeLists.txt).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uipc/uipc.h>

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: py_pub_peer URI COUNT\n");
        return 2;
    }
    long count = strtol(argv[2], NULL, 10);
    uipc_channel *pub;
    int r = uipc_open(&pub, argv[1], UIPC_CREATE | UIPC_PUB);
    if (r < 0) {
        fprintf(stderr, "py_pub_peer: open %s: %s\n", argv[1], uipc_strerror(r));
        return 1;
    }
    printf("ready\n");
    fflush(stdout);
    char line[16];
    if (!fgets(line, sizeof line, stdin)) {
        uipc_close(pub);
        return 1;
    }
    for (long i = 0; i < count && r >= 0; i++) {
        char msg[32];
        int n = snprintf(msg, sizeof msg, "m%ld", i);
        r = (int)uipc_send(pub, msg, (size_t)n, 10000);
    }
    if (r < 0)
        fprintf(stderr, "py_pub_peer: send: %s\n", uipc_strerror(r));
    uipc_close(pub);
    return r < 0;
}
