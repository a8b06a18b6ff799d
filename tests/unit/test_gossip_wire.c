/* Unit tests for cluster/gossip/wire.c: round trips of every message, and rejection of truncated,
 * oversized, garbled, random and mutated input (never a crash, never a partial accept). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/gossip/wire.h"

/* The header of the packets built here: sender "peer" (length byte + 4). */
#define PEER_HEADER_LEN (WIRE_HEADER_LEN + 5)

static struct wire_member sample_member(void)
{
    struct wire_member m = {0};
    m.incarnation = 0x0102030405060708ULL;
    strcpy(m.name, "node-a");
    gossip_addr_parse("10.0.0.1:7946", &m.addr);
    strcpy(m.data_addr, "10.0.0.1:11211");
    m.weight = 7;
    m.role = MEMBER_ROLE_PROXY;
    m.proto = GOSSIP_PROTO_VERSION;
    return m;
}

/* Parses buf as an unauthenticated packet and decodes its single message. */
static int decode_one(const uint8_t *buf, size_t len, struct wire_msg *msg)
{
    struct wire_packet p;
    int r = wire_packet_parse(buf, len, &p);
    if (r != WIRE_OK)
        return r;
    struct wire_cursor c = {p.body, p.body_len};
    r = wire_next_msg(&c, msg);
    if (r != 1)
        return r;
    return wire_next_msg(&c, msg) == 0 ? 1 : -100;
}

START_TEST(addr_parse_format)
{
    struct gossip_addr a;
    char buf[64];
    ck_assert_int_eq(gossip_addr_parse("127.0.0.1:7946", &a), 0);
    ck_assert_uint_eq(a.family, 4);
    ck_assert_uint_eq(a.port, 7946);
    ck_assert_str_eq(gossip_addr_format(&a, buf, sizeof buf), "127.0.0.1:7946");
    ck_assert_int_eq(gossip_addr_parse("[::1]:80", &a), 0);
    ck_assert_uint_eq(a.family, 6);
    ck_assert_str_eq(gossip_addr_format(&a, buf, sizeof buf), "[::1]:80");
    ck_assert_int_eq(gossip_addr_parse("127.0.0.1", &a), -1);
    ck_assert_int_eq(gossip_addr_parse("127.0.0.1:", &a), -1);
    ck_assert_int_eq(gossip_addr_parse("127.0.0.1:70000", &a), -1);
    ck_assert_int_eq(gossip_addr_parse("host:80", &a), -1);
    ck_assert_int_eq(gossip_addr_parse(":80", &a), -1);
}
END_TEST

