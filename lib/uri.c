/* SPDX-License-Identifier: MIT */
/*
 * The URI parser: one pass over the text into struct uipc__uri, decoding
 * percent escapes and refusing control characters, then typed getters for
 * the query.  Transports never look at the raw text.
 */
#include "uri.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/*
 * Copies src[0..n) into *dst, decoding %XX when decode is set, and appends a
 * NUL.  Refuses control characters and NUL in the result.  Advances *dst.
 */
static int copy_part(char **dst, const char *src, size_t n, bool decode, const char **out)
{
    char *d = *dst;
    *out = d;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)src[i];
        if (decode && c == '%') {
            if (i + 2 >= n)
                return -EINVAL;
            int hi = hexval(src[i + 1]), lo = hexval(src[i + 2]);
            if (hi < 0 || lo < 0)
                return -EINVAL;
            c = (unsigned char)(hi * 16 + lo);
            i += 2;
        }
        if (c < 0x20 || c == 0x7f)
            return -EINVAL;
        *d++ = (char)c;
    }
    *d++ = '\0';
    *dst = d;
    return 0;
}

static int parse_query(struct uipc__uri *u, const char *q, char **dst)
{
    while (*q) {
        const char *amp = strchr(q, '&');
        size_t n = amp ? (size_t)(amp - q) : strlen(q);
        const char *eq = memchr(q, '=', n);
        if (!eq || eq == q || u->nkeys == UIPC__URI_MAX_KEYS)
            return -EINVAL;
        struct uipc__uri_kv *kv = &u->kv[u->nkeys++];
        int r = copy_part(dst, q, (size_t)(eq - q), true, &kv->key);
        if (r == 0)
            r = copy_part(dst, eq + 1, n - (size_t)(eq - q) - 1, true, &kv->value);
        if (r < 0)
            return r;
        if (!amp)
            break;
        q = amp + 1;
        if (*q == '\0')
            return -EINVAL; /* trailing '&' */
    }
    return 0;
}

int uipc__uri_parse(struct uipc__uri *u, const char *text)
{
    memset(u, 0, offsetof(struct uipc__uri, store));
    if (!text)
        return -EINVAL;
    size_t len = strnlen(text, UIPC__URI_MAX + 1);
    if (len == 0 || len > UIPC__URI_MAX)
        return -EINVAL;

    const char *colon = strchr(text, ':');
    size_t slen = colon ? (size_t)(colon - text) : 0;
    if (slen == 0 || slen >= UIPC__SCHEME_MAX || !isalpha((unsigned char)text[0]))
        return -EINVAL;
    for (size_t i = 0; i < slen; i++) {
        int c = (unsigned char)text[i];
        if (!isalnum(c) && c != '+' && c != '-' && c != '.')
            return -EINVAL;
        u->scheme[i] = (char)tolower(c);
    }

    const char *p = colon + 1;
    const char *qmark = strchr(p, '?');
    const char *end = qmark ? qmark : p + strlen(p);
    char *dst = u->store;
    int r;

    u->authority = "";
    if (end - p >= 2 && p[0] == '/' && p[1] == '/') {
        p += 2;
        const char *slash = memchr(p, '/', (size_t)(end - p));
        const char *aend = slash ? slash : end;
        u->has_authority = true;
        r = copy_part(&dst, p, (size_t)(aend - p), true, &u->authority);
        if (r < 0)
            return r;
        p = aend;
    }
    r = copy_part(&dst, p, (size_t)(end - p), true, &u->path);
    if (r < 0)
        return r;
    if (qmark) {
        if (qmark[1] == '\0')
            return -EINVAL; /* a '?' with nothing after it */
        r = parse_query(u, qmark + 1, &dst);
        if (r < 0)
            return r;
    }
    return 0;
}

int uipc__uri_check_keys(const struct uipc__uri *u, const char *const *allowed)
{
    for (size_t i = 0; i < u->nkeys; i++) {
        bool known = false;
        for (const char *const *k = allowed; k && *k; k++)
            if (strcmp(*k, u->kv[i].key) == 0)
                known = true;
        if (!known)
            return -EINVAL;
    }
    return 0;
}

const char *uipc__uri_get(const struct uipc__uri *u, const char *key, int *err)
{
    const char *found = NULL;
    *err = 0;
    for (size_t i = 0; i < u->nkeys; i++) {
        if (strcmp(u->kv[i].key, key) != 0)
            continue;
        if (found) {
            *err = -EINVAL;
            return NULL;
        }
        found = u->kv[i].value;
    }
    return found;
}

const char *uipc__uri_next(const struct uipc__uri *u, const char *key, size_t *pos)
{
    while (*pos < u->nkeys) {
        const struct uipc__uri_kv *kv = &u->kv[(*pos)++];
        if (strcmp(kv->key, key) == 0)
            return kv->value;
    }
    return NULL;
}

/* Strict unsigned parse: digits only (or 0x hex), no sign, no spaces. */
static int parse_u64(const char *s, const char **end, uint64_t *out)
{
    if (!isdigit((unsigned char)s[0]))
        return -EINVAL;
    int base = (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) ? 16 : 10;
    if (base == 16 && !isxdigit((unsigned char)s[2]))
        return -EINVAL;
    char *e;
    errno = 0;
    unsigned long long v = strtoull(s, &e, base);
    if (errno == ERANGE)
        return -EINVAL;
    *end = e;
    *out = v;
    return 0;
}

