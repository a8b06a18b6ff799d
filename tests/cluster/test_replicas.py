#!/usr/bin/python3
"""Replication (--replicas 2; issue 13, cluster/README.md "Replication") on real bin/shoal
processes on 127.0.0.1: every key on its two owners with the same value and CAS; a kill -9 costs
no hits, before the death is declared (reads fail over within the backend timeout) and after;
a client's gets token stays good at the replica; a restarted node is refilled by one pass of
reads (read repair), and the second pass finds its keys locally; deletes reach every owner.

Short gossip timings keep it fast; every wait polls with a deadline; every process started is
killed at the end, also on failure."""
import os
import re
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster_nodes import (Node, all_see, exchange, get, local_value, main,  # noqa: E402
                           set_, wait_until)

REPLICAS = ["--replicas", "2", "--warmup", "0"]


def stats(port, group=b""):
    text = exchange(port, b"stats " + group + b"\r\n", (b"END\r\n", b"ERROR\r\n")).decode()
    return {f[1]: f[2] for f in (line.split(" ") for line in text.split("\r\n"))
            if len(f) == 3 and f[0] == "STAT"}


def local_cas(node, key):
    reply = exchange(node.port, b"mg %s c O.shoal-warmup\r\n" % key, (b"\r\n",), hello=True)
    m = re.match(rb"HD c(\d+)", reply)
    return int(m.group(1)) if m else None


def holders(nodes, key):
    return [n for n in nodes if local_value(n.port, key) is not None]


def cluster(names, extra=REPLICAS):
    first = Node(names[0], extra=extra).start()
    join = "127.0.0.1:%d" % first.gport
    nodes = [first] + [Node(n, join, extra).start() for n in names[1:]]
    for n in nodes:
        all_see(nodes, n.name, "alive")
    return nodes


def kill(node):
    node.proc.send_signal(signal.SIGKILL)
    node.proc.wait()


def hit_share(node, keys, value):
    return sum(get(node.port, k) == value for k in keys) / len(keys)


def test_two_copies_same_cas_and_deletes():
    nodes = cluster(["ra", "rb", "rc"])
    a = nodes[0]
    keys = [b"two-%d" % i for i in range(150)]
    for k in keys:
        set_(a.port, k, b"v1")
    for k in keys:
        h = holders(nodes, k)
        assert len(h) == 2, "%s on %s" % (k, [n.name for n in h])
        cas = {local_cas(n, k) for n in h}
        assert len(cas) == 1, "%s: CAS %s differ between its copies" % (k, cas)
    # incr, append and touch are copied as the item they leave
    set_(a.port, b"two-n", b"41")
    assert exchange(a.port, b"incr two-n 1\r\n", (b"\r\n",)) == b"42\r\n"
    assert exchange(a.port, b"append two-0 0 0 1\r\n!\r\n", (b"\r\n",)) == b"STORED\r\n"
    assert sorted(local_value(n.port, b"two-n") for n in holders(nodes, b"two-n")) == [b"42"] * 2
    assert sorted(local_value(n.port, b"two-0") for n in holders(nodes, b"two-0")) == [b"v1!"] * 2
    # deletes, classic and meta (also with a base64 key), reach both owners
    assert exchange(a.port, b"delete two-1\r\n", (b"\r\n",)) == b"DELETED\r\n"
    assert exchange(a.port, b"md dHdvLTI= b\r\n", (b"\r\n",)) == b"HD\r\n"  # "two-2"
    for k in (b"two-1", b"two-2"):
        assert holders(nodes, k) == [], "%s still held after its delete" % k
        for n in nodes:
            assert get(n.port, k) is None
    writes = int(stats(a.port, b"proxy")["replica_writes"])
    assert writes >= 150, writes


