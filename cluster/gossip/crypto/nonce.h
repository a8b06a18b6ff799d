#ifndef SHOAL_CRYPTO_NONCE_H
#define SHOAL_CRYPTO_NONCE_H
/* Unique 96-bit AEAD nonces for one sender: a random 32-bit prefix and a 64-bit counter that starts
 * at a random value and increases by one per nonce. Two senders (or two runs of one sender) collide
 * only if their prefixes are equal AND their counter ranges overlap, which is negligible; within
 * one sequence nonces never repeat (2^64 values). Safe to share among threads (atomic counter). */
#include <stdatomic.h>
#include <stdint.h>

#include "cluster/gossip/crypto/aead.h"

struct nonce_seq {
    uint8_t prefix[4];
    _Atomic uint64_t counter;
};

/* Seeds prefix and counter from crypto_random_bytes. Returns 0, or -1 with errno set. */
int nonce_seq_init(struct nonce_seq *seq);

/* Writes the next nonce: prefix (4 bytes) then the counter, little-endian (8 bytes). */
void nonce_seq_next(struct nonce_seq *seq, uint8_t nonce[AEAD_NONCE_LEN]);

#endif
