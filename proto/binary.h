#ifndef SHOAL_PROTO_BINARY_H
#define SHOAL_PROTO_BINARY_H
/* memcached's binary protocol: the 24-byte packet header, its constants, and the rules by which
 * memcached 1.6.18 accepts or refuses a request before running it. Pure functions on buffers.
 *
 * Constants are those of memcached's protocol_binary.h and doc/protocol-binary.xml; the
 * acceptance rules (which lengths each opcode allows, which error and whether the connection
 * closes) were checked against Debian 12's /usr/bin/memcached 1.6.18
 * (tests/unit/test_proto_binary.c, tests/integration/test_binary_differential.py). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROTO_BIN_REQUEST 0x80
#define PROTO_BIN_RESPONSE 0x81
#define PROTO_BIN_HEADER_LEN 24

/* Opcodes memcached 1.6.18 serves (the rest of protocol_binary.h's are unknown commands). */
enum proto_bin_opcode {
    PROTO_BIN_GET = 0x00,
    PROTO_BIN_SET = 0x01,
    PROTO_BIN_ADD = 0x02,
    PROTO_BIN_REPLACE = 0x03,
    PROTO_BIN_DELETE = 0x04,
    PROTO_BIN_INCREMENT = 0x05,
    PROTO_BIN_DECREMENT = 0x06,
    PROTO_BIN_QUIT = 0x07,
    PROTO_BIN_FLUSH = 0x08,
    PROTO_BIN_GETQ = 0x09,
    PROTO_BIN_NOOP = 0x0a,
    PROTO_BIN_VERSION = 0x0b,
    PROTO_BIN_GETK = 0x0c,
    PROTO_BIN_GETKQ = 0x0d,
    PROTO_BIN_APPEND = 0x0e,
    PROTO_BIN_PREPEND = 0x0f,
    PROTO_BIN_STAT = 0x10,
    PROTO_BIN_SETQ = 0x11,
    PROTO_BIN_ADDQ = 0x12,
    PROTO_BIN_REPLACEQ = 0x13,
    PROTO_BIN_DELETEQ = 0x14,
    PROTO_BIN_INCREMENTQ = 0x15,
    PROTO_BIN_DECREMENTQ = 0x16,
    PROTO_BIN_QUITQ = 0x17,
    PROTO_BIN_FLUSHQ = 0x18,
    PROTO_BIN_APPENDQ = 0x19,
    PROTO_BIN_PREPENDQ = 0x1a,
    PROTO_BIN_VERBOSITY = 0x1b, /* defined by the protocol; memcached 1.6.18 does not serve it */
    PROTO_BIN_TOUCH = 0x1c,
    PROTO_BIN_GAT = 0x1d,
    PROTO_BIN_GATQ = 0x1e,
    PROTO_BIN_SASL_LIST_MECHS = 0x20,
    PROTO_BIN_SASL_AUTH = 0x21,
    PROTO_BIN_SASL_STEP = 0x22,
    PROTO_BIN_GATK = 0x23,
    PROTO_BIN_GATKQ = 0x24,
};

enum proto_bin_status {
    PROTO_BIN_SUCCESS = 0x00,
    PROTO_BIN_KEY_ENOENT = 0x01,
    PROTO_BIN_KEY_EEXISTS = 0x02,
    PROTO_BIN_E2BIG = 0x03,
    PROTO_BIN_EINVAL = 0x04,
    PROTO_BIN_NOT_STORED = 0x05,
    PROTO_BIN_DELTA_BADVAL = 0x06,
    PROTO_BIN_AUTH_ERROR = 0x20,
    PROTO_BIN_AUTH_CONTINUE = 0x21,
    PROTO_BIN_UNKNOWN_COMMAND = 0x81,
    PROTO_BIN_ENOMEM = 0x82,
};

/* A header with its multi-byte fields in host order. In a request `status` is the vbucket id,
 * which memcached ignores. The opaque is carried as the 4 bytes read (big-endian decoded, encoded
 * back the same way), so a reply echoes it byte for byte. */
struct proto_bin_header {
    uint8_t magic;
    uint8_t opcode;
    uint16_t keylen;
    uint8_t extlen;
    uint8_t datatype;
    uint16_t status;
    uint32_t bodylen;
    uint32_t opaque;
    uint64_t cas;
};

/* Reads a header from src[0..PROTO_BIN_HEADER_LEN). */
void proto_bin_decode(const void *src, struct proto_bin_header *h);
/* Writes h into dst[0..PROTO_BIN_HEADER_LEN). */
void proto_bin_encode(void *dst, const struct proto_bin_header *h);
/* Writes the response header memcached sends for request `req`: magic 0x81, the request's
 * opcode (quiet or not) and opaque, datatype 0. */
void proto_bin_response(void *dst, const struct proto_bin_header *req, uint16_t status,
                        uint8_t extlen, uint16_t keylen, uint32_t bodylen, uint64_t cas);

/* Big-endian fields inside extras and values. */
uint32_t proto_bin_get32(const void *src);
uint64_t proto_bin_get64(const void *src);
void proto_bin_put32(void *dst, uint32_t v);
void proto_bin_put64(void *dst, uint64_t v);

/* What memcached does with a request once its header, extras and key are in. */
enum proto_bin_verdict {
    PROTO_BIN_RUN,          /* valid: run `opcode` (quiet when `quiet`) */
    PROTO_BIN_BAD_LENGTHS,  /* key or extras longer than the body: "Unknown command", then close */
    PROTO_BIN_INVALID,      /* wrong lengths for the opcode, or key over 250 bytes:
                               "Invalid arguments", then close */
    PROTO_BIN_UNKNOWN,      /* not served (SASL too, memcached being built without it):
                               "Unknown command", then `swallow` more bytes are discarded */
};

struct proto_bin_check {
    enum proto_bin_verdict verdict;
    uint8_t opcode; /* the non-quiet form of the request's opcode (GETQ -> GET, ...) */
    bool quiet;     /* a quiet form: success replies are left out (GETQ/GETKQ/GATQ/GATKQ: misses) */
    /* PROTO_BIN_UNKNOWN: bytes memcached discards after the key and extras. For an unknown
     * opcode that is the whole bodylen again (memcached swallows the body after having consumed
     * its key and extras; the excess eats into the next request). */
    uint32_t swallow;
    /* SET/ADD/REPLACE/APPEND/PREPEND: the value's length, bodylen - keylen - extlen as
     * memcached computes it (a signed 32-bit int: a body of 2 GiB or more gives a negative
     * length, which memcached refuses as too large without discarding anything). */
    int32_t value_len;
};

/* memcached reads a request's header, extras and key into its 16 KiB read buffer before it
 * looks at them: when they are longer, the buffer fills up and memcached closes the connection
 * without a reply. */
#define PROTO_BIN_READ_BUFFER 16384

/* memcached's longest key (KEY_MAX_LENGTH); a longer binary key is a protocol error. */
#define PROTO_BIN_KEY_MAX 250

/* Classifies a request whose header is h, as memcached 1.6.18's dispatch does. */
void proto_bin_check(const struct proto_bin_header *h, struct proto_bin_check *out);

/* The body memcached sends with an error status (write_bin_error's default texts), or NULL
 * for a status that has none. */
const char *proto_bin_error_text(uint16_t status);

#endif