START_TEST(round_trip_every_message)
{
    uint8_t buf[WIRE_MAX_PACKET];
    struct wire_writer w;
    struct wire_msg msg;

    wire_writer_init(&w, buf, sizeof buf);
    ck_assert(wire_put_header(&w, false, NULL, 0, 0, "peer"));
    struct wire_ping ping = {.seq = 0xdeadbeef};
    strcpy(ping.target, "b");
    ck_assert(wire_put_ping(&w, &ping));
    ck_assert_int_eq(decode_one(buf, w.len, &msg), 1);
    ck_assert_uint_eq(msg.type, WIRE_PING);
    ck_assert_uint_eq(msg.u.ping.seq, 0xdeadbeef);
    ck_assert_str_eq(msg.u.ping.target, "b");

    wire_writer_init(&w, buf, sizeof buf);
    wire_put_header(&w, false, NULL, 0, 0, "peer");
    struct wire_ping_req req = {.seq = 9, .want_nack = true};
    gossip_addr_parse("[fe80::1]:1234", &req.target_addr);
    strcpy(req.target, "target-node");
    ck_assert(wire_put_ping_req(&w, &req));
    ck_assert_int_eq(decode_one(buf, w.len, &msg), 1);
    ck_assert_uint_eq(msg.type, WIRE_PING_REQ);
    ck_assert_uint_eq(msg.u.ping_req.seq, 9);
    ck_assert(msg.u.ping_req.want_nack);
    ck_assert(gossip_addr_equal(&msg.u.ping_req.target_addr, &req.target_addr));
    ck_assert_str_eq(msg.u.ping_req.target, "target-node");

    for (uint8_t type = WIRE_ACK; type <= WIRE_NACK; type++) {
        wire_writer_init(&w, buf, sizeof buf);
        wire_put_header(&w, false, NULL, 0, 0, "peer");
        ck_assert(wire_put_ack(&w, type, 77));
        ck_assert_int_eq(decode_one(buf, w.len, &msg), 1);
        ck_assert_uint_eq(msg.type, type);
        ck_assert_uint_eq(msg.u.seq, 77);
    }

    struct wire_member m = sample_member();
    wire_writer_init(&w, buf, sizeof buf);
    wire_put_header(&w, false, NULL, 0, 0, "peer");
    ck_assert(wire_put_alive(&w, &m));
    ck_assert_int_eq(decode_one(buf, w.len, &msg), 1);
    ck_assert_uint_eq(msg.type, WIRE_ALIVE);
    ck_assert(memcmp(&msg.u.alive, &m, sizeof m) == 0 ||
              (msg.u.alive.incarnation == m.incarnation && !strcmp(msg.u.alive.name, m.name) &&
               gossip_addr_equal(&msg.u.alive.addr, &m.addr) &&
               !strcmp(msg.u.alive.data_addr, m.data_addr) && msg.u.alive.weight == m.weight &&
               msg.u.alive.role == m.role && msg.u.alive.proto == m.proto));

    for (uint8_t type = WIRE_SUSPECT; type <= WIRE_DEAD; type++) {
        struct wire_accuse a = {.incarnation = 5};
        strcpy(a.name, "x");
        strcpy(a.from, "y");
        wire_writer_init(&w, buf, sizeof buf);
        wire_put_header(&w, false, NULL, 0, 0, "peer");
        ck_assert(wire_put_accuse(&w, type, &a));
        ck_assert_int_eq(decode_one(buf, w.len, &msg), 1);
        ck_assert_uint_eq(msg.type, type);
        ck_assert_uint_eq(msg.u.accuse.incarnation, 5);
        ck_assert_str_eq(msg.u.accuse.name, "x");
        ck_assert_str_eq(msg.u.accuse.from, "y");
    }
}
END_TEST

START_TEST(pushpull_round_trip)
{
    uint8_t buf[WIRE_MAX_PACKET];
    struct wire_writer w;
    size_t mark;
    wire_writer_init(&w, buf, sizeof buf);
    wire_put_header(&w, false, NULL, 0, 0, "peer");
    ck_assert(wire_pp_begin(&w, WIRE_PP_REQUEST | WIRE_PP_JOIN, 1234, 1, 3, &mark));
    struct wire_member m = sample_member();
    int added = 0;
    while (wire_pp_add(&w, mark, (uint8_t)(added % 4), &m))
        added++;
    wire_pp_end(&w, mark);
    ck_assert_int_gt(added, 10);
    ck_assert_uint_le(w.len, WIRE_MAX_PACKET);

    struct wire_msg msg;
    ck_assert_int_eq(decode_one(buf, w.len, &msg), 1);
    ck_assert_uint_eq(msg.type, WIRE_PUSHPULL);
    ck_assert_uint_eq(msg.u.pp.flags, WIRE_PP_REQUEST | WIRE_PP_JOIN);
    ck_assert_uint_eq(msg.u.pp.session, 1234);
    ck_assert_uint_eq(msg.u.pp.chunk, 1);
    ck_assert_uint_eq(msg.u.pp.chunks, 3);
    ck_assert_uint_eq(msg.u.pp.count, (unsigned)added);
    struct wire_cursor c = {msg.u.pp.entries, msg.u.pp.entries_len};
    uint8_t state;
    struct wire_member e;
    int n = 0;
    while (wire_pp_next(&c, &state, &e) == 1) {
        ck_assert_uint_eq(state, (unsigned)(n % 4));
        ck_assert_str_eq(e.name, "node-a");
        n++;
    }
    ck_assert_int_eq(n, added);
}
END_TEST

