/* Loading the cluster secret file. Error messages never quote the file's contents: they could be
 * (part of) a secret. */
#include "cluster/gossip/crypto/secret.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cluster/gossip/crypto/ct.h"

static int fail(char *err, size_t err_len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t err_len, const char *fmt, ...)
{
    if (err != NULL && err_len > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_len, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

/* Decodes one trimmed line of hex into secret. Returns 0, or -1 with a reason in err. */
static int parse_secret_line(const char *line, size_t len, unsigned line_no,
                             struct cluster_secret *secret, char *err, size_t err_len)
{
    for (size_t i = 0; i < len; i++)
        if (hex_value(line[i]) < 0)
            return fail(err, err_len, "line %u: a secret must be written in hex digits only", line_no);
    if (len % 2 != 0)
        return fail(err, err_len, "line %u: odd number of hex digits", line_no);
    if (len / 2 < SECRET_MIN_LEN || len / 2 > SECRET_MAX_LEN)
        return fail(err, err_len, "line %u: a secret must be %d to %d bytes (%d to %d hex digits), not %zu",
                    line_no, SECRET_MIN_LEN, SECRET_MAX_LEN, 2 * SECRET_MIN_LEN, 2 * SECRET_MAX_LEN,
                    len / 2);
    for (size_t i = 0; i < len / 2; i++)
        secret->bytes[i] = (uint8_t)(hex_value(line[2 * i]) << 4 | hex_value(line[2 * i + 1]));
    secret->len = len / 2;
    return 0;
}

int cluster_secrets_parse(const char *text, size_t len, struct cluster_secrets *out,
                          char *err, size_t err_len)
{
    memset(out, 0, sizeof(*out));
    unsigned found = 0;
    unsigned line_no = 0;
    size_t pos = 0;
    while (pos < len) {
        line_no++;
        const char *end = memchr(text + pos, '\n', len - pos);
        size_t line_end = end != NULL ? (size_t)(end - text) : len;
        size_t start = pos;
        size_t stop = line_end;
        pos = line_end + 1;
        while (start < stop && is_blank(text[start]))
            start++;
        while (stop > start && is_blank(text[stop - 1]))
            stop--;
        if (start == stop || text[start] == '#')
            continue;
        if (found == 2) {
            cluster_secrets_wipe(out);
            return fail(err, err_len, "line %u: more than two secrets (only current and previous)",
                        line_no);
        }
        struct cluster_secret *slot = found == 0 ? &out->current : &out->previous;
        if (parse_secret_line(text + start, stop - start, line_no, slot, err, err_len) < 0) {
            cluster_secrets_wipe(out);
            return -1;
        }
        found++;
    }
    if (found == 0)
        return fail(err, err_len, "no secret found (expected one or two lines of hex)");
    out->has_previous = found == 2;
    return 0;
}

int cluster_secrets_load(const char *path, struct cluster_secrets *out, char *err, size_t err_len)
{
    memset(out, 0, sizeof(*out));
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return fail(err, err_len, "%s: %s", path, strerror(errno));
    /* fstat on the open descriptor: the checks apply to the very file that is read. */
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int saved = errno;
        close(fd);
        return fail(err, err_len, "%s: %s", path, strerror(saved));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return fail(err, err_len, "%s: not a regular file", path);
    }
    if (st.st_mode & S_IRWXO) {
        close(fd);
        return fail(err, err_len, "%s: other users have access (mode %04o); run chmod o-rwx on it",
                    path, (unsigned)(st.st_mode & 07777));
    }
    if (st.st_size > SECRET_FILE_MAX) {
        close(fd);
        return fail(err, err_len, "%s: larger than %d bytes", path, SECRET_FILE_MAX);
    }

    char text[SECRET_FILE_MAX + 1];
    size_t len = 0;
    for (;;) {
        ssize_t n = read(fd, text + len, sizeof(text) - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int saved = errno;
            close(fd);
            ct_wipe(text, len);
            return fail(err, err_len, "%s: %s", path, strerror(saved));
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > SECRET_FILE_MAX) {    /* grew since fstat */
            close(fd);
            ct_wipe(text, len);
            return fail(err, err_len, "%s: larger than %d bytes", path, SECRET_FILE_MAX);
        }
    }
    close(fd);

    char reason[160];
    int rc = cluster_secrets_parse(text, len, out, reason, sizeof(reason));
    ct_wipe(text, len);
    if (rc < 0)
        return fail(err, err_len, "%s: %s", path, reason);
    out->group_accessible = (st.st_mode & S_IRWXG) != 0;
    return 0;
}

void cluster_secrets_wipe(struct cluster_secrets *secrets)
{
    ct_wipe(secrets, sizeof(*secrets));
}
