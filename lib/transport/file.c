/* SPDX-License-Identifier: MIT */
/*
 * file: — append-only spool files, "file:///var/tmp/spool?maxmsg=1M&mode=0600".
 *
 * Two parties, one file per direction: <path>.c2s (client to owner) and
 * <path>.s2c (owner to client).  Messages are records appended to the
 * file; they outlive both processes (persistent: close never deletes,
 * uipc_unlink removes both files).  Reliable and ordered as long as the
 * file system keeps what was written; durable against a process crash,
 * not against a power loss (nothing is fsync'ed).
 *
 * File layout (host byte order: the machines sharing a file share a kernel):
 *   [0, 4096)  header, mapped shared by both parties: magic "UIPCSPL1",
 *              version, commit_off (end of the committed records, moved
 *              only by the writer), read_off (start of the first record not
 *              yet consumed, moved only by the reader), writer_pid and
 *              writer_session (incremented by each writer when it
 *              attaches).
 *   4096 ...   records: 16-byte header (kind, length, CRC-32C of the
 *              payload), the payload, zero padding to 8 bytes.
 * A record is committed when the writer, after writing it in full, moves
 * commit_off past it.  A reader never looks beyond commit_off, so a writer
 * that dies in the middle of a record never exposes a torn tail: the next
 * writer overwrites it.  The checksum catches what the file system mangled.
 *
 * The reader follows its file with inotify (IN_MODIFY, IN_CLOSE_WRITE): the
 * writer, after moving commit_off in the mapping, rewrites those same 8
 * bytes with pwrite so that the event comes after the commit is visible.
 * The reader persists read_off after each record it consumed, so a reader
 * reopened later resumes after the last record it took (at-least-once if
 * it dies between the receive and the store, which is one instruction).
 *
 * Parties and liveness: each writer holds the rendezvous layer's OFD lock
 * (slot 0) on the file it writes, so the owner holds <path>.s2c and the
 * client <path>.c2s.  UIPC_CREATE creates both files (published whole
 * through the rendezvous layer, with ?mode=, default 0600, exactly) or
 * adopts the existing ones with their records (only the caller's uid's:
 * -EPERM otherwise); if the owner's lock is held it is -EADDRINUSE.  Attaching needs both files (-ENOENT) and a free client lock
 * (-EBUSY: two parties only).  No symbolic link is followed at either
 * path (O_NOFOLLOW, -ELOOP); links in the directories above are.
 *
 * "Peer closed" (-EPIPE from uipc_recv, then on every later call on that
 * handle): every committed record has been read, nobody holds the writer
 * lock, and a writer session that was live while this handle was open
 * (attached before or after it opened) has ended.  A clean close releases
 * the lock and then writes the header, so the reader wakes after the lock
 * is gone; a writer that dies loses its lock with its descriptors, and the
 * reader watches its pid with a pidfd, which turns readable only after the
 * process released its files.  A reader opened while no writer is
 * attached reads the backlog and waits for the next writer: it cannot tell
 * "gone for good" from "not back yet", and a spool is meant to outlive its
 * writers.
 * uipc_send never reports -EPIPE: the spool keeps what is sent for a reader
 * that comes later.  Sending never blocks (a full disk is -ENOSPC).
 *
 * The poll descriptor is an epoll set over the inotify descriptor, the
 * writer's pidfd, and an eventfd kept signalled while committed records
 * remain unread.  Limits: ?maxmsg= (default 16 MiB, at most 1 GiB); files
 * grow without bound until uipc_unlink.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "pollset.h"
#include "internal.h"
#include "rendezvous.h"

#define HDR_SIZE 4096u
#define REC_HDR 16u
#define REC_DATA 0x31445255u   /* "URD1" */
#define SPOOL_VERSION 1u

static const char spool_magic[8] = {'U', 'I', 'P', 'C', 'S', 'P', 'L', '1'};

struct spool_hdr {
    char magic[8];
    uint32_t version;
    uint32_t hdr_size;
    _Atomic uint64_t commit_off;   /* written by the writer only */
    _Atomic uint64_t read_off;     /* written by the reader only */
    _Atomic uint32_t writer_pid;   /* the writer that holds the writer lock */
    _Atomic uint32_t writer_session; /* incremented by each writer at attach */
    uint32_t reserved;
};

