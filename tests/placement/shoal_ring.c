/* shoal-ring: where the ketama ring places keys, for comparing with other implementations.
 *
 *   shoal-ring [-H hash] [-m twemproxy|libmemcached|libketama] [-p] SERVER...
 *       SERVER is twemproxy's "host:port:weight [name]" (one argument; ":weight" optional).
 *       Reads keys, one per line, from stdin and prints "<key> <server index> <host:port>".
 *       -p prints the continuum instead: "<point> <server index> <host:port>".
 *   shoal-ring -b FROM-TO [-k KEYS] [-H hash]
 *       Balance report for FROM..TO servers of equal weight: each server's exact share of the
 *       circle (max and min over mean), and the same measured with KEYS sample keys. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster/route/hash/hash.h"
#include "cluster/route/ketama.h"

struct server_list {
    struct ketama_server *servers; /* owned, as is every string in them */
    size_t count;
};

static void server_list_free(struct server_list *list)
{
    for (size_t i = 0; i < list->count; i++) {
        free((char *)list->servers[i].host);
        free((char *)list->servers[i].name);
    }
    free(list->servers);
}

/* Parses "host:port[:weight][ name]". Returns 0, or -1 on a malformed spec. */
static int parse_server(const char *spec, struct ketama_server *out)
{
    char *copy = strdup(spec);
    if (copy == NULL)
        return -1;
    char *name = NULL;
    char *space = strchr(copy, ' ');
    if (space != NULL) {
        *space = '\0';
        name = space + 1;
    }
    char *fields[3] = {copy, NULL, NULL};
    int nfields = 1;
    for (char *p = copy; *p != '\0' && nfields < 3; p++) {
        if (*p == ':') {
            *p = '\0';
            fields[nfields++] = p + 1;
        }
    }
    char *end;
    unsigned long port = nfields >= 2 ? strtoul(fields[1], &end, 10) : 0;
    if (nfields < 2 || *end != '\0' || port == 0 || port > 65535 || fields[0][0] == '\0') {
        free(copy);
        return -1;
    }
    unsigned long weight = 1;
    if (nfields == 3) {
        weight = strtoul(fields[2], &end, 10);
        if (*end != '\0' || weight == 0 || weight > UINT32_MAX) {
            free(copy);
            return -1;
        }
    }
    out->host = strdup(fields[0]);
    out->name = name != NULL && *name != '\0' ? strdup(name) : NULL;
    out->port = (uint16_t)port;
    out->weight = (uint32_t)weight;
    free(copy);
    return out->host == NULL ? -1 : 0;
}

static void print_points(const struct ketama_ring *ring, const struct server_list *list)
{
    const struct ketama_point *points = ketama_ring_points(ring);
    for (size_t i = 0; i < ketama_ring_point_count(ring); i++) {
        const struct ketama_server *s = &list->servers[points[i].server];
        printf("%u %u %s:%u\n", points[i].value, points[i].server, s->host, (unsigned)s->port);
    }
}

static int place_stdin_keys(const struct ketama_ring *ring, const struct server_list *list)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, stdin)) > 0) {
        if (line[len - 1] == '\n')
            line[--len] = '\0';
        if (len > 0 && line[len - 1] == '\r')
            line[--len] = '\0';
        uint32_t index = ketama_ring_server_for_key(ring, line, (size_t)len);
        const struct ketama_server *s = &list->servers[index];
        printf("%s %u %s:%u\n", line, index, s->host, (unsigned)s->port);
    }
    free(line);
    return ferror(stdin) ? -1 : 0;
}

/* Exact share of the circle owned by each server: every point owns the arc since the previous
 * point (the first one also owns the wrap-around arc). */
static void circle_shares(const struct ketama_ring *ring, double *share)
{
    const struct ketama_point *points = ketama_ring_points(ring);
    size_t count = ketama_ring_point_count(ring);
    for (size_t i = 0; i < count; i++) {
        uint64_t arc = i == 0 ? (uint64_t)points[0].value + 1 + (UINT64_C(0xFFFFFFFF) - points[count - 1].value)
                              : (uint64_t)points[i].value - points[i - 1].value;
        share[points[i].server] += (double)arc / 4294967296.0;
    }
}

