#!/usr/bin/python3
"""Every node a router: three bin/shoal processes joined with --join (short gossip timings) on
127.0.0.1. A key set through one node is read through every other and is stored on exactly the
node the ketama ring of the member names picks (bin/shoal-ring); multi-gets across owners come
back in the client's key order; memccapable -a passes through any node; flush_all empties every
node; a --proxy node in the cluster stores nothing and is on nobody's ring. After kill -9 of a
node under load, only its keys miss or error; once gossip has declared it dead, every key works
again on the remaining owners; started again, it is routed to again.

Every wait polls with a deadline; every process started is killed at the end, also on failure."""
import os
import random
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import harness  # noqa: E402
from harness import Failure, expect, expect_eq, short  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN_DIR = os.environ.get("BIN_DIR", os.path.join(ROOT, "bin"))
RING = os.path.join(BIN_DIR, "shoal-ring")
MEMCCAPABLE = "/usr/bin/memccapable"
HELLO = b"me .shoal-forwarded\r\n"
WARMUP_OPAQUE = b"O.shoal-warmup"  # server/route_conn.c: marks warm-up's own requests
DEADLINE = 15.0
# Short periods, but a suspicion lasts long enough (>= 0.4 s) that a node slowed down by a busy
# machine is not declared dead for a moment: a flapping member would move keys between owners
# in the middle of a case.
FAST = ["--gossip-interval", "100", "--gossip-probe-timeout", "80",
        "--gossip-suspicion-mult", "4", "--gossip-suspicion-max-mult", "4",
        "--gossip-join-retry", "200", "--gossip-pushpull-interval", "2000",
        "--gossip-leave-linger", "300"]


def free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(cond, what, limit=DEADLINE):
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.05)
    raise Failure("timed out waiting for %s" % what)


class Node(harness.Server):
    def __init__(self, name, join=None, extra=()):
        self.name = name
        self.gport = free_udp_port()
        args = ["-t", "2", "--node-name", name, "--gossip-port", str(self.gport)] + FAST
        if join:
            args += ["--join", "127.0.0.1:%d" % join.gport]
        super().__init__(args=args + list(extra))

    def members(self):
        with self.connect() as c:
            text = c.request(b"stats cluster\r\n")
        states = {}
        for line in text.split(b"\r\n"):
            f = line.split(b" ")
            if len(f) >= 6 and f[1] == b"cluster_member":
                states[f[2].decode()] = f[4].decode()
        return states

    def cluster_stat(self, name):
        """One counter of `stats cluster`, as an int (0 when absent)."""
        with self.connect() as c:
            text = c.request(b"stats cluster\r\n")
        for line in text.split(b"\r\n"):
            f = line.split(b" ")
            if len(f) == 3 and f[1] == name.encode():
                return int(f[2])
        return 0

    def local_mg(self, key, flags):
        """This node's own answer to `mg key flags`: a forwarded connection runs locally, and
        the warm-up opaque marks the mg as a lookup, which warm-up never passes on."""
        with self.connect() as c:
            got = c.request(HELLO + b"mg " + key + b" " + flags + b" " + WARMUP_OPAQUE + b"\r\n")
        expect(got.startswith(b"EN\r\n"), "hello answered EN: %s" % short(got))
        return got[4:]

    def local_get(self, key):
        """The key as stored on this node itself: b"" when missing, else the VALUE block."""
        with self.connect() as c:
            got = c.request(HELLO + b"mg " + key + b" v f " + WARMUP_OPAQUE + b"\r\n")
        expect(got.startswith(b"EN\r\n"), "hello answered EN: %s" % short(got))
        got = got[4:]
        if got.startswith(b"EN"):
            return b""
        head, _, rest = got.partition(b"\r\n")
        f = head.split(b" ")
        expect(f[0] == b"VA", "mg reply %s" % short(got))
        return b"VALUE %s %s %s\r\n%s" % (key, f[2][1:], f[1], rest)


def gossip_noise(nodes):
    """Suspicions raised so far on every node: a failed case with a non-zero count may have
    seen a member flap (keys moving between owners), which says where to look."""
    out = []
    for n in nodes:
        with n.connect() as c:
            text = c.request(b"stats cluster\r\n")
        for line in text.split(b"\r\n"):
            if line.startswith(b"STAT cluster_suspicions "):
                out.append("%s:%s" % (n.name, line.split(b" ")[2].decode()))
    return "suspicions " + " ".join(out)


