/* SPDX-License-Identifier: MIT */
/*
 * The scheme table: every transport libuipc knows, in one static array.
 * Adding a transport is one file in transport/ and one row here.
 */
#include <string.h>

#include "internal.h"

extern const struct uipc_transport uipc__transport_pipe;
extern const struct uipc_transport uipc__transport_fifo;
extern const struct uipc_transport uipc__transport_unix;
extern const struct uipc_transport uipc__transport_tcp;
extern const struct uipc_transport uipc__transport_udp;
extern const struct uipc_transport uipc__transport_mq;
extern const struct uipc_transport uipc__transport_sysvmq;
extern const struct uipc_transport uipc__transport_file;
extern const struct uipc_transport uipc__transport_shm;
extern const struct uipc_transport uipc__transport_mmap;

const struct uipc_transport *const uipc__transports[] = {
    &uipc__transport_pipe,
    &uipc__transport_fifo,
    &uipc__transport_unix,
    &uipc__transport_tcp,
    &uipc__transport_udp,
    &uipc__transport_mq,
    &uipc__transport_sysvmq,
    &uipc__transport_file,
    &uipc__transport_shm,
    &uipc__transport_mmap,
};

const size_t uipc__ntransports = sizeof uipc__transports / sizeof uipc__transports[0];

const struct uipc_transport *uipc__transport_find(const char *scheme)
{
    for (size_t i = 0; i < uipc__ntransports; i++)
        if (strcmp(uipc__transports[i]->scheme, scheme) == 0)
            return uipc__transports[i];
    return NULL;
}

unsigned uipc__transport_caps(const struct uipc_transport *tp)
{
    return tp->caps | (tp->pair ? UIPC__CAP_PAIR : 0u) | (tp->listen ? UIPC__CAP_LISTEN : 0u) |
           (tp->send_reserve ? UIPC__CAP_ZEROCOPY : 0u) | (tp->pollfd ? UIPC__CAP_POLLFD : 0u);
}
