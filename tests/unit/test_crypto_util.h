/* Helpers shared by the crypto unit tests (not a test itself: the Makefile builds test_*.c). */
#ifndef SHOAL_TEST_CRYPTO_UTIL_H
#define SHOAL_TEST_CRYPTO_UTIL_H
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Decodes hex (spaces and colons ignored, as the RFCs print them) into out; returns the length. */
static inline size_t hex_decode(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = 0;
    int high = -1;
    for (const char *p = hex; *p != '\0'; p++) {
        int v;
        if (*p >= '0' && *p <= '9')
            v = *p - '0';
        else if (*p >= 'a' && *p <= 'f')
            v = *p - 'a' + 10;
        else if (*p >= 'A' && *p <= 'F')
            v = *p - 'A' + 10;
        else
            continue;
        if (high < 0) {
            high = v;
        } else {
            ck_assert_uint_lt(n, cap);
            out[n++] = (uint8_t)(high << 4 | v);
            high = -1;
        }
    }
    ck_assert_int_eq(high, -1);
    return n;
}

/* Asserts that len bytes at got equal the hex string want (which must decode to len bytes). */
#define assert_bytes_hex(got, len, want_hex)                                                     \
    do {                                                                                         \
        uint8_t want_buf_[1024];                                                                 \
        size_t want_len_ = hex_decode((want_hex), want_buf_, sizeof(want_buf_));                 \
        ck_assert_uint_eq((len), want_len_);                                                     \
        ck_assert_mem_eq((got), want_buf_, want_len_);                                           \
    } while (0)

static inline int run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
