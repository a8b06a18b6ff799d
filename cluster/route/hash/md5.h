#ifndef SHOAL_CLUSTER_HASH_MD5_H
#define SHOAL_CLUSTER_HASH_MD5_H
/* MD5 message digest (RFC 1321). Used by ketama for ring points and, in md5 mode, for keys.
 * Not for security: ketama needs MD5 only because libmemcached and twemproxy place keys with it. */
#include <stddef.h>
#include <stdint.h>

#define MD5_DIGEST_LEN 16

/* Incremental state; plain value, owns no memory. */
struct md5_ctx {
    uint32_t state[4];
    uint64_t length;         /* bytes fed so far */
    unsigned char block[64]; /* partial input block */
    size_t fill;             /* bytes waiting in block */
};

void md5_init(struct md5_ctx *ctx);
void md5_update(struct md5_ctx *ctx, const void *data, size_t len);
void md5_final(struct md5_ctx *ctx, unsigned char digest[MD5_DIGEST_LEN]);

/* One-shot digest of a buffer. */
void md5_digest(const void *data, size_t len, unsigned char digest[MD5_DIGEST_LEN]);

/* The 32-bit little-endian word number `word` (0..3) of a digest: how ketama reads points. */
uint32_t md5_digest_word(const unsigned char digest[MD5_DIGEST_LEN], unsigned word);

#endif
