/* ChaCha20 per RFC 8439 sections 2.1-2.4. */
#include "cluster/gossip/crypto/chacha20.h"

#include "cluster/gossip/crypto/bytes.h"
#include "cluster/gossip/crypto/ct.h"

/* "expand 32-byte k" as four little-endian words (RFC 8439 2.3). */
#define CHACHA_CONST0 0x61707865u
#define CHACHA_CONST1 0x3320646eu
#define CHACHA_CONST2 0x79622d32u
#define CHACHA_CONST3 0x6b206574u

static void quarter_round(uint32_t x[16], int a, int b, int c, int d)
{
    x[a] += x[b]; x[d] ^= x[a]; x[d] = rotl32(x[d], 16);
    x[c] += x[d]; x[b] ^= x[c]; x[b] = rotl32(x[b], 12);
    x[a] += x[b]; x[d] ^= x[a]; x[d] = rotl32(x[d], 8);
    x[c] += x[d]; x[b] ^= x[c]; x[b] = rotl32(x[b], 7);
}

static void initial_state(uint32_t state[16], const uint8_t key[CHACHA20_KEY_LEN], uint32_t counter,
                          const uint8_t nonce[CHACHA20_NONCE_LEN])
{
    state[0] = CHACHA_CONST0;
    state[1] = CHACHA_CONST1;
    state[2] = CHACHA_CONST2;
    state[3] = CHACHA_CONST3;
    for (int i = 0; i < 8; i++)
        state[4 + i] = load_le32(key + 4 * i);
    state[12] = counter;
    for (int i = 0; i < 3; i++)
        state[13 + i] = load_le32(nonce + 4 * i);
}

/* 20 rounds (10 column + diagonal double rounds), then add the input state. */
static void block_from_state(const uint32_t state[16], uint8_t out[CHACHA20_BLOCK_LEN])
{
    uint32_t x[16];
    for (int i = 0; i < 16; i++)
        x[i] = state[i];
    for (int i = 0; i < 10; i++) {
        quarter_round(x, 0, 4, 8, 12);
        quarter_round(x, 1, 5, 9, 13);
        quarter_round(x, 2, 6, 10, 14);
        quarter_round(x, 3, 7, 11, 15);
        quarter_round(x, 0, 5, 10, 15);
        quarter_round(x, 1, 6, 11, 12);
        quarter_round(x, 2, 7, 8, 13);
        quarter_round(x, 3, 4, 9, 14);
    }
    for (int i = 0; i < 16; i++)
        store_le32(out + 4 * i, x[i] + state[i]);
    ct_wipe(x, sizeof(x));
}

void chacha20_block(const uint8_t key[CHACHA20_KEY_LEN], uint32_t counter,
                    const uint8_t nonce[CHACHA20_NONCE_LEN], uint8_t out[CHACHA20_BLOCK_LEN])
{
    uint32_t state[16];
    initial_state(state, key, counter, nonce);
    block_from_state(state, out);
    ct_wipe(state, sizeof(state));
}

void chacha20_xor(const uint8_t key[CHACHA20_KEY_LEN], uint32_t counter,
                  const uint8_t nonce[CHACHA20_NONCE_LEN], const uint8_t *in, uint8_t *out, size_t len)
{
    uint32_t state[16];
    uint8_t keystream[CHACHA20_BLOCK_LEN];
    initial_state(state, key, counter, nonce);
    while (len > 0) {
        block_from_state(state, keystream);
        size_t take = len < CHACHA20_BLOCK_LEN ? len : CHACHA20_BLOCK_LEN;
        for (size_t i = 0; i < take; i++)
            out[i] = in[i] ^ keystream[i];
        in += take;
        out += take;
        len -= take;
        state[12]++;
    }
    ct_wipe(state, sizeof(state));
    ct_wipe(keystream, sizeof(keystream));
}
