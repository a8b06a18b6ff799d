/* Helpers shared by the unit tests that drive one gossip instance with crafted packets (not a
 * test itself: the Makefile builds test_*.c): what it sends is captured in `sent`, members live
 * at 10.0.0.<ip>:7946 with data at 10.0.0.<ip>:11211, and "self" is member 1. */
#ifndef SHOAL_GOSSIP_TEST_UTIL_H
#define SHOAL_GOSSIP_TEST_UTIL_H
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "cluster/gossip/gossip.h"
#include "cluster/gossip/wire.h"

#define MAX_SENT 512

struct sent {
    struct gossip_addr to;
    size_t len;
    uint8_t data[WIRE_MAX_PACKET];
};

static struct sent sent[MAX_SENT];
static size_t nsent;

static void capture_send(void *ctx, const struct gossip_addr *to, const uint8_t *buf, size_t len)
{
    (void)ctx;
    ck_assert_uint_le(len, WIRE_MAX_PACKET);
    if (nsent < MAX_SENT) {
        sent[nsent].to = *to;
        sent[nsent].len = len;
        memcpy(sent[nsent].data, buf, len);
        nsent++;
    }
}

static struct gossip_addr addr_of(int i)
{
    struct gossip_addr a = {.family = 4, .port = 7946, .ip = {10, 0, 0, (uint8_t)i}};
    return a;
}

/* "self" at member 1's addresses, with a fixed seed, sending into `sent`. */
static void self_config(struct gossip_config *cfg, uint64_t incarnation)
{
    gossip_config_defaults(cfg);
    cfg->name = "self";
    cfg->addr = addr_of(1);
    cfg->data_addr = "10.0.0.1:11211";
    cfg->incarnation = incarnation;
    cfg->seed = 1;
    cfg->send = capture_send;
}

static struct wire_member member(const char *name, int ip, uint64_t inc)
{
    struct wire_member m = {0};
    snprintf(m.name, sizeof m.name, "%s", name);
    m.addr = addr_of(ip);
    snprintf(m.data_addr, sizeof m.data_addr, "10.0.0.%d:11211", ip);
    m.incarnation = inc;
    m.weight = 1;
    m.proto = GOSSIP_PROTO_VERSION;
    return m;
}

#endif
