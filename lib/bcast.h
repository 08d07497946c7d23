/* SPDX-License-Identifier: MIT */
/*
 * The broadcast ring behind shm: publish/subscribe: one writer, any number
 * of readers, each with a cursor of its own (docs/pubsub.md draws it).
 *
 * This layer is pure memory: no system call, no waiting, C11 atomics only.
 * The endpoint layer (bcast_ep.c) adds the file, liveness and sleeping.
 *
 * Layout of the mapping: a header page written only by the publisher, the
 * data area (written only by the publisher), then the control area that
 * every subscriber writes (its slot and the shared waiter words).  A
 * subscriber maps header and data read-only and only the control area
 * writable, and the publisher validates everything it reads there.
 *
 * Records have the layout of lib/ring.h: a 16-byte header (commit word
 * position | tag, payload length, zero), the payload padded to 16 bytes,
 * never wrapping (a skip record fills the end of the area).  Positions are
 * 64-bit byte counts that only grow, so a position appears in a commit word
 * once.
 *
 * The publisher writes each message once and never takes a lock.  Before
 * it reuses bytes it "claims" them: it walks the oldest records it is about
 * to overwrite, publishes the new oldest position, zeroes each of those
 * records' commit words (a release fence between each step), and only then
 * writes.  A reader is a seqlock reader of its record: it loads the commit
 * word (acquire), reads the record, and loads the commit word again after
 * an acquire fence.  If the second load still names its position, nothing
 * it read was overwritten; if not, the publisher lapped it: the reader
 * resumes at the published oldest position and reports -EOVERFLOW once.
 * A lapped reader therefore never returns a torn or overwritten message.
 *
 * Block mode (?overflow=block) adds back-pressure: each subscriber holds a
 * slot and publishes its cursor there after each message; before a claim
 * the publisher makes sure that no live subscriber's cursor lies in what it
 * claims, and otherwise reports -EAGAIN with the slot that blocks it (the
 * endpoint layer waits, and drops the slot if its owner died).  A joining
 * subscriber and the publisher meet in a Dekker handshake on two words
 * (want, joins; see uipc__bcast_join) so that a subscriber is never
 * overwritten between reading head and being seen.
 *
 * Waking follows lib/ring.c: a subscriber that sleeps sets SLEEPING (or
 * PARKED, when it polls) in the shared waiter word with a sequentially
 * consistent read-modify-write and then looks at the ring again; the
 * publisher's commit is a sequentially consistent store followed by a load
 * of that word, so either the reader sees the message or the publisher sees
 * the bit.  Many subscribers share the word: none of them clears it, the
 * publisher exchanges it for 0 and wakes them all.
 */
#ifndef UIPC_BCAST_H
#define UIPC_BCAST_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#define UIPC__BCAST_MAGIC 0x5453414342435049ull /* "IPCBCAST" in little-endian memory */
#define UIPC__BCAST_VERSION 1u
#define UIPC__BCAST_HDR_SIZE 4096u
#define UIPC__BCAST_LINE 128u
#define UIPC__BCAST_DEFAULT_SUBS 64u
#define UIPC__BCAST_MAX_SUBS 4096u

/* hdr->flags */
#define UIPC__BCAST_BLOCK 1u /* ?overflow=block */

/* A slot's state word: generation << 2 | one of these. */
#define UIPC__BCAST_SLOT_FREE 0u
#define UIPC__BCAST_SLOT_ACTIVE 1u

/* The publisher's state word: generation << 2 | one of these. */
#define UIPC__BCAST_PUB_OPEN 1u
#define UIPC__BCAST_PUB_CLOSED 2u

/* Bits of the waiter words (same meaning as in ring.h). */
#define UIPC__BCAST_SLEEPING 1u
#define UIPC__BCAST_PARKED 2u

/* The header page: geometry written once before the file has a name, then
 * the publisher's shared words, each on a line of its own. */
