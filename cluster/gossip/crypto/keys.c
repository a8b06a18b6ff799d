/* Packet keys from cluster secrets via HKDF-SHA-256 (RFC 5869). */
#include "cluster/gossip/crypto/keys.h"

#include <string.h>

#include "cluster/gossip/crypto/ct.h"
#include "cluster/gossip/crypto/hkdf.h"

static const char key_salt[] = "shoal-cluster-v1";
static const char mac_info[] = "shoal gossip mac key";
static const char id_info[] = "shoal gossip key id";

static void expand(const uint8_t prk[HKDF_SHA256_PRK_LEN], const char *info, uint8_t *okm,
                   size_t okm_len)
{
    /* Lengths here are far below the HKDF limit, so expand cannot fail. */
    (void)hkdf_sha256_expand(prk, (const uint8_t *)info, strlen(info), okm, okm_len);
}

void packet_key_derive(const struct cluster_secret *secret, struct packet_key *out)
{
    uint8_t prk[HKDF_SHA256_PRK_LEN];
    hkdf_sha256_extract((const uint8_t *)key_salt, strlen(key_salt), secret->bytes, secret->len, prk);
    expand(prk, mac_info, out->mac_key, sizeof(out->mac_key));
    expand(prk, id_info, out->id, sizeof(out->id));
    ct_wipe(prk, sizeof(prk));
}

void packet_keys_derive(const struct cluster_secrets *secrets, struct packet_keys *out)
{
    memset(out, 0, sizeof(*out));
    packet_key_derive(&secrets->current, &out->current);
    out->has_previous = secrets->has_previous;
    if (secrets->has_previous)
        packet_key_derive(&secrets->previous, &out->previous);
}

int packet_keys_load(const char *path, struct packet_keys *out, bool *group_accessible,
                     char *err, size_t err_len)
{
    struct cluster_secrets secrets;
    memset(out, 0, sizeof(*out));
    if (cluster_secrets_load(path, &secrets, err, err_len) < 0)
        return -1;
    packet_keys_derive(&secrets, out);
    if (group_accessible != NULL)
        *group_accessible = secrets.group_accessible;
    cluster_secrets_wipe(&secrets);
    return 0;
}

const struct packet_key *packet_keys_find(const struct packet_keys *keys,
                                          const uint8_t id[PACKET_KEY_ID_LEN])
{
    /* Both comparisons always run, so timing does not tell which key matched. */
    bool is_current = ct_equal(keys->current.id, id, PACKET_KEY_ID_LEN);
    bool is_previous = keys->has_previous && ct_equal(keys->previous.id, id, PACKET_KEY_ID_LEN);
    if (is_current)
        return &keys->current;
    if (is_previous)
        return &keys->previous;
    return NULL;
}

void packet_keys_wipe(struct packet_keys *keys)
{
    ct_wipe(keys, sizeof(*keys));
}
