/* The gossip wire codec (format in wire.h). The decoder checks every length against what is left
 * before reading; any inconsistency is an error, never a partial result. */
#include "cluster/gossip/wire.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool gossip_addr_equal(const struct gossip_addr *a, const struct gossip_addr *b)
{
    if (a->family != b->family || a->port != b->port)
        return false;
    return memcmp(a->ip, b->ip, a->family == 6 ? 16 : 4) == 0;
}

char *gossip_addr_format(const struct gossip_addr *a, char *buf, size_t cap)
{
    char ip[INET6_ADDRSTRLEN];
    if (a->family == 4 && inet_ntop(AF_INET, a->ip, ip, sizeof ip))
        snprintf(buf, cap, "%s:%u", ip, a->port);
    else if (a->family == 6 && inet_ntop(AF_INET6, a->ip, ip, sizeof ip))
        snprintf(buf, cap, "[%s]:%u", ip, a->port);
    else
        snprintf(buf, cap, "-");
    return buf;
}

int gossip_addr_parse(const char *text, struct gossip_addr *out)
{
    char host[INET6_ADDRSTRLEN + 2];
    const char *colon = strrchr(text, ':');
    if (!colon || colon == text || (size_t)(colon - text) >= sizeof host)
        return -1;
    memcpy(host, text, (size_t)(colon - text));
    host[colon - text] = '\0';
    char *end;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (*end != '\0' || colon[1] == '\0' || port > 65535)
        return -1;
    memset(out, 0, sizeof *out);
    out->port = (uint16_t)port;
    size_t hl = strlen(host);
    if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
        host[hl - 1] = '\0';
        if (inet_pton(AF_INET6, host + 1, out->ip) != 1)
            return -1;
        out->family = 6;
        return 0;
    }
    if (inet_pton(AF_INET, host, out->ip) != 1)
        return -1;
    out->family = 4;
    return 0;
}

/* ---- decoding primitives: each returns false when the input cannot hold the field ---- */

static bool get_u8(struct wire_cursor *c, uint8_t *v)
{
    if (c->left < 1)
        return false;
    *v = c->p[0];
    c->p++, c->left--;
    return true;
}

static bool get_u16(struct wire_cursor *c, uint16_t *v)
{
    if (c->left < 2)
        return false;
    *v = (uint16_t)(c->p[0] << 8 | c->p[1]);
    c->p += 2, c->left -= 2;
    return true;
}

static bool get_u32(struct wire_cursor *c, uint32_t *v)
{
    if (c->left < 4)
        return false;
    *v = (uint32_t)c->p[0] << 24 | (uint32_t)c->p[1] << 16 | (uint32_t)c->p[2] << 8 | c->p[3];
    c->p += 4, c->left -= 4;
    return true;
}

static bool get_u64(struct wire_cursor *c, uint64_t *v)
{
    uint32_t hi, lo;
    if (!get_u32(c, &hi) || !get_u32(c, &lo))
        return false;
    *v = (uint64_t)hi << 32 | lo;
    return true;
}

static bool printable_token(const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] <= 0x20 || s[i] >= 0x7f)
            return false;
    return true;
}

/* A str8 of min..WIRE_NAME_MAX printable, space-free bytes, NUL-terminated into out. */
static bool get_str(struct wire_cursor *c, char *out, size_t min)
{
    uint8_t n;
    if (!get_u8(c, &n) || n < min || n > WIRE_NAME_MAX || c->left < n || !printable_token(c->p, n))
        return false;
    memcpy(out, c->p, n);
    out[n] = '\0';
    c->p += n, c->left -= n;
    return true;
}

static bool get_addr(struct wire_cursor *c, struct gossip_addr *a)
{
    memset(a, 0, sizeof *a);
    if (!get_u8(c, &a->family))
        return false;
    size_t n = a->family == 4 ? 4 : a->family == 6 ? 16 : 0;
    if (n == 0 || c->left < n)
        return false;
    memcpy(a->ip, c->p, n);
    c->p += n, c->left -= n;
    return get_u16(c, &a->port) && a->port != 0;
}

static bool get_member(struct wire_cursor *c, struct wire_member *m)
{
    return get_u64(c, &m->incarnation) && get_str(c, m->name, 1) && get_addr(c, &m->addr) &&
           get_str(c, m->data_addr, 0) && get_u32(c, &m->weight) && get_u8(c, &m->role) &&
           m->role <= MEMBER_ROLE_PROXY && get_u8(c, &m->proto);
}

