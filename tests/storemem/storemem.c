/* Measures the resident memory the store spends per item: stores N items (default 1,000,000)
 * of 14-byte keys and 100-byte values, as in the memcached measurement, and prints the
 * growth of VmRSS divided by N. Usage: storemem [items] [value_bytes] [cas|-C] [factor]. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/store.h"

static long vm_rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    char line[256];
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kb = strtol(line + 6, NULL, 10);
    fclose(f);
    return kb;
}

static void print_class(void *ctx, const struct store_class_stats *c)
{
    (void)ctx;
    printf("  class %u: chunk %lu, pages %lu, items %lu\n", c->id, (unsigned long)c->chunk_size,
           (unsigned long)c->total_pages, (unsigned long)c->number);
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    size_t nval = argc > 2 ? (size_t)atol(argv[2]) : 100;
    bool use_cas = !(argc > 3 && strcmp(argv[3], "-C") == 0);
    double factor = argc > 4 ? atof(argv[4]) : 1.25;
    if (n <= 0 || nval > 4096 || factor <= 1.0) {
        fprintf(stderr, "usage: storemem [items] [value_bytes<=4096] [cas|-C] [factor>1]\n");
        return 2;
    }
    clock_init();
    long before = vm_rss_kb();
    struct store_config cfg = {
        .mem_limit = (size_t)1 << 31, .item_size_max = 1 << 20, .growth_factor = factor,
        .chunk_min = 48, .hashpower = 0, .evict = true, .use_cas = use_cas,
    };
    char err[200];
    struct store *st = store_create(&cfg, err, sizeof err);
    if (!st) {
        fprintf(stderr, "storemem: %s\n", err);
        return 1;
    }
    char key[32], val[4096];
    memset(val, 'v', sizeof val);
    for (long i = 0; i < n; i++) {
        int nkey = snprintf(key, sizeof key, "key:%010ld", i); /* 14 bytes */
        enum store_alloc_err aerr;
        struct item *it = store_alloc(st, key, (size_t)nkey, nval, &aerr);
        if (!it) {
            fprintf(stderr, "storemem: store_alloc failed at %ld\n", i);
            return 1;
        }
        memcpy(item_data(it), val, nval);
        uint32_t hv = store_hash(key, (size_t)nkey);
        struct store_lock lk;
        store_lock_key(st, hv, &lk);
        store_link(st, hv, it, NULL);
        store_unlock(st, &lk);
        if ((i & 0xffff) == 0)
            store_maintain(st); /* as the maintenance thread would: grows the table */
    }
    store_maintain(st);
    long after = vm_rss_kb();
    struct store_stats s;
    store_get_stats(st, &s);
    printf("items %ld, value %zu bytes, key 14 bytes, cas %s, -f %g\n", n, nval,
           use_cas ? "on" : "off", factor);
    printf("rss growth %ld KB = %.1f bytes per item (item memory %lu MB, hash 2^%lu)\n",
           after - before, (double)(after - before) * 1024.0 / (double)n,
           (unsigned long)(s.total_malloced >> 20), (unsigned long)s.hash_power_level);
    store_foreach_class(st, print_class, NULL);
    store_destroy(st);
    return 0;
}