def all_alive(nodes, names):
    def ok():
        for n in nodes:
            st = n.members()
            if any(st.get(x) != "alive" for x in names):
                return False
        return True
    wait_until(ok, "every node to see %s alive" % names)


def owners(keys, nodes):
    specs = ["127.0.0.1:%d:1 %s" % (n.port, n.name) for n in nodes]
    out = subprocess.run([RING] + specs, input=b"".join(k + b"\n" for k in keys),
                         stdout=subprocess.PIPE, check=True, timeout=30).stdout
    return {line.split(b" ")[0]: nodes[int(line.split(b" ")[1])] for line in out.splitlines()}


def test_set_anywhere_get_everywhere(nodes):
    keys = [b"rk%d" % i for i in range(90)]
    for i, k in enumerate(keys):
        with nodes[i % 3].connect() as c:
            expect_eq(c.request(b"set %s 5 0 %d\r\n%s\r\n" % (k, len(k), k)), b"STORED\r\n")
    for n in nodes:
        with n.connect() as c:
            got = c.request(b"".join(b"get %s\r\n" % k for k in keys))
        want = b"".join(b"VALUE %s 5 %d\r\n%s\r\nEND\r\n" % (k, len(k), k) for k in keys)
        expect_eq(got, want, "all keys through %s (%s)" % (n.name, gossip_noise(nodes)))
    placed = owners(keys, nodes)
    for k in keys:
        for n in nodes:
            has = n.local_get(k) != b""
            if has != (placed[k] is n):
                raise Failure("%s stored on %s: %s; ring owner %s" % (k, n.name, has,
                                                                     placed[k].name))


def test_multiget_order(nodes):
    keys = [b"mo%d" % i for i in range(30)]
    with nodes[0].connect() as c:
        for k in keys[1::2]:
            expect_eq(c.request(b"set %s 0 0 1\r\n%s\r\n" % (k, k[-1:])), b"STORED\r\n")
    order = keys[::-1] + keys[:3]
    want = b"".join(b"VALUE %s 0 1\r\n%s\r\n" % (k, k[-1:]) for k in order
                    if int(k[2:]) % 2 == 1) + b"END\r\n"
    for n in nodes:
        with n.connect() as c:
            expect_eq(c.request(b"get " + b" ".join(order) + b"\r\n"), want, "through " + n.name)
    expect(len({owners(keys, nodes)[k].name for k in keys}) == 3, "keys on every node")


def test_quiet_and_noreply(nodes):
    with nodes[1].connect() as c:
        expect_eq(c.request(b"set qn1 0 0 1 noreply\r\n1\r\nms qn2 1 q\r\n2\r\n"
                            b"md qn_missing q\r\nmg qn1 v q\r\nmg qn2 v\r\nmn\r\n"),
                  b"NF\r\nVA 1\r\n1\r\nVA 1\r\n2\r\nMN\r\n")


def test_pipelined_like_one_memcached(nodes):
    """A seeded random pipelined stream (tests/integration/test_proxy.py's) through one node,
    with keys on all three, answers the same bytes as one memcached holding everything."""
    import test_proxy  # noqa: E402 (tests/integration is on the path)
    reference = harness.Server(harness.REFERENCE_BIN)
    try:
        for seed, n in ((11, nodes[0]), (12, nodes[1])):
            stream = b"".join(test_proxy.random_stream(random.Random(seed), 400))
            with n.connect() as a, reference.connect() as b:
                got = a.request(stream, timeout=20)
                want = b.request(stream, timeout=20)
                expect_eq(a.request(b"flush_all\r\n"), b"OK\r\n")
                expect_eq(b.request(b"flush_all\r\n"), b"OK\r\n")
            if got != want:
                at = next((i for i in range(min(len(got), len(want))) if got[i] != want[i]),
                          min(len(got), len(want)))
                raise Failure("seed %d through %s differs at byte %d: %s vs memcached %s"
                              % (seed, n.name, at, short(got[max(0, at - 80):at + 200]),
                                 short(want[max(0, at - 80):at + 200])))
    finally:
        reference.stop()


