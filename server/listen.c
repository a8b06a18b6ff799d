#include "server/listen.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sysexits.h>
#include <unistd.h>
#include <arpa/inet.h>

static int set_flag(int fd, int level, int opt)
{
    int one = 1;
    return setsockopt(fd, level, opt, &one, sizeof(one));
}

static void describe(const struct sockaddr *sa, char *name, size_t len)
{
    char host[INET6_ADDRSTRLEN] = "?";
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const void *)sa;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
        snprintf(name, len, "tcp:%s:%u", host, ntohs(in->sin_port));
    } else {
        const struct sockaddr_in6 *in6 = (const void *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
        snprintf(name, len, "tcp6:[%s]:%u", host, ntohs(in6->sin6_port));
    }
}

/* A socket bound to ai, listening unless backlog is 0. reuseport: share the port with the other
 * workers' sockets. */
static int open_tcp(const struct addrinfo *ai, int backlog, bool reuseport)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0)
        return -1;
    set_flag(fd, SOL_SOCKET, SO_REUSEADDR);
    if (ai->ai_family == AF_INET6)
        set_flag(fd, IPPROTO_IPV6, IPV6_V6ONLY);
    if ((reuseport && set_flag(fd, SOL_SOCKET, SO_REUSEPORT) != 0) ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || (backlog > 0 && listen(fd, backlog) != 0)) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

static int grow(struct listen_set *set)
{
    struct listener *items = realloc(set->items, sizeof(*items) * (size_t)(set->count + 1));
    if (!items)
        return -1;
    set->items = items;
    struct listener *l = &items[set->count];
    memset(l, 0, sizeof(*l));
    l->fds = malloc(sizeof(int) * (size_t)set->nworkers);
    if (!l->fds)
        return -1;
    for (int i = 0; i < set->nworkers; i++)
        l->fds[i] = -1;
    set->count++;
    return 0;
}

/* Splits "host", "host:port", "[v6]:port" or "v6" into host and port text. */
static void split_host_port(char *spec, const char **host, const char **port)
{
    *port = NULL;
    if (spec[0] == '[') {
        char *close_br = strchr(spec, ']');
        if (close_br) {
            *close_br = '\0';
            *host = spec + 1;
            if (close_br[1] == ':')
                *port = close_br + 2;
            return;
        }
    }
    char *colon = strchr(spec, ':');
    if (colon && !strchr(colon + 1, ':')) {
        *colon = '\0';
        *port = colon + 1;
    }
    *host = spec;
}

/* Binds every address host resolves to. A probe bind without SO_REUSEPORT comes first, so that a
 * port some other process holds is reported as in use rather than silently shared. The probe
 * never listens: a client connecting in that instant would be accepted by a socket about to
 * close and then reset (seen as a flaky test that connected the moment the port opened). */
static int open_tcp_host(const struct settings *s, const char *host, const char *port,
                         struct listen_set *set)
{
    struct addrinfo hints = {.ai_flags = AI_PASSIVE, .ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM};
    struct addrinfo *res;
    int gai = getaddrinfo(host, port, &hints, &res);
    if (gai != 0) {
        fprintf(stderr, "getaddrinfo(): %s\n", gai_strerror(gai));
        return -1;
    }
    int bound = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int probe = open_tcp(ai, 0, false);
        if (probe < 0) {
            if (errno == EAFNOSUPPORT || errno == EADDRNOTAVAIL) {
                if (host) {
                    fprintf(stderr, "bind(): %s\n", strerror(errno));
                    freeaddrinfo(res);
                    return -1;
                }
                continue; /* no IPv6 on this machine: the wildcard still works on IPv4 */
            }
            fprintf(stderr, "bind(): %s\n", strerror(errno));
            freeaddrinfo(res);
            return -1;
        }
        close(probe);
        if (grow(set) != 0) {
            freeaddrinfo(res);
            return -1;
        }
        struct listener *l = &set->items[set->count - 1];
        describe(ai->ai_addr, l->name, sizeof(l->name));
        for (int w = 0; w < set->nworkers; w++) {
            l->fds[w] = open_tcp(ai, s->backlog, true);
            if (l->fds[w] < 0) {
                fprintf(stderr, "bind(): %s\n", strerror(errno));
                freeaddrinfo(res);
                return -1;
            }
        }
        bound++;
    }
    freeaddrinfo(res);
    if (bound == 0) {
        fprintf(stderr, "bind(): %s\n", strerror(EADDRNOTAVAIL));
        return -1;
    }
    return 0;
}

