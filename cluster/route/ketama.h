#ifndef SHOAL_CLUSTER_KETAMA_H
#define SHOAL_CLUSTER_KETAMA_H
/* The ketama continuum: consistent hashing that places every key on the server libmemcached's
 * weighted ketama and twemproxy's `distribution: ketama` would pick for the same server list.
 *
 * A ring is built once from a server list and never changes afterwards, so any number of
 * threads may look keys up in it concurrently without locks. To change membership, build a new
 * ring and swap the pointer; freeing the old one is the swapper's business (after its readers
 * are done). How points are computed, and which source each rule reproduces: cluster/route/KETAMA.md. */
#include <stddef.h>
#include <stdint.h>

#include "cluster/route/hash/hash.h"

/* Whose arithmetic to reproduce. TWEMPROXY and LIBMEMCACHED compute the same rings (their
 * point-count formulas differ only in a 1e-10 epsilon that can never change the result; the
 * unit tests sweep it); both are kept so the proof stays executable. LIBKETAMA is last.fm's
 * original libketama, which always hashes "host:port" and counts points in double precision. */
enum ketama_compat {
    KETAMA_COMPAT_TWEMPROXY = 0, /* the default */
    KETAMA_COMPAT_LIBMEMCACHED,
    KETAMA_COMPAT_LIBKETAMA,
};

/* One server as configured. Strings are borrowed for the duration of ketama_ring_build only. */
struct ketama_server {
    const char *name; /* twemproxy's optional server name; NULL or "" if none */
    const char *host;
    uint16_t port;
    uint32_t weight; /* > 0 */
};

/* One point of the continuum: owned by servers[server]. */
struct ketama_point {
    uint32_t value;
    uint32_t server;
};

struct ketama_ring;

/* Builds the ring for `servers` (n >= 1, every weight > 0); keys are hashed with `key_hash`
 * (NULL means md5), ring points always with md5, as both references do. Returns 0 and stores a
 * ring the caller owns (free with ketama_ring_free), or -1 with errno EINVAL or ENOMEM. */
int ketama_ring_build(const struct ketama_server *servers, size_t n, enum ketama_compat compat,
                      key_hash_fn key_hash, struct ketama_ring **out);
void ketama_ring_free(struct ketama_ring *ring);

/* Index (into the list given to build) of the server that owns `key`. */
uint32_t ketama_ring_server_for_key(const struct ketama_ring *ring, const void *key, size_t len);
/* A key's owners for replication: the first `want` distinct servers met walking clockwise from
 * the key's point (the first is ketama_ring_server_for_key's answer, so want 1 places keys as
 * libmemcached and twemproxy do). Writes their indices, in that order, to out[0..) and returns
 * how many: min(want, number of servers). */
size_t ketama_ring_owners_for_key(const struct ketama_ring *ring, const void *key, size_t len,
                                  uint32_t *out, size_t want);
/* Index of the server owning hash value `hash` (the first point >= hash, wrapping). */
uint32_t ketama_ring_server_for_hash(const struct ketama_ring *ring, uint32_t hash);
/* Position in ketama_ring_points() of the point that owns `hash`. */
size_t ketama_ring_find(const struct ketama_ring *ring, uint32_t hash);

uint32_t ketama_ring_key_hash(const struct ketama_ring *ring, const void *key, size_t len);
size_t ketama_ring_server_count(const struct ketama_ring *ring);
size_t ketama_ring_point_count(const struct ketama_ring *ring);
/* The sorted points (ascending value; equal values by ascending server index). */
const struct ketama_point *ketama_ring_points(const struct ketama_ring *ring);

/* Number of points a server of `weight` gets among `nservers` of `total_weight` (a multiple
 * of 4: each md5 digest gives 4 points). Exposed for the tests and the balance report. */
uint32_t ketama_points_for_weight(enum ketama_compat compat, uint32_t weight, uint64_t total_weight,
                                  uint32_t nservers);

/* The string whose md5 digests give a server's points, without the "-<i>" suffix: the name
 * if set; else the host alone when the port is 11211 (never for LIBKETAMA); else
 * "host:port". Writes at most cap bytes (NUL-terminated) and returns the full length, as
 * snprintf does. */
size_t ketama_server_label(const struct ketama_server *server, enum ketama_compat compat,
                           char *buf, size_t cap);

/* "twemproxy", "libmemcached", "libketama" -> compat; returns 0, or -1 if unknown. */
int ketama_compat_by_name(const char *name, enum ketama_compat *out);

#endif
