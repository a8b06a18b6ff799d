/* Packet tags: HMAC-SHA-256 truncated to 128 bits, under keys derived from the cluster secret
 * (cluster/gossip/crypto/keys.h). See gossip_auth.h for the header layout and the replay window. */
#include "cluster/gossip/gossip_auth.h"

#include <string.h>

#include "cluster/gossip/crypto/ct.h"
#include "cluster/gossip/crypto/hmac_sha256.h"

_Static_assert(WIRE_KEY_ID_LEN == PACKET_KEY_ID_LEN, "key id sizes agree");

void gossip_auth_tag(const struct packet_key *key, const uint8_t *data, size_t len,
                     uint8_t tag[WIRE_TAG_LEN])
{
    uint8_t mac[HMAC_SHA256_LEN];
    hmac_sha256(key->mac_key, sizeof key->mac_key, data, len, mac);
    memcpy(tag, mac, WIRE_TAG_LEN);
    ct_wipe(mac, sizeof mac);
}

bool gossip_auth_verify(const struct packet_keys *keys, const uint8_t key_id[WIRE_KEY_ID_LEN],
                        const uint8_t *data, size_t len, const uint8_t tag[WIRE_TAG_LEN])
{
    const struct packet_key *key = packet_keys_find(keys, key_id);
    return key != NULL &&
           hmac_sha256_verify(key->mac_key, sizeof key->mac_key, data, len, tag, WIRE_TAG_LEN);
}
