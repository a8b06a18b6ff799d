#!/usr/bin/python3
"""Copies left on stand-ins, and warm-up against deletes (issue 11; cluster/README.md, "Hand-off
after a ring change"), with real bin/shoal processes on 127.0.0.1.

Stand-ins: four nodes with --warmup 1. Node c is killed (SIGKILL); c's keys are rewritten
("v2", now stored on stand-ins); c is started again under its name; the stand-ins drop the keys
they no longer own once c's warm-up is over (their sweep); the keys are rewritten again ("v3",
stored on c); c is killed again. Every read through every survivor then returns "v3" or a miss,
never "v2".

Deletes win over warm-up: with a long --warmup, a key's old value sits at its previous owner
while the joined node looks misses up there; a delete through the joined node must stay a
delete (no later read brings the old value back), and so must a base64-keyed md.

Short gossip timings keep it fast; every wait polls with a deadline; every process started is
killed at the end, also on failure."""
import base64
import os
import signal
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cluster_nodes import (Node, all_see, exchange, get, local_value, main,  # noqa: E402
                           set_, wait_until)


def proxy_stats(port):
    text = exchange(port, b"stats proxy\r\n", (b"END\r\n", b"ERROR\r\n")).decode()
    return {f[1]: f[2] for f in (line.split(" ") for line in text.split("\r\n"))
            if len(f) == 3 and f[0] == "STAT"}


def sweeps(node):
    return int(proxy_stats(node.port).get("handoff_sweeps", "0"))


def owned_by(node, keys):
    """The keys found in node's own store."""
    return [k for k in keys if local_value(node.port, k) is not None]


def kill(node):
    node.proc.send_signal(signal.SIGKILL)
    node.proc.wait()


def test_no_stale_copy_on_stand_ins():
    extra = ["--warmup", "1"]
    a = Node("a", extra=extra).start()
    join = "127.0.0.1:%d" % a.gport
    b, c, d = (Node(n, join, extra).start() for n in "bcd")
    nodes = [a, b, c, d]
    for n in nodes:
        all_see(nodes, n.name, "alive")
    keys = [b"standin-%d" % i for i in range(400)]
    for k in keys:
        set_(a.port, k, b"v1")
    mine = owned_by(c, keys)
    assert len(mine) >= 40, "c owns %d of %d keys" % (len(mine), len(keys))

    survivors = [a, b, d]
    kill(c)
    all_see(survivors, "c", "dead")
    for k in mine:
        set_(a.port, k, b"v2")  # stored on a stand-in
    before = {n.name: sweeps(n) for n in survivors}
    c.start()
    all_see(nodes, "c", "alive")
    # Once c's warm-up is over, each survivor has swept out what it held for c.
    wait_until(lambda: all(sweeps(n) > before[n.name] for n in survivors),
               "every survivor to sweep after c came back")
    held = sum(len(owned_by(n, mine)) for n in survivors)
    assert held == 0, "%d of c's keys still on stand-ins after their sweep" % held
    for k in mine:
        set_(a.port, k, b"v3")  # stored on c
    kill(c)
    all_see(survivors, "c", "dead")
    stale = hits = 0
    for n in survivors:
        for k in mine:
            got = get(n.port, k)
            assert got in (b"v3", None, b"v2"), got
            stale += got == b"v2"
            hits += got == b"v3"
    print("c's %d keys read through 3 survivors after c died again: %d stale, %d hits"
          % (len(mine), stale, hits))
    assert stale == 0, "%d stale reads of a stand-in's copy" % stale


