#ifndef SHOAL_PROTO_COMPOSE_H
#define SHOAL_PROTO_COMPOSE_H
/* Reply pieces in memcached's exact formats, written into caller-provided buffers. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest VALUE header for a key of at most 250 bytes: "VALUE " key " " u32 " " u32 " " u64
 * "\r\n". */
#define PROTO_VALUE_HEADER_MAX (6 + 250 + 1 + 10 + 1 + 10 + 1 + 20 + 2)

/* Writes "VALUE <key> <flags> <nbytes>[ <cas>]\r\n" into dst; returns its length. */
size_t proto_value_header(char *dst, const char *key, size_t nkey, uint32_t flags,
                          uint32_t nbytes, bool with_cas, uint64_t cas);

/* Room a meta key return (" k" + key, or " k" + base64 + " b") can need for a 250-byte key. */
#define PROTO_META_KEY_MAX (2 + 4 * ((250 + 2) / 3) + 2)

/* Writes a meta command's key return flag: " k<key>", or " k<base64 key> b" for a binary key.
 * Returns its length. */
size_t proto_meta_key(char *dst, const char *key, size_t nkey, bool binary);

/* Writes " <c><decimal>" (a meta return flag with a number); returns its length. */
size_t proto_meta_u64(char *dst, char flag, uint64_t v);

#endif
