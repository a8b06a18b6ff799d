#!/usr/bin/python3
"""Loss (issue 11, section 6): five real nodes in a private network namespace, 10% of the UDP
packets between them dropped at random (nftables `numgen random mod 100 < 10 drop`) for 15 s
(SHOAL_LOSS_SECONDS), with a client reading and writing through every node meanwhile. No member
may be declared dead by anyone (cluster_deaths_declared stays 0 on every node, and every node sees
every member alive at the end), and no read may be stale. Prints suspicions, refutations and the
share of requests answered without error."""
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faultnet  # noqa: E402

SECONDS = float(os.environ.get("SHOAL_LOSS_SECONDS", "15"))
KEYS = ["loss:%d" % i for i in range(500)]


def counters(cluster, names):
    total = dict.fromkeys(names, 0)
    for nd in cluster.nodes:
        plain = nd.stats()[0]
        for n in names:
            total[n] += int(plain.get(n, 0))
    return total


def test_udp_loss():
    cluster = faultnet.Cluster(5)
    faults = faultnet.Faults()
    rng = random.Random(6)
    names = ["cluster_suspicions", "cluster_refutations", "cluster_deaths_declared",
             "cluster_rejoin_flushes", "cluster_isolations", "cluster_quorum_losses"]
    try:
        cluster.start()
        client = faultnet.Client(cluster)
        client.phase = "load"
        for k in KEYS:
            client.set(rng.choice(cluster.nodes), k)
        before = counters(cluster, names)
        faults.loss(10, "udp", among=[nd.addr for nd in cluster.nodes])
        client.phase = "loss"
        t0 = time.monotonic()
        faultnet.random_workload(client, cluster.nodes, KEYS, SECONDS, rng,
                                 max_ops=int(30000 * SECONDS))
        faults.heal()
        took = time.monotonic() - t0
        client.phase = "after"
        faultnet.random_workload(client, cluster.nodes, KEYS, 1.0, rng, max_ops=5000)
        cluster.wait_views({nd.name: "alive" for nd in cluster.nodes}, "every member alive",
                           limit=10)
        after = counters(cluster, names)
        delta = {n: after[n] - before[n] for n in names}
        client.close()
        stale = faultnet.stale_reads(client.history)
        print("\n".join("    " + x for x in faultnet.report(client.history, [
            "%.0f s of 10%% UDP loss among 5 nodes: %s" % (
                took, " ".join("%s=%d" % kv for kv in delta.items()))])))
        reports = cluster.sanitizer_reports()
        assert not reports, "\n".join(reports[:10])
        assert delta["cluster_deaths_declared"] == 0, delta
        assert delta["cluster_rejoin_flushes"] == 0, delta
        assert not stale, "%d stale reads" % len(stale)
    except Exception:
        print(cluster.logs())
        raise
    finally:
        cluster.close()


if __name__ == "__main__":
    faultnet.run_tests([("10%% UDP loss for %.0f s" % SECONDS, test_udp_loss)])
