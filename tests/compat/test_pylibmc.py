#!/usr/bin/python3
"""A second binary protocol client: Debian's python3-pylibmc (libmemcached with its binary
behaviour on), making the calls applications make against Debian's memcached and against
$SHOAL_BIN; every call must return the same on both. Each call is one test case."""
import os
import random
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import harness  # noqa: E402

try:
    import pylibmc
except ImportError as e:  # reported as a failure below
    pylibmc = None
    IMPORT_ERROR = e


def calls(mc):
    """(name, thunk) pairs, run in order."""
    noise = random.Random(1).randbytes(1_100_000)
    out = [
        ("flush_all", lambda: mc.flush_all()),
        ("set", lambda: mc.set("k1", b"hello")),
        ("get", lambda: mc.get("k1")),
        ("get missing", lambda: mc.get("missing")),
        ("set str", lambda: mc.set("s", "text")),
        ("get str", lambda: mc.get("s")),
        ("set int", lambda: mc.set("i", 42)),
        ("get int", lambda: mc.get("i")),
        ("set object", lambda: mc.set("o", {"a": [1, 2]})),
        ("get object", lambda: mc.get("o")),
        ("set empty", lambda: mc.set("e", b"")),
        ("get empty", lambda: mc.get("e")),
        ("set with time", lambda: mc.set("t", b"v", time=100)),
        ("get with time", lambda: mc.get("t")),
        ("add existing", lambda: mc.add("k1", b"x")),
        ("add new", lambda: mc.add("k2", b"two")),
        ("replace existing", lambda: mc.replace("k2", b"deux")),
        ("replace missing", lambda: mc.replace("nope", b"x")),
        ("get replaced", lambda: mc.get("k2")),
        ("append", lambda: mc.append("k1", b" world")),
        ("prepend", lambda: mc.prepend("k1", b">> ")),
        ("get appended", lambda: mc.get("k1")),
        ("append missing", lambda: mc.append("nope", b"x")),
        ("delete", lambda: mc.delete("k2")),
        ("delete missing", lambda: mc.delete("k2")),
        ("set counter", lambda: mc.set("n", 10)),
        ("incr", lambda: mc.incr("n", 5)),
        ("decr", lambda: mc.decr("n", 3)),
        ("decr below zero", lambda: mc.decr("n", 100)),
        ("incr missing", lambda: mc.incr("nocounter", 1)),
        ("incr non-numeric", lambda: mc.incr("k1", 1)),
        ("set_multi", lambda: sorted(mc.set_multi({"m1": b"1", "m2": b"2", "m3": b"3"}))),
        ("get_multi", lambda: sorted(mc.get_multi(["m1", "m2", "m3", "m4"]).items())),
        ("get_multi prefix", lambda: sorted(mc.get_multi(["1", "2"], key_prefix="m").items())),
        ("delete_multi", lambda: mc.delete_multi(["m1", "m2", "m9"])),
        ("get_multi after delete", lambda: sorted(mc.get_multi(["m1", "m2", "m3"]).items())),
        ("gets", lambda: (lambda v: (v[0], v[1] > 0))(mc.gets("k1"))),
        ("gets missing", lambda: mc.gets("missing")),
        ("cas right", lambda: mc.cas("k1", b"swapped", mc.gets("k1")[1])),
        ("cas stale", lambda: mc.cas("k1", b"stale", 1 << 60)),
        ("get after cas", lambda: mc.get("k1")),
        ("touch", lambda: mc.touch("k1", 100)),
        ("touch missing", lambda: mc.touch("missing", 100)),
        ("large value", lambda: mc.set("big", noise[:1_000_000])),
        ("get large value", lambda: mc.get("big") == noise[:1_000_000]),
        ("value over -I", lambda: mc.set("huge", noise)),
        ("get value over -I", lambda: mc.get("huge")),
        ("stats keys", lambda: sorted(k for k in mc.get_stats()[0][1]
                                      if k in ("curr_items", "get_hits", "cmd_set"))),
        ("stats slabs", lambda: "active_slabs" in mc.get_stats("slabs")[0][1]),
        ("flush_all again", lambda: mc.flush_all()),
        ("get after flush", lambda: mc.get("n")),
    ]
    return out


def transcript(server):
    mc = pylibmc.Client(["127.0.0.1:%d" % server.port], binary=True,
                        behaviors={"cas": True, "connect_timeout": 2000, "receive_timeout":
                                   2000000, "send_timeout": 2000000})
    results = []
    for name, thunk in calls(mc):
        try:
            results.append((name, repr(thunk())))
        except Exception as e:  # the exception's class is the result
            results.append((name, "raises " + type(e).__name__))
    mc.disconnect_all()
    return results


def main():
    suite = harness.Suite("test_pylibmc")
    if pylibmc is None:
        suite.fail("pylibmc importable", "%s (apt-get install python3-pylibmc)" % IMPORT_ERROR)
        suite.finish()
    expected = transcript(suite.server(harness.REFERENCE_BIN))
    got = dict(transcript(suite.server()))
    for name, want in expected:
        suite.check(name, got.get(name), want)
    suite.finish()


if __name__ == "__main__":
    main()
