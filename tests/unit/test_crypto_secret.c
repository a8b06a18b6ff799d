/* The cluster secret file (format, permission checks) and the packet keys derived from it. */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cluster/gossip/crypto/keys.h"
#include "cluster/gossip/crypto/secret.h"
#include "test_crypto_util.h"

static const char hex16[] = "000102030405060708090a0b0c0d0e0f";
static const char hex32[] = "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf";

static int parse(const char *text, struct cluster_secrets *out, char *err)
{
    return cluster_secrets_parse(text, strlen(text), out, err, 160);
}

START_TEST(parse_one_secret)
{
    struct cluster_secrets s;
    char err[160];
    ck_assert_int_eq(parse(hex16, &s, err), 0);
    ck_assert_uint_eq(s.current.len, 16);
    for (int i = 0; i < 16; i++)
        ck_assert_uint_eq(s.current.bytes[i], i);
    ck_assert(!s.has_previous);

    /* Trailing newline, CRLF, surrounding blanks, upper case, comments and blank lines. */
    ck_assert_int_eq(parse("# cluster secret\n\n  A0A1A2A3A4A5A6A7A8A9AAABACADAEAFB0B1B2B3B4B5B6B7B8B9BABBBCBDBEBF \r\n\n",
                           &s, err), 0);
    ck_assert_uint_eq(s.current.len, 32);
    ck_assert_uint_eq(s.current.bytes[0], 0xa0);
    ck_assert_uint_eq(s.current.bytes[31], 0xbf);
    ck_assert(!s.has_previous);
}
END_TEST

START_TEST(parse_current_and_previous)
{
    struct cluster_secrets s;
    char err[160];
    char text[256];
    snprintf(text, sizeof(text), "%s\n# rotated out on monday\n%s\n", hex32, hex16);
    ck_assert_int_eq(parse(text, &s, err), 0);
    ck_assert_uint_eq(s.current.len, 32);
    ck_assert_uint_eq(s.current.bytes[0], 0xa0);
    ck_assert(s.has_previous);
    ck_assert_uint_eq(s.previous.len, 16);
    ck_assert_uint_eq(s.previous.bytes[15], 0x0f);
}
END_TEST

START_TEST(parse_rejects)
{
    struct cluster_secrets s;
    char err[160];
    char text[512];
    const char *bad[] = {
        "",                                         /* nothing */
        "\n# only a comment\n\n",                   /* nothing */
        "000102030405060708090a0b0c0d0e",           /* 15 bytes: too short */
        "000102030405060708090a0b0c0d0e0f1",        /* odd number of digits */
        "000102030405060708090a0b0c0d0e0g",         /* not hex */
        "0001020304050607 08090a0b0c0d0e0f",        /* inner blank */
        "correct horse battery staple!!!!",         /* text, not hex */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        ck_assert_msg(parse(bad[i], &s, err) == -1, "accepted case %zu", i);
        ck_assert_msg(err[0] != '\0', "no reason for case %zu", i);
        ck_assert_msg(strstr(err, "horse") == NULL, "reason quotes the secret: %s", err);
    }
    /* 64 bytes is the maximum, 65 too many. */
    memset(text, 'a', 128);
    text[128] = '\0';
    ck_assert_int_eq(parse(text, &s, err), 0);
    ck_assert_uint_eq(s.current.len, 64);
    memset(text, 'a', 130);
    text[130] = '\0';
    ck_assert_int_eq(parse(text, &s, err), -1);
    /* Three secrets. */
    snprintf(text, sizeof(text), "%s\n%s\n%s\n", hex16, hex32, hex16);
    ck_assert_int_eq(parse(text, &s, err), -1);
    ck_assert_ptr_nonnull(strstr(err, "line 3"));
    /* A NUL byte inside the file. */
    char with_nul[] = "000102030405060708090a0b0c0d0e0f\n\0\n";
    ck_assert_int_eq(cluster_secrets_parse(with_nul, sizeof(with_nul) - 1, &s, err, sizeof(err)), -1);
}
END_TEST

/* Writes text to a fresh file with the given mode; returns its path in path (PATH_MAX). */
static void write_file(char *path, size_t path_len, const char *text, mode_t mode)
{
    const char *dir = getenv("TMPDIR");
    snprintf(path, path_len, "%s/shoal-secret-XXXXXX", dir != NULL ? dir : "/tmp");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    size_t len = strlen(text);
    ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
    ck_assert_int_eq(fchmod(fd, mode), 0);
    close(fd);
}