struct rec_hdr {
    uint32_t kind;
    uint32_t len;
    uint32_t crc;
    uint32_t reserved;
};

/* One direction: a file and its mapped header. */
struct spool {
    int fd;
    struct spool_hdr *hdr;
    uint64_t off;   /* writer: commit_off; reader: read_off (local copies) */
};

struct file_channel {
    struct uipc_channel base;
    struct spool out, in;
    int ino_fd;            /* inotify on the incoming file */
    struct uipc__pidwatch writer; /* the incoming file's writer */
    uint32_t base_session; /* writer sessions up to this one ended before we opened */
    bool eof;              /* -EPIPE reported: sticky for this handle */
    struct uipc__pollset ps;
};

static const char *const file_keys[] = {"maxmsg", "mode", NULL};

/* CRC-32C (Castagnoli), reflected, table for polynomial 0x82f63b78. */
static const uint32_t crc_table[256] = {
    0x00000000, 0xf26b8303, 0xe13b70f7, 0x1350f3f4, 0xc79a971f, 0x35f1141c,
    0x26a1e7e8, 0xd4ca64eb, 0x8ad958cf, 0x78b2dbcc, 0x6be22838, 0x9989ab3b,
    0x4d43cfd0, 0xbf284cd3, 0xac78bf27, 0x5e133c24, 0x105ec76f, 0xe235446c,
    0xf165b798, 0x030e349b, 0xd7c45070, 0x25afd373, 0x36ff2087, 0xc494a384,
    0x9a879fa0, 0x68ec1ca3, 0x7bbcef57, 0x89d76c54, 0x5d1d08bf, 0xaf768bbc,
    0xbc267848, 0x4e4dfb4b, 0x20bd8ede, 0xd2d60ddd, 0xc186fe29, 0x33ed7d2a,
    0xe72719c1, 0x154c9ac2, 0x061c6936, 0xf477ea35, 0xaa64d611, 0x580f5512,
    0x4b5fa6e6, 0xb93425e5, 0x6dfe410e, 0x9f95c20d, 0x8cc531f9, 0x7eaeb2fa,
    0x30e349b1, 0xc288cab2, 0xd1d83946, 0x23b3ba45, 0xf779deae, 0x05125dad,
    0x1642ae59, 0xe4292d5a, 0xba3a117e, 0x4851927d, 0x5b016189, 0xa96ae28a,
    0x7da08661, 0x8fcb0562, 0x9c9bf696, 0x6ef07595, 0x417b1dbc, 0xb3109ebf,
    0xa0406d4b, 0x522bee48, 0x86e18aa3, 0x748a09a0, 0x67dafa54, 0x95b17957,
    0xcba24573, 0x39c9c670, 0x2a993584, 0xd8f2b687, 0x0c38d26c, 0xfe53516f,
    0xed03a29b, 0x1f682198, 0x5125dad3, 0xa34e59d0, 0xb01eaa24, 0x42752927,
    0x96bf4dcc, 0x64d4cecf, 0x77843d3b, 0x85efbe38, 0xdbfc821c, 0x2997011f,
    0x3ac7f2eb, 0xc8ac71e8, 0x1c661503, 0xee0d9600, 0xfd5d65f4, 0x0f36e6f7,
    0x61c69362, 0x93ad1061, 0x80fde395, 0x72966096, 0xa65c047d, 0x5437877e,
    0x4767748a, 0xb50cf789, 0xeb1fcbad, 0x197448ae, 0x0a24bb5a, 0xf84f3859,
    0x2c855cb2, 0xdeeedfb1, 0xcdbe2c45, 0x3fd5af46, 0x7198540d, 0x83f3d70e,
    0x90a324fa, 0x62c8a7f9, 0xb602c312, 0x44694011, 0x5739b3e5, 0xa55230e6,
    0xfb410cc2, 0x092a8fc1, 0x1a7a7c35, 0xe811ff36, 0x3cdb9bdd, 0xceb018de,
    0xdde0eb2a, 0x2f8b6829, 0x82f63b78, 0x709db87b, 0x63cd4b8f, 0x91a6c88c,
    0x456cac67, 0xb7072f64, 0xa457dc90, 0x563c5f93, 0x082f63b7, 0xfa44e0b4,
    0xe9141340, 0x1b7f9043, 0xcfb5f4a8, 0x3dde77ab, 0x2e8e845f, 0xdce5075c,
    0x92a8fc17, 0x60c37f14, 0x73938ce0, 0x81f80fe3, 0x55326b08, 0xa759e80b,
    0xb4091bff, 0x466298fc, 0x1871a4d8, 0xea1a27db, 0xf94ad42f, 0x0b21572c,
    0xdfeb33c7, 0x2d80b0c4, 0x3ed04330, 0xccbbc033, 0xa24bb5a6, 0x502036a5,
    0x4370c551, 0xb11b4652, 0x65d122b9, 0x97baa1ba, 0x84ea524e, 0x7681d14d,
    0x2892ed69, 0xdaf96e6a, 0xc9a99d9e, 0x3bc21e9d, 0xef087a76, 0x1d63f975,
    0x0e330a81, 0xfc588982, 0xb21572c9, 0x407ef1ca, 0x532e023e, 0xa145813d,
    0x758fe5d6, 0x87e466d5, 0x94b49521, 0x66df1622, 0x38cc2a06, 0xcaa7a905,
    0xd9f75af1, 0x2b9cd9f2, 0xff56bd19, 0x0d3d3e1a, 0x1e6dcdee, 0xec064eed,
    0xc38d26c4, 0x31e6a5c7, 0x22b65633, 0xd0ddd530, 0x0417b1db, 0xf67c32d8,
    0xe52cc12c, 0x1747422f, 0x49547e0b, 0xbb3ffd08, 0xa86f0efc, 0x5a048dff,
    0x8ecee914, 0x7ca56a17, 0x6ff599e3, 0x9d9e1ae0, 0xd3d3e1ab, 0x21b862a8,
    0x32e8915c, 0xc083125f, 0x144976b4, 0xe622f5b7, 0xf5720643, 0x07198540,
    0x590ab964, 0xab613a67, 0xb831c993, 0x4a5a4a90, 0x9e902e7b, 0x6cfbad78,
    0x7fab5e8c, 0x8dc0dd8f, 0xe330a81a, 0x115b2b19, 0x020bd8ed, 0xf0605bee,
    0x24aa3f05, 0xd6c1bc06, 0xc5914ff2, 0x37faccf1, 0x69e9f0d5, 0x9b8273d6,
    0x88d28022, 0x7ab90321, 0xae7367ca, 0x5c18e4c9, 0x4f48173d, 0xbd23943e,
    0xf36e6f75, 0x0105ec76, 0x12551f82, 0xe03e9c81, 0x34f4f86a, 0xc69f7b69,
    0xd5cf889d, 0x27a40b9e, 0x79b737ba, 0x8bdcb4b9, 0x988c474d, 0x6ae7c44e,
    0xbe2da0a5, 0x4c4623a6, 0x5f16d052, 0xad7d5351,
};

