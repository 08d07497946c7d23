/* SPDX-License-Identifier: MIT */
/*
 * uipc(1): the entry point.  Dispatches to one subcommand per file
 * (cmd_sendrecv.c: send, recv, pub, sub; cmd_ls.c; bench.c) and holds the few helpers they share:
 * error messages that name the URI and the reason, and strict parsing of
 * sizes and timeouts.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uipc/uipc.h>

#include "tool.h"

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} commands[] = {
    {"send", cmd_send, "send messages (arguments or lines of stdin) to a channel"},
    {"recv", cmd_recv, "receive messages from a channel and print them"},
    {"pub", cmd_pub, "publish messages (arguments or lines of stdin) to subscribers"},
    {"sub", cmd_sub, "subscribe to a publisher and print its messages"},
    {"ls", cmd_ls, "list libuipc rendezvous on this machine, marking stale ones"},
    {"rm", cmd_rm, "remove a stale rendezvous"},
    {"bench", cmd_bench, "measure latency and throughput of every transport"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: uipc COMMAND [OPTIONS] [ARGS]\n"
                 "       uipc --version | --help\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-6s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n'uipc COMMAND --help' describes a command; see also uipc(1), uipc(7).\n");
}

int fail_uri(const char *cmd, const char *uri, int err)
{
    fprintf(stderr, "uipc %s: %s: %s\n", cmd, uri, uipc_strerror(err));
    return 1;
}

int fail_usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "uipc %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see 'uipc %s --help')\n", cmd);
    return EXIT_USAGE;
}

bool parse_size(const char *text, uint64_t *out)
{
    if (!text || *text < '0' || *text > '9')
        return false;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno || end == text)
        return false;
    unsigned shift = 0;
    switch (*end) {
    case 'K': case 'k': shift = 10; end++; break;
    case 'M': case 'm': shift = 20; end++; break;
    case 'G': case 'g': shift = 30; end++; break;
    default: break;
    }
    if (*end == 'i' && shift) /* accept KiB-style "1Ki" as well */
        end++;
    if (*end || v > (UINT64_MAX >> shift))
        return false;
    *out = (uint64_t)v << shift;
    return true;
}

bool parse_ms(const char *text, int *out)
{
    if (!text || !*text)
        return false;
    if (strcmp(text, "-1") == 0) {
        *out = UIPC_FOREVER;
        return true;
    }
    if (*text < '0' || *text > '9')
        return false;
    errno = 0;
    char *end;
    long v = strtol(text, &end, 10);
    if (errno || *end || v > INT_MAX)
        return false;
    *out = (int)v;
    return true;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
        printf("uipc %s (library %s)\n", UIPC_VERSION_STRING, uipc_version());
        return 0;
    }
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(cmd, commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "uipc: unknown command '%s' (see 'uipc --help')\n", cmd);
    return EXIT_USAGE;
}
