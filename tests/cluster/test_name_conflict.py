#!/usr/bin/python3
"""Two real bin/shoal processes started with the same --node-name (issue 11, section 3): the
member that held the name keeps it (its data address, its ring slot) on every node, the newcomer
stays out (alone: its join is refused), and the seed logs the conflict. Before, the two outbid
each other's incarnation for ever and the slot flipped between the two hosts.

Short gossip timings keep it fast; every wait polls with a deadline; every process started is
killed at the end, also on failure."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster_nodes import DEADLINE, Node, cluster_stats, main, wait_until  # noqa: E402


def stats(port):
    return cluster_stats(port, addresses=True)


def test_second_node_with_a_taken_name_stays_out():
    seed = Node("n1").start()
    join = "127.0.0.1:%d" % seed.gport
    first = Node("dup", join=join).start()
    third = Node("n3", join=join).start()
    held = "127.0.0.1:%d" % first.port
    members = [seed, first, third]
    wait_until(lambda: all(stats(n.port)[1].get(m.name) == (
        "127.0.0.1:%d" % m.port, "alive") for n in members for m in members),
        "3 alive everywhere")

    newcomer = Node("dup", join=join).start()
    # The seed refuses its join (and answers the name's holder, at the holder's address, not
    # the newcomer): the newcomer keeps asking, alone.
    wait_until(lambda: int(stats(seed.port)[0]["cluster_name_conflicts"]) >= 3,
               "the conflict noticed at the seed")
    # Keep watching while plenty of gossip (pings, push-pulls every 2 s) goes round.
    start = int(stats(seed.port)[0]["cluster_packets_received"])
    seen = set()

    def watched_long_enough():
        for n in members:
            seen.add(stats(n.port)[1].get("dup"))
        return int(stats(seed.port)[0]["cluster_packets_received"]) >= start + 150
    wait_until(watched_long_enough, "gossip traffic", limit=2 * DEADLINE)
    assert seen == {(held, "alive")}, seen
    assert "same --node-name" in seed.log_text(), seed.log_text()
    assert stats(newcomer.port)[1] == {"dup": ("127.0.0.1:%d" % newcomer.port, "alive")}


if __name__ == "__main__":
    sys.exit(main([("test_second_node_with_a_taken_name_stays_out",
                    test_second_node_with_a_taken_name_stays_out)]))
