/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the tests: unique names, descriptor counting, forking a
 * child that runs a function and reporting its exit status.
 */
#ifndef UIPC_TESTUTIL_H
#define UIPC_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Writes "<prefix><pid>-<counter>" into buf: unique across the test run. */
void tu_name(char *buf, size_t cap, const char *prefix);
/* Number of open descriptors of this process (/proc/self/fd). */
int tu_count_fds(void);
/* Forks; the child runs fn(arg) and _exits with its return value. */
pid_t tu_fork(int (*fn)(void *), void *arg);
/* Waits for pid; returns its exit status, or 128+signal if killed. */
int tu_wait(pid_t pid);
/* A free TCP/UDP port on 127.0.0.1 chosen by the kernel (port 0). */
int tu_free_port(int type);
/* A fresh temporary directory under /tmp; removed by tu_rmdir_all. */
void tu_tmpdir(char *buf, size_t cap);
void tu_rmdir_all(const char *dir);
/* CLOCK_MONOTONIC in milliseconds. */
int64_t tu_now_ms(void);
/* The unsigned number in a /proc file such as /proc/sys/fs/mqueue/msg_max; 0 if unreadable. */
unsigned long tu_proc_value(const char *path);
/*
 * The N-party work queue (mq:, sysvmq:): the owner of uri (opened here with
 * UIPC_CREATE) is shared by ncons forked consumers, nprod forked producers
 * attach and send the numbers 0..nmsgs-1 between them, then one empty
 * message per consumer stops them.  Returns 0 when every number arrived
 * exactly once; else -1 with the reason in err.  timeout_ms bounds every
 * send and receive.
 */
int tu_nparty(const char *uri, int nprod, int ncons, uint32_t nmsgs, int timeout_ms, char *err,
              size_t errcap);
/* Fills buf with a deterministic pattern for (seq, len); tu_check verifies it. */
void tu_fill(void *buf, size_t len, uint64_t seq);
int tu_check(const void *buf, size_t len, uint64_t seq);

#endif