def test_memccapable(nodes):
    for n in nodes:
        proc = subprocess.run([MEMCCAPABLE, "-a", "-h", "127.0.0.1", "-p", str(n.port), "-t", "5"],
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=120)
        out = (proc.stdout + proc.stderr).decode("utf-8", "replace")
        expect(proc.returncode == 0 and "[FAIL]" not in out and out.count("[pass]") >= 27,
               "memccapable -a through %s: exit %d %s" % (n.name, proc.returncode, out[-600:]))


def test_flush_all_everywhere(nodes):
    keys = [b"fl%d" % i for i in range(30)]
    with nodes[2].connect() as c:
        for k in keys:
            expect_eq(c.request(b"set %s 0 0 1\r\nx\r\n" % k), b"STORED\r\n")
        expect_eq(c.request(b"flush_all\r\n"), b"OK\r\n")
    for n in nodes:
        for k in keys:
            expect_eq(n.local_get(k), b"", "%s on %s after flush_all" % (k, n.name))


def test_proxy_member(nodes):
    p = Node("p", join=nodes[0], extra=["--proxy"])
    try:
        all_alive(nodes + [p], ["a", "b", "c", "p"])
        keys = [b"px%d" % i for i in range(30)]
        with p.connect() as c:
            for k in keys:
                expect_eq(c.request(b"set %s 0 0 1\r\ny\r\n" % k), b"STORED\r\n")
        with p.connect() as c:
            stats = c.request(b"stats\r\n")
        expect(b"STAT curr_items 0\r\n" in stats and b"STAT total_items 0\r\n" in stats,
               "the proxy stores nothing")
        placed = owners(keys, nodes)  # the ring of a, b, c alone
        for k in keys:
            expect(placed[k].local_get(k).startswith(b"VALUE"), "%s on %s" % (k, placed[k].name))
    finally:
        p.stop()


def test_kill_one(nodes):
    a, b, c = nodes
    keys = [b"kl%d" % i for i in range(60)]
    with a.connect() as conn:
        for k in keys:
            expect_eq(conn.request(b"set %s 0 0 1\r\n1\r\n" % k), b"STORED\r\n")
    placed = owners(keys, nodes)
    on_c = [k for k in keys if placed[k] is c]
    elsewhere = [k for k in keys if placed[k] is not c]
    expect(on_c and elsewhere, "keys on c and elsewhere")
    # Load through b while c dies: every request for another owner's key must keep working
    # (bounded: 20,000 rounds at most, each with a 10 s read limit; it stops when the test says
    # so, and on any failure the nodes' end closes its connection).
    stop = threading.Event()
    trouble = []

    def load():
        try:
            with b.connect() as conn:
                for i in range(20000):
                    if stop.is_set():
                        return
                    k = elsewhere[i % len(elsewhere)]
                    got = conn.request(b"set %s 0 0 1\r\n1\r\nget %s\r\n" % (k, k), timeout=10)
                    if got != b"STORED\r\nVALUE %s 0 1\r\n1\r\nEND\r\n" % k:
                        trouble.append((k, got))
                        return
        except Exception as e:  # noqa: BLE001 (reported by the test, not lost in the thread)
            trouble.append(("load", repr(e)))
    loader = threading.Thread(target=load, daemon=True)
    loader.start()
    c.stop(kill=True)
    with a.connect() as conn:
        # before gossip notices: only c's keys miss or error
        got = conn.request(b"get " + b" ".join(elsewhere) + b"\r\n")
        expect_eq(got.count(b"VALUE "), len(elsewhere), "other owners' keys still there")
        got = conn.request(b"get %s\r\n" % on_c[0])
        expect(got in (b"END\r\n",), "c's key is a miss: %s" % short(got))
        # A write that failed at c's backend (SERVER_ERROR; STORED if a's ring had dropped c
        # already) is a hint to a's gossip: c is probed next, and its probes decide.
        if conn.request(b"set %s 0 0 1\r\n3\r\n" % on_c[0]).startswith(b"SERVER_ERROR"):
            wait_until(lambda: a.cluster_stat("cluster_unreachable_hints") >= 1, "a hint about c")
        wait_until(lambda: a.members().get("c") == "dead" and b.members().get("c") == "dead",
                   "c declared dead")
        stop.set()
        loader.join(30)
        expect(not loader.is_alive(), "the load through b ended")
        expect(not trouble, "other owners' keys under load while c died: %s" % short(repr(trouble)))
        # the ring no longer has c: every key can be set and read again
        for k in keys:
            expect_eq(conn.request(b"set %s 0 0 1\r\n2\r\n" % k), b"STORED\r\n")
    with b.connect() as conn:
        got = conn.request(b"get " + b" ".join(keys) + b"\r\n")
        expect_eq(got.count(b"VALUE "), len(keys), "every key through b after the change")
    placed = owners(keys, [a, b])
    for k in keys:
        expect(placed[k].local_get(k).startswith(b"VALUE"), "%s on %s" % (k, placed[k].name))


