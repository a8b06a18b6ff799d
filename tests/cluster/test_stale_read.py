#!/usr/bin/python3
"""No stale reads after a partition heals (issue 4; cluster/README.md, "Stale reads after a
partition heals"), with real bin/shoal processes on 127.0.0.1.

Three nodes a, b, c. A key K that a owns holds "old". a is stopped (SIGSTOP: its gossip and its
workers freeze); b and c declare it dead; "new" is written for K through b (whose ring no longer
has a); a is continued (SIGCONT) and everybody sees it alive again. Then K read through every
node, and from a's own store, is "new" or a miss, never "old"; a counts a flush and logs it.

Without routing in bin/shoal every node stores locally: K then lands on a because it is written
through a, and the test still checks a's own store. Short gossip timings keep it fast; every wait
polls with a deadline; every process started is killed at the end, also on failure."""
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster_nodes import Node, all_see, cluster_stats, get, main, set_, wait_until  # noqa: E402


def test_no_stale_read_after_heal():
    a = Node("a").start()
    join = "127.0.0.1:%d" % a.gport
    b = Node("b", join).start()
    c = Node("c", join).start()
    nodes = [a, b, c]
    for n in nodes:
        all_see(nodes, n.name, "alive")

    # A key a owns: written through a, found in a's own store.
    key = None
    for i in range(300):
        k = b"stale-%d" % i
        set_(a.port, k, b"old")
        if get(a.port, k, hello=True) == b"old":
            key = k
            break
    assert key, "no key of 300 is stored on a"
    # With routing, b and c read K from a; without, from their own (empty) stores.
    routed = get(b.port, key) == b"old"
    print("routing in bin/shoal: %s; key %s" % ("yes" if routed else "no", key.decode()))
    if routed:
        assert get(c.port, key) == b"old"

    a.proc.send_signal(signal.SIGSTOP)
    try:
        all_see([b, c], "a", "dead")
        set_(b.port, key, b"new")
    finally:
        a.proc.send_signal(signal.SIGCONT)
    all_see(nodes, "a", "alive")

    for n in nodes:
        got = get(n.port, key)
        assert got in (b"new", None), "%s through %s" % (got, n.name)
    mine = get(a.port, key, hello=True)
    assert mine in (b"new", None), "a's own store still has %s" % mine

    counters, _ = cluster_stats(a.port)
    assert int(counters["cluster_rejoin_flushes"]) >= 1, counters
    wait_until(lambda: "cluster: flushed every item" in a.log_text(), "a to log its flush")
    for line in a.log_text().splitlines():
        if "cluster: flushed every item" in line:
            print("a: " + line)
    # The cluster moved a to a new epoch, and the others took it back only at that epoch.
    assert int(counters["cluster_incarnation"]) >> 16 > 0, counters

    # Written after the heal: kept (the flush dropped only what came before it).
    set_(a.port, b"after-heal", b"kept")
    assert get(a.port, b"after-heal") == b"kept"

    # Under make asan / tsan: the fence (gossip thread) and the workers raised no report.
    for n in nodes:
        text = n.log_text()
        for bad in ("Sanitizer", "runtime error"):
            assert bad not in text, "%s's log: %s" % (n.name, text[text.index(bad) - 200:][:2000])



if __name__ == "__main__":
    sys.exit(main([(k, v) for k, v in globals().items()
                   if k.startswith("test_") and callable(v)]))
