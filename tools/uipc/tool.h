/* SPDX-License-Identifier: MIT */
/*
 * Declarations shared by the files of the uipc(1) tool.  The tool is built
 * on the public API only (<uipc/uipc.h>); everything it knows about the
 * machine beyond that (where rendezvous live, how to find their owners) it
 * reads from /proc and the file system, as any outside program would.
 *
 * Exit codes: 0 success, 1 a runtime failure (the message names the URI
 * and the reason), 2 a usage error (bad flag or argument).
 */
#ifndef UIPC_TOOL_H
#define UIPC_TOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EXIT_USAGE 2

/* Subcommands: argv[0] is the subcommand's name. */
int cmd_send(int argc, char **argv);
int cmd_recv(int argc, char **argv);
int cmd_pub(int argc, char **argv);
int cmd_sub(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_rm(int argc, char **argv);
int cmd_bench(int argc, char **argv);

/* "uipc CMD: URI: reason" on stderr; returns 1 for `return fail_uri(...)`. */
int fail_uri(const char *cmd, const char *uri, int err);
/* "uipc CMD: message" on stderr, then a hint to --help; returns EXIT_USAGE. */
int fail_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parses "64", "4K", "1M", "2G" (powers of 1024); false if malformed. */
bool parse_size(const char *text, uint64_t *out);
/* Parses a timeout in ms: -1 (forever) or 0..INT_MAX; false if malformed. */
bool parse_ms(const char *text, int *out);

#endif /* UIPC_TOOL_H */