def test_rejoin(nodes):
    """c, killed and declared dead earlier, is started again under the same name: every member
    takes it back, and its keys are routed to it again (set through a, stored on c, read
    through b)."""
    a, b, _ = nodes
    c = Node("c", join=a)
    try:
        all_alive([a, b, c], ["a", "b", "c"])
        keys = [b"rj%d" % i for i in range(60)]
        placed = owners(keys, [a, b, c])
        on_c = [k for k in keys if placed[k] is c]
        expect(on_c, "some keys belong to c")

        def routed_to_c():
            # (a's workers pick up the new ring a moment after `stats cluster` shows c alive)
            with a.connect() as conn:
                for k in on_c:
                    expect_eq(conn.request(b"set %s 0 0 1\r\n5\r\n" % k), b"STORED\r\n")
            return all(c.local_get(k) == b"VALUE %s 0 1\r\n5\r\n" % k for k in on_c)
        wait_until(routed_to_c, "c's keys stored on c again")

        def read_through_b():
            # (b's workers, too, may take up the new ring a moment after a's did)
            with b.connect() as conn:
                got = conn.request(b"get " + b" ".join(on_c) + b"\r\n")
            return got.count(b"VALUE ") == len(on_c)
        wait_until(read_through_b, "c's keys read through b")
    finally:
        c.stop()


def test_warmup(nodes):
    """A node that joins serves the keys it now owns from their previous owners (copied in on a
    local miss), and a delete through the new owner does not let the old copy come back."""
    a, b, _ = nodes
    keys = [b"wu%d" % i for i in range(60)]
    with a.connect() as conn:
        for k in keys:
            expect_eq(conn.request(b"set %s 7 0 %d\r\n%s\r\n" % (k, len(k), k)), b"STORED\r\n")
    before = owners(keys, [a, b])
    d = Node("d", join=a, extra=["--warmup", "60"])
    try:
        all_alive([a, b, d], ["a", "b", "d"])
        after = owners(keys, [a, b, d])
        moved = [k for k in keys if after[k] is d]
        expect(moved, "some keys move to d")
        for k in moved:
            expect_eq(d.local_get(k), b"", "%s not on d before warm-up" % k)
        want = b"".join(b"VALUE %s 7 %d\r\n%s\r\n" % (k, len(k), k) for k in keys) + b"END\r\n"

        def all_through_b_and_copied():
            # (b's workers may pick up d a moment after `stats cluster` shows it: until then
            # b still reads the moved keys from their previous owners)
            with b.connect() as conn:
                expect_eq(conn.request(b"get " + b" ".join(keys) + b"\r\n"), want,
                          "every key through b, the moved ones warmed up on d")
            return all(d.local_get(k).startswith(b"VALUE %s 7" % k) for k in moved)
        wait_until(all_through_b_and_copied, "the moved keys copied into d")
        gone = moved[0]
        with a.connect() as conn:
            expect_eq(conn.request(b"delete %s\r\n" % gone), b"DELETED\r\n")
            expect_eq(conn.request(b"get %s\r\n" % gone), b"END\r\n", "deleted stays deleted")
        expect_eq(before[gone].local_get(gone), b"", "the previous owner's copy is gone")
    finally:
        d.stop()


