/* The ketama continuum. The rules, and the source each one reproduces, are in KETAMA.md. */
#include "cluster/route/ketama.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/route/hash/md5.h"

#define KETAMA_DEFAULT_PORT 11211
#define KETAMA_POINTS_PER_SERVER 160 /* at equal weights: 40 md5 digests of 4 points each */
#define KETAMA_POINTS_PER_DIGEST 4

/* Owns `points` (count entries, sorted). */
struct ketama_ring {
    key_hash_fn key_hash;
    size_t nservers;
    size_t count;
    struct ketama_point *points;
};

int ketama_compat_by_name(const char *name, enum ketama_compat *out)
{
    static const struct { const char *name; enum ketama_compat compat; } names[] = {
        {"twemproxy", KETAMA_COMPAT_TWEMPROXY},
        {"libmemcached", KETAMA_COMPAT_LIBMEMCACHED},
        {"libketama", KETAMA_COMPAT_LIBKETAMA},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(name, names[i].name) == 0) {
            *out = names[i].compat;
            return 0;
        }
    }
    return -1;
}

/* floor() for the non-negative, far below 2^32 values here: conversion truncates toward zero.
 * Keeps libshoal free of libm. */
static uint32_t floor_nonnegative(float x)
{
    return (uint32_t)x;
}

/* Every intermediate below is stored in a float variable on purpose: the references compute in
 * single precision (C's usual arithmetic conversions with float operands), and storing each
 * step pins that rounding even where a compiler could otherwise contract or widen. */
uint32_t ketama_points_for_weight(enum ketama_compat compat, uint32_t weight, uint64_t total_weight,
                                  uint32_t nservers)
{
    float pct = (float)weight / (float)total_weight;
    switch (compat) {
    case KETAMA_COMPAT_LIBKETAMA: {
        /* libketama: floorf(pct * 40.0 * (float)n); the 40.0 literal is a double, so the
         * product is formed in double and rounded to float once, by floorf's parameter. */
        double product = (double)pct * 40.0 * (double)(float)nservers;
        float rounded = (float)product;
        return floor_nonnegative(rounded) * KETAMA_POINTS_PER_DIGEST;
    }
    case KETAMA_COMPAT_LIBMEMCACHED: {
        /* libmemcached: floor((float)(pct * 160 / 4 * (float)n + 0.0000000001F)) * 4 */
        float scaled = pct * (float)KETAMA_POINTS_PER_SERVER;
        float per_digest = scaled / (float)KETAMA_POINTS_PER_DIGEST;
        float hashes = per_digest * (float)nservers;
        float nudged = hashes + 0.0000000001F;
        return floor_nonnegative(nudged) * KETAMA_POINTS_PER_DIGEST;
    }
    case KETAMA_COMPAT_TWEMPROXY:
    default: {
        /* twemproxy: floorf((float)(pct * 160 / 4 * (float)n + 0.0000000001)) * 4: the same
         * float product, nudged by a double epsilon, rounded back to float. */
        float scaled = pct * (float)KETAMA_POINTS_PER_SERVER;
        float per_digest = scaled / (float)KETAMA_POINTS_PER_DIGEST;
        float hashes = per_digest * (float)nservers;
        float nudged = (float)((double)hashes + 0.0000000001);
        return floor_nonnegative(nudged) * KETAMA_POINTS_PER_DIGEST;
    }
    }
}

size_t ketama_server_label(const struct ketama_server *server, enum ketama_compat compat,
                           char *buf, size_t cap)
{
    int len;
    if (server->name != NULL && server->name[0] != '\0')
        len = snprintf(buf, cap, "%s", server->name);
    else if (server->port == KETAMA_DEFAULT_PORT && compat != KETAMA_COMPAT_LIBKETAMA)
        len = snprintf(buf, cap, "%s", server->host);
    else
        len = snprintf(buf, cap, "%s:%u", server->host, (unsigned)server->port);
    return len < 0 ? 0 : (size_t)len;
}

static int point_order(const void *a, const void *b)
{
    const struct ketama_point *pa = a, *pb = b;
    if (pa->value != pb->value)
        return pa->value < pb->value ? -1 : 1;
    if (pa->server != pb->server)
        return pa->server < pb->server ? -1 : 1;
    return 0;
}

/* Appends the points of one server: md5("<label>-<i>") for i = 0 .. digests-1, each digest
 * read as four little-endian words. */
