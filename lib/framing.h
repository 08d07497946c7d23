/* SPDX-License-Identifier: MIT */
/*
 * Length-prefixed messages over a byte stream (pipe, FIFO, stream socket),
 * written once for every stream transport.
 *
 * Wire format: a 4-byte little-endian length, then that many bytes.
 *
 * A header longer than the channel's max_msg is a protocol violation (no
 * libuipc sender writes one): -EBADMSG, and the framer is broken for good
 * (every later send and receive is -EBADMSG), so a hostile peer cannot
 * wedge a receiver behind a frame it can neither take nor skip.
 *
 * Receiving reads as much as the kernel has (up to a 64 KiB buffer) and
 * hands out whole messages (after a large message it reads only the next
 * header, so that a large body is read straight into the caller's buffer); a message larger than the caller's buffer gives
 * -EMSGSIZE and stays queued.  A timeout in the middle of a message keeps
 * what arrived, so the next call continues where this one stopped: a caller
 * never sees a torn message.  End of stream inside a message is -EPIPE.
 * A pipe receive with a bounded timeout waits in read() under the alarm of
 * wait.h rather than in poll (framing.c, wait_and_fill, says why).
 *
 * Sending writes header and body with one writev.  Once any byte of a
 * message is written the message is committed: if the deadline passes
 * before the rest is written, the rest is kept in a backlog that the next
 * send (and any receive) flushes first, and the call returns len.  Close
 * waits up to UIPC__CLOSE_FLUSH_MS for the peer to take such a backlog.
 *
 * SIGPIPE is never raised.  Sockets use MSG_NOSIGNAL.  A pipe has no such
 * flag, so the framer of a pipe holds a guard: a read end of its own write
 * pipe that it never reads.  With a reader always present the kernel never
 * signals, and a send costs one system call, as a raw write does (blocking
 * the signal around each write would cost two more).  The peer's death
 * then shows as end of stream or POLLHUP on the read pipe, which the peer
 * held the other end of: a send after the read side saw end of stream is
 * -EPIPE at once, a send waiting for room returns -EPIPE when the read
 * pipe hangs up, and a send that has room looks for that hang-up (a poll,
 * one system call) when uipc__live_check_due says so: the first send after
 * a pause of 1 ms or more, else once a millisecond.  So a send to a peer
 * that died 1 ms or more ago is -EPIPE, as on a raw pipe, and a sender that
 * never pauses loses at most 1 ms of sends (instead of a whole pipe, up to
 * 256 KiB).  Looking on every send would cost a second system call per
 * message (+50% per send measured here), a per-send SIGPIPE mask two.
 *
 * Poll support: uipc__framer_pollfd returns an epoll descriptor watching the
 * read side and an eventfd that is kept signalled while a whole message
 * waits in the user-space buffer, so level-triggered readiness is exact.
 */
#ifndef UIPC_FRAMING_H
#define UIPC_FRAMING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "pollset.h"
#include "wait.h"

#define UIPC__FRAME_HDR 4
#define UIPC__FRAME_RBUF (64u << 10)
/* Messages from this size on are read straight into the caller's buffer. */
#define UIPC__FRAME_DIRECT (16u << 10)
/* How long a close waits for the peer to take the rest of a sent message. */
#define UIPC__CLOSE_FLUSH_MS 1000

struct uipc__framer {
    int rfd, wfd;          /* the same descriptor for sockets; -1 if not yet */
    int guard;             /* pipes: an unread reader of the write pipe (see above) */
    bool sock;             /* send()/recv() with MSG_NOSIGNAL instead of write()/read() */
    bool eof;              /* the peer's end of stream was read */
    bool large;            /* the last message was >= UIPC__FRAME_DIRECT */
    bool nbfd;             /* no RWF_NOWAIT on pipes: O_NONBLOCK descriptors instead */
    bool wnb;              /* pipes: the write descriptor is O_NONBLOCK (framing.c) */
    bool alarmed;          /* pipes: a read may block, the alarm ends it (wait_and_fill) */
    int64_t rcvtimeo_ns;   /* sockets: the SO_RCVTIMEO set, 0 for none (framing.c) */
    bool hup;              /* pipes: the read pipe hung up while we sent: peer gone */
    bool hup_seen;         /* uipc_poll saw the read side hang up (peer gone) */
    int broken;            /* sticky error (-EBADMSG on a garbage header) */
    size_t max_msg;        /* the channel's limit: a longer header is -EBADMSG (set by the transport) */
    struct uipc__live_check live; /* pipes: when a send looks for the peer's hang-up */

    unsigned char *rbuf;   /* UIPC__FRAME_RBUF bytes, allocated on first use */
    size_t rpos, rlen;     /* unread bytes are rbuf[rpos, rlen) */

    /* A message whose body is partly received (only after a timeout). */
    unsigned char *part;
    size_t part_len, part_got;
    bool part_active;

    /* Bytes of a committed message not yet written. */
    unsigned char *tx;
    size_t tx_len, tx_off;

    struct uipc__pollset ps;
};

/*
 * Sets up a framer on rfd and wfd (either may be -1 until attached).  The
 * framer makes its descriptors blocking and chooses per call whether to
 * wait (framing.c explains why).
 */
void uipc__framer_init(struct uipc__framer *f, int rfd, int wfd, bool sock);
/* Gives a framer set up without them its descriptors (an accepted peer). */
void uipc__framer_attach(struct uipc__framer *f, int rfd, int wfd);
/*
 * For pipes: takes over guard, a read end of the pipe wfd writes to, and
 * enlarges both pipes (best effort) so that a message and its header fit.
 */
void uipc__framer_guard(struct uipc__framer *f, int guard);
/* Sends one message; see above.  Returns len or a negative errno. */
ssize_t uipc__framer_send(struct uipc__framer *f, const void *msg, size_t len,
                          const struct uipc__deadline *dl);
/* Receives one message into buf; returns its length or a negative errno. */
ssize_t uipc__framer_recv(struct uipc__framer *f, void *buf, size_t cap,
                          const struct uipc__deadline *dl);
/*
 * Sockets: sets SO_RCVTIMEO on rfd so that a blocking receive returns by
 * the deadline (or clears it for a deadline of forever).  0 when a
 * blocking receive may follow, -EAGAIN when too little time is left.
 * Used by the framer and by unix: seqpacket, which frames nothing.
 */
int uipc__framer_arm_rcvtimeo(struct uipc__framer *f, const struct uipc__deadline *dl);
/*
 * The poll_ready operation of a framed channel (internal.h): UIPC_POLLIN
 * when a whole message (or the end) is in the buffer or in the kernel,
 * read in without waiting; UIPC_POLLOUT when the write side has room;
 * UIPC_POLLHUP once the end of stream was read.  Sleeps on the read side
 * (POLLIN) and the write side (POLLOUT).
 */
struct uipc__pollwait;
int uipc__framer_poll_ready(struct uipc__framer *f, int events, struct uipc__pollwait *w);
/* The stable poll descriptor (created on first call). */
int uipc__framer_pollfd(struct uipc__framer *f);
/* Frees buffers, closes both descriptors and the poll set. */
void uipc__framer_release(struct uipc__framer *f);

#endif /* UIPC_FRAMING_H */