struct uipc__bcast_hdr {
    uint64_t magic;
    uint32_t version;
    uint32_t hdr_size;   /* UIPC__BCAST_HDR_SIZE */
    uint64_t ring_size;  /* data bytes, a power of two */
    uint64_t max_msg;    /* <= ring_size - 2 * 16 */
    uint64_t ctl_size;   /* bytes of the control area */
    uint64_t total_size; /* hdr_size + ring_size + ctl_size */
    uint32_t nslots;     /* subscriber slots */
    uint32_t flags;      /* UIPC__BCAST_* */
    uint8_t id[16];      /* random per ring: names the doorbells */
    /* Where the publisher stands. */
    _Alignas(UIPC__BCAST_LINE) _Atomic uint64_t head; /* after the last commit (late joiners) */
    _Atomic uint32_t pub_state;
    _Atomic uint32_t pub_pid;
    /* Claims: read by lapped readers and joiners only. */
    _Alignas(UIPC__BCAST_LINE) _Atomic uint64_t oldest; /* oldest record still intact */
    _Atomic uint64_t want; /* block mode: the oldest the publisher is about to make it */
};

/* One subscriber's slot in the control area. */
struct uipc__bcast_slot {
    _Alignas(UIPC__BCAST_LINE) _Atomic uint64_t cursor; /* block mode: next position it reads */
    _Atomic uint32_t state;
    _Atomic uint32_t pid;
    _Atomic uint32_t parked; /* polls: the publisher rings its doorbell */
};

/* The start of the control area; the slots follow. */
struct uipc__bcast_ctl {
    _Alignas(UIPC__BCAST_LINE) _Atomic uint32_t sub_wait; /* SLEEPING / PARKED subscribers */
    _Alignas(UIPC__BCAST_LINE) _Atomic uint32_t pub_wait; /* block mode: publisher SLEEPING */
    _Alignas(UIPC__BCAST_LINE) _Atomic uint32_t joins;    /* bumped by every joining subscriber */
    struct uipc__bcast_slot slot[];
};

/* Bytes of the control area for nslots slots. */
uint64_t uipc__bcast_ctl_size(uint32_t nslots);

/* Geometry a creator chooses; validated again by every attacher. */
struct uipc__bcast_geom {
    uint64_t ring_size, max_msg;
    uint32_t nslots, flags;
};
/* -EINVAL unless g is a geometry this version can use. */
int uipc__bcast_geom_check(const struct uipc__bcast_geom *g);
/* Writes the header of a zero-filled mapping of total bytes (magic last). */
void uipc__bcast_format(struct uipc__bcast_hdr *h, const struct uipc__bcast_geom *g,
                        const uint8_t id[16]);

/* ---- publisher ---- */

struct uipc__bcast_pub {
    struct uipc__bcast_hdr *hdr;
    struct uipc__bcast_ctl *ctl;
    unsigned char *data;
    uint64_t size, max_msg;
    uint32_t nslots;
    bool block;
    uint64_t head;       /* private: where the next record goes */
    uint64_t oldest;     /* private: the oldest record still intact */
    uint64_t pending;    /* bytes reserved at head */
    uint64_t cached_min; /* block: the least live cursor at the last scan */
    uint32_t cached_joins;
    int blocker; /* block: the slot that made the last reserve fail */
};

/* Binds a publisher to a formatted mapping of geometry g (a fresh ring:
 * head 0).  The geometry comes from the caller, never again from the
 * shared header: someone with write access could change that. */
void uipc__bcast_pub_bind(struct uipc__bcast_pub *p, unsigned char *map,
                          const struct uipc__bcast_geom *g);
/*
 * Finds room for len bytes and points *buf at it: 0, -EMSGSIZE, or (block
 * mode) -EAGAIN while a live subscriber's cursor lies in the bytes it
 * needs (p->blocker names its slot).  May publish a skip record first;
 * *sub_bits receives the subscribers' waiter bits that cleared.
 */
int uipc__bcast_reserve(struct uipc__bcast_pub *p, size_t len, void **buf, uint32_t *sub_bits);
/* Publishes the first len (<= reserved) bytes; returns the waiter bits. */
uint32_t uipc__bcast_commit(struct uipc__bcast_pub *p, size_t len);
/* Block mode: rescans the slots; true when a reserve of len may succeed. */
bool uipc__bcast_writable(struct uipc__bcast_pub *p, size_t len);
/* Block mode: forgets slot i (its owner died); the next reserve rescans. */
void uipc__bcast_drop_slot(struct uipc__bcast_pub *p, int i);

