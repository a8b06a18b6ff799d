/* Unit tests for cluster/route/hash/: MD5 against RFC 1321's test suite, the key hashes against
 * libmemcached's hash fixture (test/fixtures/hashes.hpp in awesomized/libmemcached, whose
 * hashkit twemproxy's hashes come from), twemproxy's own crc32a test (tests/test_hashkit.cpp),
 * and the FNV reference vectors (draft-eastlake-fnv, test vectors for "a" and "foobar"). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/route/hash/hash.h"
#include "cluster/route/hash/md5.h"

static void hex_of(const unsigned char *digest, char out[33])
{
    for (int i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", digest[i]);
}

START_TEST(md5_rfc1321_suite)
{
    /* RFC 1321, appendix A.5 */
    static const struct { const char *in, *hex; } suite[] = {
        {"", "d41d8cd98f00b204e9800998ecf8427e"},
        {"a", "0cc175b9c0f1b6a831c399e269772661"},
        {"abc", "900150983cd24fb0d6963f7d28e17f72"},
        {"message digest", "f96b697d7cb7938d525a2f31aaf161d0"},
        {"abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"},
        {"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
         "d174ab98d277d9f5a5611c2c9f419d9f"},
        {"12345678901234567890123456789012345678901234567890123456789012345678901234567890",
         "57edf4a22be3c955ac49da2e2107b67a"},
    };
    for (size_t i = 0; i < sizeof suite / sizeof suite[0]; i++) {
        unsigned char digest[MD5_DIGEST_LEN];
        char hex[33];
        md5_digest(suite[i].in, strlen(suite[i].in), digest);
        hex_of(digest, hex);
        ck_assert_str_eq(hex, suite[i].hex);
    }
}
END_TEST

START_TEST(md5_incremental_matches_one_shot)
{
    unsigned char data[300];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (unsigned char)(i * 7 + 3);
    for (size_t len = 0; len <= sizeof data; len++) {
        unsigned char whole[MD5_DIGEST_LEN], pieces[MD5_DIGEST_LEN];
        md5_digest(data, len, whole);
        struct md5_ctx ctx;
        md5_init(&ctx);
        for (size_t off = 0; off < len;) {
            size_t step = 1 + (off * 13 + len) % 70;
            if (step > len - off)
                step = len - off;
            md5_update(&ctx, data + off, step);
            off += step;
        }
        md5_final(&ctx, pieces);
        ck_assert_mem_eq(whole, pieces, MD5_DIGEST_LEN);
    }
}
END_TEST

/* libmemcached test/fixtures/hashes.hpp: inputs and expected outputs per hash. */
static const char *fixture_input[] = {
    "apple", "beat", "carrot", "daikon", "eggplant", "flower", "green", "hide", "ick",
    "jack", "kick", "lime", "mushrooms", "nectarine", "orange", "peach", "quant", "ripen",
    "strawberry", "tang", "up", "volumne", "when", "yellow", "zip",
    "The quick brown fox jumps over the lazy dog",
};
#define FIXTURE_N (sizeof fixture_input / sizeof fixture_input[0])

static const struct {
    const char *name;
    uint32_t expect[FIXTURE_N];
} fixture_output[] = {
    {"one_at_a_time",
     {2297466611U, 3902465932U, 469785835U, 1937308741U, 261917617U, 3785641677U, 1439605128U,
      1649152283U, 1493851484U, 1246520657U, 2221159044U, 1973511823U, 384136800U, 214358653U,
      2379473940U, 4269788650U, 2864377005U, 2638630052U, 427683330U, 990491717U, 1747111141U,
      792127364U, 2599214128U, 2553037199U, 2509838425U, 1369346549U}},
    {"md5",
     {3195025439U, 2556848621U, 3724893440U, 3332385401U, 245758794U, 2550894432U, 121710495U,
      3053817768U, 1250994555U, 1862072655U, 2631955953U, 2951528551U, 1451250070U, 2820856945U,
      2060845566U, 3646985608U, 2138080750U, 217675895U, 2230934345U, 1234361223U, 3968582726U,
      2455685270U, 1293568479U, 199067604U, 2042482093U, 2642219166U}},
    {"crc32",
     {10542U, 22009U, 14526U, 19510U, 19432U, 10199U, 20634U, 9369U, 11511U, 10362U, 7893U,
      31289U, 11313U, 9354U, 7621U, 30628U, 15218U, 25967U, 2695U, 9380U, 17300U, 28156U, 9192U,
      20484U, 16925U, 16719U}},
    {"fnv1_64",
     {473199127U, 4148981457U, 3971873300U, 3257986707U, 1722477987U, 2991193800U, 4147007314U,
      3633179701U, 1805162104U, 3503289120U, 3395702895U, 3325073042U, 2345265314U, 3340346032U,
      2722964135U, 1173398992U, 2815549194U, 2562818319U, 224996066U, 2680194749U, 3035305390U,
      246890365U, 2395624193U, 4145193337U, 1801941682U, 2112060110U}},
    {"fnv1a_64",
     {1488911807U, 2500855813U, 1510099634U, 1390325195U, 3647689787U, 3241528582U, 1669328060U,
      2604311949U, 734810122U, 1516407546U, 560948863U, 1767346780U, 561034892U, 4156330026U,
      3716417003U, 3475297030U, 1518272172U, 227211583U, 3938128828U, 126112909U, 3043416448U,
      3131561933U, 1328739897U, 2455664041U, 2272238452U, 3890508048U}},
    {"fnv1_32",
     {67176023U, 1190179409U, 2043204404U, 3221866419U, 2567703427U, 3787535528U, 4147287986U,
      3500475733U, 344481048U, 3865235296U, 2181839183U, 119581266U, 510234242U, 4248244304U,
      1362796839U, 103389328U, 1449620010U, 182962511U, 3554262370U, 3206747549U, 1551306158U,
      4127558461U, 1889140833U, 2774173721U, 1180552018U, 3922226286U}},
    {"fnv1a_32",
     {280767167U, 2421315013U, 3072375666U, 855001899U, 459261019U, 3521085446U, 18738364U,
      1625305005U, 2162232970U, 777243802U, 3323728671U, 132336572U, 3654473228U, 260679466U,
      1169454059U, 2698319462U, 1062177260U, 235516991U, 2218399068U, 405302637U, 1128467232U,
      3579622413U, 2138539289U, 96429129U, 2877453236U, 76545936U}},
    {"murmur",
     {4142305122U, 734504955U, 3802834688U, 4076891445U, 387802650U, 560515427U, 3274673488U,
      3150339524U, 1527441970U, 2728642900U, 3613992239U, 2938419259U, 2321988328U, 1145154116U,
      4038540960U, 2224541613U, 264013145U, 3995512858U, 2400956718U, 2346666219U, 926327338U,
      442757446U, 1770805201U, 560483147U, 3902279934U, 818385189U}},
    {"jenkins",
     {1442444624U, 4253821186U, 1885058256U, 2120131735U, 3261968576U, 3515188778U, 4232909173U,
      4288625128U, 1812047395U, 3689182164U, 2502979932U, 1214050606U, 2415988847U, 1494268927U,
      1025545760U, 3920481083U, 4153263658U, 3824871822U, 3072759809U, 798622255U, 3065432577U,
      1453328165U, 2691550971U, 3408888387U, 2629893356U, 314054204U}},
};

