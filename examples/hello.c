/* SPDX-License-Identifier: MIT */
/*
 * hello — the README's quick start: a parent and a child process exchange
 * one message over the channel named on the command line.  Change the URI,
 * change the transport; nothing else changes.
 *
 *   hello unix:///tmp/hello.sock     hello tcp://127.0.0.1:7000
 *   hello fifo:///tmp/hello          hello shm://hello
 */
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <uipc/uipc.h>

int main(int argc, char **argv)
{
    const char *uri = argc > 1 ? argv[1] : "unix:///tmp/hello.sock";
    uipc_channel *ch;
    int r = uipc_open(&ch, uri, UIPC_CREATE); /* make the rendezvous, own it */
    if (r < 0) {
        fprintf(stderr, "open %s: %s\n", uri, uipc_strerror(r));
        return 1;
    }
    if (fork() == 0) {             /* the child attaches as the peer */
        uipc_channel *peer;
        char buf[64];
        uipc_close(ch);            /* releases the inherited handle only */
        if (uipc_open(&peer, uri, 0) < 0)
            _exit(1);
        ssize_t n = uipc_recv(peer, buf, sizeof buf, 5000);
        if (n >= 0)
            uipc_send(peer, buf, (size_t)n, 5000); /* echo it back */
        uipc_close(peer);
        _exit(n < 0);
    }
    char reply[64];
    uipc_send(ch, "hello", 5, 5000);
    ssize_t n = uipc_recv(ch, reply, sizeof reply, 5000);
    printf("%s: %.*s\n", uipc_scheme(ch), n < 0 ? 0 : (int)n, reply);
    uipc_close(ch);                /* the owner removes the rendezvous */
    wait(NULL);
    return n == 5 ? 0 : 1;
}