START_TEST(auth_header_and_tag_room)
{
    uint8_t buf[WIRE_MAX_PACKET];
    struct wire_writer w;
    const uint8_t id[4] = {1, 2, 3, 4};
    wire_writer_init(&w, buf, sizeof buf);
    ck_assert(wire_put_header(&w, true, id, 0x1122334455667788ULL, 0, "peer"));
    ck_assert_uint_eq(wire_room(&w), WIRE_MAX_PACKET - PEER_HEADER_LEN - WIRE_AUTH_HEADER_LEN -
                                         WIRE_TAG_LEN);
    ck_assert(wire_put_ack(&w, WIRE_ACK, 3));
    memset(buf + w.len, 0xab, WIRE_TAG_LEN);
    size_t len = w.len + WIRE_TAG_LEN;
    struct wire_packet p;
    ck_assert_int_eq(wire_packet_parse(buf, len, &p), WIRE_OK);
    ck_assert(p.flags & WIRE_FLAG_AUTH);
    ck_assert(memcmp(p.key_id, id, 4) == 0);
    ck_assert_uint_eq(p.counter, 0x1122334455667788ULL);
    ck_assert_str_eq(p.sender, "peer");
    ck_assert_ptr_eq(p.tag, buf + len - WIRE_TAG_LEN);
    ck_assert_uint_eq(p.signed_len, len - WIRE_TAG_LEN);
    /* Too short to hold the auth header and a tag. */
    ck_assert_int_eq(wire_packet_parse(buf, PEER_HEADER_LEN + WIRE_TAG_LEN, &p), WIRE_ERR_SHORT);
}
END_TEST

START_TEST(rejects_bad_headers)
{
    uint8_t buf[WIRE_MAX_PACKET + 10] = {'S', 'G', WIRE_VERSION, 0};
    struct wire_packet p;
    ck_assert_int_eq(wire_packet_parse(buf, 3, &p), WIRE_ERR_SHORT);
    ck_assert_int_eq(wire_packet_parse(buf, WIRE_MAX_PACKET + 1, &p), WIRE_ERR_BIG);
    buf[0] = 'X';
    ck_assert_int_eq(wire_packet_parse(buf, 4, &p), WIRE_ERR_MAGIC);
    buf[0] = 'S';
    buf[2] = WIRE_VERSION + 1;
    ck_assert_int_eq(wire_packet_parse(buf, 4, &p), WIRE_ERR_VERSION);
    buf[2] = WIRE_VERSION;
    buf[3] = 0x80;
    ck_assert_int_eq(wire_packet_parse(buf, 4, &p), WIRE_ERR_FORMAT);
    buf[3] = 0;
    ck_assert_int_eq(wire_packet_parse(buf, WIRE_HEADER_LEN - 1, &p), WIRE_ERR_SHORT);  /* counter */
    ck_assert_int_eq(wire_packet_parse(buf, WIRE_HEADER_LEN, &p), WIRE_ERR_SHORT);      /* sender */
    ck_assert_int_eq(wire_packet_parse(buf, WIRE_HEADER_LEN + 1, &p), WIRE_ERR_FORMAT); /* empty */
    buf[WIRE_HEADER_LEN] = 2;
    buf[WIRE_HEADER_LEN + 1] = 'p';
    buf[WIRE_HEADER_LEN + 2] = ' ';
    ck_assert_int_eq(wire_packet_parse(buf, WIRE_HEADER_LEN + 2, &p), WIRE_ERR_SHORT);
    ck_assert_int_eq(wire_packet_parse(buf, WIRE_HEADER_LEN + 3, &p), WIRE_ERR_FORMAT); /* blank */
    buf[WIRE_HEADER_LEN + 2] = 'q';
    ck_assert_int_eq(wire_packet_parse(buf, WIRE_HEADER_LEN + 3, &p), WIRE_OK);
    ck_assert_str_eq(p.sender, "pq");
    ck_assert_uint_eq(p.body_len, 0);
}
END_TEST

/* Every message of a valid packet, cut at every length, must be rejected (or, at message
 * boundaries, decode to fewer messages) and never read out of bounds (ASan checks). */