/* ---- subscriber ---- */

struct uipc__bcast_sub {
    const struct uipc__bcast_hdr *hdr;
    struct uipc__bcast_ctl *ctl;
    struct uipc__bcast_slot *slot; /* NULL: no slot (only allowed in drop mode) */
    const unsigned char *data;
    uint64_t size, max_msg;
    bool block;
    uint64_t pos;      /* private: the next record to read */
    uint64_t pending;  /* size of the record peeked */
    uint32_t pub_bits; /* block: the publisher's waiter bits a skip cleared (the caller wakes) */
};

/*
 * Binds a subscriber: hdr and data may be a read-only mapping, ctl
 * writable; slot is the one it owns (or NULL); g the geometry validated
 * at open (the shared header is not read for it again).  Starts at the current
 * head: in block mode after the join handshake with the publisher.
 */
void uipc__bcast_sub_bind(struct uipc__bcast_sub *s, const unsigned char *map,
                          const struct uipc__bcast_geom *g, struct uipc__bcast_ctl *ctl,
                          struct uipc__bcast_slot *slot);
/* Block mode: takes slot's place among the cursors the publisher honours. */
void uipc__bcast_join(struct uipc__bcast_sub *s, uint32_t generation);
/* Leaves: the slot, if it still holds my_state, no longer holds the
 * publisher back.  Returns the publisher's waiter bits. */
uint32_t uipc__bcast_leave(struct uipc__bcast_sub *s, uint32_t my_state);
/*
 * Points *buf at the next message and returns its length: -EAGAIN when
 * there is none yet, -EOVERFLOW when the publisher lapped us (we moved to
 * the oldest message still held), -EBADMSG for a record that cannot be.
 * The bytes must be validated: by uipc__bcast_release, or use read.
 */
ssize_t uipc__bcast_peek(struct uipc__bcast_sub *s, const void **buf);
/*
 * Consumes the peeked message: 0, or -EOVERFLOW when it was overwritten
 * while peeked (what the caller read of it is garbage; we moved to the
 * oldest message still held).  *pub_bits: the publisher's waiter bits.
 */
int uipc__bcast_release(struct uipc__bcast_sub *s, uint32_t *pub_bits);
/* peek + copy + release: the length, -EMSGSIZE (stays queued), or as peek. */
ssize_t uipc__bcast_read(struct uipc__bcast_sub *s, void *buf, size_t cap, uint32_t *pub_bits);
/* True when a receive would not say -EAGAIN: a record or a lap is waiting. */
bool uipc__bcast_readable(const struct uipc__bcast_sub *s);

#endif /* UIPC_BCAST_H */

/* ------------------------------------------------------------------ */
/* Layer 2: a shm: publisher or subscriber over a named file           */
/* (bcast_ep.c: the file, liveness, waiting, doorbells)                */
/* ------------------------------------------------------------------ */

#include "pollset.h"
#include "probe.h"
#include "rendezvous.h" /* struct uipc__pidwatch */
#include "uri.h"
#include "wait.h"

struct uipc__bcast_ep {
    bool publisher;
    unsigned char *map; /* publisher: all of it, writable; subscriber: header + data, read-only */
    size_t map_len;
    unsigned char *ctl_map; /* subscriber: the control area, writable */
    size_t ctl_len;
    struct uipc__bcast_hdr *hdr;
    struct uipc__bcast_pub pub;
    struct uipc__bcast_sub sub;
    int lock_fd; /* our open file description: the publisher's or our slot's OFD lock */
    int slot;    /* subscriber: our slot, -1 for none */
    dev_t dev;   /* the file, to recognise it by name at close */
    ino_t ino;
    uint32_t pub_state; /* subscriber: the publisher's state word at open */
    uint32_t my_state;  /* subscriber: our slot's state word */
    bool pub_gone;      /* subscriber: it closed or died (sticky) */
    int broken;         /* sticky -EBADMSG */
    bool reserved;      /* a zero-copy reservation is outstanding */
    size_t reserved_len;
    bool peeked;           /* a zero-copy peek is outstanding */
    int64_t spin_ns;       /* ?spin=, 0 on a single CPU */
    int64_t next_check_ns; /* rate limit of liveness checks */
    /* Doorbells (uipc_pollfd of a subscriber; docs/pubsub.md). */
    int bell_fd;                     /* subscriber: bound once polling */
    int tx_fd;                       /* publisher: unbound datagram socket that rings the bells */
    struct uipc__pidwatch pub_watch; /* subscriber: the publisher's pidfd in the poll set */
    bool polling;
    struct uipc__pollset ps;
};

