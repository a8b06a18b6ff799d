/* Constant-time compare and wipe. */
#include "cluster/gossip/crypto/ct.h"

#include <stdint.h>

bool ct_equal(const void *a, const void *b, size_t n)
{
    /* volatile keeps the compiler from turning the loop into an early-exit memcmp. */
    const volatile uint8_t *x = a;
    const volatile uint8_t *y = b;
    uint8_t diff = 0;
    for (size_t i = 0; i < n; i++)
        diff |= (uint8_t)(x[i] ^ y[i]);
    return diff == 0;
}

void ct_wipe(void *p, size_t n)
{
    volatile uint8_t *q = p;
    for (size_t i = 0; i < n; i++)
        q[i] = 0;
}
