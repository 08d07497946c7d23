/* SPDX-License-Identifier: MIT */
/*
 * uipc send / uipc recv: a channel on the command line.
 *
 * Text mode (the default): send takes each argument as one message, or each
 * line of standard input (without its newline) when there is none; recv
 * prints each message followed by a newline.  Raw mode (--raw) is binary
 * safe: send reads all of standard input as one message, recv writes the
 * bytes of each message with nothing added (with -n 1, exactly the message).
 *
 * Options may come anywhere; "--" ends them (for a message that starts
 * with '-').  --timeout MS bounds every wait (default: wait as long as needed).
 * A side that attaches waits for a missing rendezvous (-ENOENT,
 * -ECONNREFUSED) within that timeout, retrying, so that a script may start
 * the sender before the receiver has created the channel (uipc(1)'s first
 * example does); --no-wait fails at once instead (--wait, the default, is
 * still accepted).
 *
 * SIGINT, SIGTERM and SIGHUP (unless ignored when the command started, as
 * under nohup) end the command cleanly: every wait is cut into slices of
 * SLICE_MS, the handler only sets a flag, and between slices the command
 * closes its channel (an owner removes its rendezvous) and then dies of
 * the same signal, so its caller sees the usual status.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <uipc/uipc.h>

#include "tool.h"

struct session {
    const char *cmd;
    const char *uri;
    int flags;
    int timeout_ms;
    bool wait;
    bool raw;
    bool talked;          /* an operation succeeded: no more reconnecting */
    struct timespec start;
    uipc_channel *ch;
};

/* A stop signal is noticed within this long. */
#define SLICE_MS 100

static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig)
{
    stop_signal = sig;
}

static void catch_stop_signals(void)
{
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct sigaction old, sa = {.sa_handler = on_stop_signal};
        sigemptyset(&sa.sa_mask);
        if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler != SIG_IGN)
            sigaction(sigs[i], &sa, NULL);
    }
}

/* After a stop signal and a clean close: die of that signal. */
static void die_if_stopped(void)
{
    int sig = stop_signal;
    if (!sig)
        return;
    fflush(stdout);
    signal(sig, SIG_DFL);
    raise(sig);
}

static long elapsed_ms(const struct timespec *since)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - since->tv_sec) * 1000L + (now.tv_nsec - since->tv_nsec) / 1000000L;
}

/* True when a failed attach may be retried: waiting and time remains. */
static bool may_retry(const struct session *s, int err)
{
    if (!s->wait || s->talked || stop_signal || (err != -ENOENT && err != -ECONNREFUSED))
        return false;
    if (s->timeout_ms >= 0 && elapsed_ms(&s->start) >= s->timeout_ms)
        return false;
    struct timespec pause = {0, 20 * 1000 * 1000};
    nanosleep(&pause, NULL);
    return true;
}

static int session_open(struct session *s)
{
    int r;
    while ((r = uipc_open(&s->ch, s->uri, s->flags)) < 0)
        if (!may_retry(s, r))
            return r;
    return 0;
}

/* A connect may fail only at the first operation (tcp:): reopen and retry. */
static int session_reopen(struct session *s, int err)
{
    if (!may_retry(s, err))
        return err;
    uipc_close(s->ch);
    s->ch = NULL;
    return session_open(s);
}

/*
 * One send or receive within the session's timeout, in slices of SLICE_MS
 * so that a stop signal is seen: -EINTR once one arrived (nothing is lost:
 * a slice that ran out sent or took nothing, or kept what it had).
 */
static ssize_t sliced(struct session *s, bool sending, void *buf, size_t len)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        if (stop_signal)
            return -EINTR;
        int slice = SLICE_MS;
        bool last = false;
        if (s->timeout_ms >= 0) {
            long left = s->timeout_ms - elapsed_ms(&t0);
            if (left <= SLICE_MS) {
                slice = left > 0 ? (int)left : 0;
                last = true;
            }
        }
        ssize_t r = sending ? uipc_send(s->ch, buf, len, slice) : uipc_recv(s->ch, buf, len, slice);
        if (last && r == -EAGAIN && s->timeout_ms != 0)
            return -ETIMEDOUT; /* the last slice was 0 ms of a longer timeout */
        if (last || (r != -ETIMEDOUT && r != -EAGAIN))
            return r;
    }
}

