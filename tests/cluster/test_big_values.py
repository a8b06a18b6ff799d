#!/usr/bin/python3
"""Large values through a cluster node that forwards them to their owner (issue 4): two
bin/shoal nodes at -I 32m joined by gossip on 127.0.0.1. A 20 MB value set through the node
that does not own its key lands on the owner and reads back whole through either node, alone
and in a multi-get; a 40 MB one is refused as memcached -I 32m refuses it (the owner's old value
dropped, the connection still open).

Every wait polls with a deadline; every process started is killed at the end, also on failure."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Failure, expect, expect_eq, short  # noqa: E402
from test_routing import Node, all_alive, owners  # noqa: E402
from test_proxy import BIG, HUGE, big_value  # noqa: E402

BIG_I = ["-I", "32m"]
# nodes also get a long backend timeout: the tests are about sizes, and a loaded machine can
# stall a 20 MB transfer past the default second
NODE_ARGS = BIG_I + ["--backend-timeout", "20000"]


def key_owned_by(owner, nodes, prefix):
    for i in range(1000):
        k = b"%s%d" % (prefix, i)
        if owners([k], nodes)[k] is owner:
            return k
    raise Failure("no key of %s's" % owner.name)


def test_forwarded_big_value(nodes):
    a, b = nodes
    key = key_owned_by(b, nodes, b"bigfw")
    near = key_owned_by(a, nodes, b"bignear")
    big = big_value(BIG, 7)
    want = b"VALUE %s 9 %d\r\n" % (key, BIG) + big + b"\r\n"
    with a.connect(timeout=30) as c:
        expect_eq(c.request(b"set %s 9 0 %d\r\n" % (key, BIG) + big + b"\r\n"), b"STORED\r\n")
        expect_eq(c.request(b"set %s 0 0 2\r\nhi\r\n" % near), b"STORED\r\n")
        expect(c.request(b"get %s\r\n" % key) == want + b"END\r\n", "get through a")
        expect(c.request(b"get %s %s\r\n" % (near, key))
               == b"VALUE %s 0 2\r\nhi\r\n" % near + want + b"END\r\n", "multi-get through a")
    with b.connect(timeout=30) as c:
        expect(c.request(b"get %s\r\n" % key) == want + b"END\r\n", "get through b")
    expect(b.local_get(key) == want, "stored on its owner b")
    expect_eq(a.local_get(key), b"", "not on a")


def test_forwarded_too_large(nodes):
    a, b = nodes
    key = key_owned_by(b, nodes, b"hugefw")
    huge = big_value(HUGE, 8)
    reference = harness.Server(harness.REFERENCE_BIN, BIG_I)
    try:
        case = (b"set %s 0 0 3\r\nold\r\nset %s 0 0 %d\r\n" % (key, key, HUGE) + huge
                + b"\r\nget %s\r\n" % key)
        with a.connect(timeout=30) as c, reference.connect(timeout=30) as r:
            want = r.request(case)
            got = c.request(case)
            expect(got == want, "through a %s, memcached %s" % (short(got), short(want)))
            expect_eq(c.request(b"set %s 0 0 2\r\nok\r\nget %s\r\n" % (key, key)),
                      b"STORED\r\nVALUE %s 0 2\r\nok\r\nEND\r\n" % key, "the connection works")
    finally:
        reference.stop()


def main():
    suite = harness.Suite("test_big_values")
    try:
        a = Node("a", extra=NODE_ARGS)
        b = Node("b", join=a, extra=NODE_ARGS)
        nodes = [a, b]
        all_alive(nodes, ["a", "b"])
    except (harness.ServerError, Failure) as e:
        suite.fail("two nodes join", str(e))
        suite.finish()
    for name, fn in [("a 20 MB value forwarded to its owner", test_forwarded_big_value),
                     ("a 40 MB value refused as memcached -I 32m", test_forwarded_too_large)]:
        suite.run(name, fn, nodes)
    suite.finish()


if __name__ == "__main__":
    main()
