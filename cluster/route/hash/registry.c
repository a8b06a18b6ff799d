/* Hashes by their twemproxy configuration names. */
#include "cluster/route/hash/hash.h"

#include <string.h>

static const struct hash_algorithm algorithms[] = {
    {"md5", hash_md5},
    {"one_at_a_time", hash_one_at_a_time},
    {"crc32", hash_crc32},
    {"crc32a", hash_crc32a},
    {"fnv1_64", hash_fnv1_64},
    {"fnv1a_64", hash_fnv1a_64},
    {"fnv1_32", hash_fnv1_32},
    {"fnv1a_32", hash_fnv1a_32},
    {"murmur", hash_murmur},
    {"jenkins", hash_jenkins},
    {NULL, NULL},
};

const struct hash_algorithm *hash_algorithms(void)
{
    return algorithms;
}

const struct hash_algorithm *hash_by_name(const char *name)
{
    for (const struct hash_algorithm *a = algorithms; a->name != NULL; a++)
        if (strcmp(a->name, name) == 0)
            return a;
    return NULL;
}
