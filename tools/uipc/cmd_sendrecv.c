/* SPDX-License-Identifier: MIT *
 * pub is send opened with UIPC_CREATE | UIPC_PUB (it owns the rendezvous:
 * its exit ends the subscribers' streams); sub is recv opened with
 * UIPC_SUB, and reports -EOVERFLOW (it was lapped and lost messages) on
 * standard error and goes on.
 */
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
 *
 * recv --listen URI serves many senders at once (shm:, unix:, tcp: --
 * every transport with a listener): it accepts each client and waits on
 * all of them and the listener with one uipc_poll, printing each message
 * after the sender's client number and, where the kernel vouches for it,
 * its pid and uid.  Arrivals and departures go to standard error, where
 * the first line is "listening on URI" (port 0 resolved).
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

/* parse_common's return for --help: exit 0. */
#define HELP_SHOWN (-0x100)

struct session {
    const char *cmd;
    const char *uri;
    int flags;
    int timeout_ms;
    bool wait;
    bool raw;
    bool listen;          /* recv --listen: serve many senders */
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

/* The next slice of a wait that started at t0 within the session's
 * timeout: SLICE_MS, or what is left (*last then says it is the last). */
static int next_slice(const struct session *s, const struct timespec *t0, bool *last)
{
    *last = false;
    if (s->timeout_ms < 0)
        return SLICE_MS;
    long left = s->timeout_ms - elapsed_ms(t0);
    if (left > SLICE_MS)
        return SLICE_MS;
    *last = true;
    return left > 0 ? (int)left : 0;
}

/*
 * A call made within the session's timeout, in slices of SLICE_MS so that a
 * stop signal is seen: call(ctx, slice_ms) is made again while a slice runs
 * out; -EINTR once a signal arrived (nothing is lost: a slice that ran out
 * sent or took nothing, or kept what it had).
 */
static ssize_t in_slices(struct session *s, ssize_t (*call)(void *ctx, int slice_ms), void *ctx)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        if (stop_signal)
            return -EINTR;
        bool last;
        int slice = next_slice(s, &t0, &last);
        ssize_t r = call(ctx, slice);
        if (last && r == -EAGAIN && s->timeout_ms != 0)
            return -ETIMEDOUT; /* the last slice was 0 ms of a longer timeout */
        if (last || (r != -ETIMEDOUT && r != -EAGAIN))
            return r;
    }
}

struct io_call {
    uipc_channel *ch;
    bool sending;
    void *buf;
    size_t len;
};

static ssize_t io_slice(void *ctx, int slice_ms)
{
    const struct io_call *c = ctx;
    return c->sending ? uipc_send(c->ch, c->buf, c->len, slice_ms)
                      : uipc_recv(c->ch, c->buf, c->len, slice_ms);
}

/* One send or receive within the session's timeout (in_slices). */
static ssize_t sliced(struct session *s, bool sending, void *buf, size_t len)
{
    struct io_call c = {s->ch, sending, buf, len};
    return in_slices(s, io_slice, &c);
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
            "       uipc recv --listen [--excl] [--timeout MS] [-n COUNT] URI\n"
            "Prints each message followed by a newline (with --raw: its bytes only) until\n"
            "the peer closes (exit 0), COUNT messages were read, or a wait times out.\n"
            "With --listen, serves any number of senders at once and prefixes each\n"
            "message with its sender: \"client N (pid P, uid U): \" where the transport\n"
            "vouches for them (unix:), else \"client N: \".\n"
            "  -c, --create      create the rendezvous and own it (removed at exit)\n"
            "  -x, --excl        with --create or --listen: fail if it already exists\n"
            "  -t, --timeout MS  bound every wait (default -1: wait as long as needed)\n"
            "  -w, --wait        wait (within --timeout) for the rendezvous to appear (default)\n"
            "      --no-wait     fail at once if the rendezvous does not exist\n"
            "  -n, --count COUNT stop after COUNT messages\n"
            "  -r, --raw         write the bytes of each message with nothing added\n"
            "  -l, --listen      listen on URI and serve many senders (see above)\n");
}