def test_kill_costs_no_hits_and_cas_survives():
    nodes = cluster(["ka", "kb", "kc", "kd", "ke"])
    keys = [b"kill-%d" % i for i in range(1000)]
    a = nodes[0]
    for k in keys:
        set_(a.port, k, b"v")
    victim = nodes[2]
    mine = [k for k in keys if victim in holders(nodes, k)]
    token_key = mine[0]
    got = exchange(a.port, b"gets %s\r\n" % token_key, (b"END\r\n",))
    token = int(got.split(b"\r\n")[0].split(b" ")[4])
    survivors = [n for n in nodes if n is not victim]
    kill(victim)
    # before the death is declared: reads to the dead owner fail over
    early = [hit_share(n, keys, b"v") for n in survivors]
    all_see(survivors, victim.name, "dead")
    late = [hit_share(n, keys, b"v") for n in survivors]
    print("hits through each survivor after kill -9: %s before the death was declared, %s after"
          % (["%.3f" % x for x in early], ["%.3f" % x for x in late]))
    assert min(early) >= 0.99 and min(late) >= 0.99, (early, late)
    # writes right after the kill: the dead primary's keys are written at the next owner
    failed = sum(exchange(survivors[0].port, b"set %s 0 0 2\r\nv2\r\n" % k, (b"\r\n",))
                 != b"STORED\r\n" for k in mine if k != token_key)
    print("sets of the killed node's %d keys through a survivor: %d failed" % (len(mine) - 1,
                                                                               failed))
    assert failed == 0, failed
    assert all(get(n.port, k) == b"v2" for n in survivors for k in mine[1:20])
    # the gets token taken from the primary is good at the replica
    reply = exchange(a.port, b"cas %s 0 0 1 %d\r\nw\r\n" % (token_key, token), (b"\r\n",))
    assert reply == b"STORED\r\n", "cas with the token from before the kill: %s" % reply
    assert get(survivors[1].port, token_key) == b"w"


def test_restart_is_refilled_by_reads():
    nodes = cluster(["sa", "sb", "sc"])
    a, b, c = nodes
    keys = [b"refill-%d" % i for i in range(300)]
    for k in keys:
        set_(a.port, k, b"r")
    primary_of_c = [k for k in keys if local_value(c.port, k) is not None]
    kill(c)
    all_see([a, b], "sc", "dead")
    c.start()
    for n in nodes:
        all_see(nodes, n.name, "alive")  # sc's own view too: its ring decides its lookups
    assert all(local_value(c.port, k) is None for k in primary_of_c), "c came back empty"
    # a's and b's connections to sc wait out their reconnect backoff (up to 1 s) after sc's
    # death; until then their reads of sc's keys fail over to the other owner, which repairs
    # nothing. A pass that failed over nowhere went to sc for every key sc is primary for.
    def full_pass(node):
        before = int(stats(node.port, b"proxy")["failover_reads"])
        assert hit_share(node, keys, b"r") == 1.0
        return int(stats(node.port, b"proxy")["failover_reads"]) == before
    wait_until(lambda: full_pass(a), "a pass through a without failover")
    repairs = int(stats(c.port, b"proxy")["read_repairs"])
    primary = [k for k in primary_of_c if local_value(c.port, k) is not None]
    print("after one pass through a: %d read repairs on sc, which now holds %d of its keys"
          % (repairs, len(primary)))
    assert repairs > 0 and len(primary) == repairs
    # the next pass (through b) finds them at sc: sc's own hits, no more repairs
    hits_before = int(stats(c.port)["get_hits"])
    wait_until(lambda: full_pass(b), "a pass through b without failover")
    assert int(stats(c.port, b"proxy")["read_repairs"]) == repairs, "second pass repaired again"
    assert int(stats(c.port)["get_hits"]) - hits_before >= len(primary)


def test_paused_owner_is_not_written_around():
    """A primary that only stops answering (SIGSTOP) may come back with everything it held, so
    its keys' writes fail (SERVER_ERROR) instead of going to the next owner, until gossip
    decides; reads fail over meanwhile; after SIGCONT no read returns an old value."""
    nodes = cluster(["pa", "pb", "pc"])
    a, b, c = nodes
    keys = [b"pause-%d" % i for i in range(120)]
    for k in keys:
        set_(a.port, k, b"old")
    c.proc.send_signal(signal.SIGSTOP)
    try:
        k = None
        for key in keys:
            # a key whose primary is c: its write fails, and nothing was written around c
            reply = exchange(a.port, b"set %s 0 0 3\r\nnew\r\n" % key, (b"\r\n",))
            if reply != b"STORED\r\n":
                assert reply.startswith(b"SERVER_ERROR"), reply
                k = key
                break
        assert k is not None, "no write went to the paused node"
        assert get(a.port, k) in (b"old", None), "a read during the pause"
    finally:
        c.proc.send_signal(signal.SIGCONT)
    for n in nodes:
        all_see(nodes, n.name, "alive")
    for n in nodes:
        assert get(n.port, k) in (b"old", b"new", None)


if __name__ == "__main__":
    sys.exit(main([(k, v) for k, v in globals().items() if k.startswith("test_")]))
