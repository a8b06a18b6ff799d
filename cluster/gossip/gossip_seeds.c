/* Parsing of a seed list option ("10.0.0.1:7946,10.0.0.2:7946", numeric hosts: resolving names
 * would block, and the gossip thread never blocks). */
#include "cluster/gossip/gossip_udp.h"

#include <string.h>

int gossip_seeds_parse(const char *list, struct gossip_addr *out, size_t max, size_t *count)
{
    *count = 0;
    const char *p = list;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        char item[80];
        if (n == 0 || n >= sizeof item || *count == max)
            return -1;
        memcpy(item, p, n);
        item[n] = '\0';
        if (gossip_addr_parse(item, &out[*count]) != 0)
            return -1;
        (*count)++;
        if (!comma)
            break;
        p = comma + 1;
        if (*p == '\0')
            return -1;      /* trailing comma */
    }
    return *count > 0 ? 0 : -1;
}
