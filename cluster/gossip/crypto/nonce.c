/* Per-sender AEAD nonce sequence: random prefix, counter from a random start. */
#include "cluster/gossip/crypto/nonce.h"

#include <string.h>

#include "cluster/gossip/crypto/bytes.h"
#include "cluster/gossip/crypto/random.h"

int nonce_seq_init(struct nonce_seq *seq)
{
    uint8_t seed[12];
    if (crypto_random_bytes(seed, sizeof(seed)) < 0)
        return -1;
    memcpy(seq->prefix, seed, sizeof(seq->prefix));
    uint64_t start = 0;
    for (int i = 0; i < 8; i++)
        start |= (uint64_t)seed[4 + i] << (8 * i);
    atomic_init(&seq->counter, start);
    return 0;
}

void nonce_seq_next(struct nonce_seq *seq, uint8_t nonce[AEAD_NONCE_LEN])
{
    uint64_t value = atomic_fetch_add_explicit(&seq->counter, 1, memory_order_relaxed);
    memcpy(nonce, seq->prefix, sizeof(seq->prefix));
    store_le64(nonce + 4, value);
}
