/* Unit tests for proto/binary: the header codec and memcached 1.6.18's acceptance rules. The
 * packet bytes are the examples of memcached's doc/protocol-binary.xml; the verdicts are what
 * /usr/bin/memcached 1.6.18 answers (tests/integration/test_binary_differential.py compares the
 * running servers). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "proto/binary.h"

/* protocol-binary.xml, "Get" example: a request for key "Hello". */
static const uint8_t get_hello[] = {
    0x80, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};

START_TEST(decode_example)
{
    struct proto_bin_header h;
    proto_bin_decode(get_hello, &h);
    ck_assert_uint_eq(h.magic, PROTO_BIN_REQUEST);
    ck_assert_uint_eq(h.opcode, PROTO_BIN_GET);
    ck_assert_uint_eq(h.keylen, 5);
    ck_assert_uint_eq(h.extlen, 0);
    ck_assert_uint_eq(h.bodylen, 5);
    ck_assert_uint_eq(h.opaque, 0);
    ck_assert_uint_eq(h.cas, 0);
    uint8_t back[PROTO_BIN_HEADER_LEN];
    proto_bin_encode(back, &h);
    ck_assert_mem_eq(back, get_hello, sizeof back);
}
END_TEST

START_TEST(fields_big_endian)
{
    const uint8_t raw[PROTO_BIN_HEADER_LEN] = {
        0x80, 0x11, 0x01, 0x02, 0x08, 0x00, 0xab, 0xcd, 0x01, 0x02, 0x03, 0x04,
        0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
    };
    struct proto_bin_header h;
    proto_bin_decode(raw, &h);
    ck_assert_uint_eq(h.opcode, PROTO_BIN_SETQ);
    ck_assert_uint_eq(h.keylen, 0x0102);
    ck_assert_uint_eq(h.extlen, 8);
    ck_assert_uint_eq(h.status, 0xabcd);
    ck_assert_uint_eq(h.bodylen, 0x01020304);
    ck_assert_uint_eq(h.opaque, 0xdeadbeef);
    ck_assert(h.cas == 0x0102030405060708ull);
    uint8_t back[PROTO_BIN_HEADER_LEN];
    proto_bin_encode(back, &h);
    ck_assert_mem_eq(back, raw, sizeof raw);

    uint8_t b[8];
    proto_bin_put64(b, 0x1122334455667788ull);
    ck_assert(proto_bin_get64(b) == 0x1122334455667788ull);
    ck_assert_uint_eq(b[0], 0x11);
    proto_bin_put32(b, 0xfffffffe);
    ck_assert_uint_eq(proto_bin_get32(b), 0xfffffffe);
}
END_TEST

/* protocol-binary.xml, "Get" example response: flags 0xdeadbeef, value "World", CAS 1. */
START_TEST(response_example)
{
    struct proto_bin_header req;
    proto_bin_decode(get_hello, &req);
    uint8_t got[PROTO_BIN_HEADER_LEN];
    proto_bin_response(got, &req, PROTO_BIN_SUCCESS, 4, 0, 9, 1);
    static const uint8_t want[PROTO_BIN_HEADER_LEN] = {
        0x81, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x09,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
    };
    ck_assert_mem_eq(got, want, sizeof want);

    /* the opcode (quiet form kept) and the opaque bytes are echoed */
    req.opcode = PROTO_BIN_ADDQ;
    req.opaque = 0x01020304;
    proto_bin_response(got, &req, PROTO_BIN_KEY_EEXISTS, 0, 0, 20, 0);
    ck_assert_uint_eq(got[1], PROTO_BIN_ADDQ);
    ck_assert_uint_eq(got[7], PROTO_BIN_KEY_EEXISTS);
    ck_assert_uint_eq(got[12], 1);
    ck_assert_uint_eq(got[15], 4);
}
END_TEST

static struct proto_bin_check check(uint8_t op, uint16_t keylen, uint8_t extlen, uint32_t bodylen)
{
    struct proto_bin_header h = {.magic = PROTO_BIN_REQUEST, .opcode = op, .keylen = keylen,
                                 .extlen = extlen, .bodylen = bodylen};
    struct proto_bin_check c;
    proto_bin_check(&h, &c);
    return c;
}

