/* The replay window (see gossip_auth.h): per sender name and life, highest counter + 64-bit bitmap, in a small
 * hash table with bounded probing so a lookup costs at most REPLAY_PROBE comparisons. */
#include "cluster/gossip/gossip_auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void replay_init(struct replay_table *t)
{
    memset(t, 0, sizeof *t);
}

void replay_free(struct replay_table *t)
{
    free(t->slots);
    memset(t, 0, sizeof *t);
}

static size_t sender_hash(const char *name, uint32_t life)
{
    uint64_t h = 1469598103934665603ULL ^ life;
    for (const unsigned char *c = (const unsigned char *)name; *c; c++)
        h = (h ^ *c) * 1099511628211ULL;
    return (size_t)(h ^ (h >> 29));
}

/* The sender's slot, or a fresh one (free, else least recently used among its places). */
static struct replay_peer *peer_slot(struct replay_table *t, const char *name, uint32_t life,
                                     bool *fresh)
{
    if (!t->slots) {
        t->slots = calloc(REPLAY_SLOTS, sizeof *t->slots);
        if (!t->slots)
            return NULL;
    }
    size_t start = sender_hash(name, life) % REPLAY_SLOTS;
    struct replay_peer *victim = NULL;
    for (size_t i = 0; i < REPLAY_PROBE; i++) {
        struct replay_peer *p = &t->slots[(start + i) % REPLAY_SLOTS];
        if (p->name[0] != '\0' && p->life == life && strcmp(p->name, name) == 0) {
            *fresh = false;
            return p;
        }
        if (!victim || (victim->name[0] != '\0' &&
                        (p->name[0] == '\0' || p->last_used < victim->last_used)))
            victim = p;
    }
    *fresh = true;
    memset(victim, 0, sizeof *victim);
    snprintf(victim->name, sizeof victim->name, "%s", name);
    victim->life = life;
    return victim;
}

bool replay_check(struct replay_table *t, const char *name, uint32_t life, uint64_t counter)
{
    bool fresh;
    struct replay_peer *p = peer_slot(t, name, life, &fresh);
    if (!p)
        return false;
    p->last_used = ++t->clock;
    if (fresh) {
        p->highest = counter;
        p->seen = 1;
        return true;
    }
    if (counter > p->highest) {
        uint64_t shift = counter - p->highest;
        p->seen = shift >= 64 ? 0 : p->seen << shift;
        p->seen |= 1;
        p->highest = counter;
        return true;
    }
    uint64_t back = p->highest - counter;
    if (back >= 64 || (p->seen >> back) & 1)
        return false;
    p->seen |= (uint64_t)1 << back;
    return true;
}
