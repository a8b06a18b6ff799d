/* The member table (see membership.h). */
#include "cluster/gossip/membership.h"

#include <stdlib.h>
#include <string.h>

uint64_t member_name_hash(const char *name)
{
    uint64_t h = 1469598103934665603ULL;   /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        h ^= *p;
        h *= 1099511628211ULL;
    }
    return h;
}

void member_table_init(struct member_table *t)
{
    memset(t, 0, sizeof *t);
}

void member_table_free(struct member_table *t)
{
    for (size_t i = 0; i < t->count; i++)
        free(t->items[i]);
    free(t->items);
    free(t->index);
    memset(t, 0, sizeof *t);
}

static void index_insert(uint32_t *index, size_t cap, const char *name, uint32_t pos1)
{
    size_t mask = cap - 1;
    for (size_t i = member_name_hash(name) & mask;; i = (i + 1) & mask) {
        if (index[i] == 0) {
            index[i] = pos1;
            return;
        }
    }
}

static int index_rebuild(struct member_table *t, size_t cap)
{
    uint32_t *index = calloc(cap, sizeof *index);
    if (!index)
        return -1;
    for (size_t i = 0; i < t->count; i++)
        index_insert(index, cap, t->items[i]->info.name, (uint32_t)(i + 1));
    free(t->index);
    t->index = index;
    t->index_cap = cap;
    return 0;
}

struct member *member_table_find(const struct member_table *t, const char *name)
{
    if (t->index_cap == 0)
        return NULL;
    size_t mask = t->index_cap - 1;
    for (size_t i = member_name_hash(name) & mask; t->index[i]; i = (i + 1) & mask) {
        struct member *m = t->items[t->index[i] - 1];
        if (strcmp(m->info.name, name) == 0)
            return m;
    }
    return NULL;
}

struct member *member_table_add(struct member_table *t, const struct wire_member *info,
                                uint8_t state, uint64_t now_ms)
{
    if (t->count == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        struct member **items = realloc(t->items, cap * sizeof *items);
        if (!items)
            return NULL;
        t->items = items;
        t->cap = cap;
    }
    if ((t->count + 1) * 2 > t->index_cap) {
        if (index_rebuild(t, t->index_cap ? t->index_cap * 2 : 32) != 0)
            return NULL;
    }
    struct member *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->info = *info;
    m->state = state;
    m->state_since_ms = now_ms;
    m->table_pos = t->count;
    t->items[t->count++] = m;
    t->by_state[state]++;
    index_insert(t->index, t->index_cap, m->info.name, (uint32_t)t->count);
    return m;
}

void member_table_remove(struct member_table *t, struct member *m)
{
    size_t pos = m->table_pos;
    t->by_state[m->state]--;
    t->items[pos] = t->items[--t->count];
    t->items[pos]->table_pos = pos;
    free(m);
    /* Deletion from open addressing is fiddly; removals are rare (tombstone expiry), so rebuild
     * in place (no allocation, so it cannot fail). */
    memset(t->index, 0, t->index_cap * sizeof *t->index);
    for (size_t i = 0; i < t->count; i++)
        index_insert(t->index, t->index_cap, t->items[i]->info.name, (uint32_t)(i + 1));
}

void member_set_state(struct member_table *t, struct member *m, uint8_t state, uint64_t now_ms)
{
    if (m->state == state)
        return;
    t->by_state[m->state]--;
    t->by_state[state]++;
    m->state = state;
    m->state_since_ms = now_ms;
}

const char *member_state_name(uint8_t state)
{
    switch (state) {
    case MEMBER_ALIVE: return "alive";
    case MEMBER_SUSPECT: return "suspect";
    case MEMBER_DEAD: return "dead";
    case MEMBER_LEFT: return "left";
    default: return "unknown";
    }
}