static int balance_report(unsigned from, unsigned to, unsigned keys, key_hash_fn hash)
{
    printf("%4s %7s %9s %9s %9s %9s\n", "N", "points", "arc max", "arc min", "keys max", "keys min");
    for (unsigned n = from; n <= to; n++) {
        struct ketama_server *servers = calloc(n, sizeof *servers);
        char (*hosts)[32] = calloc(n, sizeof *hosts);
        double *share = calloc(n, sizeof *share);
        unsigned *counts = calloc(n, sizeof *counts);
        struct ketama_ring *ring = NULL;
        if (servers == NULL || hosts == NULL || share == NULL || counts == NULL) {
            free(servers), free(hosts), free(share), free(counts);
            return -1;
        }
        for (unsigned i = 0; i < n; i++) {
            snprintf(hosts[i], sizeof hosts[i], "10.0.%u.%u", i / 250, i % 250 + 1);
            servers[i] = (struct ketama_server){NULL, hosts[i], 11211, 1};
        }
        if (ketama_ring_build(servers, n, KETAMA_COMPAT_TWEMPROXY, hash, &ring) != 0) {
            free(servers), free(hosts), free(share), free(counts);
            return -1;
        }
        circle_shares(ring, share);
        for (unsigned k = 0; k < keys; k++) {
            char key[32];
            int len = snprintf(key, sizeof key, "key:%u", k);
            counts[ketama_ring_server_for_key(ring, key, (size_t)len)]++;
        }
        double mean = 1.0 / n, arc_max = 0, arc_min = 1, key_max = 0, key_min = keys;
        for (unsigned i = 0; i < n; i++) {
            arc_max = share[i] > arc_max ? share[i] : arc_max;
            arc_min = share[i] < arc_min ? share[i] : arc_min;
            key_max = counts[i] > key_max ? counts[i] : key_max;
            key_min = counts[i] < key_min ? counts[i] : key_min;
        }
        double key_mean = (double)keys / n;
        printf("%4u %7zu %9.3f %9.3f %9.3f %9.3f\n", n, ketama_ring_point_count(ring) / n,
               arc_max / mean, arc_min / mean, keys ? key_max / key_mean : 0.0,
               keys ? key_min / key_mean : 0.0);
        ketama_ring_free(ring);
        free(servers), free(hosts), free(share), free(counts);
    }
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: shoal-ring [-H hash] [-m twemproxy|libmemcached|libketama] [-p] "
                    "'host:port[:weight][ name]'...\n"
                    "       shoal-ring -b FROM-TO [-k KEYS] [-H hash]\n");
}

int main(int argc, char **argv)
{
    const struct hash_algorithm *hash = hash_by_name("md5");
    enum ketama_compat compat = KETAMA_COMPAT_TWEMPROXY;
    int print_continuum = 0;
    unsigned balance_from = 0, balance_to = 0, balance_keys = 0;
    int opt;
    while ((opt = getopt(argc, argv, "H:m:pb:k:")) != -1) {
        switch (opt) {
        case 'H':
            hash = hash_by_name(optarg);
            if (hash == NULL) {
                fprintf(stderr, "shoal-ring: unknown hash '%s'\n", optarg);
                return 2;
            }
            break;
        case 'm':
            if (ketama_compat_by_name(optarg, &compat) != 0) {
                fprintf(stderr, "shoal-ring: unknown mode '%s'\n", optarg);
                return 2;
            }
            break;
        case 'p':
            print_continuum = 1;
            break;
        case 'b':
            if (sscanf(optarg, "%u-%u", &balance_from, &balance_to) != 2 || balance_from == 0 ||
                balance_to < balance_from || balance_to > 10000) {
                usage();
                return 2;
            }
            break;
        case 'k':
            balance_keys = (unsigned)strtoul(optarg, NULL, 10);
            break;
        default:
            usage();
            return 2;
        }
    }
    if (balance_from != 0)
        return balance_report(balance_from, balance_to, balance_keys, hash->fn) == 0 ? 0 : 1;
    if (optind >= argc) {
        usage();
        return 2;
    }

    struct server_list list = {calloc((size_t)(argc - optind), sizeof(struct ketama_server)), 0};
    if (list.servers == NULL)
        return 1;
    for (int i = optind; i < argc; i++) {
        if (parse_server(argv[i], &list.servers[list.count]) != 0) {
            fprintf(stderr, "shoal-ring: bad server '%s'\n", argv[i]);
            server_list_free(&list);
            return 2;
        }
        list.count++;
    }
    struct ketama_ring *ring = NULL;
    if (ketama_ring_build(list.servers, list.count, compat, hash->fn, &ring) != 0) {
        fprintf(stderr, "shoal-ring: cannot build the ring: %s\n", strerror(errno));
        server_list_free(&list);
        return 1;
    }
    int rc = 0;
    if (print_continuum)
        print_points(ring, &list);
    else
        rc = place_stdin_keys(ring, &list);
    ketama_ring_free(ring);
    server_list_free(&list);
    return rc == 0 ? 0 : 1;
}