static uint32_t crc32c(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint32_t crc = 0xffffffffu;
    while (len--)
        crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return crc ^ 0xffffffffu;
}

static uint64_t rec_size(uint32_t len)
{
    return (REC_HDR + (uint64_t)len + 7) & ~(uint64_t)7;
}

/* The writer's liveness: the OFD lock of slot 0 on the file it writes. */
#define WRITER_SLOT 0

/* 1 if another open file description holds the writer lock, 0 if not. */
static bool writer_locked(int fd)
{
    return uipc__rdv_held(fd, WRITER_SLOT) > 0;
}

/* ---- creating, opening and checking a spool file ---- */

static void hdr_init(struct spool_hdr *h)
{
    memset(h, 0, sizeof *h);
    memcpy(h->magic, spool_magic, sizeof h->magic);
    h->version = SPOOL_VERSION;
    h->hdr_size = HDR_SIZE;
    atomic_init(&h->commit_off, HDR_SIZE);
    atomic_init(&h->read_off, HDR_SIZE);
    atomic_init(&h->writer_pid, 0);
    atomic_init(&h->writer_session, 0);
}

/*
 * Creates path complete with its header, published atomically
 * (uipc__rdv_publish), so nobody ever opens a file without a header.
 * -EEXIST if path exists (the link never replaces).
 */