static int send_one(struct session *s, const void *msg, size_t len)
{
    ssize_t r;
    while ((r = sliced(s, true, (void *)msg, len)) < 0) {
        int again = session_reopen(s, (int)r);
        if (again < 0)
            return again;
    }
    s->talked = true;
    return 0;
}

static int send_stdin(struct session *s)
{
    char *buf = NULL;
    size_t cap = 0;
    int r = 0;
    if (s->raw) {
        size_t len = 0;
        for (;;) {
            if (len == cap) {
                cap = cap ? cap * 2 : 65536;
                char *bigger = realloc(buf, cap);
                if (!bigger) {
                    r = -ENOMEM;
                    goto out;
                }
                buf = bigger;
            }
            size_t got = fread(buf + len, 1, cap - len, stdin);
            len += got;
            if (got == 0)
                break;
        }
        if (ferror(stdin)) {
            r = -EIO;
            goto out;
        }
        r = send_one(s, buf, len);
        goto out;
    }
    ssize_t len;
    while (!stop_signal && (len = getline(&buf, &cap, stdin)) >= 0) {
        if (len > 0 && buf[len - 1] == '\n')
            len--;
        r = send_one(s, buf, (size_t)len);
        if (r < 0)
            break;
    }
    if (r == 0 && ferror(stdin))
        r = -EIO;
out:
    free(buf);
    return r;
}

static void usage_send(FILE *out)
{
    fprintf(out,
            "usage: uipc send [--create [--excl]] [--timeout MS] [--wait] [--raw] URI [MSG...]\n"
            "Sends each MSG as one message; without MSG, each line of standard input\n"
            "(newline removed), or with --raw all of standard input as one message.\n"
            "  -c, --create      create the rendezvous and own it (removed at exit)\n"
            "  -x, --excl        with --create: fail if it already exists\n"
            "  -t, --timeout MS  bound every wait (default -1: wait as long as needed)\n"
            "  -w, --wait        wait (within --timeout) for the rendezvous to appear (default)\n"
            "      --no-wait     fail at once if the rendezvous does not exist\n"
            "  -r, --raw         send standard input as one binary message\n");
}

static void usage_recv(FILE *out)
{
    fprintf(out,
            "usage: uipc recv [--create [--excl]] [--timeout MS] [--wait] [-n COUNT] [--raw] URI\n"
            "Prints each message followed by a newline (with --raw: its bytes only) until\n"
            "the peer closes (exit 0), COUNT messages were read, or a wait times out.\n"
            "  -c, --create      create the rendezvous and own it (removed at exit)\n"
            "  -x, --excl        with --create: fail if it already exists\n"
            "  -t, --timeout MS  bound every wait (default -1: wait as long as needed)\n"
            "  -w, --wait        wait (within --timeout) for the rendezvous to appear (default)\n"
            "      --no-wait     fail at once if the rendezvous does not exist\n"
            "  -n, --count COUNT stop after COUNT messages\n"
            "  -r, --raw         write the bytes of each message with nothing added\n");
}

