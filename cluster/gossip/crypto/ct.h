#ifndef SHOAL_CRYPTO_CT_H
#define SHOAL_CRYPTO_CT_H
/* Constant-time helpers for secrets: the running time depends on the length only, never on the
 * contents, so an attacker cannot learn a tag byte by byte from timing. */
#include <stdbool.h>
#include <stddef.h>

/* True when the n bytes at a and b are equal. */
bool ct_equal(const void *a, const void *b, size_t n);

/* Zeroes n bytes in a way the compiler may not drop (for keys leaving scope). */
void ct_wipe(void *p, size_t n);

#endif
