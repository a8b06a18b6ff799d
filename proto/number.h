#ifndef SHOAL_PROTO_NUMBER_H
#define SHOAL_PROTO_NUMBER_H
/* Number parsing with memcached 1.6's exact acceptance rules (its safe_strto* helpers): base 10,
 * leading whitespace and a sign allowed by strtol, the number must be followed by the end of the
 * string or a whitespace character, and out-of-range values are refused only where memcached
 * refuses them. Values that fit a long but not the 32-bit result are truncated, as memcached
 * does on 64-bit hosts (e.g. "set k 4294967296 0 1" stores flags 0). */
#include <stdbool.h>
#include <stdint.h>

/* memcached's safe_strtoul: a negative sign is refused only when the result looks negative. */
bool proto_parse_u32(const char *s, uint32_t *out);
/* memcached's safe_strtol. */
bool proto_parse_i32(const char *s, int32_t *out);
/* memcached's safe_strtoull. */
bool proto_parse_u64(const char *s, uint64_t *out);

/* Writes v in decimal without a terminator; returns the number of digits (at most 20). */
int proto_u64_to_dec(uint64_t v, char *dst);
/* Same for a signed value (at most 11 characters for int32 range, 20 for int64). */
int proto_i64_to_dec(int64_t v, char *dst);

#endif