/* A closed endpoint. */
void uipc__bcast_ep_init(struct uipc__bcast_ep *ep);
/*
 * Publisher (flags has UIPC_CREATE | UIPC_PUB) or subscriber (UIPC_SUB) of
 * the broadcast ring named name in dirfd.  Keys: size, maxmsg, spin, mode,
 * overflow, subs; a subscriber's size, maxmsg, overflow and subs must agree
 * with the publisher's (-EINVAL).  Publisher: -EADDRINUSE while a live
 * publisher holds the name (-EEXIST with UIPC_EXCL); a dead one's name is
 * taken over.  Subscriber: -ENOENT without a live publisher, -EBUSY when
 * every slot is taken, -EPROTOTYPE when name is a two-party channel.
 */
int uipc__bcast_open_at(struct uipc__bcast_ep *ep, int dirfd, const char *name,
                        const struct uipc__uri *u, int flags);
/* Removes a stale name: -ENOENT, -EADDRINUSE while its publisher lives
 * (force: removes it anyway, still only a broadcast or two-party ring). */
int uipc__bcast_unlink_at(int dirfd, const char *name, bool force);
/* probe: the uipc_list row of the broadcast ring name in dirfd ("shm://"
 * name), live while its publisher holds it; 0 when it is not one. */
int uipc__bcast_probe_row(struct uipc__probe_walk *w, int dirfd, const char *name,
                          const struct stat *st);
/* True if name in dirfd holds a broadcast ring (not a two-party one). */
bool uipc__bcast_is_bcast(int dirfd, const char *name);
/* Releases everything; the publisher tells its subscribers at once. */
void uipc__bcast_ep_close(struct uipc__bcast_ep *ep);

/* The message operations with the contract of struct uipc_transport. */
ssize_t uipc__bcast_send(struct uipc__bcast_ep *ep, const void *msg, size_t len,
                         const struct uipc__deadline *dl);
ssize_t uipc__bcast_recv(struct uipc__bcast_ep *ep, void *buf, size_t cap,
                         const struct uipc__deadline *dl);
int uipc__bcast_send_reserve(struct uipc__bcast_ep *ep, void **buf, size_t len,
                             const struct uipc__deadline *dl);
int uipc__bcast_send_commit(struct uipc__bcast_ep *ep, size_t len);
ssize_t uipc__bcast_recv_peek(struct uipc__bcast_ep *ep, const void **buf,
                              const struct uipc__deadline *dl);
int uipc__bcast_recv_release(struct uipc__bcast_ep *ep);
/* Subscriber: the level-triggered poll descriptor.  Publisher: -ENOTSUP. */
int uipc__bcast_pollfd(struct uipc__bcast_ep *ep);
/*
 * uipc_poll (the poll_ready operation of internal.h).  Subscriber:
 * UIPC_POLLIN while a message, a lap or the publisher's end waits
 * (UIPC_POLLHUP once it is gone); with w, parks on its poll descriptor.
 * UIPC_POLLOUT always holds (a send fails at once).  Publisher: never
 * UIPC_POLLIN; UIPC_POLLOUT always (drop mode never waits; block mode's
 * wait is for live subscribers, which uipc_poll cannot see).
 */
struct uipc__pollwait;
int uipc__bcast_poll_ready(struct uipc__bcast_ep *ep, int events, struct uipc__pollwait *w);
