#!/usr/bin/python3
"""Binary protocol clients in a cluster and through --proxy (issue 12): three bin/shoal nodes
joined by gossip on 127.0.0.1. Binary sets through one node land on exactly the owner the
ketama ring picks (bin/shoal-ring); a multi-get of quiet gets and a Noop through another node
answers in request order with each request's opaque; CAS values read through one node work
through another; memccapable -b passes through a routing node; Dalli's transcript
(compat/dalli_transcript.rb) through a routing node, and through a --proxy node in front of two
memcached, is memcached's own (but for the stats of the node it talks to).

Every wait polls with a deadline; every process started is killed at the end, also on failure."""
import os
import shutil
import struct
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, HERE)
import harness  # noqa: E402
from harness import Failure, expect, expect_eq  # noqa: E402
from test_routing import Node, all_alive, owners  # noqa: E402
from test_binary_differential import (GET, GETKQ, NOOP, SET, SETQ, DELETE, INCR, packets, pkt,  # noqa: E402
                                      set_ext, incr_ext, read_packet)

DALLI = os.path.join(HERE, "..", "compat", "dalli_transcript.rb")
MEMCCAPABLE = "/usr/bin/memccapable"


def exchange(node, data, until_opaque):
    """Sends data, reads packets until the one with opaque until_opaque; returns them."""
    got = []
    with node.connect(timeout=10) as c:
        c.send(data)
        while True:
            p = read_packet(c)
            got.append(p)
            if p[7] == until_opaque:
                return got


def test_sets_land_on_owners(nodes):
    keys = [b"bk%d" % i for i in range(60)]
    a, b, _ = nodes
    got = exchange(a, b"".join(pkt(SETQ, k, set_ext(i), k) for i, k in enumerate(keys)) +
                   pkt(NOOP, opaque=7), 7)
    expect_eq([p[5] for p in got], [0], "only the Noop answers quiet sets")
    owner = owners(keys, nodes)
    for k in keys:
        held = [n.name for n in nodes if n.local_get(k)]
        expect_eq(held, [owner[k].name], "nodes holding %s" % k)
    expect(len({owner[k].name for k in keys}) == 3, "keys on every node")
    # a multi-get as Dalli sends it, through another node: request order, each opaque
    wanted = keys[::5] + [b"bk-missing"]
    got = exchange(b, b"".join(pkt(GETKQ, k, opaque=100 + i) for i, k in enumerate(wanted)) +
                   pkt(NOOP, opaque=1), 1)
    expect_eq([(p[7], p[9][4:4 + p[2]]) for p in got[:-1]],
              [(100 + i, k) for i, k in enumerate(wanted[:-1])], "hits in request order")
    expect_eq([p[9][:4] for p in got[:-1]],
              [struct.pack(">I", keys.index(k)) for k in wanted[:-1]], "flags")


def test_cas_across_nodes(nodes):
    a, b, c = nodes
    got = exchange(a, pkt(SET, b"bcas", set_ext(), b"one", opaque=1), 1)
    cas = got[0][8]
    expect(cas != 0, "a set returns a CAS")
    got = exchange(b, pkt(GET, b"bcas", opaque=2), 2)
    expect_eq((got[0][5], got[0][8], got[0][9][4:]), (0, cas, b"one"), "get through b")
    got = exchange(c, pkt(SET, b"bcas", set_ext(), b"two", cas=cas + 1000, opaque=3) +
                   pkt(SET, b"bcas", set_ext(), b"two", cas=cas, opaque=4) +
                   pkt(DELETE, b"bcas", cas=cas, opaque=5) +
                   pkt(INCR, b"bctr", incr_ext(1, 40, 0), opaque=6) +
                   pkt(INCR, b"bctr", incr_ext(2), opaque=7), 7)
    expect_eq([(p[7], p[5]) for p in got], [(3, 2), (4, 0), (5, 2), (6, 0), (7, 0)],
              "stale CAS refused, right one stored, delete of the old version refused")
    expect_eq(struct.unpack(">Q", got[-1][9])[0], 42, "incr created at 40, then +2")


