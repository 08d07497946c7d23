/* SPDX-License-Identifier: MIT */
/*
 * ticker: one publisher, several subscribers of different speeds.
 *
 *   ticker [URI] [SECONDS]        default: shm://ticker-<pid>, 2 seconds
 *
 * The publisher sends market ticks (a sequence number and a price) as
 * fast as it may for SECONDS, first with ?overflow=drop, then with
 * ?overflow=block.  Three subscribers (forked processes) read them: a fast
 * one, one that sleeps 1 ms every 100 ticks, and one that sleeps 1 ms every
 * 10 ticks.  Each prints what it got:
 *
 *   drop:  the publisher never waits; a subscriber that falls a whole
 *          channel behind gets -EOVERFLOW ("lapped") once per lap and then
 *          continues with the oldest tick still held: it sees gaps in the
 *          sequence numbers, never a torn or repeated tick.
 *   block: the publisher waits for the slowest live subscriber: nobody
 *          loses anything, and everybody goes at the slowest one's pace.
 *
 * Change the URI to unix:///tmp/ticker.sock or tcp://127.0.0.1:7300 and
 * the same program runs over sockets (query keys are added as needed).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <uipc/uipc.h>

struct tick {
    unsigned long long seq;
    double price;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void nap_us(long us)
{
    struct timespec ts = {0, us * 1000};
    nanosleep(&ts, NULL);
}

/* A subscriber: pause_every ticks, sleep 1 ms (0: never). */
static int subscriber(const char *uri, const char *name, int pause_every, int ready_fd)
{
    uipc_channel *s;
    int r = uipc_open(&s, uri, UIPC_SUB);
    if (write(ready_fd, "r", 1) != 1 || r < 0) {
        fprintf(stderr, "%s: %s\n", name, uipc_strerror(r));
        return 1;
    }
    unsigned long long got = 0, laps = 0, missed = 0, last = 0;
    int first = 1;
    struct tick t;
    ssize_t n;
    while ((n = uipc_recv(s, &t, sizeof t, 10000)) != -EPIPE) {
        if (n == -EOVERFLOW) {
            laps++; /* lapped: the next tick is the oldest one still held */
            continue;
        }
        if (n != (ssize_t)sizeof t) {
            fprintf(stderr, "%s: %s\n", name, n < 0 ? uipc_strerror((int)n) : "short tick");
            return 1;
        }
        if (!first && t.seq != last + 1)
            missed += t.seq - last - 1;
        if (!first && t.seq <= last) {
            fprintf(stderr, "%s: tick %llu after %llu\n", name, t.seq, last);
            return 1;
        }
        first = 0;
        last = t.seq;
        got++;
        if (pause_every && got % (unsigned)pause_every == 0)
            nap_us(1000);
    }
    printf("  %-7s got %8llu ticks, lapped %4llu times, %8llu ticks lost\n", name, got, laps,
           missed);
    fflush(stdout);
    uipc_close(s);
    return 0;
}

static int run(const char *base, const char *mode, double seconds)
{
    char uri[512];
    snprintf(uri, sizeof uri, "%s%soverflow=%s", base, strchr(base, '?') ? "&" : "?", mode);
    uipc_channel *p;
    int r = uipc_open(&p, uri, UIPC_CREATE | UIPC_PUB);
    if (r < 0) {
        fprintf(stderr, "ticker: %s: %s\n", uri, uipc_strerror(r));
        return 1;
    }
    static const struct {
        const char *name;
        int pause_every;
    } subs[] = {{"fast", 0}, {"medium", 100}, {"slow", 10}};
    int fds[2];
    if (pipe(fds) < 0)
        return 1;
    pid_t kids[3];
    for (int i = 0; i < 3; i++) {
        kids[i] = fork();
        if (kids[i] == 0) {
            uipc_close(p); /* the child does not publish */
            _exit(subscriber(uri, subs[i].name, subs[i].pause_every, fds[1]));
        }
    }
    char c;
    for (int i = 0; i < 3; i++)
        if (read(fds[0], &c, 1) != 1)
            return 1;
    printf("%s (%s):\n", uri, mode);
    fflush(stdout);
    double start = now_s(), price = 100.0;
    unsigned long long seq = 0;
    while (now_s() - start < seconds) {
        struct tick t = {seq, price};
        ssize_t n = uipc_send(p, &t, sizeof t, 1000);
        if (n == -ETIMEDOUT)
            continue; /* block mode: a subscriber is slow; a dead one is dropped */
        if (n < 0) {
            fprintf(stderr, "ticker: publish: %s\n", uipc_strerror((int)n));
            break;
        }
        seq++;
        price += (double)((seq * 7919) % 11) / 100.0 - 0.05;
    }
    printf("  publisher sent %llu ticks in %.1f s\n", seq, now_s() - start);
    fflush(stdout);
    uipc_close(p); /* subscribers read what is left, then -EPIPE */
    int failed = 0;
    for (int i = 0; i < 3; i++) {
        int st;
        waitpid(kids[i], &st, 0);
        failed |= !WIFEXITED(st) || WEXITSTATUS(st) != 0;
    }
    close(fds[0]);
    close(fds[1]);
    return failed;
}

int main(int argc, char **argv)
{
    char dflt[64];
    snprintf(dflt, sizeof dflt, "shm://ticker-%d?size=64K", (int)getpid());
    const char *uri = argc > 1 ? argv[1] : dflt;
    double seconds = argc > 2 ? atof(argv[2]) : 2.0;
    if (seconds <= 0) {
        fprintf(stderr, "usage: ticker [URI] [SECONDS]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    return run(uri, "drop", seconds) || run(uri, "block", seconds);
}