static int add_server_points(const struct ketama_server *server, uint32_t index,
                             enum ketama_compat compat, uint32_t digests,
                             struct ketama_point *points)
{
    size_t label_len = ketama_server_label(server, compat, NULL, 0);
    size_t cap = label_len + 16; /* "-" and a 32-bit decimal */
    char *text = malloc(cap);
    if (text == NULL)
        return -1;
    ketama_server_label(server, compat, text, cap);
    for (uint32_t i = 0; i < digests; i++) {
        int len = snprintf(text + label_len, cap - label_len, "-%u", i);
        unsigned char digest[MD5_DIGEST_LEN];
        md5_digest(text, label_len + (size_t)len, digest);
        for (unsigned w = 0; w < KETAMA_POINTS_PER_DIGEST; w++) {
            points[i * KETAMA_POINTS_PER_DIGEST + w].value = md5_digest_word(digest, w);
            points[i * KETAMA_POINTS_PER_DIGEST + w].server = index;
        }
    }
    free(text);
    return 0;
}

int ketama_ring_build(const struct ketama_server *servers, size_t n, enum ketama_compat compat,
                      key_hash_fn key_hash, struct ketama_ring **out)
{
    if (n == 0 || n > UINT32_MAX / KETAMA_POINTS_PER_SERVER || out == NULL) {
        errno = EINVAL;
        return -1;
    }
    uint64_t total_weight = 0;
    for (size_t i = 0; i < n; i++) {
        if (servers[i].weight == 0 || servers[i].host == NULL) {
            errno = EINVAL;
            return -1;
        }
        total_weight += servers[i].weight;
    }

    uint32_t *per_server = calloc(n, sizeof *per_server);
    if (per_server == NULL)
        return -1;
    size_t count = 0;
    for (size_t i = 0; i < n; i++) {
        per_server[i] = ketama_points_for_weight(compat, servers[i].weight, total_weight, (uint32_t)n);
        count += per_server[i];
    }

    struct ketama_ring *ring = calloc(1, sizeof *ring);
    struct ketama_point *points = calloc(count ? count : 1, sizeof *points);
    if (ring == NULL || points == NULL) {
        free(ring);
        free(points);
        free(per_server);
        errno = ENOMEM;
        return -1;
    }
    size_t filled = 0;
    for (size_t i = 0; i < n; i++) {
        if (add_server_points(&servers[i], (uint32_t)i, compat,
                              per_server[i] / KETAMA_POINTS_PER_DIGEST, points + filled) != 0) {
            free(ring);
            free(points);
            free(per_server);
            errno = ENOMEM;
            return -1;
        }
        filled += per_server[i];
    }
    free(per_server);
    /* (value, server) order: libmemcached breaks ties by server index explicitly; twemproxy
     * and libketama sort by value alone with glibc's qsort, a stable merge sort, which keeps
     * the lower server index (appended first) first too. */
    qsort(points, count, sizeof *points, point_order);

    ring->key_hash = key_hash != NULL ? key_hash : hash_md5;
    ring->nservers = n;
    ring->count = count;
    ring->points = points;
    *out = ring;
    return 0;
}

void ketama_ring_free(struct ketama_ring *ring)
{
    if (ring == NULL)
        return;
    free(ring->points);
    free(ring);
}

size_t ketama_ring_find(const struct ketama_ring *ring, uint32_t hash)
{
    size_t low = 0, high = ring->count;
    while (low < high) {
        size_t mid = low + (high - low) / 2;
        if (ring->points[mid].value < hash)
            low = mid + 1;
        else
            high = mid;
    }
    return low == ring->count ? 0 : low;
}

uint32_t ketama_ring_server_for_hash(const struct ketama_ring *ring, uint32_t hash)
{
    if (ring->count == 0)
        return 0;
    return ring->points[ketama_ring_find(ring, hash)].server;
}

uint32_t ketama_ring_key_hash(const struct ketama_ring *ring, const void *key, size_t len)
{
    return ring->key_hash(key, len);
}

uint32_t ketama_ring_server_for_key(const struct ketama_ring *ring, const void *key, size_t len)
{
    return ketama_ring_server_for_hash(ring, ring->key_hash(key, len));
}

size_t ketama_ring_owners_for_key(const struct ketama_ring *ring, const void *key, size_t len,
                                  uint32_t *out, size_t want)
{
    if (want > ring->nservers)
        want = ring->nservers;
    if (want == 0)
        return 0;
    size_t at = ketama_ring_find(ring, ring->key_hash(key, len));
    size_t found = 0;
    /* every server has points, so one lap finds them all; an owner already taken is skipped */
    for (size_t step = 0; step < ring->count && found < want; step++) {
        uint32_t server = ring->points[(at + step) % ring->count].server;
        bool seen = false;
        for (size_t i = 0; i < found && !seen; i++)
            seen = out[i] == server;
        if (!seen)
            out[found++] = server;
    }
    return found;
}

size_t ketama_ring_server_count(const struct ketama_ring *ring)
{
    return ring->nservers;
}

size_t ketama_ring_point_count(const struct ketama_ring *ring)
{
    return ring->count;
}

const struct ketama_point *ketama_ring_points(const struct ketama_ring *ring)
{
    return ring->points;
}
