#ifndef SHOAL_CRYPTO_ENVELOPE_H
#define SHOAL_CRYPTO_ENVELOPE_H
/* Sealed gossip packets: the framing the crypto layer puts around a payload, so that the gossip
 * code needs one call each way and cannot get nonces or key selection wrong.
 *
 *   key id (4) | nonce (12) | body (payload_len bytes) | tag (16)
 *
 * ENVELOPE_ENCRYPT: the body is the ChaCha20 ciphertext of the payload.
 * ENVELOPE_AUTHENTICATE: the body is the payload in clear.
 * The tag (AEAD_CHACHA20_POLY1305) covers the mode, the caller's context (e.g. the protocol magic
 * and version sent in front of the envelope), the key id, the nonce and the body. All nodes must
 * use the same mode: a packet sealed in one mode never opens in the other.
 * Replay protection is not provided here: the gossip layer rejects stale messages. */
#include <stddef.h>
#include <stdint.h>

#include "cluster/gossip/crypto/aead.h"
#include "cluster/gossip/crypto/keys.h"
#include "cluster/gossip/crypto/nonce.h"

#define ENVELOPE_HEADER_LEN (PACKET_KEY_ID_LEN + AEAD_NONCE_LEN)     /* 16 */
#define ENVELOPE_OVERHEAD (ENVELOPE_HEADER_LEN + AEAD_TAG_LEN)       /* 32 */

enum envelope_mode {
    ENVELOPE_AUTHENTICATE = 1,
    ENVELOPE_ENCRYPT = 2,
};

enum envelope_status {
    ENVELOPE_OK = 0,
    ENVELOPE_NO_ROOM,       /* the output buffer is too small */
    ENVELOPE_TRUNCATED,     /* the packet is shorter than ENVELOPE_OVERHEAD */
    ENVELOPE_UNKNOWN_KEY,   /* the key id matches neither the current nor the previous key */
    ENVELOPE_BAD_TAG,       /* forged, corrupted, other mode or context, or another secret */
};

/* A short fixed name ("ok", "no_room", "truncated", "unknown_key", "bad_tag") for logs/stats. */
const char *envelope_status_name(enum envelope_status status);

/* Seals payload with keys->current and the next nonce from nonces into out (out_cap bytes);
 * *out_len = payload_len + ENVELOPE_OVERHEAD. out must not overlap payload. Thread-safe as long
 * as keys is not being changed. */
enum envelope_status envelope_seal(const struct packet_keys *keys, struct nonce_seq *nonces,
                                   enum envelope_mode mode, const void *context, size_t context_len,
                                   const void *payload, size_t payload_len,
                                   void *out, size_t out_cap, size_t *out_len);

/* Verifies the packet in[0..in_len) with the key its id names (current or previous), then writes
 * the payload to payload (payload_cap bytes, *payload_len = in_len - ENVELOPE_OVERHEAD). payload
 * may be exactly in + ENVELOPE_HEADER_LEN (in place); otherwise it must not overlap in. Nothing
 * is written to payload unless the result is ENVELOPE_OK. */
enum envelope_status envelope_open(const struct packet_keys *keys, enum envelope_mode mode,
                                   const void *context, size_t context_len,
                                   const void *in, size_t in_len,
                                   void *payload, size_t payload_cap, size_t *payload_len);

#endif
