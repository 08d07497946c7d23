/* SPDX-License-Identifier: MIT */
/*
 * URI parsing, done once per call in uipc.c and then read by the transport.
 *
 * Grammar (see uipc(7)):
 *   uri       = scheme ":" [ "//" authority ] path [ "?" query ]
 *   scheme    = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )   (compared lowercase)
 *   authority = host [ ":" port ] / "[" ipv6 "]" [ ":" port ] / name
 *   query     = key "=" value *( "&" key "=" value )
 * Percent escapes (%XX) are decoded in the path and in values.  Control
 * characters, whether literal or escaped, and NUL are refused.  Everything
 * is copied into the struct, so a parsed URI owns its strings.
 */
#ifndef UIPC_URI_H
#define UIPC_URI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define UIPC__URI_MAX 4096      /* longest URI accepted, bytes */
#define UIPC__URI_MAX_KEYS 32   /* most query pairs accepted */
#define UIPC__SCHEME_MAX 16

struct uipc__uri_kv {
    const char *key;
    const char *value;
};

struct uipc__uri {
    char scheme[UIPC__SCHEME_MAX];  /* lowercase, without ':' */
    bool has_authority;             /* "//" was present */
    const char *authority;          /* "" when absent; brackets kept */
    const char *path;               /* decoded; "" when absent */
    size_t nkeys;
    struct uipc__uri_kv kv[UIPC__URI_MAX_KEYS];
    char store[2 * UIPC__URI_MAX + 8];
};

/* Parses text into *u.  -EINVAL on any syntax error or overlong input. */
int uipc__uri_parse(struct uipc__uri *u, const char *text);

/* -EINVAL unless every query key is in the NULL-terminated list (NULL = none). */
int uipc__uri_check_keys(const struct uipc__uri *u, const char *const *allowed);

/* The value of key, or NULL if absent.  -EINVAL through *err if repeated. */
const char *uipc__uri_get(const struct uipc__uri *u, const char *key, int *err);

/* Iterates a repeatable key: start with *pos = 0; returns NULL at the end. */
const char *uipc__uri_next(const struct uipc__uri *u, const char *key, size_t *pos);

/*
 * Typed getters: store the default when the key is absent, -EINVAL when the
 * value does not parse or lies outside [min, max].
 */
/* Decimal, 0x hex, with an optional K/M/G suffix (powers of 1024). */
int uipc__uri_size(const struct uipc__uri *u, const char *key, uint64_t min, uint64_t max,
                   uint64_t dflt, uint64_t *out);
/* A signed decimal or 0x hex integer. */
int uipc__uri_long(const struct uipc__uri *u, const char *key, long min, long max, long dflt,
                   long *out);
/* ?mode= as octal permission bits (at most 0777); default 0600. */
int uipc__uri_mode(const struct uipc__uri *u, mode_t *out);

/*
 * Splits the authority into host and port for the inet schemes: "1.2.3.4:80",
 * "[::1]:80", "localhost:80".  The port must be 0..65535, where 0 asks the
 * kernel to choose one (only a side that binds may accept it: a connecting
 * caller refuses port 0 itself); host is copied without brackets.  -EINVAL
 * when either is missing or malformed.
 */
int uipc__uri_host_port(const struct uipc__uri *u, char *host, size_t hostcap, uint16_t *port);

/*
 * The System V IPC key a sysvmq: or sysvshm: URI names: a number in the
 * authority ("sysvmq://0x1234", decimal or 0x hex, 1 .. 0xffffffff; 0 is
 * IPC_PRIVATE and refused), or ftok() of an existing absolute path and
 * ?proj= 1..255, default 1 ("sysvmq:///etc/app?proj=7").  -EINVAL for a bad
 * key, both forms at once or ?proj= with a number; ftok's error otherwise.
 */
int uipc__uri_sysv_key(const struct uipc__uri *u, key_t *key);

/* Parses a size token ("64", "4K", "0x100") strictly.  -EINVAL if bad. */
int uipc__parse_size(const char *s, uint64_t *out);

/*
 * A name usable as one path component of a kernel namespace (shm, mq, sem):
 * 1..max bytes, no '/', not "." or "..", no control characters.
 */
bool uipc__name_ok(const char *name, size_t max);

#endif /* UIPC_URI_H */
