/* Sealed gossip packets (layout in envelope.h). */
#include "cluster/gossip/crypto/envelope.h"

#include <string.h>

const char *envelope_status_name(enum envelope_status status)
{
    switch (status) {
    case ENVELOPE_OK:
        return "ok";
    case ENVELOPE_NO_ROOM:
        return "no_room";
    case ENVELOPE_TRUNCATED:
        return "truncated";
    case ENVELOPE_UNKNOWN_KEY:
        return "unknown_key";
    case ENVELOPE_BAD_TAG:
        return "bad_tag";
    }
    return "unknown";
}

/* The AAD: mode byte | context | key id and nonce (| clear body, in authenticate mode). The mode
 * byte keeps a packet of one mode from ever verifying in the other. */
static size_t build_aad(struct aead_piece aad[3], const uint8_t *mode_byte, const void *context,
                        size_t context_len, const uint8_t *envelope, size_t clear_body_len)
{
    aad[0] = (struct aead_piece){mode_byte, 1};
    aad[1] = (struct aead_piece){context, context_len};
    aad[2] = (struct aead_piece){envelope, ENVELOPE_HEADER_LEN + clear_body_len};
    return 3;
}

enum envelope_status envelope_seal(const struct packet_keys *keys, struct nonce_seq *nonces,
                                   enum envelope_mode mode, const void *context, size_t context_len,
                                   const void *payload, size_t payload_len,
                                   void *out, size_t out_cap, size_t *out_len)
{
    if (out_cap < ENVELOPE_OVERHEAD || out_cap - ENVELOPE_OVERHEAD < payload_len)
        return ENVELOPE_NO_ROOM;
    uint8_t *envelope = out;
    uint8_t *nonce = envelope + PACKET_KEY_ID_LEN;
    uint8_t *body = envelope + ENVELOPE_HEADER_LEN;
    uint8_t *tag = body + payload_len;
    const struct packet_key *key = &keys->current;
    uint8_t mode_byte = (uint8_t)mode;

    memcpy(envelope, key->id, PACKET_KEY_ID_LEN);
    nonce_seq_next(nonces, nonce);
    struct aead_piece aad[3];
    if (mode == ENVELOPE_ENCRYPT) {
        size_t pieces = build_aad(aad, &mode_byte, context, context_len, envelope, 0);
        aead_seal_pieces(key->aead_key, nonce, aad, pieces, payload, payload_len, body, tag);
    } else {
        if (payload_len > 0)
            memcpy(body, payload, payload_len);
        size_t pieces = build_aad(aad, &mode_byte, context, context_len, envelope, payload_len);
        aead_seal_pieces(key->aead_key, nonce, aad, pieces, NULL, 0, NULL, tag);
    }
    *out_len = payload_len + ENVELOPE_OVERHEAD;
    return ENVELOPE_OK;
}

enum envelope_status envelope_open(const struct packet_keys *keys, enum envelope_mode mode,
                                   const void *context, size_t context_len,
                                   const void *in, size_t in_len,
                                   void *payload, size_t payload_cap, size_t *payload_len)
{
    if (in_len < ENVELOPE_OVERHEAD)
        return ENVELOPE_TRUNCATED;
    size_t body_len = in_len - ENVELOPE_OVERHEAD;
    if (payload_cap < body_len)
        return ENVELOPE_NO_ROOM;
    const uint8_t *envelope = in;
    const uint8_t *nonce = envelope + PACKET_KEY_ID_LEN;
    const uint8_t *body = envelope + ENVELOPE_HEADER_LEN;
    const uint8_t *tag = body + body_len;
    const struct packet_key *key = packet_keys_find(keys, envelope);
    if (key == NULL)
        return ENVELOPE_UNKNOWN_KEY;
    uint8_t mode_byte = (uint8_t)mode;

    struct aead_piece aad[3];
    if (mode == ENVELOPE_ENCRYPT) {
        size_t pieces = build_aad(aad, &mode_byte, context, context_len, envelope, 0);
        if (aead_open_pieces(key->aead_key, nonce, aad, pieces, body, body_len, tag, payload) < 0)
            return ENVELOPE_BAD_TAG;
    } else {
        size_t pieces = build_aad(aad, &mode_byte, context, context_len, envelope, body_len);
        if (aead_open_pieces(key->aead_key, nonce, aad, pieces, NULL, 0, tag, NULL) < 0)
            return ENVELOPE_BAD_TAG;
        if (body_len > 0)
            memmove(payload, body, body_len);
    }
    *payload_len = body_len;
    return ENVELOPE_OK;
}