START_TEST(verdicts)
{
    struct proto_bin_check c;
    /* lengths that do not fit the body: Unknown command and close, whatever the opcode */
    ck_assert_int_eq(check(PROTO_BIN_GET, 3, 0, 2).verdict, PROTO_BIN_BAD_LENGTHS);
    ck_assert_int_eq(check(PROTO_BIN_SET, 3, 8, 10).verdict, PROTO_BIN_BAD_LENGTHS);
    ck_assert_int_eq(check(0x55, 0, 1, 0).verdict, PROTO_BIN_BAD_LENGTHS);
    /* a key over 250 bytes is a protocol error */
    ck_assert_int_eq(check(PROTO_BIN_GET, 251, 0, 251).verdict, PROTO_BIN_INVALID);
    ck_assert_int_eq(check(PROTO_BIN_GET, 250, 0, 250).verdict, PROTO_BIN_RUN);

    c = check(PROTO_BIN_GETKQ, 3, 0, 3);
    ck_assert_int_eq(c.verdict, PROTO_BIN_RUN);
    ck_assert_uint_eq(c.opcode, PROTO_BIN_GETK);
    ck_assert(c.quiet);
    ck_assert_int_eq(check(PROTO_BIN_GET, 3, 4, 7).verdict, PROTO_BIN_INVALID);
    ck_assert_int_eq(check(PROTO_BIN_GET, 3, 0, 4).verdict, PROTO_BIN_INVALID);
    ck_assert_int_eq(check(PROTO_BIN_GET, 0, 0, 0).verdict, PROTO_BIN_INVALID);

    c = check(PROTO_BIN_SETQ, 3, 8, 16);
    ck_assert_int_eq(c.verdict, PROTO_BIN_RUN);
    ck_assert_uint_eq(c.opcode, PROTO_BIN_SET);
    ck_assert_int_eq(c.value_len, 5);
    ck_assert_int_eq(check(PROTO_BIN_SET, 3, 4, 16).verdict, PROTO_BIN_INVALID);
    ck_assert_int_eq(check(PROTO_BIN_ADD, 0, 8, 16).verdict, PROTO_BIN_INVALID);
    /* a body of 2 GiB or more: a negative value length, as memcached's int computes it */
    ck_assert_int_lt(check(PROTO_BIN_SET, 3, 8, 0x90000000u).value_len, 0);
    c = check(PROTO_BIN_APPEND, 3, 0, 10);
    ck_assert_int_eq(c.verdict, PROTO_BIN_RUN);
    ck_assert_int_eq(c.value_len, 7);
    ck_assert_int_eq(check(PROTO_BIN_PREPENDQ, 3, 8, 11).verdict, PROTO_BIN_INVALID);

    ck_assert_int_eq(check(PROTO_BIN_DELETE, 3, 0, 3).verdict, PROTO_BIN_RUN);
    ck_assert_int_eq(check(PROTO_BIN_DELETEQ, 3, 0, 5).verdict, PROTO_BIN_INVALID);
    ck_assert_int_eq(check(PROTO_BIN_INCREMENT, 3, 20, 23).verdict, PROTO_BIN_RUN);
    ck_assert_int_eq(check(PROTO_BIN_DECREMENTQ, 3, 8, 11).verdict, PROTO_BIN_INVALID);
    ck_assert_int_eq(check(PROTO_BIN_INCREMENT, 3, 20, 25).verdict, PROTO_BIN_INVALID);

    ck_assert_int_eq(check(PROTO_BIN_NOOP, 0, 0, 0).verdict, PROTO_BIN_RUN);
    ck_assert_int_eq(check(PROTO_BIN_NOOP, 0, 0, 1).verdict, PROTO_BIN_INVALID);
    ck_assert_int_eq(check(PROTO_BIN_VERSION, 1, 0, 1).verdict, PROTO_BIN_INVALID);
    c = check(PROTO_BIN_QUITQ, 0, 0, 0);
    ck_assert_int_eq(c.verdict, PROTO_BIN_RUN);
    ck_assert(c.quiet);
    ck_assert_int_eq(check(PROTO_BIN_FLUSH, 0, 4, 4).verdict, PROTO_BIN_RUN);
    ck_assert_int_eq(check(PROTO_BIN_FLUSHQ, 0, 0, 0).verdict, PROTO_BIN_RUN);
    ck_assert_int_eq(check(PROTO_BIN_FLUSH, 0, 8, 8).verdict, PROTO_BIN_INVALID);
    ck_assert_int_eq(check(PROTO_BIN_FLUSH, 0, 4, 6).verdict, PROTO_BIN_INVALID);

    /* stat takes any key and does not look at the rest of the body */
    ck_assert_int_eq(check(PROTO_BIN_STAT, 0, 0, 0).verdict, PROTO_BIN_RUN);
    ck_assert_int_eq(check(PROTO_BIN_STAT, 5, 0, 9).verdict, PROTO_BIN_RUN);
    ck_assert_int_eq(check(PROTO_BIN_STAT, 5, 4, 9).verdict, PROTO_BIN_INVALID);

    /* touch and gat need 4 bytes of extras and a key; the body past them is not checked */
    ck_assert_int_eq(check(PROTO_BIN_TOUCH, 2, 4, 6).verdict, PROTO_BIN_RUN);
    c = check(PROTO_BIN_GATKQ, 2, 4, 9);
    ck_assert_int_eq(c.verdict, PROTO_BIN_RUN);
    ck_assert_uint_eq(c.opcode, PROTO_BIN_GATK);
    ck_assert(c.quiet);
    ck_assert_int_eq(check(PROTO_BIN_GAT, 2, 0, 2).verdict, PROTO_BIN_INVALID);
}
END_TEST

