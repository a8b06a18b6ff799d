/* Unit tests for server/cluster_node.c in one process: refusals at prepare, then a real gossip node
 * on 127.0.0.1 whose snapshot a worker-like thread reads, `stats cluster`, leave and stop. */
#include <check.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "cluster/gossip/gossip_view.h"
#include "server/cluster_node.h"
#include "server/options.h"
#include "server/outbuf.h"
#include "server/settings.h"
#include "tests/unit/options_parse_util.h"

static struct settings s;

/* Parses the NULL-terminated arguments into s: 0 when the server would run, else its exit code. */
static int parse_into_s(const char *first, ...)
{
    static struct parsed p; /* large: not on the stack */
    va_list ap;
    va_start(ap, first);
    vparse(&p, first, ap);
    va_end(ap);
    s = p.s;
    return p.outcome == OPTIONS_RUN ? 0 : p.exit_code;
}

static int free_udp_port(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t len = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd);
    return ntohs(a.sin_port);
}

static char *outbuf_text(struct outbuf *ob)
{
    static char text[65536];
    struct iovec iov[64];
    int n = outbuf_iov(ob, iov, 64);
    size_t len = 0;
    for (int i = 0; i < n && len + iov[i].iov_len < sizeof text; i++) {
        memcpy(text + len, iov[i].iov_base, iov[i].iov_len);
        len += iov[i].iov_len;
    }
    text[len] = '\0';
    return text;
}

START_TEST(without_gossip_everything_is_a_no_op)
{
    ck_assert_int_eq(parse_into_s("-p", "0", NULL), 0);
    ck_assert_int_eq(cluster_node_prepare(&s), 0);
    ck_assert_int_eq(cluster_node_start(), 0);
    ck_assert(!cluster_node_running());
    ck_assert_ptr_null(cluster_node_view());
    struct outbuf ob;
    outbuf_init(&ob);
    ck_assert(!cluster_node_stats(&ob));
    outbuf_free(&ob);
    cluster_node_leave();
    cluster_node_stop();
}
END_TEST

START_TEST(prepare_refuses_bad_setups)
{
    ck_assert_int_eq(parse_into_s("--cluster-secret-file", "/nonexistent", NULL), 0);
    ck_assert_int_eq(cluster_node_prepare(&s), EX_USAGE);      /* a secret alone: no gossip */
    ck_assert_int_eq(parse_into_s("--node-name", "x", "--cluster-secret-file", "/nonexistent", NULL), 0);
    ck_assert_int_eq(cluster_node_prepare(&s), EXIT_FAILURE);
    ck_assert_int_eq(parse_into_s("-s", "/tmp/x.sock", "--node-name", "x", NULL), 0);
    ck_assert_int_eq(cluster_node_prepare(&s), EX_USAGE);      /* no TCP: --gossip-port needed */
    ck_assert_int_eq(parse_into_s("--join", "[::1:7000", NULL), 0);
    ck_assert_int_eq(cluster_node_prepare(&s), EX_USAGE);
    ck_assert_int_eq(parse_into_s("--node-name", "x", "--gossip-interval", "100",
                           "--gossip-probe-timeout", "100", NULL), 0);
    ck_assert_int_eq(cluster_node_prepare(&s), EX_USAGE);
    ck_assert(!cluster_node_running());
}
END_TEST

START_TEST(a_running_node_publishes_its_snapshot_and_stats)
{
    char port[16];
    snprintf(port, sizeof port, "%d", free_udp_port());
    ck_assert_int_eq(parse_into_s("-p", "0", "--node-name", "unit1", "--gossip-port", port,
                           "--gossip-interval", "50", "--gossip-leave-linger", "10", NULL), 0);
    ck_assert_int_eq(cluster_node_prepare(&s), 0);
    ck_assert_int_eq(cluster_node_start(), 0);
    ck_assert(cluster_node_running());

    struct gossip_view *v = cluster_node_view();
    ck_assert_ptr_nonnull(v);
    int slot = gossip_view_register(v);
    ck_assert_int_ge(slot, 0);
    bool seen = false;
    for (int i = 0; i < 400 && !seen; i++) {       /* publication is coalesced: poll, 4 s max */
        const struct gossip_snapshot *snap = gossip_view_enter(v, slot);
        if (snap && snap->count == 1) {
            ck_assert_str_eq(snap->members[0].name, "unit1");
            ck_assert_uint_eq(snap->members[0].state, MEMBER_ALIVE);
            seen = true;
        }
        gossip_view_exit(v, slot);
        if (!seen)
            nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    }
    gossip_view_unregister(v, slot);
    ck_assert(seen);

    struct outbuf ob;
    outbuf_init(&ob);
    ck_assert(cluster_node_stats(&ob));
    const char *text = outbuf_text(&ob);
    ck_assert_ptr_nonnull(strstr(text, "STAT cluster_alive 1\r\n"));
    ck_assert_ptr_nonnull(strstr(text, "STAT cluster_self unit1\r\n"));
    ck_assert_ptr_nonnull(strstr(text, "STAT cluster_member unit1 - alive "));
    ck_assert_ptr_nonnull(strstr(text, "STAT cluster_dropped_unauthenticated 0\r\n"));
    outbuf_free(&ob);

    cluster_node_leave();
    cluster_node_stop();
    ck_assert(!cluster_node_running());
    ck_assert_ptr_null(cluster_node_view());
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("cluster_node");
    TCase *tc = tcase_create("node");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, without_gossip_everything_is_a_no_op);
    tcase_add_test(tc, prepare_refuses_bad_setups);
    tcase_add_test(tc, a_running_node_publishes_its_snapshot_and_stats);
    suite_add_tcase(suite, tc);
    SRunner *sr = srunner_create(suite);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