START_TEST(rejects_every_truncation)
{
    uint8_t buf[WIRE_MAX_PACKET];
    struct wire_writer w;
    wire_writer_init(&w, buf, sizeof buf);
    wire_put_header(&w, false, NULL, 0, 0, "peer");
    struct wire_member m = sample_member();
    wire_put_alive(&w, &m);
    size_t full = w.len;
    for (size_t len = 0; len < full; len++) {
        uint8_t *copy = malloc(len ? len : 1);    /* exact size so ASan sees overreads */
        memcpy(copy, buf, len);
        struct wire_msg msg;
        int r = decode_one(copy, len, &msg);
        ck_assert_msg(r != 1, "truncated to %zu accepted", len);
        free(copy);
    }
}
END_TEST

START_TEST(rejects_garbled_fields)
{
    uint8_t buf[WIRE_MAX_PACKET];
    struct wire_writer w;
    struct wire_msg msg;
    struct wire_member m = sample_member();

    /* A name with a space. */
    strcpy(m.name, "bad name");
    wire_writer_init(&w, buf, sizeof buf);
    wire_put_header(&w, false, NULL, 0, 0, "peer");
    wire_put_alive(&w, &m);
    ck_assert_int_eq(decode_one(buf, w.len, &msg), WIRE_ERR_FORMAT);

    /* An unknown role. */
    m = sample_member();
    m.role = 9;
    wire_writer_init(&w, buf, sizeof buf);
    wire_put_header(&w, false, NULL, 0, 0, "peer");
    wire_put_alive(&w, &m);
    ck_assert_int_eq(decode_one(buf, w.len, &msg), WIRE_ERR_FORMAT);

    /* An unknown message type. */
    uint8_t unknown[] = {'S', 'G', WIRE_VERSION, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 'p', 99, 0, 0};
    ck_assert_int_eq(decode_one(unknown, sizeof unknown, &msg), WIRE_ERR_FORMAT);

    /* A body length that claims more than the packet has. */
    uint8_t longer[] = {'S', 'G', WIRE_VERSION, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 'p', WIRE_ACK, 0, 9, 0, 0, 0, 1};
    ck_assert_int_eq(decode_one(longer, sizeof longer, &msg), WIRE_ERR_SHORT);

    /* Trailing bytes inside a message body. */
    uint8_t trailing[] = {'S', 'G', WIRE_VERSION, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 'p', WIRE_ACK, 0, 5, 0, 0, 0, 1, 0};
    ck_assert_int_eq(decode_one(trailing, sizeof trailing, &msg), WIRE_ERR_FORMAT);

    /* An empty name. */
    uint8_t empty_name[] = {'S', 'G', WIRE_VERSION, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 'p', WIRE_PING, 0, 5, 0, 0, 0, 1, 0};
    ck_assert_int_eq(decode_one(empty_name, sizeof empty_name, &msg), WIRE_ERR_FORMAT);

    /* An address family that does not exist, and port 0. */
    struct wire_ping_req req = {.seq = 1};
    gossip_addr_parse("10.0.0.1:1", &req.target_addr);
    strcpy(req.target, "t");
    wire_writer_init(&w, buf, sizeof buf);
    wire_put_header(&w, false, NULL, 0, 0, "peer");
    wire_put_ping_req(&w, &req);
    buf[PEER_HEADER_LEN + WIRE_MSG_HEADER + 4] = 5;
    ck_assert_int_eq(decode_one(buf, w.len, &msg), WIRE_ERR_FORMAT);
    buf[PEER_HEADER_LEN + WIRE_MSG_HEADER + 4] = 4;
    buf[PEER_HEADER_LEN + WIRE_MSG_HEADER + 4 + 1 + 4 + 1] = 0;     /* port low byte */
    buf[PEER_HEADER_LEN + WIRE_MSG_HEADER + 4 + 1 + 4] = 0;
    ck_assert_int_eq(decode_one(buf, w.len, &msg), WIRE_ERR_FORMAT);

    /* A push-pull whose entry count disagrees with its entries, and a chunk out of range. */
    size_t mark;
    m = sample_member();
    wire_writer_init(&w, buf, sizeof buf);
    wire_put_header(&w, false, NULL, 0, 0, "peer");
    wire_pp_begin(&w, 0, 1, 0, 1, &mark);
    wire_pp_add(&w, mark, MEMBER_ALIVE, &m);
    wire_pp_end(&w, mark);
    ck_assert_int_eq(decode_one(buf, w.len, &msg), 1);
    buf[mark + WIRE_MSG_HEADER + 9] = 2;        /* count */
    ck_assert_int_eq(decode_one(buf, w.len, &msg), WIRE_ERR_FORMAT);
    buf[mark + WIRE_MSG_HEADER + 9] = 1;
    buf[mark + WIRE_MSG_HEADER + 6] = 1;        /* chunk 1 of 1 */
    ck_assert_int_eq(decode_one(buf, w.len, &msg), WIRE_ERR_FORMAT);
}
END_TEST