int wire_packet_parse(const uint8_t *buf, size_t len, struct wire_packet *out)
{
    memset(out, 0, sizeof *out);
    if (len > WIRE_MAX_PACKET)
        return WIRE_ERR_BIG;
    if (len < WIRE_PREFIX_LEN)
        return WIRE_ERR_SHORT;
    if (buf[0] != WIRE_MAGIC0 || buf[1] != WIRE_MAGIC1)
        return WIRE_ERR_MAGIC;
    out->version = buf[2];
    out->flags = buf[3];
    if (out->version != WIRE_VERSION)
        return WIRE_ERR_VERSION;
    if (out->flags & ~WIRE_FLAG_AUTH)
        return WIRE_ERR_FORMAT;
    if (len < WIRE_HEADER_LEN)
        return WIRE_ERR_SHORT;
    struct wire_cursor c = {buf + WIRE_PREFIX_LEN, len - WIRE_PREFIX_LEN};
    get_u64(&c, &out->counter);
    get_u32(&c, &out->life);
    if (c.left == 0 || c.left < 1u + c.p[0])
        return WIRE_ERR_SHORT;
    if (!get_str(&c, out->sender, 1))
        return WIRE_ERR_FORMAT;
    size_t pos = len - c.left, end = len;
    if (out->flags & WIRE_FLAG_AUTH) {
        if (len < pos + WIRE_AUTH_HEADER_LEN + WIRE_TAG_LEN)
            return WIRE_ERR_SHORT;
        memcpy(out->key_id, buf + pos, WIRE_KEY_ID_LEN);
        pos += WIRE_AUTH_HEADER_LEN;
        end = len - WIRE_TAG_LEN;
        out->tag = buf + end;
    }
    out->signed_part = buf;
    out->signed_len = end;
    out->body = buf + pos;
    out->body_len = end - pos;
    return WIRE_OK;
}

int wire_pp_next(struct wire_cursor *cur, uint8_t *state, struct wire_member *member)
{
    if (cur->left == 0)
        return 0;
    if (!get_u8(cur, state) || *state > MEMBER_LEFT || !get_member(cur, member))
        return WIRE_ERR_FORMAT;
    return 1;
}

static bool decode_body(uint8_t type, struct wire_cursor *c, struct wire_msg *msg)
{
    switch (type) {
    case WIRE_PING:
        return get_u32(c, &msg->u.ping.seq) && get_str(c, msg->u.ping.target, 1);
    case WIRE_PING_REQ: {
        uint8_t want;
        struct wire_ping_req *r = &msg->u.ping_req;
        if (!get_u32(c, &r->seq) || !get_addr(c, &r->target_addr) || !get_str(c, r->target, 1) ||
            !get_u8(c, &want) || want > 1)
            return false;
        r->want_nack = want;
        return true;
    }
    case WIRE_ACK:
    case WIRE_NACK:
        return get_u32(c, &msg->u.seq);
    case WIRE_ALIVE:
        return get_member(c, &msg->u.alive);
    case WIRE_SUSPECT:
    case WIRE_DEAD:
        return get_u64(c, &msg->u.accuse.incarnation) && get_str(c, msg->u.accuse.name, 1) &&
               get_str(c, msg->u.accuse.from, 1);
    case WIRE_PUSHPULL: {
        struct wire_pushpull *pp = &msg->u.pp;
        if (!get_u8(c, &pp->flags) || (pp->flags & ~(WIRE_PP_REQUEST | WIRE_PP_JOIN)) ||
            !get_u32(c, &pp->session) || !get_u16(c, &pp->chunk) || !get_u16(c, &pp->chunks) ||
            pp->chunks == 0 || pp->chunk >= pp->chunks || !get_u8(c, &pp->count))
            return false;
        pp->entries = c->p;
        pp->entries_len = c->left;
        /* Validate every entry now so that the caller may apply them without second thoughts. */
        struct wire_cursor e = {c->p, c->left};
        struct wire_member m;
        uint8_t state;
        unsigned n = 0;
        int r;
        while ((r = wire_pp_next(&e, &state, &m)) == 1)
            n++;
        if (r != 0 || n != pp->count)
            return false;
        c->p += c->left;
        c->left = 0;
        return true;
    }
    default:
        return false;
    }
}

