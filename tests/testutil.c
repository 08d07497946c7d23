/* SPDX-License-Identifier: MIT */
/*
 * Shared test helpers; see testutil.h.
 */
#include "testutil.h"
#include "uipc/uipc.h"

#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void tu_name(char *buf, size_t cap, const char *prefix)
{
    static unsigned counter;
    snprintf(buf, cap, "%s%d-%u", prefix, (int)getpid(), counter++);
}

int tu_count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    if (!d)
        return -1;
    while (readdir(d))
        n++;
    closedir(d);
    return n - 3; /* ".", ".." and the DIR's own descriptor */
}

pid_t tu_fork(int (*fn)(void *), void *arg)
{
    pid_t pid = fork();
    if (pid == 0)
        _exit(fn(arg));
    return pid;
}

int tu_wait(pid_t pid)
{
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    if (WIFSIGNALED(st))
        return 128 + WTERMSIG(st);
    return WEXITSTATUS(st);
}

int tu_free_port(int type)
{
    int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return ntohs(a.sin_port);
}

void tu_tmpdir(char *buf, size_t cap)
{
    snprintf(buf, cap, "/tmp/uipc-test-XXXXXX");
    if (!mkdtemp(buf))
        buf[0] = '\0';
}

void tu_rmdir_all(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[4096];
    if (!d)
        return;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (unlink(path) < 0 && errno == EISDIR)
            tu_rmdir_all(path);
    }
    closedir(d);
    rmdir(dir);
}

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
}

void tu_fill(void *buf, size_t len, uint64_t seq)
{
    unsigned char *p = buf;
    uint64_t s = mix(seq + len);
    for (size_t i = 0; i < len; i++) {
        if ((i & 7) == 0)
            s = mix(s + i);
        p[i] = (unsigned char)(s >> ((i & 7) * 8));
    }
}

int tu_check(const void *buf, size_t len, uint64_t seq)
{
    const unsigned char *p = buf;
    uint64_t s = mix(seq + len);
    for (size_t i = 0; i < len; i++) {
        if ((i & 7) == 0)
            s = mix(s + i);
        if (p[i] != (unsigned char)(s >> ((i & 7) * 8)))
            return -1;
    }
    return 0;
}

int64_t tu_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

unsigned long tu_proc_value(const char *path)
{
    FILE *f = fopen(path, "re");
    unsigned long v = 0;
    if (f) {
        if (fscanf(f, "%lu", &v) != 1)
            v = 0;
        fclose(f);
    }
    return v;
}

/* State the forked producers and consumers of tu_nparty share. */
static struct {
    const char *uri;
    uipc_channel *owner;
    unsigned char *seen; /* MAP_SHARED: how many times each number arrived */
    uint32_t nmsgs;
    int nprod, timeout_ms;
} np;

static int np_producer(void *arg)
{
    int id = (int)(intptr_t)arg;
    uipc_channel *ch;
    if (uipc_open(&ch, np.uri, 0) < 0)
        return 1;
    for (uint32_t i = (uint32_t)id; i < np.nmsgs; i += (uint32_t)np.nprod)
        if (uipc_send(ch, &i, sizeof i, np.timeout_ms) != sizeof i)
            return 2;
    uipc_close(ch);
    return 0;
}

static int np_consumer(void *arg)
{
    (void)arg;
    for (;;) {
        uint32_t i;
        ssize_t n = uipc_recv(np.owner, &i, sizeof i, np.timeout_ms);
        if (n == 0)
            break; /* the stop message */
        if (n != sizeof i || i >= np.nmsgs)
            return 3;
        __atomic_fetch_add(&np.seen[i], 1, __ATOMIC_RELAXED);
    }
    uipc_close(np.owner); /* not the opener: removes nothing */
    return 0;
}

int tu_nparty(const char *uri, int nprod, int ncons, uint32_t nmsgs, int timeout_ms, char *err,
              size_t errcap)
{
    pid_t pids[64];
    int r = -1, st;
    if (nprod + ncons > 64)
        return snprintf(err, errcap, "too many processes"), -1;
    np.uri = uri;
    np.nmsgs = nmsgs;
    np.nprod = nprod;
    np.timeout_ms = timeout_ms;
    np.seen = mmap(NULL, nmsgs, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (np.seen == MAP_FAILED)
        return snprintf(err, errcap, "mmap failed"), -1;
    if ((st = uipc_open(&np.owner, uri, UIPC_CREATE)) < 0) {
        snprintf(err, errcap, "open %s: %s", uri, uipc_strerror(st));
        munmap(np.seen, nmsgs);
        return -1;
    }
    for (int i = 0; i < ncons; i++)
        pids[i] = tu_fork(np_consumer, NULL);
    for (int i = 0; i < nprod; i++)
        pids[ncons + i] = tu_fork(np_producer, (void *)(intptr_t)i);
    for (int i = 0; i < nprod; i++)
        if ((st = tu_wait(pids[ncons + i])) != 0)
            snprintf(err, errcap, "producer %d exited %d", i, st);
    uipc_channel *stop;
    if (uipc_open(&stop, uri, 0) == 0) {
        for (int i = 0; i < ncons; i++) /* after every number: FIFO at one priority */
            uipc_send(stop, NULL, 0, timeout_ms);
        uipc_close(stop);
    }
    for (int i = 0; i < ncons; i++)
        if ((st = tu_wait(pids[i])) != 0)
            snprintf(err, errcap, "consumer %d exited %d", i, st);
    r = 0;
    for (uint32_t i = 0; i < nmsgs && r == 0; i++)
        if (np.seen[i] != 1) {
            snprintf(err, errcap, "number %u arrived %u times", i, np.seen[i]);
            r = -1;
        }
    if (err[0])
        r = -1;
    if (uipc_close(np.owner) < 0 && r == 0) {
        snprintf(err, errcap, "owner close failed");
        r = -1;
    }
    munmap(np.seen, nmsgs);
    return r;
}
