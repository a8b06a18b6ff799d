/* Secure random bytes from the kernel. getrandom(2) blocks only until the kernel's pool is first
 * initialised (early boot) and never returns weak bytes; /dev/urandom is the fallback for kernels
 * or sandboxes without the system call (ENOSYS, EPERM from a seccomp filter). */
#include "cluster/gossip/crypto/random.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/random.h>
#include <unistd.h>

static int fill_from_urandom(uint8_t *buf, size_t len)
{
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    while (len > 0) {
        ssize_t n = read(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int saved = n < 0 ? errno : EIO;
            close(fd);
            errno = saved;
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    close(fd);
    return 0;
}

int crypto_random_bytes(void *buf, size_t len)
{
    uint8_t *out = buf;
    while (len > 0) {
        ssize_t n = getrandom(out, len, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == ENOSYS || errno == EPERM)
                return fill_from_urandom(out, len);
            return -1;
        }
        out += n;
        len -= (size_t)n;
    }
    return 0;
}

int crypto_random_u64(uint64_t *out)
{
    return crypto_random_bytes(out, sizeof(*out));
}