static int open_unix(const struct settings *s, struct listen_set *set)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    if (strlen(s->socketpath) >= sizeof(sun.sun_path)) {
        fprintf(stderr, "bind(): %s\n", strerror(ENAMETOOLONG));
        return -1;
    }
    strcpy(sun.sun_path, s->socketpath);
    /* A socket file left by a previous run would make bind fail; memcached removes it too. */
    struct stat st;
    if (lstat(s->socketpath, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(s->socketpath);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fprintf(stderr, "socket(): %s\n", strerror(errno));
        return -1;
    }
    mode_t old_umask = umask((mode_t)(~s->access & 0777));
    int rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
    int saved = errno;
    umask(old_umask);
    if (rc != 0 || listen(fd, s->backlog) != 0) {
        if (rc == 0)
            saved = errno;
        fprintf(stderr, "bind(): %s\n", strerror(saved));
        close(fd);
        return -1;
    }
    if (grow(set) != 0) {
        close(fd);
        return -1;
    }
    struct listener *l = &set->items[set->count - 1];
    l->is_unix = true;
    snprintf(l->name, sizeof(l->name), "unix:%s", s->socketpath);
    for (int w = 0; w < set->nworkers; w++)
        l->fds[w] = fd;
    set->unix_path = s->socketpath;
    return 0;
}

int listen_open_all(const struct settings *s, int nworkers, struct listen_set *set)
{
    *set = (struct listen_set){.nworkers = nworkers};
    if (s->socketpath) {
        if (open_unix(s, set) != 0) {
            fprintf(stderr, "failed to listen on UNIX socket: %s: %s\n", s->socketpath,
                    strerror(errno));
            listen_close_all(set);
            return EX_OSERR;
        }
        return 0; /* as memcached: a unix socket disables network support */
    }
    if (s->port == 0)
        return 0;
    char port[16];
    snprintf(port, sizeof(port), "%d", s->port);
    if (!s->inter) {
        if (open_tcp_host(s, NULL, port, set) != 0) {
            fprintf(stderr, "failed to listen on TCP port %d: %s\n", s->port, strerror(errno));
            listen_close_all(set);
            return EX_OSERR;
        }
        return 0;
    }
    char *list = strdup(s->inter);
    if (!list) {
        listen_close_all(set);
        return EX_OSERR;
    }
    char *save = NULL;
    for (char *spec = strtok_r(list, ",", &save); spec; spec = strtok_r(NULL, ",", &save)) {
        const char *host, *p;
        char copy[256];
        snprintf(copy, sizeof(copy), "%s", spec);
        split_host_port(spec, &host, &p);
        if (open_tcp_host(s, host, p ? p : port, set) != 0) {
            fprintf(stderr, "failed to listen on one of interface(s) %s: %s\n", s->inter,
                    strerror(errno));
            free(list);
            listen_close_all(set);
            return EX_OSERR;
        }
    }
    free(list);
    return 0;
}

void listen_close_all(struct listen_set *set)
{
    for (int i = 0; i < set->count; i++) {
        struct listener *l = &set->items[i];
        if (!l->fds)
            continue;
        if (l->is_unix) {
            if (l->fds[0] >= 0)
                close(l->fds[0]);
        } else {
            for (int w = 0; w < set->nworkers; w++)
                if (l->fds[w] >= 0)
                    close(l->fds[w]);
        }
        free(l->fds);
    }
    if (set->unix_path)
        unlink(set->unix_path);
    free(set->items);
    *set = (struct listen_set){0};
}