int wire_next_msg(struct wire_cursor *cur, struct wire_msg *msg)
{
    if (cur->left == 0)
        return 0;
    uint16_t body_len;
    if (!get_u8(cur, &msg->type) || !get_u16(cur, &body_len))
        return WIRE_ERR_SHORT;
    if (body_len > cur->left)
        return WIRE_ERR_SHORT;
    struct wire_cursor body = {cur->p, body_len};
    if (!decode_body(msg->type, &body, msg) || body.left != 0)
        return WIRE_ERR_FORMAT;
    cur->p += body_len;
    cur->left -= body_len;
    return 1;
}

/* ---- encoding ---- */

void wire_writer_init(struct wire_writer *w, uint8_t *buf, size_t cap)
{
    w->buf = buf;
    w->cap = cap > WIRE_MAX_PACKET ? WIRE_MAX_PACKET : cap;
    w->len = 0;
}

size_t wire_room(const struct wire_writer *w)
{
    return w->cap - w->len;
}

static void put_u8(uint8_t **p, uint8_t v)
{
    *(*p)++ = v;
}

static void put_u16(uint8_t **p, uint16_t v)
{
    put_u8(p, (uint8_t)(v >> 8));
    put_u8(p, (uint8_t)v);
}

static void put_u32(uint8_t **p, uint32_t v)
{
    put_u16(p, (uint16_t)(v >> 16));
    put_u16(p, (uint16_t)v);
}

static void put_u64(uint8_t **p, uint64_t v)
{
    put_u32(p, (uint32_t)(v >> 32));
    put_u32(p, (uint32_t)v);
}

static size_t str_size(const char *s)
{
    return 1 + strnlen(s, WIRE_NAME_MAX);
}

static void put_str(uint8_t **p, const char *s)
{
    size_t n = strnlen(s, WIRE_NAME_MAX);
    put_u8(p, (uint8_t)n);
    memcpy(*p, s, n);
    *p += n;
}

static size_t addr_size(const struct gossip_addr *a)
{
    return 1 + (a->family == 6 ? 16 : 4) + 2;
}

static void put_addr(uint8_t **p, const struct gossip_addr *a)
{
    uint8_t fam = a->family == 6 ? 6 : 4;
    put_u8(p, fam);
    memcpy(*p, a->ip, fam == 6 ? 16 : 4);
    *p += fam == 6 ? 16 : 4;
    put_u16(p, a->port);
}

static size_t member_size(const struct wire_member *m)
{
    return 8 + str_size(m->name) + addr_size(&m->addr) + str_size(m->data_addr) + 4 + 1 + 1;
}

static void put_member(uint8_t **p, const struct wire_member *m)
{
    put_u64(p, m->incarnation);
    put_str(p, m->name);
    put_addr(p, &m->addr);
    put_str(p, m->data_addr);
    put_u32(p, m->weight);
    put_u8(p, m->role);
    put_u8(p, m->proto);
}

bool wire_put_header(struct wire_writer *w, bool auth, const uint8_t key_id[WIRE_KEY_ID_LEN],
                     uint64_t counter, uint32_t life, const char *sender)
{
    size_t name_len = strnlen(sender, WIRE_NAME_MAX + 1);
    if (name_len == 0 || name_len > WIRE_NAME_MAX)
        return false;
    size_t need = WIRE_HEADER_LEN + 1 + name_len + (auth ? WIRE_AUTH_HEADER_LEN + WIRE_TAG_LEN : 0);
    if (w->len != 0 || w->cap < need)
        return false;
    uint8_t *p = w->buf;
    put_u8(&p, WIRE_MAGIC0);
    put_u8(&p, WIRE_MAGIC1);
    put_u8(&p, WIRE_VERSION);
    put_u8(&p, auth ? WIRE_FLAG_AUTH : 0);
    put_u64(&p, counter);
    put_u32(&p, life);
    put_str(&p, sender);
    if (auth) {
        memcpy(p, key_id, WIRE_KEY_ID_LEN);
        p += WIRE_KEY_ID_LEN;
        w->cap -= WIRE_TAG_LEN;
    }
    w->len = (size_t)(p - w->buf);
    return true;
}

