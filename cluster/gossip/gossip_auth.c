/* Packet tags: HMAC-SHA-256 truncated to 128 bits, under keys derived from the cluster secret
 * (cluster/gossip/crypto/keys.h). See gossip_auth.h for the header layout and the replay window. */
#include "cluster/gossip/gossip_auth.h"

#include <string.h>

#include "cluster/gossip/crypto/ct.h"
#include "cluster/gossip/crypto/hmac_sha256.h"
#include "cluster/gossip/crypto/keys.h"

_Static_assert(WIRE_KEY_ID_LEN == PACKET_KEY_ID_LEN, "key id sizes agree");

void gossip_auth_tag(const struct gossip_key *key, const uint8_t *data, size_t len,
                     uint8_t tag[WIRE_TAG_LEN])
{
    uint8_t mac[HMAC_SHA256_LEN];
    hmac_sha256(key->mac_key, sizeof key->mac_key, data, len, mac);
    memcpy(tag, mac, WIRE_TAG_LEN);
    ct_wipe(mac, sizeof mac);
}

static bool verify_with(const struct gossip_key *key, const uint8_t *data, size_t len,
                        const uint8_t tag[WIRE_TAG_LEN])
{
    return hmac_sha256_verify(key->mac_key, sizeof key->mac_key, data, len, tag, WIRE_TAG_LEN);
}

bool gossip_auth_verify(const struct gossip_keys *keys, const uint8_t key_id[WIRE_KEY_ID_LEN],
                        const uint8_t *data, size_t len, const uint8_t tag[WIRE_TAG_LEN])
{
    if (ct_equal(key_id, keys->current.id, WIRE_KEY_ID_LEN))
        return verify_with(&keys->current, data, len, tag);
    if (keys->has_previous && ct_equal(key_id, keys->previous.id, WIRE_KEY_ID_LEN))
        return verify_with(&keys->previous, data, len, tag);
    return false;
}

static void copy_key(const struct packet_key *in, struct gossip_key *out)
{
    memcpy(out->id, in->id, WIRE_KEY_ID_LEN);
    memcpy(out->mac_key, in->mac_key, sizeof out->mac_key);
}

void gossip_keys_from_packet_keys(const struct packet_keys *in, struct gossip_keys *out)
{
    memset(out, 0, sizeof *out);
    copy_key(&in->current, &out->current);
    if (in->has_previous) {
        copy_key(&in->previous, &out->previous);
        out->has_previous = true;
    }
}

int gossip_keys_load(const char *path, struct gossip_keys *out, bool *group_accessible,
                     char *err, size_t err_len)
{
    struct packet_keys pk;
    if (packet_keys_load(path, &pk, group_accessible, err, err_len) != 0)
        return -1;
    gossip_keys_from_packet_keys(&pk, out);
    packet_keys_wipe(&pk);
    return 0;
}

void gossip_keys_wipe(struct gossip_keys *keys)
{
    ct_wipe(keys, sizeof *keys);
}
