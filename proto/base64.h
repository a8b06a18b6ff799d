#ifndef SHOAL_PROTO_BASE64_H
#define SHOAL_PROTO_BASE64_H
/* Standard base64 (RFC 4648 section 4, with padding) as memcached's meta commands use it for
 * binary keys (the `b` flag). Decoding follows memcached: characters outside the alphabet are
 * skipped, the remaining count must be a multiple of four, and any failure decodes to 0 bytes. */
#include <stddef.h>

/* Encodes n bytes into dst (room for 4 * ((n + 2) / 3) bytes); returns the encoded length, or 0
 * if it would not fit in dstlen. */
size_t proto_base64_encode(const unsigned char *src, size_t n, char *dst, size_t dstlen);
/* Decodes src into dst (which may equal src: decoding never writes ahead of reading). Returns the
 * decoded length, or 0 on malformed input or when it would not fit in dstlen. */
size_t proto_base64_decode(const char *src, size_t n, unsigned char *dst, size_t dstlen);

#endif