START_TEST(load_checks_permissions)
{
    char path[4096];
    char err[256];
    struct cluster_secrets s;
    char text[128];
    snprintf(text, sizeof(text), "%s\n", hex16);

    write_file(path, sizeof(path), text, 0600);
    ck_assert_int_eq(cluster_secrets_load(path, &s, err, sizeof(err)), 0);
    ck_assert_uint_eq(s.current.len, 16);
    ck_assert(!s.group_accessible);
    unlink(path);

    write_file(path, sizeof(path), text, 0640);
    ck_assert_int_eq(cluster_secrets_load(path, &s, err, sizeof(err)), 0);
    ck_assert(s.group_accessible);
    unlink(path);

    write_file(path, sizeof(path), text, 0644);
    ck_assert_int_eq(cluster_secrets_load(path, &s, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "other users"));
    unlink(path);

    write_file(path, sizeof(path), text, 0602);
    ck_assert_int_eq(cluster_secrets_load(path, &s, err, sizeof(err)), -1);
    unlink(path);

    /* A bad file names the path in the reason. */
    write_file(path, sizeof(path), "tooshort\n", 0600);
    ck_assert_int_eq(cluster_secrets_load(path, &s, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, path));
    ck_assert_ptr_nonnull(strstr(err, "line 1"));
    unlink(path);

    ck_assert_int_eq(cluster_secrets_load("/nonexistent/shoal-secret", &s, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "No such file"));
    ck_assert_int_eq(cluster_secrets_load("/tmp", &s, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "not a regular file"));
}
END_TEST

START_TEST(load_refuses_large_files)
{
    char path[4096];
    char err[256];
    struct cluster_secrets s;
    static char big[SECRET_FILE_MAX + 2];
    memset(big, '#', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    write_file(path, sizeof(path), big, 0600);
    ck_assert_int_eq(cluster_secrets_load(path, &s, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "larger"));
    unlink(path);
}
END_TEST

START_TEST(derived_keys_known_answer)
{
    /* Pinned so that every Shoal version derives the same keys from the same file. Expected values
     * computed independently with Python's cryptography HKDF(SHA256, salt=b"shoal-cluster-v1"). */
    struct cluster_secret secret;
    secret.len = hex_decode(hex16, secret.bytes, sizeof(secret.bytes));
    struct packet_key key;
    packet_key_derive(&secret, &key);
    assert_bytes_hex(key.mac_key, sizeof(key.mac_key),
                     "7d01b9912d35e8c2f368e0891531979c5f98d41a94e63830ae5343516507d1f5");
    assert_bytes_hex(key.id, sizeof(key.id), "70437f6c");
}
END_TEST

START_TEST(keys_load_and_find)
{
    char path[4096];
    char err[256];
    char text[256];
    snprintf(text, sizeof(text), "%s\n%s\n", hex32, hex16);
    write_file(path, sizeof(path), text, 0600);
    struct packet_keys keys;
    bool group = true;
    ck_assert_int_eq(packet_keys_load(path, &keys, &group, err, sizeof(err)), 0);
    unlink(path);
    ck_assert(!group);
    ck_assert(keys.has_previous);

    /* The previous key is the one the hex16 secret alone gives (see the known answer above). */
    assert_bytes_hex(keys.previous.id, PACKET_KEY_ID_LEN, "70437f6c");
    ck_assert_mem_ne(keys.current.mac_key, keys.previous.mac_key, PACKET_MAC_KEY_LEN);

    ck_assert_ptr_eq(packet_keys_find(&keys, keys.current.id), &keys.current);
    ck_assert_ptr_eq(packet_keys_find(&keys, keys.previous.id), &keys.previous);
    uint8_t unknown[PACKET_KEY_ID_LEN];
    memcpy(unknown, keys.current.id, sizeof(unknown));
    unknown[0] ^= 1;
    ck_assert_ptr_null(packet_keys_find(&keys, unknown));

    keys.has_previous = false;
    ck_assert_ptr_null(packet_keys_find(&keys, keys.previous.id));

    packet_keys_wipe(&keys);
    uint8_t zeros[PACKET_MAC_KEY_LEN] = {0};
    ck_assert_mem_eq(keys.current.mac_key, zeros, PACKET_MAC_KEY_LEN);

    ck_assert_int_eq(packet_keys_load("/nonexistent/x", &keys, NULL, err, sizeof(err)), -1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("crypto_secret");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, parse_one_secret);
    tcase_add_test(tc, parse_current_and_previous);
    tcase_add_test(tc, parse_rejects);
    tcase_add_test(tc, load_checks_permissions);
    tcase_add_test(tc, load_refuses_large_files);
    tcase_add_test(tc, derived_keys_known_answer);
    tcase_add_test(tc, keys_load_and_find);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