static void usage_pub(FILE *out)
{
    fprintf(out,
            "usage: uipc pub [--excl] [--timeout MS] [--raw] URI [MSG...]\n"
            "Publishes each MSG as one message to every subscriber attached at that moment;\n"
            "without MSG, each line of standard input (newline removed), or with --raw all\n"
            "of standard input as one message.  Owns the rendezvous until it exits.\n"
            "URI keys: ?overflow=drop (default) or block; ?subs=N; see uipc(7).\n"
            "  -x, --excl        fail if the rendezvous already exists\n"
            "  -t, --timeout MS  bound every wait (default -1: wait as long as needed)\n"
            "  -r, --raw         publish standard input as one binary message\n");
}

static void usage_sub(FILE *out)
{
    fprintf(out,
            "usage: uipc sub [--timeout MS] [--wait] [-n COUNT] [--raw] URI\n"
            "Subscribes and prints each message published from now on, followed by a\n"
            "newline (with --raw: its bytes only), until the publisher is gone (exit 0),\n"
            "COUNT messages were read, or a wait times out.  Messages lost because the\n"
            "subscriber fell behind (overflow=drop) are reported on standard error.\n"
            "  -t, --timeout MS  bound every wait (default -1: wait as long as needed)\n"
            "  -w, --wait        wait (within --timeout) for a publisher to appear\n"
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
        {"help", no_argument, NULL, 'h'},     {"listen", no_argument, NULL, 'l'},
        {NULL, 0, NULL, 0},
    };
    bool is_recv = strcmp(s->cmd, "recv") == 0 || strcmp(s->cmd, "sub") == 0;
    bool pubsub = s->flags & (UIPC_PUB | UIPC_SUB);
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, is_recv ? "cxt:wrn:hl" : "cxt:wrh", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            if (pubsub) /* implied by pub, refused by sub */
                return -fail_usage(s->cmd, "--create is not an option of %s", s->cmd);
            s->flags |= UIPC_CREATE;
            break;
        case 'x': s->flags |= UIPC_EXCL; break;
        case 'w': s->wait = true; break;
        case 'W': s->wait = false; break;
        case 'r': s->raw = true; break;
        case 'l':
            if (!is_recv || pubsub)
                return -fail_usage(s->cmd, "unknown option '--listen'");
            s->listen = true;
            break;
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
            if (pubsub)
                (is_recv ? usage_sub : usage_pub)(stdout);
            else
                (is_recv ? usage_recv : usage_send)(stdout);
            return HELP_SHOWN;
        default:
            if (optopt)
                return -fail_usage(s->cmd, "unknown or incomplete option '-%c'", optopt);
            return -fail_usage(s->cmd, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (s->listen && (s->raw || (s->flags & UIPC_CREATE)))
        return -fail_usage(s->cmd, "--listen takes none of --raw, --create");
    if ((s->flags & UIPC_EXCL) && !(s->flags & UIPC_CREATE) && !s->listen)
        return -fail_usage(s->cmd, "--excl needs --create");
    if (optind >= argc)
        return -fail_usage(s->cmd, "missing URI");
    s->uri = argv[optind];
    clock_gettime(CLOCK_MONOTONIC, &s->start);
    catch_stop_signals();
    return optind + 1;
}

static int run_send(struct session s, int argc, char **argv)
{
    long count = 0;
    int first = parse_common(argc, argv, &s, &count);
    if (first < 0)
        return first == HELP_SHOWN ? 0 : -first;
    if (s.raw && first < argc)
        return fail_usage(s.cmd, "--raw reads standard input: give no MSG");
    int r = session_open(&s);
    if (r < 0) {
        die_if_stopped();
        return fail_uri(s.cmd, s.uri, r);
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
    return r < 0 ? fail_uri(s.cmd, s.uri, r) : 0;
}

int cmd_send(int argc, char **argv)
{
    return run_send((struct session){.cmd = "send", .timeout_ms = UIPC_FOREVER, .wait = true},
                    argc, argv);
}

int cmd_pub(int argc, char **argv)
{
    return run_send((struct session){.cmd = "pub", .timeout_ms = UIPC_FOREVER,
                                     .flags = UIPC_CREATE | UIPC_PUB},
                    argc, argv);
}

/* After -EMSGSIZE (the message stays queued): a buffer twice as large, at
 * most max.  False when it cannot grow (then the error stands). */
static bool grow_buffer(char **buf, size_t *cap, size_t max)
{
    if (*cap >= max)
        return false;
    size_t bigger = *cap > max / 2 ? max : *cap * 2;
    char *p = realloc(*buf, bigger);
    if (!p)
        return false;
    *buf = p;
    *cap = bigger;
    return true;
}

/* ---- recv --listen ---- */

struct client {
    uipc_channel *ch;
    unsigned long id;  /* numbered from 1 in order of arrival */
    char who[96];      /* "client N (pid P, uid U)" or "client N" */
};

struct server {
    uipc_listener *l;
    struct client *cl;
    uipc_pollitem *items; /* [0] the listener, [1 + i] client i */
    size_t n, cap;
    unsigned long next_id;
    char *buf;
    size_t bufcap;
};

static int server_accept(struct server *sv)
{
    uipc_channel *ch;
    int r = uipc_accept(sv->l, &ch, 0);
    if (r == -EAGAIN)
        return 0; /* a client refused by ?allow_uid=, or gone already */
    if (r < 0)
        return r;
    if (sv->n == sv->cap) {
        size_t cap = sv->cap ? sv->cap * 2 : 16;
        struct client *cl = realloc(sv->cl, cap * sizeof *cl);
        if (cl)
            sv->cl = cl;
        uipc_pollitem *items = realloc(sv->items, (cap + 1) * sizeof *items);
        if (items)
            sv->items = items;
        if (!cl || !items) {
            uipc_close(ch);
            return -ENOMEM;
        }
        sv->cap = cap;
    }
    struct client *c = &sv->cl[sv->n++];
    c->ch = ch;
    c->id = ++sv->next_id;
    pid_t pid;
    uid_t uid;
    if (uipc_peer_cred(ch, &pid, &uid, NULL) == 0)
        snprintf(c->who, sizeof c->who, "client %lu (pid %ld, uid %lu)", c->id, (long)pid,
                 (unsigned long)uid);
    else
        snprintf(c->who, sizeof c->who, "client %lu", c->id);
    fprintf(stderr, "uipc recv: %s connected\n", c->who);
    return 0;
}

static void server_drop(struct server *sv, size_t i, const char *why)
{
    fprintf(stderr, "uipc recv: %s %s\n", sv->cl[i].who, why);
    uipc_close(sv->cl[i].ch);
    sv->cl[i] = sv->cl[--sv->n];
}

/* Takes one message from client i: 1 printed, 0 nothing (or it left), < 0 error. */
static int server_take(struct server *sv, size_t i)
{
    struct client *c = &sv->cl[i];
    ssize_t n;
    while ((n = uipc_recv(c->ch, sv->buf, sv->bufcap, 0)) == -EMSGSIZE &&
           grow_buffer(&sv->buf, &sv->bufcap, uipc_max_msg(c->ch)))
        ;
    if (n == -EAGAIN)
        return 0;
    if (n < 0) {
        server_drop(sv, i, n == -EPIPE ? "left" : uipc_strerror((int)n));
        return 0;
    }
    if (printf("%s: ", c->who) < 0 || fwrite(sv->buf, 1, (size_t)n, stdout) != (size_t)n ||
        putchar('\n') == EOF || fflush(stdout) == EOF)
        return -EIO;
    return 1;
}

struct poll_call {
    uipc_pollitem *items;
    size_t n;
};

static ssize_t poll_slice(void *ctx, int slice_ms)
{
    const struct poll_call *c = ctx;
    return uipc_poll(c->items, c->n, slice_ms);
}

/* uipc_poll within the session's timeout (in_slices). */
static int poll_sliced(struct session *s, uipc_pollitem *items, size_t n)
{
    struct poll_call c = {items, n};
    return (int)in_slices(s, poll_slice, &c);
}

static int serve_listen(struct session *s, long count)
{
    struct server sv = {.bufcap = 65536};
    int r = uipc_listen(&sv.l, s->uri, s->flags & UIPC_EXCL);
    if (r < 0)
        return r;
    fprintf(stderr, "uipc recv: listening on %s\n", uipc_listener_uri(sv.l));
    if (!(sv.buf = malloc(sv.bufcap)) || !(sv.items = malloc(sizeof *sv.items)))
        r = -ENOMEM;
    for (long got = 0; r == 0 && (count == 0 || got < count);) {
        sv.items[0] = (uipc_pollitem){.l = sv.l, .events = UIPC_POLLIN};
        for (size_t i = 0; i < sv.n; i++)
            sv.items[1 + i] = (uipc_pollitem){.ch = sv.cl[i].ch, .events = UIPC_POLLIN};
        size_t polled = sv.n;
        r = poll_sliced(s, sv.items, 1 + polled);
        if (r < 0)
            break;
        r = 0;
        /* Backwards: dropping client i moves the last one into its place. */
        for (size_t i = polled; r >= 0 && i-- > 0;)
            if (sv.items[1 + i].revents && (r = server_take(&sv, i)) > 0)
                got++;
        r = r < 0 ? r : 0;
        if (r == 0 && (sv.items[0].revents & UIPC_POLLIN))
            r = server_accept(&sv);
    }
    while (sv.n)
        server_drop(&sv, sv.n - 1, "closed");
    free(sv.cl);
    free(sv.items);
    free(sv.buf);
    int cr = uipc_listener_close(sv.l);
    return r < 0 ? r : cr;
}

static int run_recv(struct session s, int argc, char **argv)
{
    long count = 0;
    int first = parse_common(argc, argv, &s, &count);
    if (first < 0)
        return first == HELP_SHOWN ? 0 : -first;
    if (first < argc)
        return fail_usage(s.cmd, "unexpected argument '%s'", argv[first]);
    if (s.listen) {
        int r = serve_listen(&s, count);
        die_if_stopped(); /* after the clean close: die of the signal */
        return r < 0 ? fail_uri(s.cmd, s.uri, r) : 0;
    }
    int r = session_open(&s);
    if (r < 0) {
        die_if_stopped();
        return fail_uri(s.cmd, s.uri, r);
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
            if (!grow_buffer(&buf, &cap, max)) {
                r = -ENOMEM;
                break;
            }
            continue;
        }
        if (n == -EPIPE) /* the peer closed and everything was read: end of stream */
            break;
        if (n == -EOVERFLOW) { /* a subscriber that fell behind: say so, go on */
            fprintf(stderr, "uipc %s: %s: %s\n", s.cmd, s.uri, uipc_strerror((int)n));
            continue;
        }
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
            fprintf(stderr, "uipc %s: standard output: %s\n", s.cmd, strerror(errno));
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
    return r < 0 ? fail_uri(s.cmd, s.uri, r) : 0;
}

int cmd_recv(int argc, char **argv)
{
    return run_recv((struct session){.cmd = "recv", .timeout_ms = UIPC_FOREVER, .wait = true},
                    argc, argv);
}

int cmd_sub(int argc, char **argv)
{
    return run_recv((struct session){.cmd = "sub", .timeout_ms = UIPC_FOREVER, .wait = true,
                                     .flags = UIPC_SUB},
                    argc, argv);
}