START_TEST(unknown_and_sasl)
{
    /* an unknown opcode: memcached swallows the whole body after the key and extras */
    struct proto_bin_check c = check(0x55, 3, 2, 7);
    ck_assert_int_eq(c.verdict, PROTO_BIN_UNKNOWN);
    ck_assert_uint_eq(c.swallow, 7);
    c = check(PROTO_BIN_VERBOSITY, 0, 4, 4);
    ck_assert_int_eq(c.verdict, PROTO_BIN_UNKNOWN);
    ck_assert_uint_eq(c.swallow, 4);
    /* SASL, memcached built without it: unknown, the value after the key swallowed */
    c = check(PROTO_BIN_SASL_LIST_MECHS, 0, 0, 0);
    ck_assert_int_eq(c.verdict, PROTO_BIN_UNKNOWN);
    ck_assert_uint_eq(c.swallow, 0);
    ck_assert_int_eq(check(PROTO_BIN_SASL_LIST_MECHS, 0, 0, 2).verdict, PROTO_BIN_INVALID);
    c = check(PROTO_BIN_SASL_AUTH, 5, 0, 9);
    ck_assert_int_eq(c.verdict, PROTO_BIN_UNKNOWN);
    ck_assert_uint_eq(c.swallow, 4);
    ck_assert_int_eq(check(PROTO_BIN_SASL_STEP, 0, 0, 9).verdict, PROTO_BIN_INVALID);
}
END_TEST

START_TEST(error_texts)
{
    ck_assert_str_eq(proto_bin_error_text(PROTO_BIN_KEY_ENOENT), "Not found");
    ck_assert_str_eq(proto_bin_error_text(PROTO_BIN_KEY_EEXISTS), "Data exists for key.");
    ck_assert_str_eq(proto_bin_error_text(PROTO_BIN_E2BIG), "Too large.");
    ck_assert_str_eq(proto_bin_error_text(PROTO_BIN_EINVAL), "Invalid arguments");
    ck_assert_str_eq(proto_bin_error_text(PROTO_BIN_NOT_STORED), "Not stored.");
    ck_assert_str_eq(proto_bin_error_text(PROTO_BIN_DELTA_BADVAL),
                     "Non-numeric server-side value for incr or decr");
    ck_assert_str_eq(proto_bin_error_text(PROTO_BIN_AUTH_ERROR), "Auth failure.");
    ck_assert_str_eq(proto_bin_error_text(PROTO_BIN_UNKNOWN_COMMAND), "Unknown command");
    ck_assert_str_eq(proto_bin_error_text(PROTO_BIN_ENOMEM), "Out of memory");
    ck_assert_ptr_null(proto_bin_error_text(PROTO_BIN_SUCCESS));
}
END_TEST

/* Every header decodes and re-encodes to itself, and every classification is one of the
 * verdicts with a swallow only where memcached swallows. */
START_TEST(any_header)
{
    uint32_t x = 12345;
    for (int i = 0; i < 200000; i++) {
        uint8_t raw[PROTO_BIN_HEADER_LEN];
        for (size_t j = 0; j < sizeof raw; j++) {
            x = x * 1103515245u + 12345u;
            raw[j] = (uint8_t)(x >> 16);
        }
        struct proto_bin_header h;
        proto_bin_decode(raw, &h);
        uint8_t back[PROTO_BIN_HEADER_LEN];
        proto_bin_encode(back, &h);
        ck_assert_mem_eq(back, raw, sizeof raw);
        struct proto_bin_check c;
        proto_bin_check(&h, &c);
        ck_assert(c.verdict >= PROTO_BIN_RUN && c.verdict <= PROTO_BIN_UNKNOWN);
        if (c.verdict != PROTO_BIN_UNKNOWN)
            ck_assert_uint_eq(c.swallow, 0);
        if (c.verdict != PROTO_BIN_BAD_LENGTHS) {
            ck_assert_uint_le((uint32_t)h.keylen + h.extlen, h.bodylen);
        }
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("proto_binary");
    TCase *tc = tcase_create("all");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, decode_example);
    tcase_add_test(tc, fields_big_endian);
    tcase_add_test(tc, response_example);
    tcase_add_test(tc, verdicts);
    tcase_add_test(tc, unknown_and_sasl);
    tcase_add_test(tc, error_texts);
    tcase_add_test(tc, any_header);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