def test_bad_input_closes(nodes):
    """Malformed binary input on a routing node closes the connection (after answering what
    came before), never hangs it: a bad magic behind requests in flight to other owners, and a
    protocol error."""
    a = nodes[0]
    for tail, what in ((b"\x00" * 24, "bad magic"), (pkt(GET, b"k", b"1234"), "get with extras")):
        with a.connect(timeout=10) as c:
            c.send(b"".join(pkt(SET, b"bz%d" % i, set_ext(), b"v", opaque=i) for i in range(40)) +
                   tail)
            got, status = c.read_until(lambda b: False, timeout=10)
            expect_eq(status, "eof", "%s: the connection closes" % what)
            stored = [p for p in packets(got) if p[0] == 0x81 and p[5] == 0]
            expect_eq(len(stored), 40, "%s: the sets before it answered" % what)


def test_memccapable(nodes):
    if not os.access(MEMCCAPABLE, os.X_OK):
        raise Failure("no %s" % MEMCCAPABLE)
    out = subprocess.run([MEMCCAPABLE, "-b", "-h", "127.0.0.1", "-p", str(nodes[1].port),
                          "-t", "5"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, timeout=120).stdout.decode(errors="replace")
    expect_eq(out.count("[pass]"), 27, "memccapable -b passes: %s" % out[-600:])


def dalli(port):
    proc = subprocess.run(["ruby", DALLI, "127.0.0.1:%d" % port], stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    return [line for line in proc.stdout.decode(errors="replace").splitlines()
            if not line.startswith("stats")]  # the stats of the node it talks to


def dalli_reference():
    ref = harness.Server(harness.REFERENCE_BIN)
    try:
        return dalli(ref.port)
    finally:
        ref.stop()


def compare_transcripts(got, want):
    expect(len(want) > 60, "memcached's transcript: %d lines" % len(want))
    for g, w in zip(got, want):
        expect_eq(g, w, "call")
    expect_eq(len(got), len(want), "calls")


def test_dalli_through_a_node(nodes):
    if shutil.which("ruby") is None:
        raise Failure("no ruby (apt-get install ruby ruby-dalli)")
    compare_transcripts(dalli(nodes[2].port), dalli_reference())


def test_dalli_through_proxy(_nodes):
    if shutil.which("ruby") is None:
        raise Failure("no ruby (apt-get install ruby ruby-dalli)")
    backends = [harness.Server(harness.REFERENCE_BIN) for _ in range(2)]
    servers = ",".join("127.0.0.1:%d:1" % s.port for s in backends)
    proxy = harness.Server(args=["--proxy", "--servers", servers])
    try:
        compare_transcripts(dalli(proxy.port), dalli_reference())
        # the values are on the memcached servers, not in the proxy
        with backends[0].connect() as c0, backends[1].connect() as c1:
            counts = [int(c.request(b"stats\r\n").split(b"STAT total_items ")[1].split(b"\r")[0])
                      for c in (c0, c1)]
        expect(all(n > 10 for n in counts), "items stored on both backends: %s" % counts)
    finally:
        proxy.stop()
        for s in backends:
            s.stop()


def main():
    suite = harness.Suite("test_binary_routing")
    try:
        a = Node("a")
        b = Node("b", join=a)
        c = Node("c", join=a)
        nodes = [a, b, c]
        all_alive(nodes, ["a", "b", "c"])
    except (harness.ServerError, Failure) as e:
        suite.fail("three nodes join", str(e))
        suite.finish()
    for name, fn in [("binary sets land on their owners; quiet multi-get in order",
                      test_sets_land_on_owners),
                     ("CAS, delete and incr across nodes", test_cas_across_nodes),
                     ("bad input closes the connection, after what came before",
                      test_bad_input_closes),
                     ("memccapable -b through a routing node", test_memccapable),
                     ("Dalli through a routing node: memcached's transcript",
                      test_dalli_through_a_node),
                     ("Dalli through --proxy to two memcached: memcached's transcript",
                      test_dalli_through_proxy)]:
        suite.run(name, fn, nodes)
    suite.finish()


if __name__ == "__main__":
    main()
