#include "server/settings.h"

#include <unistd.h>

struct settings settings;

void settings_init(struct settings *s)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    *s = (struct settings){
        .port = 11211,
        .udpport = 0,
        .access = 0700,
        .maxbytes = 64 * 1024 * 1024,
        .evict_to_free = true,
        .maxconns = 1024,
        .num_threads = cores > 0 ? (int)cores : 4,
        .reqs_per_event = 20,
        .use_cas = true,
        .backlog = 1024,
        .item_size_max = 1024 * 1024,
        .factor = 1.25,
        .chunk_size = 48,
        .flush_enabled = true,
        .hashpower_init = 0,
        .maxconns_fast = true,
        .binding_protocol = BINDING_AUTO,
        .prefix_delimiter = ':',
        .dump_enabled = true,
        .watch_enabled = true,
        .slab_chunk_max = 512 * 1024,
        .backend_timeout_ms = 1000,
        .warmup_sec = 30,
    };
}