static int spool_create(const char *path, mode_t mode)
{
    static const unsigned char zeros[HDR_SIZE];
    char name[NAME_MAX + 1], tmp[UIPC__RDV_TMP_MAX];
    int dirfd;
    int r = uipc__rdv_dir_open(path, &dirfd, name, sizeof name);
    if (r < 0)
        return r;
    int fd = uipc__rdv_tmpfile(dirfd, mode, tmp);
    if (fd < 0) {
        uipc__close_fd(dirfd);
        return fd;
    }
    struct spool_hdr h;
    hdr_init(&h);
    if (pwrite(fd, zeros, HDR_SIZE, 0) != (ssize_t)HDR_SIZE ||
        pwrite(fd, &h, sizeof h, 0) != (ssize_t)sizeof h)
        r = -EIO; /* a short write of 4 KiB to a fresh file: the disk is full */
    if (r == 0)
        r = uipc__rdv_publish(dirfd, fd, tmp, name);
    uipc__rdv_discard(dirfd, tmp);
    uipc__close_fd(fd);
    uipc__close_fd(dirfd);
    return r;
}

/* Opens an existing spool file without following a symbolic link. */
static int spool_open_fd(const char *path)
{
    int fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return -errno; /* -ELOOP for a symbolic link */
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        uipc__close_fd(fd);
        return -EINVAL; /* not a spool file */
    }
    return fd;
}

/* Maps and validates the header: the file is shared, so it is untrusted. */
static int spool_map(struct spool *s)
{
    struct stat st;
    if (fstat(s->fd, &st) < 0)
        return -errno;
    if ((uint64_t)st.st_size < HDR_SIZE)
        return -EBADMSG;
    void *p = mmap(NULL, HDR_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, s->fd, 0);
    if (p == MAP_FAILED)
        return -errno;
    s->hdr = p;
    /* The peer may be moving the offsets right now; they only grow, and
     * read_off <= commit_off <= size holds when read in that order. */
    uint64_t rd = atomic_load(&s->hdr->read_off);
    uint64_t commit = atomic_load(&s->hdr->commit_off);
    if (fstat(s->fd, &st) < 0)
        return -errno;
    if (memcmp(s->hdr->magic, spool_magic, sizeof spool_magic) != 0 ||
        s->hdr->version != SPOOL_VERSION || s->hdr->hdr_size != HDR_SIZE ||
        commit < HDR_SIZE || commit > (uint64_t)st.st_size || (commit & 7) ||
        rd < HDR_SIZE || rd > commit || (rd & 7))
        return -EBADMSG;
    return 0;
}

/* Opens (and with create, makes) one spool file; *made if this call made it. */
static int spool_open(struct spool *s, const char *path, bool create, bool excl, mode_t mode,
                      bool *made)
{
    *made = false;
    if (create) {
        int r = spool_create(path, mode);
        if (r == 0)
            *made = true;
        else if (r != -EEXIST || excl)
            return r;
    }
    s->fd = spool_open_fd(path);
    if (s->fd < 0)
        return s->fd;
    return spool_map(s);
}

static void spool_release(struct spool *s)
{
    if (s->hdr)
        munmap(s->hdr, HDR_SIZE);
    s->hdr = NULL;
    uipc__close_fd(s->fd);
    s->fd = -1;
}

/* ---- writing ---- */

