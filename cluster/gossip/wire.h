#ifndef SHOAL_CLUSTER_WIRE_H
#define SHOAL_CLUSTER_WIRE_H
/* The gossip wire format: a compact, versioned binary encoding of SWIM messages. Pure functions,
 * no allocation, no global state. The decoder treats every byte as hostile: it never reads past
 * the buffer, rejects anything truncated, oversized, out of range or trailing, and tells the caller
 * by its return value (the caller drops and counts).
 *
 * Packet (every integer big-endian; every packet <= WIRE_MAX_PACKET bytes):
 *   magic 'S' 'G' | version u8 | flags u8 | counter u64 (per sender, +1 per packet: replay window)
 *   life u32 (random, per process) | sender str8 (the sending member's name): whose replay
 *   window the counter belongs to
 *   [if flags & WIRE_FLAG_AUTH: key_id[4]]
 *   message*       each: type u8 | body_len u16 | body
 *   [if flags & WIRE_FLAG_AUTH: tag[16]]   over every byte before it
 * Strings are str8: length u8 then bytes (printable ASCII, no space). Addresses: family u8
 * (4 or 6), 4 or 16 address bytes, port u16. See cluster/README.md for every message body. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WIRE_MAX_PACKET   1400
/* 2: the sender's name in the header (replay windows by authenticated identity, not by
 * address). Version 1 packets are refused (counted in cluster_dropped_version, logged). */
#define WIRE_VERSION      2
#define WIRE_MAGIC0       'S'
#define WIRE_MAGIC1       'G'
#define WIRE_FLAG_AUTH    0x01
#define WIRE_KEY_ID_LEN   4
#define WIRE_TAG_LEN      16
#define WIRE_PREFIX_LEN   4         /* magic, version, flags: enough to refuse a version */
#define WIRE_HEADER_LEN   16        /* ... the counter and the sender's life */
#define WIRE_NAME_MAX     64        /* member names and data addresses, bytes */
/* The longest header: with a sender name of WIRE_NAME_MAX bytes. */
#define WIRE_HEADER_MAX   (WIRE_HEADER_LEN + 1 + WIRE_NAME_MAX)
#define WIRE_AUTH_HEADER_LEN WIRE_KEY_ID_LEN
#define WIRE_MSG_HEADER   3         /* type + body length */

/* The member protocol versions this build speaks (carried in ALIVE records). */
#define GOSSIP_PROTO_VERSION 1
#define GOSSIP_PROTO_MIN     1
#define GOSSIP_PROTO_MAX     1

struct gossip_addr {
    uint8_t family;                 /* 4 or 6; 0 means "none" */
    uint16_t port;
    uint8_t ip[16];                 /* first 4 bytes used for IPv4 */
};

bool gossip_addr_equal(const struct gossip_addr *a, const struct gossip_addr *b);
/* "a.b.c.d:port" or "[v6]:port" into buf (>= 48 bytes). Returns buf. */
char *gossip_addr_format(const struct gossip_addr *a, char *buf, size_t cap);
/* Parses "host:port" / "[v6]:port" with a numeric host. Returns 0 or -1. */
int gossip_addr_parse(const char *text, struct gossip_addr *out);

enum wire_msg_type {
    WIRE_PING = 1,
    WIRE_PING_REQ = 2,
    WIRE_ACK = 3,
    WIRE_NACK = 4,
    WIRE_ALIVE = 5,
    WIRE_SUSPECT = 6,
    WIRE_DEAD = 7,
    WIRE_PUSHPULL = 8,
};

enum member_state {
    MEMBER_ALIVE = 0,
    MEMBER_SUSPECT = 1,
    MEMBER_DEAD = 2,
    MEMBER_LEFT = 3,
};

enum member_role {
    MEMBER_ROLE_DATA = 0,
    MEMBER_ROLE_PROXY = 1,
};

/* Everything a member says about itself (an ALIVE message; one push-pull entry adds a state). */
struct wire_member {
    uint64_t incarnation;
    char name[WIRE_NAME_MAX + 1];
    struct gossip_addr addr;        /* gossip (UDP) address */
    char data_addr[WIRE_NAME_MAX + 1];  /* "host:port" clients use; may be empty */
    uint32_t weight;
    uint8_t role;                   /* enum member_role */
    uint8_t proto;                  /* the member's protocol version */
};

struct wire_ping {
    uint32_t seq;
    char target[WIRE_NAME_MAX + 1];     /* so a different node at that address does not answer */
};

struct wire_ping_req {
    uint32_t seq;
    struct gossip_addr target_addr;
    char target[WIRE_NAME_MAX + 1];
    bool want_nack;
};