START_TEST(libmemcached_hash_fixture)
{
    const char *name = fixture_output[_i].name;
    const struct hash_algorithm *algo = hash_by_name(name);
    ck_assert_ptr_nonnull(algo);
    for (size_t k = 0; k < FIXTURE_N; k++) {
        uint32_t got = algo->fn(fixture_input[k], strlen(fixture_input[k]));
        ck_assert_msg(got == fixture_output[_i].expect[k], "%s(\"%s\") = %u, expected %u", name,
                      fixture_input[k], got, fixture_output[_i].expect[k]);
    }
}
END_TEST

START_TEST(twemproxy_crc32a_vectors)
{
    /* twemproxy tests/test_hashkit.cpp */
    ck_assert_uint_eq(hash_crc32a("", 0), 0x0u);
    ck_assert_uint_eq(hash_crc32a("123456", 6), 0x972d361u);
    ck_assert_uint_eq(hash_crc32a("abcdef", 6), 0x4b8e39efu);
    ck_assert_uint_eq(hash_crc32a("\xe4\xb8\xad", 3), 0xd5d15a8bu);
    /* the CRC-32 check value of the catalogue of parametrised CRCs */
    ck_assert_uint_eq(hash_crc32a("123456789", 9), 0xcbf43926u);
}
END_TEST

START_TEST(fnv_reference_vectors)
{
    /* FNV reference test vectors (draft-eastlake-fnv / isthe.com FNV test suite) */
    ck_assert_uint_eq(hash_fnv1_32("", 0), 0x811c9dc5u);
    ck_assert_uint_eq(hash_fnv1_32("a", 1), 0x050c5d7eu);
    ck_assert_uint_eq(hash_fnv1_32("foobar", 6), 0x31f0b262u);
    ck_assert_uint_eq(hash_fnv1a_32("a", 1), 0xe40c292cu);
    ck_assert_uint_eq(hash_fnv1a_32("foobar", 6), 0xbf9cf968u);
    /* real FNV-1 64 of "foobar" is 0x340d8765a4dda9c2; fnv1_64 keeps the low half */
    ck_assert_uint_eq(hash_fnv1_64("foobar", 6), 0xa4dda9c2u);
}
END_TEST

START_TEST(high_bytes_are_sign_extended)
{
    /* twemproxy reads `(uint32_t)key[i]` from a signed char: 0xE4 enters as 0xFFFFFFE4.
     * Expected values computed by hand from that definition for a one-byte key. */
    uint32_t basis = 2166136261u;
    ck_assert_uint_eq(hash_fnv1a_32("\xe4", 1), (basis ^ 0xFFFFFFE4u) * 16777619u);
    ck_assert_uint_eq(hash_fnv1_32("\xe4", 1), (basis * 16777619u) ^ 0xFFFFFFE4u);
    uint32_t basis64 = 0x84222325u;
    ck_assert_uint_eq(hash_fnv1a_64("\xe4", 1), (basis64 ^ 0xFFFFFFE4u) * 0x1b3u);
    /* crc32a reads bytes unsigned: unaffected (see the twemproxy vector above) */
}
END_TEST

START_TEST(registry_names)
{
    ck_assert_ptr_null(hash_by_name("sha1"));
    size_t n = 0;
    for (const struct hash_algorithm *a = hash_algorithms(); a->name != NULL; a++, n++)
        ck_assert_ptr_eq(hash_by_name(a->name), a);
    ck_assert_uint_ge(n, 10);
    ck_assert_ptr_eq(hash_by_name("md5")->fn, hash_md5);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("hash");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, md5_rfc1321_suite);
    tcase_add_test(tc, md5_incremental_matches_one_shot);
    tcase_add_loop_test(tc, libmemcached_hash_fixture, 0,
                        (int)(sizeof fixture_output / sizeof fixture_output[0]));
    tcase_add_test(tc, twemproxy_crc32a_vectors);
    tcase_add_test(tc, fnv_reference_vectors);
    tcase_add_test(tc, high_bytes_are_sign_extended);
    tcase_add_test(tc, registry_names);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
