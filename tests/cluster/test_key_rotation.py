#!/usr/bin/python3
"""Cluster secret rotation with SIGHUP only, on three real bin/shoal processes (issue 11, section
4; the procedure is in man/shoal.1 and cluster/gossip/README.md, "Key rotation").

Three nodes share secret A, each from its own file. Rotation to B, one node at a time, SIGHUP
after each file change: 1) "A, B" on every node (sign A, accept both); 2) "B, A" (sign B, accept
both); 3) "B" alone. After every single SIGHUP: the node's `stats cluster` shows the keys it was
given, and while traffic flows no node drops a packet as unauthenticated, suspects anyone or
declares anyone dead. The logs name key ids, never a secret. Afterwards a node that holds only A
cannot join: it never enters anyone's view, and its packets are counted as unauthenticated.

Slow probes (not the fast timings of the other cluster tests), so that a loaded machine does not
make a probe fail and a suspicion appear for reasons other than the keys. Every wait
polls with a deadline; every process started is killed at the end, also on failure."""
import hashlib
import hmac
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster_nodes import FAST, Node, cluster_stats, main, tmp, wait_until  # noqa: E402

SECRET_A = "a1" * 32
SECRET_B = "b2" * 32
# Slow probes: what the test watches for is a rotation that makes nodes drop each other's packets
# (counted as unauthenticated, then suspected); a probe that merely waits on a loaded machine
# (a load average of 7 on 2 cores suspected one node once with the default 80 ms) must not
# look like one.
SLOW_PROBES = ["--gossip-join-retry", "200", "--gossip-probe-timeout", "450",
               "--gossip-interval", "500"]
nodes = []


def node(name, secret_path, join=None):
    """A Node with slow probes (cluster_nodes' FAST timings taken out)."""
    n = Node(name, join=join, extra=["--cluster-secret-file", secret_path] + SLOW_PROBES)
    at = n.args.index(FAST[0])
    assert n.args[at:at + len(FAST)] == FAST, n.args
    del n.args[at:at + len(FAST)]
    n.secret = secret_path
    return n


def key_id(secret_hex):
    """The public key id of a secret (cluster/gossip/crypto/README.md: HKDF-SHA-256)."""
    prk = hmac.new(b"shoal-cluster-v1", bytes.fromhex(secret_hex), hashlib.sha256).digest()
    return hmac.new(prk, b"shoal gossip key id\x01", hashlib.sha256).digest()[:4].hex()


def write_secrets(path, secrets):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.write(fd, "".join(s + "\n" for s in secrets).encode())
    os.close(fd)


def stats(node):
    return cluster_stats(node.port)


WATCHED = ("cluster_dropped_unauthenticated", "cluster_suspicions", "cluster_deaths_declared")


def snapshot():
    return [{k: int(stats(n)[0][k]) for k in WATCHED} for n in nodes]


def traffic_flows_cleanly(before, what):
    """Waits until every node received 8 more packets (a node that cannot check a peer's packets
    drops the first one it gets); then nothing may have been dropped as
    unauthenticated, suspected or declared dead, and everyone sees all three alive."""
    start = [int(stats(n)[0]["cluster_packets_received"]) for n in nodes]
    wait_until(lambda: all(int(stats(n)[0]["cluster_packets_received"]) >= s + 8
                           for n, s in zip(nodes, start)), "gossip traffic " + what)
    after = snapshot()
    assert after == before, "%s: counters went from %s to %s" % (what, before, after)
    for n in nodes:
        _, members = stats(n)
        assert all(members.get(m.name) == "alive" for m in nodes), (what, n.name, members)


def rotate_step(secrets, what):
    expect_signing = key_id(secrets[0])
    for n in nodes:
        before = snapshot()
        write_secrets(n.secret, secrets)
        n.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: stats(n)[0]["cluster_signing_key"] == expect_signing and
                   int(stats(n)[0]["cluster_accepted_keys"]) == len(secrets),
                   "%s to reload (%s)" % (n.name, what))
        traffic_flows_cleanly(before, "%s after %s reloaded" % (what, n.name))


def test_rotate_a_to_b_with_sighup_only():
    seed = None
    for i in range(1, 4):
        path = os.path.join(tmp.name, "n%d.secret" % i)
        write_secrets(path, [SECRET_A])
        join = "127.0.0.1:%d" % seed.gport if seed else None
        n = node("n%d" % i, path, join).start()
        nodes.append(n)
        seed = seed or n
    wait_until(lambda: all(all(stats(n)[1].get(m.name) == "alive" for m in nodes)
                           for n in nodes), "3 alive everywhere")
    for n in nodes:
        assert stats(n)[0]["cluster_signing_key"] == key_id(SECRET_A)

    rotate_step([SECRET_A, SECRET_B], "step 1 (add B second)")
    rotate_step([SECRET_B, SECRET_A], "step 2 (B first)")
    rotate_step([SECRET_B], "step 3 (drop A)")

    for n in nodes:
        text = n.log_text()
        assert "reloaded" in text and key_id(SECRET_B) in text, text
        assert SECRET_A not in text.lower() and SECRET_B not in text.lower(), text


def test_node_with_only_the_old_secret_cannot_join():
    path = os.path.join(tmp.name, "old.secret")
    write_secrets(path, [SECRET_A])
    seed = nodes[0]
    dropped = int(stats(seed)[0]["cluster_dropped_unauthenticated"])
    old = node("old", path, "127.0.0.1:%d" % seed.gport).start()
    # Its join requests reach the seed and are dropped there, again and again.
    wait_until(lambda: int(stats(seed)[0]["cluster_dropped_unauthenticated"]) >= dropped + 3,
               "the old-secret node's packets dropped at the seed")
    for n in nodes:
        assert "old" not in stats(n)[1], (n.name, stats(n)[1])
    counters, members = stats(old)
    assert set(members) == {"old"} and counters["cluster_alive"] == "1", members
    old.proc.kill()


def test_bad_file_on_sighup_keeps_the_keys():
    n = nodes[0]
    with open(n.secret, "w") as f:
        f.write("not hex\n")
    n.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "kept the keys in use" in n.log_text(), "the failed reload logged")
    assert stats(n)[0]["cluster_signing_key"] == key_id(SECRET_B)
    assert n.proc.poll() is None


if __name__ == "__main__":
    sys.exit(main([
        ("test_rotate_a_to_b_with_sighup_only", test_rotate_a_to_b_with_sighup_only),
        ("test_node_with_only_the_old_secret_cannot_join",
         test_node_with_only_the_old_secret_cannot_join),
        ("test_bad_file_on_sighup_keeps_the_keys", test_bad_file_on_sighup_keeps_the_keys),
    ]))