/* SUSPECT and DEAD: `from` accuses `name` at `incarnation`. DEAD with from == name is a leave. */
struct wire_accuse {
    uint64_t incarnation;
    char name[WIRE_NAME_MAX + 1];
    char from[WIRE_NAME_MAX + 1];
};

#define WIRE_PP_REQUEST 0x01        /* the receiver answers with its own state */
#define WIRE_PP_JOIN    0x02        /* sent by a joining node to a seed */

struct wire_pushpull {
    uint8_t flags;
    uint32_t session;
    uint16_t chunk, chunks;
    uint8_t count;                  /* entries in this datagram */
    const uint8_t *entries;         /* points into the packet; walk with wire_pp_next */
    size_t entries_len;
};

struct wire_msg {
    uint8_t type;                   /* enum wire_msg_type */
    union {
        struct wire_ping ping;
        struct wire_ping_req ping_req;
        uint32_t seq;               /* ACK, NACK */
        struct wire_member alive;
        struct wire_accuse accuse;  /* SUSPECT, DEAD */
        struct wire_pushpull pp;
    } u;
};

/* ---- decoding ---- */

struct wire_packet {
    uint8_t version;
    uint8_t flags;
    uint8_t key_id[WIRE_KEY_ID_LEN];
    uint64_t counter;
    uint32_t life;                  /* the sending process's random life id */
    char sender[WIRE_NAME_MAX + 1]; /* the sending member's name */
    const uint8_t *signed_part;     /* bytes the tag covers */
    size_t signed_len;
    const uint8_t *tag;             /* NULL when unauthenticated */
    const uint8_t *body;            /* the messages */
    size_t body_len;
};

enum wire_result {
    WIRE_OK = 0,
    WIRE_ERR_SHORT = -1,            /* truncated */
    WIRE_ERR_BIG = -2,              /* larger than WIRE_MAX_PACKET */
    WIRE_ERR_MAGIC = -3,
    WIRE_ERR_VERSION = -4,          /* a wire version we do not speak */
    WIRE_ERR_FORMAT = -5,           /* garbled: bad type, length, field value or trailing bytes */
};

/* Splits a datagram into header, messages and tag. Does not check the tag. */
int wire_packet_parse(const uint8_t *buf, size_t len, struct wire_packet *out);

struct wire_cursor {
    const uint8_t *p;
    size_t left;
};

/* Decodes the next message. Returns 1 (decoded into *msg), 0 (no more), or an enum wire_result. */
int wire_next_msg(struct wire_cursor *cur, struct wire_msg *msg);
/* Decodes the next push-pull entry (state + member). Returns 1, 0 (no more) or an error. */
int wire_pp_next(struct wire_cursor *cur, uint8_t *state, struct wire_member *member);

/* ---- encoding ---- */

struct wire_writer {
    uint8_t *buf;
    size_t cap;
    size_t len;
};

void wire_writer_init(struct wire_writer *w, uint8_t *buf, size_t cap);
/* Packet header with the sender's packet counter, life id and name; with auth, reserves room
 * for the tag at the end (cap shrinks by the tag). */
bool wire_put_header(struct wire_writer *w, bool auth, const uint8_t key_id[WIRE_KEY_ID_LEN],
                     uint64_t counter, uint32_t life, const char *sender);
/* Each appends one whole message, or nothing and returns false when it does not fit. */
bool wire_put_ping(struct wire_writer *w, const struct wire_ping *m);
bool wire_put_ping_req(struct wire_writer *w, const struct wire_ping_req *m);
bool wire_put_ack(struct wire_writer *w, uint8_t type, uint32_t seq);  /* ACK or NACK */
bool wire_put_alive(struct wire_writer *w, const struct wire_member *m);
bool wire_put_accuse(struct wire_writer *w, uint8_t type, const struct wire_accuse *m);
/* Appends pre-encoded message bytes (a queued broadcast). */
bool wire_put_raw(struct wire_writer *w, const uint8_t *bytes, size_t len);
/* Push-pull: begin a message, add entries while they fit, then finish it. */
bool wire_pp_begin(struct wire_writer *w, uint8_t flags, uint32_t session, uint16_t chunk,
                   uint16_t chunks, size_t *mark);
bool wire_pp_add(struct wire_writer *w, size_t mark, uint8_t state, const struct wire_member *m);
void wire_pp_end(struct wire_writer *w, size_t mark);
/* Bytes an encoded push-pull entry takes (to plan chunks). */
size_t wire_pp_entry_size(const struct wire_member *m);
/* Room left for messages (the tag's room excluded). */
size_t wire_room(const struct wire_writer *w);

/* Encodes one message alone (for the broadcast queue). Returns its length or 0. */
size_t wire_encode_alive(uint8_t *buf, size_t cap, const struct wire_member *m);
size_t wire_encode_accuse(uint8_t *buf, size_t cap, uint8_t type, const struct wire_accuse *m);

#endif
