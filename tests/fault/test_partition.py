#!/usr/bin/python3
"""A partition costs only what it must (issue 11, section 2; cluster/README.md, "Partitions").

Five real nodes in a private network namespace (tests/fault/faultnet.py); 5,000 keys set. A
partition is cut with nftables until both sides have declared each other dead; 2,000 of the keys
are written and read through nodes of both sides; the cut is removed and every node waits until it
sees every member alive. Then every key is read through every node. Checked: no stale read in the
whole history (a read older than a value acknowledged before it began), and the share of the
3,000 keys nobody touched that still hit after the heal:
  - node 5 alone cut off: at least 70% of the untouched keys still hit through every node;
  - nodes 4 and 5 cut off from 1, 2, 3: at least 55% still hit through 1, 2 and 3.
Each test prints its figures (stale reads, requests answered per phase, keys kept)."""
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faultnet  # noqa: E402

KEYS = ["key:%d" % i for i in range(5000)]
TOUCHED = KEYS[:2000]
UNTOUCHED = KEYS[2000:]


def read_all(client, nodes, keys):
    """{node index: share of keys that hit} reading every key through each node (multi-gets)."""
    kept = {}
    for nd in nodes:
        hits = total = 0
        for i in range(0, len(keys), 100):
            got = client.get_many(nd, keys[i:i + 100])
            total += len(keys[i:i + 100])
            if got:
                hits += sum(v is not None for v in got.values())
        kept[nd.i] = hits / total
    return kept


def partition(small, seed, extra=()):
    """Cuts nodes `small` off from the others, writes through both sides, heals. Returns (stale
    reads, {node: share of untouched keys hitting}, report lines). `extra`: more shoal flags
    (tests/fault/test_replicas.py runs it with --replicas 2)."""
    rng = random.Random(seed)
    cluster = faultnet.Cluster(5, extra)
    faults = faultnet.Faults()
    try:
        cluster.start()
        client = faultnet.Client(cluster)
        client.phase = "load"
        for k in KEYS:
            assert client.set(rng.choice(cluster.nodes), k) == "ok"
        big = [nd for nd in cluster.nodes if nd.i not in small]
        little = [cluster.node(i) for i in small]
        rules = faults.cut([nd.addr for nd in little], [nd.addr for nd in big])
        t_cut = time.monotonic()
        # until both sides hold the other dead (each side's nodes see all of the other side dead)
        cluster.wait_views({nd.name: "dead" for nd in little}, "the big side to bury the small",
                           nodes=big)
        cluster.wait_views({nd.name: "dead" for nd in big}, "the small side to bury the big",
                           nodes=little)
        t_dead = time.monotonic() - t_cut
        client.phase = "partition"
        faultnet.random_workload(client, cluster.nodes, TOUCHED, 3.0, rng, max_ops=20000)
        faults.heal(rules)
        t_heal = time.monotonic()
        client.phase = "healing"
        # traffic while the cluster finds itself again, bounded by the wait below
        cluster.wait_views({nd.name: "alive" for nd in cluster.nodes}, "every node alive again")
        t_alive = time.monotonic() - t_heal
        faultnet.random_workload(client, cluster.nodes, TOUCHED, 1.0, rng, max_ops=5000)
        client.phase = "after"
        kept = read_all(client, cluster.nodes, UNTOUCHED)
        read_all(client, cluster.nodes, TOUCHED)
        fences = {nd.name: int(nd.stats()[0].get("cluster_rejoin_flushes", 0))
                  for nd in cluster.nodes}
        client.close()
        if os.environ.get("SHOAL_FAULT_DEBUG"):
            for nd in cluster.nodes:
                with open(nd.log, errors="replace") as f:
                    print("\n".join("  %s: %s" % (nd.name, x.rstrip()) for x in f
                                     if "flushed" in x or "quorum" in x or "dead" in x))
        reports = cluster.sanitizer_reports()
        assert not reports, "\n".join(reports[:10])
        stale = faultnet.stale_reads(client.history)
        lines = faultnet.report(client.history, [
            "both sides declared the other dead %.1f s after the cut; all alive %.1f s after the "
            "heal" % (t_dead, t_alive),
            "fences (cluster_rejoin_flushes): %s" % " ".join("%s=%d" % kv for kv in fences.items()),
            "untouched keys still hitting after the heal, per node: %s" %
            " ".join("n%d=%.1f%%" % (i, 100 * s) for i, s in kept.items())])
        return stale, kept, lines
    except Exception:
        print(cluster.logs())
        raise
    finally:
        cluster.close()


def test_one_node_cut_off():
    stale, kept, lines = partition([5], seed=11)
    print("\n".join("    " + x for x in lines))
    assert not stale, "%d stale reads" % len(stale)
    assert min(kept.values()) >= 0.70, kept


def test_two_of_five_cut_off():
    stale, kept, lines = partition([4, 5], seed=23)
    print("\n".join("    " + x for x in lines))
    assert not stale, "%d stale reads" % len(stale)
    assert min(kept[i] for i in (1, 2, 3)) >= 0.55, kept


if __name__ == "__main__":
    faultnet.run_tests([("one node cut off", test_one_node_cut_off),
                        ("two of five cut off", test_two_of_five_cut_off)])