/* Parses the options common to send and recv; returns optind or -exit code. */
static int parse_common(int argc, char **argv, struct session *s, long *count)
{
    static const struct option opts[] = {
        {"create", no_argument, NULL, 'c'},   {"excl", no_argument, NULL, 'x'},
        {"timeout", required_argument, NULL, 't'}, {"wait", no_argument, NULL, 'w'},
        {"no-wait", no_argument, NULL, 'W'},
        {"raw", no_argument, NULL, 'r'},      {"count", required_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},     {NULL, 0, NULL, 0},
    };
    bool is_recv = strcmp(s->cmd, "recv") == 0;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, is_recv ? "cxt:wrn:h" : "cxt:wrh", opts, NULL)) != -1) {
        switch (c) {
        case 'c': s->flags |= UIPC_CREATE; break;
        case 'x': s->flags |= UIPC_EXCL; break;
        case 'w': s->wait = true; break;
        case 'W': s->wait = false; break;
        case 'r': s->raw = true; break;
        case 't':
            if (!parse_ms(optarg, &s->timeout_ms))
                return -fail_usage(s->cmd, "--timeout: '%s' is not -1 or a number of ms", optarg);
            break;
        case 'n': {
            char *end;
            errno = 0;
            *count = strtol(optarg, &end, 10);
            if (!is_recv || errno || *end || end == optarg || *count < 1)
                return -fail_usage(s->cmd, "--count: '%s' is not a positive number", optarg);
            break;
        }
        case 'h':
            (is_recv ? usage_recv : usage_send)(stdout);
            return -0x100; /* help printed: exit 0 */
        default:
            if (optopt)
                return -fail_usage(s->cmd, "unknown or incomplete option '-%c'", optopt);
            return -fail_usage(s->cmd, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if ((s->flags & UIPC_EXCL) && !(s->flags & UIPC_CREATE))
        return -fail_usage(s->cmd, "--excl needs --create");
    if (optind >= argc)
        return -fail_usage(s->cmd, "missing URI");
    s->uri = argv[optind];
    clock_gettime(CLOCK_MONOTONIC, &s->start);
    catch_stop_signals();
    return optind + 1;
}

int cmd_send(int argc, char **argv)
{
    struct session s = {.cmd = "send", .timeout_ms = UIPC_FOREVER, .wait = true};
    long count = 0;
    int first = parse_common(argc, argv, &s, &count);
    if (first < 0)
        return first == -0x100 ? 0 : -first;
    if (s.raw && first < argc)
        return fail_usage("send", "--raw reads standard input: give no MSG");
    int r = session_open(&s);
    if (r < 0) {
        die_if_stopped();
        return fail_uri("send", s.uri, r);
    }
    if (first < argc)
        for (int i = first; i < argc && r == 0; i++)
            r = send_one(&s, argv[i], strlen(argv[i]));
    else
        r = send_stdin(&s);
    int cr = uipc_close(s.ch);
    die_if_stopped();
    if (r == 0)
        r = cr;
    return r < 0 ? fail_uri("send", s.uri, r) : 0;
}

int cmd_recv(int argc, char **argv)
{
    struct session s = {.cmd = "recv", .timeout_ms = UIPC_FOREVER, .wait = true};
    long count = 0;
    int first = parse_common(argc, argv, &s, &count);
    if (first < 0)
        return first == -0x100 ? 0 : -first;
    if (first < argc)
        return fail_usage("recv", "unexpected argument '%s'", argv[first]);
    int r = session_open(&s);
    if (r < 0) {
        die_if_stopped();
        return fail_uri("recv", s.uri, r);
    }
    size_t max = uipc_max_msg(s.ch);
    size_t cap = max < 65536 ? (max ? max : 1) : 65536;
    char *buf = malloc(cap);
    if (!buf) {
        r = -ENOMEM;
        goto out;
    }
    for (long got = 0; count == 0 || got < count;) {
        ssize_t n = sliced(&s, false, buf, cap);
        if (n == -EMSGSIZE && cap < max) {
            /* The message stays queued: grow the buffer and read it again. */
            size_t bigger = cap > max / 2 ? max : cap * 2;
            char *p = realloc(buf, bigger);
            if (!p) {
                r = -ENOMEM;
                break;
            }
            buf = p;
            cap = bigger;
            continue;
        }
        if (n == -EPIPE) /* the peer closed and everything was read: end of stream */
            break;
        if (n < 0) {
            r = session_reopen(&s, (int)n);
            if (r < 0)
                break;
            continue;
        }
        s.talked = true;
        got++;
        if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n || (!s.raw && putchar('\n') == EOF) ||
            fflush(stdout) == EOF) {
            fprintf(stderr, "uipc recv: standard output: %s\n", strerror(errno));
            free(buf);
            uipc_close(s.ch);
            return 1;
        }
    }
out:
    free(buf);
    int cr = uipc_close(s.ch);
    die_if_stopped();
    if (r == 0)
        r = cr;
    return r < 0 ? fail_uri("recv", s.uri, r) : 0;
}