static uint64_t rng_state = 12345;

static uint32_t rnd(void)
{
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(rng_state >> 33);
}

static void decode_all(const uint8_t *buf, size_t len)
{
    struct wire_packet p;
    if (wire_packet_parse(buf, len, &p) != WIRE_OK)
        return;
    struct wire_cursor c = {p.body, p.body_len};
    struct wire_msg msg;
    int guard = 0;
    while (wire_next_msg(&c, &msg) == 1 && guard++ < 2000) {
        if (msg.type == WIRE_PUSHPULL) {
            struct wire_cursor e = {msg.u.pp.entries, msg.u.pp.entries_len};
            uint8_t state;
            struct wire_member m;
            while (wire_pp_next(&e, &state, &m) == 1)
                ck_assert_uint_le(state, MEMBER_LEFT);
        }
    }
}

START_TEST(random_bytes_never_crash)
{
    for (int i = 0; i < 20000; i++) {
        size_t len = rnd() % (WIRE_MAX_PACKET + 50);
        uint8_t *buf = malloc(len ? len : 1);
        for (size_t j = 0; j < len; j++)
            buf[j] = (uint8_t)rnd();
        if (len >= WIRE_HEADER_LEN && i % 2) {  /* half with a valid header: reach the messages */
            buf[0] = 'S', buf[1] = 'G', buf[2] = WIRE_VERSION, buf[3] = 0;
        }
        decode_all(buf, len);
        free(buf);
    }
}
END_TEST

START_TEST(mutated_packets_never_crash)
{
    uint8_t base[WIRE_MAX_PACKET];
    struct wire_writer w;
    wire_writer_init(&w, base, sizeof base);
    wire_put_header(&w, false, NULL, 0, 0, "peer");
    struct wire_ping ping = {.seq = 1};
    strcpy(ping.target, "abc");
    wire_put_ping(&w, &ping);
    struct wire_member m = sample_member();
    wire_put_alive(&w, &m);
    size_t mark;
    wire_pp_begin(&w, WIRE_PP_REQUEST, 5, 0, 1, &mark);
    for (int i = 0; i < 5; i++)
        wire_pp_add(&w, mark, MEMBER_SUSPECT, &m);
    wire_pp_end(&w, mark);
    size_t len = w.len;
    for (int i = 0; i < 50000; i++) {
        uint8_t *buf = malloc(len);
        memcpy(buf, base, len);
        int flips = 1 + (int)(rnd() % 4);
        for (int f = 0; f < flips; f++)
            buf[rnd() % len] ^= (uint8_t)(1u << (rnd() % 8));
        decode_all(buf, rnd() % 8 ? len : rnd() % len);
        free(buf);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("gossip_wire");
    TCase *tc = tcase_create("wire");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, addr_parse_format);
    tcase_add_test(tc, round_trip_every_message);
    tcase_add_test(tc, pushpull_round_trip);
    tcase_add_test(tc, auth_header_and_tag_room);
    tcase_add_test(tc, rejects_bad_headers);
    tcase_add_test(tc, rejects_every_truncation);
    tcase_add_test(tc, rejects_garbled_fields);
    tcase_add_test(tc, random_bytes_never_crash);
    tcase_add_test(tc, mutated_packets_never_crash);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
