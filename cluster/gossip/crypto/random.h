#ifndef SHOAL_CRYPTO_RANDOM_H
#define SHOAL_CRYPTO_RANDOM_H
/* Cryptographically secure random bytes from the kernel: getrandom(2), or /dev/urandom where
 * getrandom is unavailable. Thread-safe. */
#include <stddef.h>
#include <stdint.h>

/* Fills buf with len random bytes. Returns 0, or -1 with errno set (never a partial fill). */
int crypto_random_bytes(void *buf, size_t len);

/* One random 64-bit value (e.g. a first incarnation number). Returns 0 or -1 with errno set. */
int crypto_random_u64(uint64_t *out);

#endif
