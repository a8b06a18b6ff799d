#ifndef SHOAL_CLUSTER_GOSSIP_AUTH_H
#define SHOAL_CLUSTER_GOSSIP_AUTH_H
/* Gossip packet authentication: tags and the replay window. The keys are struct packet_keys
 * (cluster/gossip/crypto/keys.h: packet_keys_load, packet_keys_wipe).
 *
 * An authenticated packet carries key_id[4] and a 64-bit counter in its header and a 16-byte tag
 * at its end: HMAC-SHA-256 (truncated) under the key's mac_key over every byte before the tag.
 * The counter starts at the sender's wall-clock microseconds and grows by one per packet, so a
 * restarted sender starts above anything it sent before. The receiver keeps, per sender (its
 * name and its random per-process life id, both in the header under the tag: the authenticated
 * identity, not the UDP source address, which anyone can spoof; the life id keeps apart two
 * processes misconfigured with one name, whose counters would otherwise wipe out each other's),
 * the highest counter seen and a 64-packet bitmap below it: a packet whose counter is
 * older than the window or already seen is a replay and is dropped (reordering within 64 packets
 * is tolerated). So one captured packet is accepted at most once however many addresses it is
 * replayed from.
 * Limitations, by design: a receiver that restarts or evicts a sender's entry accepts one copy of
 * an old packet; a packet the sender sent to another member, replayed to us while still within
 * the sender's last 64 counters that we saw, is accepted once (the counter is per sender, not per
 * pair). SWIM's incarnation rules make re-asserted old states harmless. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/gossip/crypto/keys.h"
#include "cluster/gossip/wire.h"

/* Computes the 16-byte tag of data under key. */
void gossip_auth_tag(const struct packet_key *key, const uint8_t *data, size_t len,
                     uint8_t tag[WIRE_TAG_LEN]);
/* True if tag is valid for data under the key named key_id (constant-time compare). */
bool gossip_auth_verify(const struct packet_keys *keys, const uint8_t key_id[WIRE_KEY_ID_LEN],
                        const uint8_t *data, size_t len, const uint8_t tag[WIRE_TAG_LEN]);

#define REPLAY_SLOTS 2048               /* senders remembered: a hash table... */
#define REPLAY_PROBE 8                  /* ...with this many places per name; the least
                                         * recently seen of them is evicted */

struct replay_peer {
    char name[WIRE_NAME_MAX + 1];       /* the sender; "": free */
    uint32_t life;                      /* ...and its life id */
    uint64_t highest;
    uint64_t seen;                      /* bit i: counter highest - i was seen */
    uint64_t last_used;
};

/* Owns its slots; replay_free releases them. */
struct replay_table {
    struct replay_peer *slots;          /* allocated on first use */
    uint64_t clock;
};

void replay_init(struct replay_table *t);
void replay_free(struct replay_table *t);
/* Records counter from the sender named `name` in its life `life`. Returns true if fresh, false if
 * a replay (or too old). */
bool replay_check(struct replay_table *t, const char *name, uint32_t life, uint64_t counter);

#endif