/* Starts a message of body size n; returns where the body goes, or NULL if it does not fit. */
static uint8_t *begin_msg(struct wire_writer *w, uint8_t type, size_t n)
{
    if (n > UINT16_MAX || wire_room(w) < WIRE_MSG_HEADER + n)
        return NULL;
    uint8_t *p = w->buf + w->len;
    put_u8(&p, type);
    put_u16(&p, (uint16_t)n);
    w->len += WIRE_MSG_HEADER + n;
    return p;
}

bool wire_put_ping(struct wire_writer *w, const struct wire_ping *m)
{
    uint8_t *p = begin_msg(w, WIRE_PING, 4 + str_size(m->target));
    if (!p)
        return false;
    put_u32(&p, m->seq);
    put_str(&p, m->target);
    return true;
}

bool wire_put_ping_req(struct wire_writer *w, const struct wire_ping_req *m)
{
    uint8_t *p = begin_msg(w, WIRE_PING_REQ,
                           4 + addr_size(&m->target_addr) + str_size(m->target) + 1);
    if (!p)
        return false;
    put_u32(&p, m->seq);
    put_addr(&p, &m->target_addr);
    put_str(&p, m->target);
    put_u8(&p, m->want_nack ? 1 : 0);
    return true;
}

bool wire_put_ack(struct wire_writer *w, uint8_t type, uint32_t seq)
{
    uint8_t *p = begin_msg(w, type, 4);
    if (!p)
        return false;
    put_u32(&p, seq);
    return true;
}

bool wire_put_alive(struct wire_writer *w, const struct wire_member *m)
{
    uint8_t *p = begin_msg(w, WIRE_ALIVE, member_size(m));
    if (!p)
        return false;
    put_member(&p, m);
    return true;
}

bool wire_put_accuse(struct wire_writer *w, uint8_t type, const struct wire_accuse *m)
{
    uint8_t *p = begin_msg(w, type, 8 + str_size(m->name) + str_size(m->from));
    if (!p)
        return false;
    put_u64(&p, m->incarnation);
    put_str(&p, m->name);
    put_str(&p, m->from);
    return true;
}

bool wire_put_raw(struct wire_writer *w, const uint8_t *bytes, size_t len)
{
    if (wire_room(w) < len)
        return false;
    memcpy(w->buf + w->len, bytes, len);
    w->len += len;
    return true;
}

#define PP_FIXED (1 + 4 + 2 + 2 + 1)

bool wire_pp_begin(struct wire_writer *w, uint8_t flags, uint32_t session, uint16_t chunk,
                   uint16_t chunks, size_t *mark)
{
    if (wire_room(w) < WIRE_MSG_HEADER + PP_FIXED)
        return false;
    *mark = w->len;
    uint8_t *p = w->buf + w->len;
    put_u8(&p, WIRE_PUSHPULL);
    put_u16(&p, PP_FIXED);
    put_u8(&p, flags);
    put_u32(&p, session);
    put_u16(&p, chunk);
    put_u16(&p, chunks);
    put_u8(&p, 0);
    w->len += WIRE_MSG_HEADER + PP_FIXED;
    return true;
}

size_t wire_pp_entry_size(const struct wire_member *m)
{
    return 1 + member_size(m);
}

bool wire_pp_add(struct wire_writer *w, size_t mark, uint8_t state, const struct wire_member *m)
{
    uint8_t *count = w->buf + mark + WIRE_MSG_HEADER + PP_FIXED - 1;
    size_t n = wire_pp_entry_size(m);
    if (*count == UINT8_MAX || wire_room(w) < n)
        return false;
    uint8_t *p = w->buf + w->len;
    put_u8(&p, state);
    put_member(&p, m);
    w->len += n;
    (*count)++;
    return true;
}

void wire_pp_end(struct wire_writer *w, size_t mark)
{
    uint8_t *p = w->buf + mark + 1;
    put_u16(&p, (uint16_t)(w->len - mark - WIRE_MSG_HEADER));
}

size_t wire_encode_alive(uint8_t *buf, size_t cap, const struct wire_member *m)
{
    struct wire_writer w = {buf, cap, 0};
    return wire_put_alive(&w, m) ? w.len : 0;
}

size_t wire_encode_accuse(uint8_t *buf, size_t cap, uint8_t type, const struct wire_accuse *m)
{
    struct wire_writer w = {buf, cap, 0};
    return wire_put_accuse(&w, type, m) ? w.len : 0;
}