def test_delete_wins_over_warmup():
    extra = ["--warmup", "60"]
    a = Node("wa", extra=extra).start()
    join = "127.0.0.1:%d" % a.gport
    b = Node("wb", join, extra).start()
    nodes = [a, b]
    for n in nodes:
        all_see(nodes, n.name, "alive")
    keys = [b"warmdel-%d" % i for i in range(200)]
    for k in keys:
        set_(a.port, k, b"old")
    # A third node joins: it owns some of these keys now, whose old values stay at a or b.
    c = Node("wc", join, extra).start()
    nodes.append(c)
    for n in nodes:
        all_see(nodes, n.name, "alive")

    # c's keys: not in c's store yet, still at their previous owner. An mg without v is routed
    # but never warmed: through c, it misses (EN) exactly when c owns the key.
    def owner_is_c(k):
        return exchange(c.port, b"mg %s\r\n" % k, (b"\r\n",)) == b"EN\r\n"
    candidates = [k for k in keys if local_value(c.port, k) is None and owner_is_c(k)]
    assert len(candidates) >= 20, "c owns %d of the old keys" % len(candidates)
    # Half of them: read through c (warmed from the previous owner), then deleted.
    owned_by_c = []
    for k in candidates[: len(candidates) // 2]:
        if get(c.port, k) == b"old" and local_value(c.port, k) == b"old":
            owned_by_c.append(k)
    assert len(owned_by_c) >= 10, "only %d keys warmed onto c" % len(owned_by_c)
    # Deletes through c, then reads through every node: a delete stays a delete.
    half = owned_by_c[: len(owned_by_c) // 2]
    rest = owned_by_c[len(owned_by_c) // 2:]
    for k in half:
        reply = exchange(c.port, b"delete %s\r\n" % k, (b"\r\n",))
        assert reply == b"DELETED\r\n", reply
    for k in rest:
        b64 = base64.b64encode(k)
        reply = exchange(c.port, b"md %s b\r\n" % b64, (b"\r\n",))
        assert reply == b"HD\r\n", reply
    for n in nodes:
        for k in owned_by_c:
            got = get(n.port, k)
            assert got is None, "%s read back %s through %s after a delete" % (k, got, n.name)
    # Nor does the previous owner keep its copy (c deleted it there too).
    for k in owned_by_c:
        for n in (a, b):
            assert local_value(n.port, k) is None, "%s still at %s" % (k, n.name)

    # The race: a read's warm-up lookup is in flight at the previous owner (stopped) when a
    # delete of the same key runs on c. The looked-up value must not be copied in afterwards.
    raced = candidates[len(candidates) // 2:]
    raced_done = 0
    for k in raced:
        holder = a if local_value(a.port, k) == b"old" else b
        if local_value(holder.port, k) != b"old":
            continue
        label = holder.name
        sent = int(proxy_stats(c.port).get(label + ":requests", "0"))
        holder.proc.send_signal(signal.SIGSTOP)
        try:
            reader = socket.create_connection(("127.0.0.1", c.port), timeout=10)
            reader.sendall(b"get %s\r\n" % k)
            wait_until(lambda: int(proxy_stats(c.port).get(label + ":requests", "0")) > sent,
                       "the warm-up lookup to leave for the stopped holder")
            reply = exchange(c.port, b"delete %s\r\n" % k, (b"\r\n",))
            assert reply in (b"DELETED\r\n", b"NOT_FOUND\r\n"), reply
        finally:
            holder.proc.send_signal(signal.SIGCONT)
        got = b""
        while not got.endswith(b"END\r\n"):
            chunk = reader.recv(4096)
            assert chunk, "connection closed"
            got += chunk
        reader.close()
        # the read ran concurrently with the delete: either answer is fine; what follows is not
        for n in nodes:
            assert get(n.port, k) is None, "%s came back through %s after the delete" % (k, n.name)
        raced_done += 1
        if raced_done == 5:
            break
    assert raced_done > 0, "no key to race (of %d candidates)" % len(raced)
    print("deletes that raced an in-flight warm-up lookup: %d, none brought back" % raced_done)


if __name__ == "__main__":
    sys.exit(main([(k, v) for k, v in globals().items() if k.startswith("test_")]))