/* Writes all of iov at off, resuming after short writes and EINTR. */
static int pwrite_all(int fd, struct iovec *iov, int n, uint64_t off)
{
    while (n > 0) {
        ssize_t w = pwritev(fd, iov, n, (off_t)off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (w == 0)
            return -EIO;
        off += (uint64_t)w;
        while (n > 0 && (size_t)w >= iov->iov_len) {
            w -= (ssize_t)iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + w;
            iov->iov_len -= (size_t)w;
        }
    }
    return 0;
}

/*
 * Tells the reader that something changed: rewrites the 8 bytes of
 * commit_off with their current value.  The bytes are unchanged, so a
 * concurrent reader of the mapping sees no torn value, and the write makes
 * the IN_MODIFY event that the mapping alone would not.
 */
static void spool_touch(struct spool *s)
{
    uint64_t v = atomic_load(&s->hdr->commit_off);
    ssize_t n;
    do
        n = pwrite(s->fd, &v, sizeof v, offsetof(struct spool_hdr, commit_off));
    while (n < 0 && errno == EINTR);
}

static int append(struct spool *s, const void *msg, size_t len)
{
    static const unsigned char pad[8];
    struct rec_hdr rh = {.kind = REC_DATA, .len = (uint32_t)len, .crc = crc32c(msg, len)};
    uint64_t size = rec_size((uint32_t)len);
    struct iovec iov[3] = {{&rh, sizeof rh},
                           {(void *)msg, len},
                           {(void *)pad, (size_t)(size - REC_HDR - len)}};
    int r = pwrite_all(s->fd, iov, 3, s->off);
    if (r < 0)
        return r; /* nothing committed: the next record overwrites the rest */
    s->off += size;
    atomic_store_explicit(&s->hdr->commit_off, s->off, memory_order_release);
    spool_touch(s);
    return 0;
}

static ssize_t file_send(struct uipc_channel *ch, const void *msg, size_t len,
                         const uipc_msginfo *info, struct uipc__deadline *dl)
{
    struct file_channel *c = (struct file_channel *)ch;
    (void)dl; /* appending to a file never waits for the reader */
    (void)info; /* no attributes: the core refused any */
    int r = append(&c->out, msg, len);
    return r < 0 ? r : (ssize_t)len;
}

/* ---- reading ---- */

/* Takes the next committed record if there is one and it fits: its length,
 * -EAGAIN when none is committed yet (a regular file never says EAGAIN
 * itself), -EMSGSIZE, -EBADMSG. */
static ssize_t try_read(struct file_channel *c, void *buf, size_t cap)
{
    struct spool *s = &c->in;
    uint64_t commit = atomic_load_explicit(&s->hdr->commit_off, memory_order_acquire);
    if (s->off >= commit)
        return -EAGAIN;
    uint64_t avail = commit - s->off;
    if (avail < REC_HDR)
        return -EBADMSG;
    struct rec_hdr rh;
    size_t want = cap < avail - REC_HDR ? cap : (size_t)(avail - REC_HDR);
    struct iovec iov[2] = {{&rh, sizeof rh}, {buf, want}};
    ssize_t n;
    do
        n = preadv(s->fd, iov, 2, (off_t)s->off);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    if ((size_t)n < REC_HDR || rh.kind != REC_DATA || rec_size(rh.len) > avail)
        return -EBADMSG;
    if (rh.len > cap)
        return -EMSGSIZE; /* stays: read_off does not move */
    if ((size_t)n < REC_HDR + rh.len || crc32c(buf, rh.len) != rh.crc)
        return -EBADMSG;
    s->off += rec_size(rh.len);
    atomic_store_explicit(&s->hdr->read_off, s->off, memory_order_release);
    return (ssize_t)rh.len;
}

static void drain_inotify(int fd)
{
    char events[4096];
    while (read(fd, events, sizeof events) > 0)
        ;
}

/*
 * Looks at the incoming writer while no record waits.  Returns 1 when a
 * writer session that was live while this handle was open has ended, 0
 * otherwise.  A live writer is watched with a pidfd, readable once that
 * process has exited.
 */
static int writer_gone(struct file_channel *c)
{
    if (!writer_locked(c->in.fd))
        return atomic_load(&c->in.hdr->writer_session) != c->base_session;
    pid_t pid = (pid_t)atomic_load(&c->in.hdr->writer_pid);
    if (pid == c->writer.pid) {
        /* The pidfd fired but the lock lives on: a child inherited the
         * writer's handle.  Only IN_CLOSE_WRITE can tell from now on. */
        if (uipc__pidwatch_exited(&c->writer))
            uipc__pidwatch_stop(&c->writer, &c->ps);
        return 0;
    }
    /* No pidfd (old kernel, other pid namespace): IN_CLOSE_WRITE only. */
    if (uipc__pidwatch_set(&c->writer, pid, &c->ps) &&
        (!writer_locked(c->in.fd) || (pid_t)atomic_load(&c->in.hdr->writer_pid) != pid)) {
        uipc__pidwatch_stop(&c->writer, &c->ps); /* it changed meanwhile: */
        c->writer.pid = 0;                         /* look again next time */
    }
    return 0;
}

static ssize_t file_recv(struct uipc_channel *ch, void *buf, size_t cap, uipc_msginfo *info,
                         struct uipc__deadline *dl)
{
    struct file_channel *c = (struct file_channel *)ch;
    (void)info; /* no attributes: the core refused a filter */
    ssize_t r;
    if (c->eof)
        return -EPIPE;
    for (;;) {
        r = try_read(c, buf, cap);
        if (r != -EAGAIN)
            break;
        /* Events older than this drain belong to commits the next look sees. */
        drain_inotify(c->ino_fd);
        r = try_read(c, buf, cap);
        if (r != -EAGAIN)
            break;
        if (writer_gone(c)) {
            /* Records committed before the lock went come first. */
            r = try_read(c, buf, cap);
            if (r == -EAGAIN) {
                c->eof = true;
                r = -EPIPE;
            }
            break;
        }
        uipc__pollset_signal(&c->ps, false); /* nothing waits: do not spin */
        int w = uipc__wait_fd(c->ps.epfd, POLLIN, dl);
        if (w < 0)
            return w;
    }
    uint64_t commit = atomic_load_explicit(&c->in.hdr->commit_off, memory_order_acquire);
    uipc__pollset_signal(&c->ps, c->eof || c->in.off < commit);
    return r;
}

/* Readiness for uipc_poll: a committed record is a look at the mapped
 * header; the writer's end is asked only when none waits.  Appending never
 * waits for the reader: UIPC_POLLOUT always holds. */
static int file_poll_ready(struct uipc_channel *ch, int events, struct uipc__pollwait *w)
{
    struct file_channel *c = (struct file_channel *)ch;
    int rev = events & UIPC_POLLOUT;
    for (int look = 0; look < 2 && !(rev & UIPC_POLLIN); look++) {
        uint64_t commit = atomic_load_explicit(&c->in.hdr->commit_off, memory_order_acquire);
        if (c->in.off < commit)
            rev |= events & UIPC_POLLIN;
        else if (c->eof || writer_gone(c))
            rev |= UIPC_POLLHUP | (events & UIPC_POLLIN);
        else if (!w)
            break;
        else if (look == 0)
            drain_inotify(c->ino_fd); /* before sleeping: older events are seen */
    }
    if (!rev && w && (events & UIPC_POLLIN)) {
        uipc__pollset_signal(&c->ps, false);
        uipc__pollwait_add(w, c->ps.epfd, POLLIN);
    }
    return rev;
}


/* ---- life cycle ---- */

static int watch_incoming(struct file_channel *c, const char *path)
{
    c->ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (c->ino_fd < 0)
        return -errno;
    char self[64];
    snprintf(self, sizeof self, "/proc/self/fd/%d", c->in.fd);
    /* The magic link names exactly the inode we opened; without /proc,
     * fall back to the path, which was opened without following links. */
    uint32_t mask = IN_MODIFY | IN_CLOSE_WRITE;
    if (inotify_add_watch(c->ino_fd, self, mask) < 0 &&
        inotify_add_watch(c->ino_fd, path, mask | IN_DONT_FOLLOW) < 0)
        return -errno;
    int ep = uipc__pollset_create(&c->ps);
    if (ep < 0)
        return ep;
    return uipc__pollset_add(&c->ps, c->ino_fd);
}

static int file_open(struct uipc_channel *ch, const struct uipc__uri *u, int flags)
{
    struct file_channel *c = (struct file_channel *)ch;
    char c2s[PATH_MAX], s2c[PATH_MAX];
    uint64_t maxmsg;
    mode_t mode;
    bool owner = flags & UIPC_CREATE, excl = flags & UIPC_EXCL;
    bool made_out = false, made_in = false;
    c->out.fd = c->in.fd = c->ino_fd = -1;
    uipc__pidwatch_init(&c->writer);
    uipc__pollset_init(&c->ps);
    int r = uipc__rdv_path_pair(u, c2s, s2c);
    if (r < 0)
        return r;
    if ((r = uipc__uri_size(u, "maxmsg", 1, UIPC__MAXMSG_CEILING, UIPC__DEFAULT_MAXMSG,
                            &maxmsg)) < 0 ||
        (r = uipc__uri_mode(u, &mode)) < 0)
        return r;

    /* The writer lock first: it decides who may touch the files. */
    r = spool_open(&c->out, owner ? s2c : c2s, owner, excl, mode, &made_out);
    if (r == 0 && (r = uipc__rdv_lock(c->out.fd, WRITER_SLOT, false)) == -EBUSY)
        r = owner ? (excl ? -EEXIST : -EADDRINUSE) : -EBUSY;
    /* An owner adopts existing spools only if it owns them, with the mode
     * asked for (a stranger never reads or feeds another uid's spool). */
    if (r == 0 && owner && !made_out)
        r = uipc__rdv_adopt_fd(c->out.fd, mode);
    if (r == 0) {
        atomic_store(&c->out.hdr->writer_pid, (uint32_t)getpid());
        atomic_fetch_add(&c->out.hdr->writer_session, 1);
    }
    if (r == 0)
        r = spool_open(&c->in, owner ? c2s : s2c, owner, excl, mode, &made_in);
    if (r == 0 && owner && !made_in)
        r = uipc__rdv_adopt_fd(c->in.fd, mode);
    if (r == 0)
        r = watch_incoming(c, owner ? c2s : s2c);
    if (r < 0)
        goto fail;

    c->out.off = atomic_load(&c->out.hdr->commit_off);
    c->in.off = atomic_load(&c->in.hdr->read_off);
    spool_touch(&c->out); /* wakes a waiting reader: a writer is here */
    /* Sessions that ended before now are not ours to report; a live one
     * is.  The session is read before the lock, so that a writer
     * attaching in between still counts. */
    c->base_session = atomic_load(&c->in.hdr->writer_session);
    if (writer_locked(c->in.fd))
        c->base_session--;
    ch->max_msg = (size_t)maxmsg;
    return 0;

fail:
    spool_release(&c->out);
    spool_release(&c->in);
    if (made_out)
        unlink(owner ? s2c : c2s);
    if (made_in)
        unlink(owner ? c2s : s2c);
    uipc__close_fd(c->ino_fd);
    uipc__pollset_release(&c->ps);
    return r;
}

static int file_close(struct uipc_channel *ch, bool remove)
{
    struct file_channel *c = (struct file_channel *)ch;
    int r = 0;
    (void)remove; /* persistent: the spools stay */
    /* Only the process that opened the handle says goodbye (fork rule):
     * the lock goes first and the header write after it wakes the reader,
     * which then finds the lock gone (closing the file alone would notify
     * before the kernel drops the lock). */
    if (ch->opener == getpid()) {
        r = uipc__rdv_unlock(c->out.fd, WRITER_SLOT);
        spool_touch(&c->out);
    }
    uipc__pidwatch_stop(&c->writer, &c->ps);
    uipc__close_fd(c->ino_fd);
    uipc__pollset_release(&c->ps);
    spool_release(&c->out);
    spool_release(&c->in);
    return r;
}

/*
 * Judges one spool file before removal: 0 and its identity when it is a
 * spool (a regular file, never a link: O_NOFOLLOW, that is empty or starts
 * with the spool's magic, even if the rest is corrupt), -ENOENT,
 * -EADDRINUSE when live and its writer holds the lock, -EBADMSG for
 * anything else (never removed).
 */
static int judge_spool(const char *path, bool live, struct uipc__rdv_id *id)
{
    struct spool s = {.fd = spool_open_fd(path)};
    if (s.fd < 0)
        return s.fd == -ELOOP || s.fd == -EINVAL ? -EBADMSG : s.fd;
    char magic[sizeof spool_magic];
    ssize_t n = pread(s.fd, magic, sizeof magic, 0);
    int r = n == 0 || (n == (ssize_t)sizeof magic && memcmp(magic, spool_magic, n) == 0)
                ? 0
                : -EBADMSG;
    if (r == 0)
        r = uipc__rdv_id_fd(s.fd, id);
    if (r == 0 && live && writer_locked(s.fd))
        r = -EADDRINUSE;
    spool_release(&s);
    return r;
}

/* Removes both files, only if both are spools; -EADDRINUSE while the owner
 * holds its lock.  Each is removed only while it is the file judged. */
static int file_unlink(const struct uipc__uri *u, bool force)
{
    char c2s[PATH_MAX], s2c[PATH_MAX];
    struct uipc__rdv_id id1, id2;
    int r = uipc__rdv_path_pair(u, c2s, s2c);
    if (r < 0)
        return r;
    int e2 = judge_spool(s2c, !force, &id2);
    if (e2 == -EADDRINUSE)
        return e2;
    int e1 = judge_spool(c2s, false, &id1);
    if (e1 == -ENOENT && e2 == -ENOENT)
        return -ENOENT;
    if (e1 < 0 && e1 != -ENOENT)
        return e1;
    if (e2 < 0 && e2 != -ENOENT)
        return e2;
    if (e1 == 0)
        uipc__rdv_remove(AT_FDCWD, c2s, &id1);
    if (e2 == 0)
        uipc__rdv_remove(AT_FDCWD, s2c, &id2);
    return 0;
}

/* probe: a pair X.c2s / X.s2c of spools (by their magic) in the directory
 * is a row, live while the owner's writer lock on X.s2c is held. */
static int file_row(struct uipc__probe_walk *w, int dirfd, const char *name,
                    const struct stat *st)
{
    size_t n = strlen(name);
    const char *dir = strcmp(w->dir, "/") ? w->dir : "";
    char c2s[PATH_MAX], s2c[PATH_MAX];
    struct uipc__rdv_id id;
    struct stat st2;
    if (!S_ISREG(st->st_mode) || n <= 4 || strcmp(name + n - 4, UIPC__RDV_C2S) != 0 ||
        snprintf(c2s, sizeof c2s, "%s/%s", dir, name) >= (int)sizeof c2s ||
        snprintf(s2c, sizeof s2c, "%s/%.*s" UIPC__RDV_S2C, dir, (int)(n - 4), name) >=
            (int)sizeof s2c ||
        fstatat(dirfd, s2c + strlen(dir) + 1, &st2, AT_SYMLINK_NOFOLLOW) < 0 ||
        judge_spool(c2s, false, &id) < 0)
        return 0;
    int e = judge_spool(s2c, true, &id);
    if (e < 0 && e != -EADDRINUSE)
        return 0;
    uipc_rdvinfo info;
    if (uipc__probe_fill(&info, "file", e ? UIPC_RDV_LIVE : UIPC_RDV_STALE, st, true,
                         "file://%s/%.*s", dir, (int)(n - 4), name) < 0)
        return 0;
    info.size += (long long)st2.st_size;
    if (e)
        info.pid = uipc__probe_file_holder(&st2);
    return w->emit(&info, w->arg);
}

static int file_probe(const char *dir, uipc__probe_emit emit, void *arg)
{
    struct uipc__probe_walk w = {.dir = dir, .emit = emit, .arg = arg};
    return dir ? uipc__probe_dir(&w, file_row) : 0;
}

static int file_pollfd(struct uipc_channel *ch)
{
    return ((const struct file_channel *)ch)->ps.epfd;
}

const struct uipc_transport uipc__transport_file = {
    .scheme = "file",
    .size = sizeof(struct file_channel),
    .keys = file_keys,
    .caps = UIPC__CAP_RELIABLE | UIPC__CAP_PEER_EOF | UIPC__CAP_POLL_EOF | UIPC__CAP_LOCAL_NAME |
            UIPC__CAP_OWNED | UIPC__CAP_PERSISTENT,
    .open = file_open,
    .send = file_send,
    .recv = file_recv,
    .close = file_close,
    .unlink = file_unlink,
    .probe = file_probe,
    .pollfd = file_pollfd,
    .poll_ready = file_poll_ready,
};
