#!/usr/bin/python3
"""Replication in the fault harness (issue 13; cluster/README.md, "Replication"): five real nodes
in a private network namespace (tests/fault/faultnet.py).

  - kill -9: 5,000 keys with --replicas 2, one node killed; every key read through every survivor
    at once (before the death is declared: reads to the dead owner fail over) and again after it
    is declared: at least 99% hit through each survivor (with --replicas 1 about 80%: printed).
  - partitions: the scenarios of test_partition.py with --replicas 2: no stale read, and at least
    as many untouched keys kept as with --replicas 1 in the same run (both printed).
"""
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faultnet  # noqa: E402
import test_partition  # noqa: E402

KEYS = ["rkey:%d" % i for i in range(5000)]
R2 = ["--replicas", "2"]


def hit_shares(client, nodes, keys):
    return {nd.i: sum(v is not None for i in range(0, len(keys), 100)
                      for v in (client.get_many(nd, keys[i:i + 100]) or {}).values()) / len(keys)
            for nd in nodes}


def kill_one(extra, seed):
    rng = random.Random(seed)
    cluster = faultnet.Cluster(5, extra)
    try:
        cluster.start()
        client = faultnet.Client(cluster)
        client.phase = "load"
        for k in KEYS:
            assert client.set(rng.choice(cluster.nodes), k) == "ok"
        victim = cluster.node(3)
        survivors = [nd for nd in cluster.nodes if nd is not victim]
        victim.kill()
        client.phase = "killed"
        early = hit_shares(client, survivors, KEYS)
        cluster.wait_views({victim.name: "dead"}, "the survivors to declare n3 dead",
                           nodes=survivors)
        client.phase = "declared"
        late = hit_shares(client, survivors, KEYS)
        stale = faultnet.stale_reads(client.history)
        client.close()
        return early, late, stale
    except Exception:
        print(cluster.logs())
        raise
    finally:
        cluster.close()


def test_kill_costs_no_hits():
    e1, l1, _ = kill_one([], seed=5)
    e2, l2, stale = kill_one(R2, seed=5)
    fmt = lambda d: " ".join("n%d=%.1f%%" % (i, 100 * s) for i, s in sorted(d.items()))  # noqa
    print("    --replicas 1: hits after kill -9 of n3: before declared %s; after %s" % (fmt(e1),
                                                                                      fmt(l1)))
    print("    --replicas 2: hits after kill -9 of n3: before declared %s; after %s" % (fmt(e2),
                                                                                      fmt(l2)))
    assert not stale, "%d stale reads" % len(stale)
    assert min(e2.values()) >= 0.99 and min(l2.values()) >= 0.99, (e2, l2)


def compare(small, seed, floor):
    stale1, kept1, _ = test_partition.partition(small, seed)
    stale2, kept2, lines = test_partition.partition(small, seed, R2)
    print("\n".join("    " + x for x in lines))
    side = [i for i in kept2 if i not in small] if len(small) > 1 else list(kept2)
    k1 = min(kept1[i] for i in side)
    k2 = min(kept2[i] for i in side)
    print("    untouched keys kept (lowest node of the side that kept serving): --replicas 1 "
          "%.1f%%, --replicas 2 %.1f%%" % (100 * k1, 100 * k2))
    assert not stale2, "%d stale reads with --replicas 2" % len(stale2)
    assert not stale1, "%d stale reads with --replicas 1" % len(stale1)
    assert k2 >= floor and k2 > k1, (k1, k2)


def test_one_node_cut_off():
    compare([5], seed=11, floor=0.70)


def test_two_of_five_cut_off():
    compare([4, 5], seed=23, floor=0.55)


if __name__ == "__main__":
    faultnet.run_tests([("kill -9 with --replicas 2: no hits lost", test_kill_costs_no_hits),
                        ("one node cut off, --replicas 2", test_one_node_cut_off),
                        ("two of five cut off, --replicas 2", test_two_of_five_cut_off)])
