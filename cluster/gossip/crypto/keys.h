#ifndef SHOAL_CRYPTO_KEYS_H
#define SHOAL_CRYPTO_KEYS_H
/* The gossip packet keys, derived from the cluster secrets with HKDF-SHA-256 (salt
 * "shoal-cluster-v1"), one info string per key, so the configured secret is never used as a key
 * itself:
 *   mac_key   info "shoal gossip mac key"    32 bytes: the HMAC-SHA-256 key that tags packets
 *   id        info "shoal gossip key id"     4 bytes, public: sent in the packet header so the
 *             receiver knows which key (current or previous) to try.
 * This is the one copy of the keys: keys.c fills it, cluster/gossip/gossip_auth.c tags and
 * verifies with it. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/gossip/crypto/secret.h"

#define PACKET_KEY_ID_LEN 4
#define PACKET_MAC_KEY_LEN 32

struct packet_key {
    uint8_t id[PACKET_KEY_ID_LEN];
    uint8_t mac_key[PACKET_MAC_KEY_LEN];
};

/* Plain values, no heap: whoever holds one wipes it with packet_keys_wipe when done. */
struct packet_keys {
    struct packet_key current;          /* signs and verifies */
    struct packet_key previous;         /* verifies too while has_previous (key rotation) */
    bool has_previous;
};

void packet_key_derive(const struct cluster_secret *secret, struct packet_key *out);

/* Derives current (and previous) from loaded secrets. */
void packet_keys_derive(const struct cluster_secrets *secrets, struct packet_keys *out);

/* Loads the secret file, derives the keys, wipes the secrets. Returns 0, or -1 with a one-line
 * reason in err. *group_accessible (may be NULL) tells whether the caller should warn about the
 * mode. */
int packet_keys_load(const char *path, struct packet_keys *out, bool *group_accessible,
                     char *err, size_t err_len);

/* The key whose id matches, or NULL. Compares ids in constant time. */
const struct packet_key *packet_keys_find(const struct packet_keys *keys,
                                          const uint8_t id[PACKET_KEY_ID_LEN]);

void packet_keys_wipe(struct packet_keys *keys);

#endif