int uipc__parse_size(const char *s, uint64_t *out)
{
    const char *e;
    uint64_t v;
    if (parse_u64(s, &e, &v) < 0)
        return -EINVAL;
    unsigned shift = 0;
    switch (*e) {
    case '\0': break;
    case 'K': case 'k': shift = 10; e++; break;
    case 'M': case 'm': shift = 20; e++; break;
    case 'G': case 'g': shift = 30; e++; break;
    default: return -EINVAL;
    }
    if (*e != '\0' || (shift && v > (UINT64_MAX >> shift)))
        return -EINVAL;
    *out = v << shift;
    return 0;
}

int uipc__uri_size(const struct uipc__uri *u, const char *key, uint64_t min, uint64_t max,
                   uint64_t dflt, uint64_t *out)
{
    int err;
    const char *v = uipc__uri_get(u, key, &err);
    if (err)
        return err;
    if (!v) {
        *out = dflt;
        return 0;
    }
    uint64_t n;
    if (uipc__parse_size(v, &n) < 0 || n < min || n > max)
        return -EINVAL;
    *out = n;
    return 0;
}

int uipc__uri_long(const struct uipc__uri *u, const char *key, long min, long max, long dflt,
                   long *out)
{
    int err;
    const char *v = uipc__uri_get(u, key, &err);
    if (err)
        return err;
    if (!v) {
        *out = dflt;
        return 0;
    }
    bool neg = v[0] == '-';
    const char *e;
    uint64_t mag;
    if (parse_u64(v + neg, &e, &mag) < 0 || *e != '\0' || mag > (uint64_t)LONG_MAX)
        return -EINVAL;
    long n = neg ? -(long)mag : (long)mag;
    if (n < min || n > max)
        return -EINVAL;
    *out = n;
    return 0;
}

int uipc__uri_mode(const struct uipc__uri *u, mode_t *out)
{
    int err;
    const char *v = uipc__uri_get(u, "mode", &err);
    if (err)
        return err;
    if (!v) {
        *out = 0600;
        return 0;
    }
    size_t n = strlen(v);
    if (n == 0 || n > 4)
        return -EINVAL;
    unsigned m = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '7')
            return -EINVAL;
        m = m * 8 + (unsigned)(v[i] - '0');
    }
    if (m > 0777)
        return -EINVAL;
    *out = (mode_t)m;
    return 0;
}

int uipc__uri_host_port(const struct uipc__uri *u, char *host, size_t hostcap, uint16_t *port)
{
    const char *a = u->authority;
    const char *hs, *he, *ps;
    if (!u->has_authority || (u->path[0] && strcmp(u->path, "/") != 0))
        return -EINVAL;
    if (a[0] == '[') {
        hs = a + 1;
        he = strchr(hs, ']');
        if (!he || he[1] != ':')
            return -EINVAL;
        ps = he + 2;
    } else {
        hs = a;
        he = strrchr(a, ':');
        if (!he || memchr(a, ':', (size_t)(he - a)))
            return -EINVAL; /* no port, or an IPv6 literal without brackets */
        ps = he + 1;
    }
    size_t hlen = (size_t)(he - hs);
    if (hlen == 0 || hlen >= hostcap)
        return -EINVAL;
    const char *e;
    uint64_t p;
    /* Port 0 ("the kernel chooses") only as the single digit 0. */
    if (parse_u64(ps, &e, &p) < 0 || *e != '\0' || p > 65535 || (ps[0] == '0' && ps[1]))
        return -EINVAL;
    memcpy(host, hs, hlen);
    host[hlen] = '\0';
    *port = (uint16_t)p;
    return 0;
}

bool uipc__name_ok(const char *name, size_t max)
{
    size_t n = strnlen(name, max + 1);
    if (n == 0 || n > max || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c == '/' || c < 0x20 || c == 0x7f)
            return false;
    }
    return true;
}

/* A key: decimal or 0x hex digits only, 1 .. 0xffffffff (0 is IPC_PRIVATE). */
static int parse_sysv_key(const char *s, key_t *out)
{
    if (!isdigit((unsigned char)s[0]))
        return -EINVAL;
    bool hex = s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
    const char *d = hex ? s + 2 : s;
    if (!*d)
        return -EINVAL;
    uint64_t v = 0;
    for (; *d; d++) {
        int c = tolower((unsigned char)*d);
        int digit = isdigit(c) ? c - '0' : (hex && c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
        if (digit < 0)
            return -EINVAL;
        v = v * (hex ? 16 : 10) + (uint64_t)digit;
        if (v > UINT32_MAX)
            return -EINVAL;
    }
    if (v == 0)
        return -EINVAL;
    *out = (key_t)(uint32_t)v;
    return 0;
}

int uipc__uri_sysv_key(const struct uipc__uri *u, key_t *key)
{
    long proj;
    int err;
    bool proj_given = uipc__uri_get(u, "proj", &err) != NULL;
    int r = uipc__uri_long(u, "proj", 1, 255, 1, &proj);
    if (r < 0)
        return r;
    if (u->has_authority && u->authority[0]) {
        if (u->path[0] || proj_given)
            return -EINVAL;
        return parse_sysv_key(u->authority, key);
    }
    if (u->path[0] != '/')
        return -EINVAL;
    key_t k = ftok(u->path, (int)proj);
    if (k == (key_t)-1)
        return -errno;
    *key = k;
    return 0;
}
