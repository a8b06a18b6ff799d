#!/usr/bin/python3
"""A real client library, pymemcache (Debian's python3-pymemcache), against $SHOAL_BIN on one
server: every call a typical application makes, checked for the values it returns."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import harness  # noqa: E402
from harness import expect, expect_eq  # noqa: E402

try:
    from pymemcache.client.base import Client
    from pymemcache import serde
    from pymemcache.exceptions import MemcacheClientError, MemcacheIllegalInputError
except ImportError as e:  # reported as a failure below
    Client = None
    IMPORT_ERROR = e


def client(server, **kw):
    kw.setdefault("connect_timeout", 5)
    kw.setdefault("timeout", 5)
    kw.setdefault("default_noreply", False)
    return Client(("127.0.0.1", server.port), **kw)


def test_set_get(c):
    expect_eq(c.set("k1", b"hello"), True, "set")
    expect_eq(c.get("k1"), b"hello", "get")
    expect_eq(c.get("missing"), None, "get missing")
    expect_eq(c.get("missing", default=b"d"), b"d", "get default")
    expect_eq(c.set("k1", b""), True, "set empty")
    expect_eq(c.get("k1"), b"", "get empty")


def test_add_replace_append_prepend(c):
    expect_eq(c.add("k2", b"a"), True, "add")
    expect_eq(c.add("k2", b"b"), False, "add existing")
    expect_eq(c.replace("k2", b"c"), True, "replace")
    expect_eq(c.replace("k2missing", b"c"), False, "replace missing")
    expect_eq(c.append("k2", b"d"), True, "append")
    expect_eq(c.prepend("k2", b"b"), True, "prepend")
    expect_eq(c.get("k2"), b"bcd", "after append/prepend")
    expect_eq(c.append("k2missing", b"x"), False, "append missing")


def test_get_many(c):
    expect_eq(c.set_many({"m1": b"1", "m2": b"2", "m3": b"3"}), [], "set_many failures")
    expect_eq(c.get_many(["m1", "m2", "nope", "m3"]), {"m1": b"1", "m2": b"2", "m3": b"3"},
              "get_many")
    keys = ["many%d" % i for i in range(500)]
    expect_eq(c.set_many({k: k.encode() for k in keys}), [], "set_many 500")
    got = c.get_many(keys + ["nope%d" % i for i in range(100)])
    expect_eq(got, {k: k.encode() for k in keys}, "get_many 600 keys")
    expect_eq(c.delete_many(keys), True, "delete_many")
    expect_eq(c.get_many(keys[:10]), {}, "get_many after delete_many")


def test_gets_cas(c):
    c.set("c1", b"v1")
    value, cas = c.gets("c1")
    expect_eq(value, b"v1", "gets value")
    expect(cas is not None and int(cas) > 0, "gets cas %r" % cas)
    expect_eq(c.cas("c1", b"v2", cas), True, "cas with current token")
    expect_eq(c.cas("c1", b"v3", cas), False, "cas with stale token")
    expect_eq(c.get("c1"), b"v2", "after cas")
    expect_eq(c.cas("c1missing", b"v", cas), None, "cas on a missing key")
    expect_eq(c.gets("c1missing"), (None, None), "gets missing")
    many = c.gets_many(["c1", "c1missing"])
    expect_eq(list(many), ["c1"], "gets_many keys")
    expect_eq(many["c1"][0], b"v2", "gets_many value")


def test_incr_decr(c):
    c.set("n1", b"10")
    expect_eq(c.incr("n1", 5), 15, "incr")
    expect_eq(c.decr("n1", 3), 12, "decr")
    expect_eq(c.decr("n1", 100), 0, "decr floors at 0")
    expect_eq(c.incr("n1missing", 1), None, "incr missing")
    c.set("n2", b"18446744073709551615")
    expect_eq(c.incr("n2", 2), 1, "incr wraps at 2^64")
    c.set("n3", b"abc")
    try:
        c.incr("n3", 1)
    except MemcacheClientError as e:
        expect("non-numeric" in str(e), "incr non-numeric: %s" % e)
    else:
        raise harness.Failure("incr of a non-numeric value did not raise")


def test_delete_touch(c):
    c.set("d1", b"x")
    expect_eq(c.delete("d1"), True, "delete")
    expect_eq(c.delete("d1"), False, "delete missing")
    c.set("t1", b"x")
    expect_eq(c.touch("t1", 100), True, "touch")
    expect_eq(c.touch("t1missing", 100), False, "touch missing")
    expect_eq(c.touch("t1", -1), True, "touch to the past")
    expect_eq(c.get("t1"), None, "after touch to the past")
    c.set("e1", b"x", expire=-1)
    expect_eq(c.get("e1"), None, "set with negative expire")
    c.set("e2", b"x", expire=1000)
    expect_eq(c.get("e2"), b"x", "set with expire")


def test_flags_and_serde(c, server):
    c.set("f1", b"x", flags=12345)
    expect_eq(c.get("f1"), b"x", "value with flags")
    typed = client(server, serde=serde.pickle_serde)
    try:
        values = {"s": "unicode é", "i": 42, "l": [1, 2, {"a": None}], "b": b"\x00\xff"}
        for key, value in values.items():
            expect_eq(typed.set("sd_" + key, value), True, "serde set %s" % key)
        for key, value in values.items():
            expect_eq(typed.get("sd_" + key), value, "serde round trip %s" % key)
        expect_eq(c.get("sd_i"), b"42", "int stored as text")
    finally:
        typed.close()


def test_large_values(c):
    for size in (1000, 100 * 1024, 512 * 1024, 1024 * 1024 - 1024):
        value = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
        expect_eq(c.set("big%d" % size, value), True, "set %d bytes" % size)
        expect_eq(c.get("big%d" % size), value, "get %d bytes" % size)
    try:
        result = c.set("toobig", b"x" * (2 * 1024 * 1024))
    except Exception as e:  # pymemcache raises MemcacheServerError
        expect("too large" in str(e), "too large: %s" % e)
    else:
        raise harness.Failure("a 2 MB value was accepted: %r" % result)
    expect_eq(c.get("big1000")[:4], b"\x00\x01\x02\x03", "connection usable after the error")


def test_noreply(server):
    c = client(server, default_noreply=True)
    try:
        expect_eq(c.set("nr1", b"a"), True, "set noreply")
        expect_eq(c.add("nr1", b"b"), True, "add noreply (no answer, so True)")
        expect_eq(c.append("nr1", b"c"), True, "append noreply")
        expect_eq(c.delete("nr2"), True, "delete noreply")
        expect_eq(c.incr("nr3", 1, noreply=True), None, "incr noreply")
        expect_eq(c.touch("nr1", 100), True, "touch noreply")
        expect_eq(c.get("nr1"), b"ac", "after noreply commands")
        expect_eq(c.set_many({"nr4": b"4", "nr5": b"5"}), [], "set_many noreply")
        expect_eq(c.get_many(["nr4", "nr5"]), {"nr4": b"4", "nr5": b"5"}, "get_many")
        expect_eq(c.flush_all(noreply=True), True, "flush_all noreply")
        expect_eq(c.get("nr1"), None, "after flush_all")
    finally:
        c.close()


def test_keys(c):
    key = "k" * 250
    expect_eq(c.set(key, b"x"), True, "250-byte key")
    expect_eq(c.get(key), b"x", "get 250-byte key")
    for bad in ("k" * 251, "with space", "new\nline"):
        try:
            c.set(bad, b"x")
        except MemcacheIllegalInputError:
            pass
        else:
            raise harness.Failure("key %r was accepted" % bad[:20])


def test_misc(c):
    version = c.version()
    expect(version.startswith(b"1.6."), "version %r" % version)
    stats = c.stats()
    for name in (b"pid", b"uptime", b"curr_items", b"get_hits", b"cmd_get", b"curr_connections"):
        expect(name in stats, "stats lacks %s" % name.decode())
    expect_eq(c.flush_all(), True, "flush_all")
    expect_eq(c.get("k1"), None, "after flush_all")
    c.quit()
    expect_eq(c.set("after_quit", b"x"), True, "reconnects after quit")
    expect_eq(c.get("after_quit"), b"x", "get after reconnect")


def main():
    suite = harness.Suite("test_pymemcache")
    if Client is None:
        suite.fail("import pymemcache", str(IMPORT_ERROR))
        suite.finish()
    server = suite.server()
    c = client(server)
    tests = [
        ("set/get", test_set_get, c),
        ("add/replace/append/prepend", test_add_replace_append_prepend, c),
        ("get_many/set_many/delete_many", test_get_many, c),
        ("gets/cas", test_gets_cas, c),
        ("incr/decr", test_incr_decr, c),
        ("delete/touch/expire", test_delete_touch, c),
        ("flags and serde", test_flags_and_serde, c, server),
        ("large values", test_large_values, c),
        ("noreply", test_noreply, server),
        ("keys", test_keys, c),
        ("version/stats/flush_all/quit", test_misc, c),
    ]
    for name, fn, *args in tests:
        suite.run(name, fn, *args)
    c.close()
    suite.run("server still alive", lambda: expect(server.alive(), "server died"))
    suite.finish()


if __name__ == "__main__":
    main()