def test_warmup_meta(nodes):
    """Warm-up also serves mg (with v; a quiet miss found nowhere stays silent) and gat/gats (the
    copied value then touched with the command's exptime) from the previous owner."""
    a, b = nodes[0], nodes[1]
    keys = [b"wm%d" % i for i in range(90)]
    with a.connect() as conn:
        for k in keys:
            expect_eq(conn.request(b"set %s 7 0 %d\r\n%s\r\n" % (k, len(k), k)), b"STORED\r\n")
    e = Node("e", join=a, extra=["--warmup", "60"])
    try:
        all_alive([a, b, e], ["a", "b", "e"])
        after = owners(keys + [b"wm-none%d" % i for i in range(40)], [a, b, e])
        moved = [k for k in keys if after[k] is e]
        missing = next(k for k, n in after.items() if n is e and k.startswith(b"wm-none"))
        expect(len(moved) >= 6, "enough keys move to e: %d" % len(moved))
        for k in moved:
            expect_eq(e.local_get(k), b"", "%s not on e before warm-up" % k)
        by_mg, by_quiet, by_gat, by_gats = moved[0::4], moved[1::4], moved[2::4], moved[3::4]

        def value(k):
            return b"VALUE %s 7 %d\r\n%s\r\n" % (k, len(k), k)

        def served_and_copied():
            # (b's workers may pick up e a moment after `stats cluster` shows it: until then b
            # reads the moved keys from their previous owners, and nothing is copied yet)
            with b.connect() as conn:
                for k in by_mg:
                    expect_eq(conn.request(b"mg %s v f k\r\n" % k),
                              b"VA %d f7 k%s\r\n%s\r\n" % (len(k), k, k), "mg through b")
                expect_eq(conn.request(b"mg %s v q\r\n" % missing + b"".join(
                    b"mg %s v q\r\n" % k for k in by_quiet) + b"mn\r\n"),
                    b"".join(b"VA %d\r\n%s\r\n" % (len(k), k) for k in by_quiet) + b"MN\r\n",
                    "quiet mg through b")
                expect_eq(conn.request(b"mg %s v k O9\r\n" % missing),
                          b"EN k%s O9\r\n" % missing, "a key found nowhere")
                expect_eq(conn.request(b"gat 500 %s %s\r\n" % (b" ".join(by_gat), missing)),
                          b"".join(value(k) for k in by_gat) + b"END\r\n", "gat through b")
                for k in by_gats:
                    got = conn.request(b"gats 600 %s\r\n" % k)
                    expect(got.startswith(b"VALUE %s 7 %d " % (k, len(k)))
                           and got.endswith(b"\r\n%s\r\nEND\r\n" % k), "gats: %s" % short(got))
            return all(e.local_get(k) == value(k) for k in moved)
        wait_until(served_and_copied, "the moved keys served and copied into e")
        for k, ttl in [(k, 500) for k in by_gat] + [(k, 600) for k in by_gats]:
            got = e.local_mg(k, b"t")
            left = int(got.split(b" ")[1][1:])
            expect(ttl - 30 <= left <= ttl, "%s on e touched to %d s: %s" % (k, ttl, short(got)))
        expect_eq(e.local_get(missing), b"", "a key found nowhere is not created")
    finally:
        e.stop()


def main():
    suite = harness.Suite("test_routing")
    try:
        a = Node("a")
        b = Node("b", join=a)
        c = Node("c", join=a)
        nodes = [a, b, c]
        all_alive(nodes, ["a", "b", "c"])
    except (harness.ServerError, Failure) as e:
        suite.fail("three nodes join", str(e))
        suite.finish()
    for name, fn in [("set through one node, read through every other", test_set_anywhere_get_everywhere),
                     ("multi-get across owners in order", test_multiget_order),
                     ("noreply and quiet meta", test_quiet_and_noreply),
                     ("pipelined mixed stream equals one memcached", test_pipelined_like_one_memcached),
                     ("memccapable -a through every node", test_memccapable),
                     ("flush_all empties every node", test_flush_all_everywhere),
                     ("a --proxy member stores nothing, is on no ring", test_proxy_member),
                     ("kill -9 of one node", test_kill_one),
                     ("warm-up: a joining node copies its keys in", test_warmup),
                     ("warm-up: mg, gat and gats too", test_warmup_meta),
                     ("a killed node started again is routed to again", test_rejoin)]:
        suite.run(name, fn, nodes)
    suite.finish()


if __name__ == "__main__":
    main()
