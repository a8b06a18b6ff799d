#ifndef SHOAL_CRYPTO_CHACHA20_H
#define SHOAL_CRYPTO_CHACHA20_H
/* ChaCha20 as in RFC 8439 section 2.3/2.4: 256-bit key, 96-bit nonce, 32-bit block counter. */
#include <stddef.h>
#include <stdint.h>

#define CHACHA20_KEY_LEN 32
#define CHACHA20_NONCE_LEN 12
#define CHACHA20_BLOCK_LEN 64

/* One 64-byte keystream block (RFC 8439 2.3). */
void chacha20_block(const uint8_t key[CHACHA20_KEY_LEN], uint32_t counter,
                    const uint8_t nonce[CHACHA20_NONCE_LEN], uint8_t out[CHACHA20_BLOCK_LEN]);

/* out = in XOR keystream starting at block `counter` (RFC 8439 2.4). out may equal in.
 * The caller keeps len below (2^32 - counter) * 64 bytes; the counter does not wrap into the nonce. */
void chacha20_xor(const uint8_t key[CHACHA20_KEY_LEN], uint32_t counter,
                  const uint8_t nonce[CHACHA20_NONCE_LEN], const uint8_t *in, uint8_t *out, size_t len);

#endif
