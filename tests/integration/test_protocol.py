#!/usr/bin/python3
"""memcached's classic ASCII commands against $SHOAL_BIN, with the exact reply bytes of
memcached 1.6.18 (each expectation was taken from /usr/bin/memcached and reviewed by hand).

Every case runs on its own connection with its own keys, on one shared server, except the
cases that need a server of their own (flush_all, item size limits)."""
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Failure, expect, expect_eq, short  # noqa: E402

CAS_VALUE_RE = re.compile(rb"^VALUE (\S+) (\d+) (\d+) (\d+)\r\n", re.M)


def steps(server, pairs):
    """Sends each request and compares the reply with the expected bytes."""
    with server.connect() as conn:
        for request, expected in pairs:
            got = conn.request(request)
            expect_eq(got, expected, "after %s" % short(request, 120))


def gets_cas(conn, key):
    got = conn.request(b"gets " + key + b"\r\n")
    m = CAS_VALUE_RE.match(got)
    if not m:
        raise Failure("gets %r: no CAS in %s" % (key, short(got)))
    return int(m.group(4))


# Each case: name -> list of (request, expected reply). Keys are unique per case.
CASES = {
    "set and get": [
        (b"set p1 5 0 5\r\nhello\r\n", b"STORED\r\n"),
        (b"get p1\r\n", b"VALUE p1 5 5\r\nhello\r\nEND\r\n"),
    ],
    "set empty value": [
        (b"set p2 0 0 0\r\n\r\n", b"STORED\r\n"),
        (b"get p2\r\n", b"VALUE p2 0 0\r\n\r\nEND\r\n"),
    ],
    "set value with binary bytes and CRLF inside": [
        (b"set p3 0 0 6\r\na\r\n\x00\xff\n\r\n", b"STORED\r\n"),
        (b"get p3\r\n", b"VALUE p3 0 6\r\na\r\n\x00\xff\n\r\nEND\r\n"),
    ],
    "set overwrites and keeps new flags": [
        (b"set p4 1 0 1\r\na\r\n", b"STORED\r\n"),
        (b"set p4 2 0 2\r\nbb\r\n", b"STORED\r\n"),
        (b"get p4\r\n", b"VALUE p4 2 2\r\nbb\r\nEND\r\n"),
    ],
    "flags up to 2^32-1": [
        (b"set p5 4294967295 0 1\r\nx\r\n", b"STORED\r\n"),
        (b"get p5\r\n", b"VALUE p5 4294967295 1\r\nx\r\nEND\r\n"),
    ],
    "set noreply": [
        (b"set p6 0 0 1 noreply\r\nx\r\n", b""),
        (b"get p6\r\n", b"VALUE p6 0 1\r\nx\r\nEND\r\n"),
    ],
    "negative exptime expires at once": [
        (b"set p7 0 -1 1\r\nx\r\n", b"STORED\r\n"),
        (b"get p7\r\n", b"END\r\n"),
    ],
    "absolute exptime in the past expires at once": [
        (b"set p8 0 1000000000 1\r\nx\r\n", b"STORED\r\n"),
        (b"get p8\r\n", b"END\r\n"),
    ],
    "add": [
        (b"add a1 0 0 1\r\nx\r\n", b"STORED\r\n"),
        (b"add a1 0 0 1\r\ny\r\n", b"NOT_STORED\r\n"),
        (b"get a1\r\n", b"VALUE a1 0 1\r\nx\r\nEND\r\n"),
        (b"add a1 0 0 1 noreply\r\nz\r\n", b""),
        (b"add a2 3 0 1 noreply\r\nz\r\n", b""),
        (b"get a1 a2\r\n", b"VALUE a1 0 1\r\nx\r\nVALUE a2 3 1\r\nz\r\nEND\r\n"),
    ],
    "replace": [
        (b"replace r1 0 0 1\r\nx\r\n", b"NOT_STORED\r\n"),
        (b"get r1\r\n", b"END\r\n"),
        (b"set r1 0 0 1\r\nx\r\n", b"STORED\r\n"),
        (b"replace r1 7 0 2\r\nyy\r\n", b"STORED\r\n"),
        (b"get r1\r\n", b"VALUE r1 7 2\r\nyy\r\nEND\r\n"),
        (b"replace r1 0 0 1 noreply\r\nz\r\n", b""),
        (b"replace r2 0 0 1 noreply\r\nz\r\n", b""),
        (b"get r1 r2\r\n", b"VALUE r1 0 1\r\nz\r\nEND\r\n"),
    ],
    "append and prepend": [
        (b"append ap1 0 0 1\r\nx\r\n", b"NOT_STORED\r\n"),
        (b"prepend ap1 0 0 1\r\nx\r\n", b"NOT_STORED\r\n"),
        (b"set ap1 9 0 3\r\nabc\r\n", b"STORED\r\n"),
        (b"append ap1 1 0 2\r\nde\r\n", b"STORED\r\n"),
        (b"prepend ap1 2 0 2\r\nxy\r\n", b"STORED\r\n"),
        # flags and exptime of append/prepend are ignored: the item keeps its own
        (b"get ap1\r\n", b"VALUE ap1 9 7\r\nxyabcde\r\nEND\r\n"),
        (b"append ap1 0 0 1 noreply\r\n!\r\n", b""),
        (b"prepend ap1 0 0 1 noreply\r\n^\r\n", b""),
        (b"append ap2 0 0 1 noreply\r\n!\r\n", b""),
        (b"get ap1 ap2\r\n", b"VALUE ap1 9 9\r\n^xyabcde!\r\nEND\r\n"),
    ],
    "get of a missing key": [
        (b"get nosuchkey\r\n", b"END\r\n"),
        (b"gets nosuchkey\r\n", b"END\r\n"),
    ],
    "multi-get keeps request order and skips misses": [
        (b"set mg1 1 0 1\r\n1\r\nset mg3 3 0 3\r\n333\r\n", b"STORED\r\nSTORED\r\n"),
        (b"get mg3 mg2 mg1 mg3\r\n",
         b"VALUE mg3 3 3\r\n333\r\nVALUE mg1 1 1\r\n1\r\nVALUE mg3 3 3\r\n333\r\nEND\r\n"),
    ],
    "get with extra spaces": [
        (b"set sp1 0 0 1\r\nx\r\n", b"STORED\r\n"),
        (b"get   sp1   sp1  \r\n", b"VALUE sp1 0 1\r\nx\r\nVALUE sp1 0 1\r\nx\r\nEND\r\n"),
    ],
    "bare LF line ending": [
        (b"set lf1 0 0 1\nx\r\nget lf1\n", b"STORED\r\nVALUE lf1 0 1\r\nx\r\nEND\r\n"),
    ],
    "key of 250 bytes is fine, 251 is not": [
        (b"set " + b"K" * 250 + b" 0 0 1\r\nx\r\n", b"STORED\r\n"),
        (b"get " + b"K" * 250 + b"\r\n", b"VALUE " + b"K" * 250 + b" 0 1\r\nx\r\nEND\r\n"),
        (b"set " + b"K" * 251 + b" 0 0 1\r\nx\r\n",
         b"CLIENT_ERROR bad command line format\r\nERROR\r\n"),
        (b"get " + b"K" * 251 + b"\r\n", b"CLIENT_ERROR bad command line format\r\n"),
    ],
    "delete": [
        (b"delete d1\r\n", b"NOT_FOUND\r\n"),
        (b"set d1 0 0 1\r\nx\r\n", b"STORED\r\n"),
        (b"delete d1\r\n", b"DELETED\r\n"),
        (b"get d1\r\n", b"END\r\n"),
        (b"set d1 0 0 1\r\nx\r\n", b"STORED\r\n"),
        (b"delete d1 noreply\r\n", b""),
        (b"delete d1 noreply\r\n", b""),
        (b"get d1\r\n", b"END\r\n"),
    ],
    "legacy delete with time 0": [
        (b"set d2 0 0 1\r\nx\r\n", b"STORED\r\n"),
        (b"delete d2 0\r\n", b"DELETED\r\n"),
        (b"delete d2 0\r\n", b"NOT_FOUND\r\n"),
        (b"set d2 0 0 1\r\nx\r\n", b"STORED\r\n"),
        (b"delete d2 0 noreply\r\n", b""),
        (b"get d2\r\n", b"END\r\n"),
        (b"delete d2 1\r\n",
         b"CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n"),
    ],
    "incr and decr": [
        (b"incr i1 1\r\n", b"NOT_FOUND\r\n"),
        (b"decr i1 1\r\n", b"NOT_FOUND\r\n"),
        (b"set i1 5 0 2\r\n10\r\n", b"STORED\r\n"),
        (b"incr i1 5\r\n", b"15\r\n"),
        (b"decr i1 3\r\n", b"12\r\n"),
        (b"incr i1 0\r\n", b"12\r\n"),
        (b"get i1\r\n", b"VALUE i1 5 2\r\n12\r\nEND\r\n"),
        (b"incr i1 88\r\n", b"100\r\n"),
        (b"get i1\r\n", b"VALUE i1 5 3\r\n100\r\nEND\r\n"),
        # a shorter result keeps the length, padded with spaces
        (b"decr i1 1\r\n", b"99\r\n"),
        (b"get i1\r\n", b"VALUE i1 5 3\r\n99 \r\nEND\r\n"),
        (b"incr i1 1 noreply\r\n", b""),
        (b"decr i1 1 noreply\r\n", b""),
        (b"incr i1 1\r\n", b"100\r\n"),
    ],
    "decr floors at 0": [
        (b"set i2 0 0 1\r\n5\r\n", b"STORED\r\n"),
        (b"decr i2 6\r\n", b"0\r\n"),
        (b"decr i2 1\r\n", b"0\r\n"),
        (b"set i2 0 0 3\r\n100\r\n", b"STORED\r\n"),
        (b"decr i2 1000\r\n", b"0\r\n"),
        (b"get i2\r\n", b"VALUE i2 0 3\r\n0  \r\nEND\r\n"),
    ],
    "incr wraps at 2^64": [
        (b"set i3 0 0 20\r\n18446744073709551615\r\n", b"STORED\r\n"),
        (b"incr i3 1\r\n", b"0\r\n"),
        (b"get i3\r\n", b"VALUE i3 0 20\r\n0                   \r\nEND\r\n"),
        (b"set i3 0 0 2\r\n10\r\n", b"STORED\r\n"),
        (b"incr i3 18446744073709551615\r\n", b"9\r\n"),
        (b"set i3 0 0 20\r\n18446744073709551614\r\n", b"STORED\r\n"),
        (b"incr i3 1\r\n", b"18446744073709551615\r\n"),
    ],
    "incr with bad delta": [
        (b"set i4 0 0 1\r\n1\r\n", b"STORED\r\n"),
        (b"incr i4 abc\r\n", b"CLIENT_ERROR invalid numeric delta argument\r\n"),
        (b"incr i4 -1\r\n", b"CLIENT_ERROR invalid numeric delta argument\r\n"),
        (b"decr i4 18446744073709551616\r\n", b"CLIENT_ERROR invalid numeric delta argument\r\n"),
        (b"get i4\r\n", b"VALUE i4 0 1\r\n1\r\nEND\r\n"),
    ],
    "incr of a non-numeric value": [
        (b"set i5 0 0 1\r\na\r\n", b"STORED\r\n"),
        (b"incr i5 1\r\n", b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"),
        (b"set i5 0 0 3\r\n10a\r\n", b"STORED\r\n"),
        (b"decr i5 1\r\n", b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"),
        (b"set i5 0 0 20\r\n18446744073709551616\r\n", b"STORED\r\n"),
        (b"incr i5 1\r\n", b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"),
        (b"set i5 0 0 0\r\n\r\n", b"STORED\r\n"),
        (b"incr i5 1\r\n", b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"),
    ],
    "incr of numbers with leading space or zero": [
        (b"set i6 0 0 2\r\n 5\r\n", b"STORED\r\n"),
        (b"incr i6 1\r\n", b"6\r\n"),
        (b"set i6 0 0 2\r\n05\r\n", b"STORED\r\n"),
        (b"incr i6 1\r\n", b"6\r\n"),
        (b"get i6\r\n", b"VALUE i6 0 2\r\n6 \r\nEND\r\n"),
    ],
    "touch": [
        (b"touch t1 10\r\n", b"NOT_FOUND\r\n"),
        (b"set t1 0 0 1\r\nx\r\n", b"STORED\r\n"),
        (b"touch t1 100\r\n", b"TOUCHED\r\n"),
        (b"get t1\r\n", b"VALUE t1 0 1\r\nx\r\nEND\r\n"),
        (b"touch t1 100 noreply\r\n", b""),
        (b"touch t1 -1\r\n", b"TOUCHED\r\n"),
        (b"get t1\r\n", b"END\r\n"),
        (b"touch t1 abc\r\n", b"CLIENT_ERROR invalid exptime argument\r\n"),
    ],
    "gat": [
        (b"gat 10 g1\r\n", b"END\r\n"),
        (b"set g1 3 0 2\r\nhi\r\nset g2 4 0 2\r\nho\r\n", b"STORED\r\nSTORED\r\n"),
        (b"gat 100 g1 gx g2\r\n", b"VALUE g1 3 2\r\nhi\r\nVALUE g2 4 2\r\nho\r\nEND\r\n"),
        (b"gat -1 g1\r\n", b"VALUE g1 3 2\r\nhi\r\nEND\r\n"),
        (b"get g1\r\n", b"END\r\n"),
        (b"gat g2\r\n", b"CLIENT_ERROR invalid exptime argument\r\n"),
        (b"gat abc g2\r\n", b"CLIENT_ERROR invalid exptime argument\r\n"),
        (b"gat 10\r\n", b"END\r\n"),
    ],
    "commands without arguments": [
        (b"get\r\n", b"ERROR\r\n"),
        (b"gets\r\n", b"ERROR\r\n"),
        (b"set\r\n", b"ERROR\r\n"),
        (b"incr\r\n", b"ERROR\r\n"),
        (b"delete\r\n", b"ERROR\r\n"),
        (b"touch\r\n", b"ERROR\r\n"),
        (b"\r\n", b"ERROR\r\n"),
        (b"nosuchcommand\r\n", b"ERROR\r\n"),
    ],
    "bad storage command lines": [
        (b"set b1 0 0 -1\r\n", b"CLIENT_ERROR bad command line format\r\n"),
        (b"set b1 abc 0 1\r\nx\r\n", b"CLIENT_ERROR bad command line format\r\nERROR\r\n"),
        (b"set b1 -1 0 1\r\nx\r\n", b"CLIENT_ERROR bad command line format\r\nERROR\r\n"),
        (b"set b1 0 abc 1\r\nx\r\n", b"CLIENT_ERROR bad command line format\r\nERROR\r\n"),
        (b"set b1 0 0 1 noreply extra\r\nx\r\n", b"ERROR\r\nERROR\r\n"),
        (b"set b1 0 0 3\r\nabcd\r\n", b"CLIENT_ERROR bad data chunk\r\nERROR\r\n"),
        (b"get b1\r\n", b"END\r\n"),
    ],
    "verbosity": [
        (b"verbosity 1\r\n", b"OK\r\n"),
        (b"verbosity 0\r\n", b"OK\r\n"),
        (b"verbosity 0 noreply\r\n", b""),
        (b"verbosity\r\n", b"ERROR\r\n"),
    ],
}


def test_version(server):
    with server.connect() as conn:
        conn.send(b"version\r\n")
        line = conn.read_line()
        expect(re.match(rb"VERSION 1\.6\.\d+\S*\r\n\Z", line), "version: got %r" % line)


def test_quit(server):
    with server.connect() as conn:
        conn.send(b"quit\r\n")
        expect(conn.wait_closed(), "quit: connection still open")
        expect_eq(conn.buf, b"", "quit answered")
    with server.connect() as conn:  # quit ends the pipeline: later commands are not run
        conn.send(b"set q1 0 0 1\r\nx\r\nquit\r\nset q1 0 0 1\r\ny\r\n")
        expect(conn.wait_closed(), "quit: connection still open")
        expect_eq(conn.buf, b"STORED\r\n")
    steps(server, [(b"get q1\r\n", b"VALUE q1 0 1\r\nx\r\nEND\r\n")])


def test_gets_and_cas(server):
    with server.connect() as conn:
        expect_eq(conn.request(b"cas c1 0 0 1 1\r\nx\r\n"), b"NOT_FOUND\r\n")
        expect_eq(conn.request(b"set c1 4 0 3\r\nabc\r\n"), b"STORED\r\n")
        cas = gets_cas(conn, b"c1")
        got = conn.request(b"gets c1\r\n")
        expect_eq(got, b"VALUE c1 4 3 %d\r\nabc\r\nEND\r\n" % cas, "gets")
        expect_eq(conn.request(b"cas c1 0 0 1 %d\r\nx\r\n" % (cas + 1000)), b"EXISTS\r\n")
        expect_eq(conn.request(b"cas c1 5 0 3 %d\r\nxyz\r\n" % cas), b"STORED\r\n")
        expect_eq(conn.request(b"cas c1 5 0 3 %d\r\nxyz\r\n" % cas), b"EXISTS\r\n")
        cas2 = gets_cas(conn, b"c1")
        expect(cas2 != cas, "CAS unchanged after a cas store: %d" % cas)
        expect_eq(conn.request(b"get c1\r\n"), b"VALUE c1 5 3\r\nxyz\r\nEND\r\n")
        expect_eq(conn.request(b"cas c1 0 0 1 %d noreply\r\nq\r\n" % cas2), b"")
        expect_eq(conn.request(b"cas c1 0 0 1 %d noreply\r\nr\r\n" % cas2), b"")
        expect_eq(conn.request(b"get c1\r\n"), b"VALUE c1 0 1\r\nq\r\nEND\r\n")
        # every store changes the CAS, touch does not
        cas3 = gets_cas(conn, b"c1")
        expect_eq(conn.request(b"touch c1 100\r\n"), b"TOUCHED\r\n")
        expect_eq(gets_cas(conn, b"c1"), cas3, "CAS after touch")
        expect_eq(conn.request(b"append c1 0 0 1\r\n+\r\n"), b"STORED\r\n")
        cas4 = gets_cas(conn, b"c1")
        expect(cas4 != cas3, "CAS unchanged after append")
        expect_eq(conn.request(b"incr c1 1\r\n"),
                  b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n")
        expect_eq(conn.request(b"set c2 0 0 1\r\n1\r\n"), b"STORED\r\n")
        cas5 = gets_cas(conn, b"c2")
        expect_eq(conn.request(b"incr c2 1\r\n"), b"2\r\n")
        expect(gets_cas(conn, b"c2") != cas5, "CAS unchanged after incr")
        # bad cas lines
        expect_eq(conn.request(b"cas c1 0 0 1\r\nx\r\n"), b"ERROR\r\nERROR\r\n")
        expect_eq(conn.request(b"cas c1 0 0 1 abc\r\nx\r\n"),
                  b"CLIENT_ERROR bad command line format\r\nERROR\r\n")


def test_gets_multi_and_gats(server):
    with server.connect() as conn:
        expect_eq(conn.request(b"set gs1 1 0 1\r\na\r\nset gs2 2 0 2\r\nbb\r\n"),
                  b"STORED\r\nSTORED\r\n")
        got = conn.request(b"gets gs1 nope gs2\r\n")
        values = CAS_VALUE_RE.findall(got)
        expect_eq([v[:3] for v in values], [(b"gs1", b"1", b"1"), (b"gs2", b"2", b"2")],
                  "gets headers")
        expect(values[0][3] != values[1][3], "two items share a CAS: %s" % short(got))
        norm = harness.normalise(got)
        expect_eq(norm, b"VALUE gs1 1 1 <cas>\r\na\r\nVALUE gs2 2 2 <cas>\r\nbb\r\nEND\r\n")
        got = conn.request(b"gats 100 gs2 gs1\r\n")
        expect_eq(harness.normalise(got),
                  b"VALUE gs2 2 2 <cas>\r\nbb\r\nVALUE gs1 1 1 <cas>\r\na\r\nEND\r\n")
        expect_eq(CAS_VALUE_RE.findall(got)[1][3], values[0][3], "gats CAS of gs1")


def test_huge_multiget(server):
    """A get line of over 100 KB (memcached grows its read buffer for get/gets only)."""
    with server.connect() as conn:
        wanted = []
        for i in range(0, 8000, 400):
            key = b"hm%05d" % i
            wanted.append(key)
            expect_eq(conn.request(b"set %s 0 0 %d\r\n%s\r\n" % (key, len(key), key)),
                      b"STORED\r\n")
        keys = [b"hm%05d" % i for i in range(8000)] + [b"x" * 200] * 300
        line = b"get " + b" ".join(keys) + b"\r\n"
        expect(len(line) > 100 * 1024, "line too short: %d" % len(line))
        got = conn.request(line)
        expected = b"".join(b"VALUE %s 0 %d\r\n%s\r\n" % (k, len(k), k) for k in wanted)
        expect_eq(got, expected + b"END\r\n", "huge get")
        got = conn.request(b"gets " + b" ".join(keys) + b"\r\n")
        expect_eq(len(CAS_VALUE_RE.findall(got)), len(wanted), "huge gets values")


def test_pipelining(server):
    """Many commands in one send; the replies come in order."""
    with server.connect() as conn:
        request = b""
        expected = b""
        for i in range(300):
            key = b"pl%d" % i
            value = b"v%d" % (i * 7)
            request += b"set %s %d 0 %d\r\n%s\r\n" % (key, i, len(value), value)
            request += b"get %s\r\n" % key
            request += b"incr plc 1\r\n" if i else b"set plc 0 0 1\r\n0\r\n"
            request += b"delete %s noreply\r\n" % key if i % 2 else b""
            expected += b"STORED\r\nVALUE %s %d %d\r\n%s\r\nEND\r\n" % (key, i, len(value), value)
            expected += b"%d\r\n" % i if i else b"STORED\r\n"
        request += b"get pl0 pl1 pl2 pl3\r\n"
        expected += b"VALUE pl0 0 2\r\nv0\r\nVALUE pl2 2 3\r\nv14\r\nEND\r\n"
        expect_eq(conn.request(request), expected, "pipelined replies")
        # a pipeline split at awkward places: one byte per send for a few commands
        conn.send(b"")
        tail = b"set plx 0 0 3\r\nabc\r\nget plx\r\n"
        for i in range(len(tail)):
            conn.send(tail[i:i + 1])
        expect_eq(conn.request(b""), b"STORED\r\nVALUE plx 0 3\r\nabc\r\nEND\r\n", "byte by byte")


def test_concurrent_clients(server):
    """20 clients at once, 500 operations each, each client checking its own values, and a
    shared counter incremented by all of them."""
    errors = []
    threads_n, ops = 20, 500
    steps(server, [(b"set cc_counter 0 0 1\r\n0\r\n", b"STORED\r\n")])

    def client(n):
        try:
            with server.connect() as conn:
                for i in range(ops // 5):
                    key = b"cc%d_%d" % (n, i % 17)
                    value = b"%d:%d:" % (n, i) + b"z" * (i % 50)
                    batch = (b"set %s %d 0 %d\r\n%s\r\n" % (key, n, len(value), value)
                             + b"get %s\r\n" % key
                             + b"append %s 0 0 1\r\n!\r\n" % key
                             + b"gets %s\r\n" % key
                             + b"incr cc_counter 1\r\n")
                    got = conn.request(batch)
                    value += b"!"
                    head = b"STORED\r\nVALUE %s %d %d\r\n%s\r\nEND\r\nSTORED\r\n" % (
                        key, n, len(value) - 1, value[:-1])
                    if not got.startswith(head):
                        errors.append("client %d op %d: %s" % (n, i, short(got)))
                        return
                    rest = harness.normalise(got[len(head):])
                    want = b"VALUE %s %d %d <cas>\r\n%s\r\nEND\r\n" % (key, n, len(value), value)
                    if not rest.startswith(want) or not re.match(rb"\d+\r\n\Z",
                                                                 rest[len(want):]):
                        errors.append("client %d op %d: %s" % (n, i, short(got)))
                        return
        except Exception as e:  # reported below, in the main thread
            errors.append("client %d: %s: %s" % (n, type(e).__name__, e))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    expect(not any(t.is_alive() for t in threads), "clients still running after 60 s")
    expect(not errors, "; ".join(errors[:3]))
    total = threads_n * ops // 5
    with server.connect() as conn:
        got = conn.request(b"get cc_counter\r\n")
        expect_eq(got.split(b"\r\n")[1].strip(), b"%d" % total, "counter")


def run_threads(target, n, timeout=60):
    """Runs target(i) in n threads; returns the errors they reported."""
    errors = []

    def wrapped(i):
        try:
            target(i)
        except Exception as e:  # reported by the caller
            errors.append("thread %d: %s: %s" % (i, type(e).__name__, e))

    threads = [threading.Thread(target=wrapped, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    if any(t.is_alive() for t in threads):
        errors.append("threads still running after %d s" % timeout)
    return errors


def test_cas_race(server):
    """8 clients each add 1 to a number 50 times with gets/cas, retrying on EXISTS: no update
    may be lost, so the number ends at 400."""
    steps(server, [(b"set race 0 0 1\r\n0\r\n", b"STORED\r\n")])

    def worker(i):
        with server.connect() as conn:
            done = 0
            for _ in range(2000):
                if done == 50:
                    return
                got = conn.request(b"gets race\r\n")
                m = CAS_VALUE_RE.match(got)
                if not m:
                    raise Failure("gets: %s" % short(got))
                value = int(got.split(b"\r\n")[1]) + 1
                reply = conn.request(b"cas race 0 0 %d %s\r\n%d\r\n"
                                     % (len(b"%d" % value), m.group(4), value))
                if reply == b"STORED\r\n":
                    done += 1
                elif reply != b"EXISTS\r\n":
                    raise Failure("cas: %s" % short(reply))
            raise Failure("only %d updates in 2000 tries" % done)

    errors = run_threads(worker, 8)
    expect(not errors, "; ".join(errors[:3]))
    steps(server, [(b"get race\r\n", b"VALUE race 0 3\r\n400\r\nEND\r\n")])


def test_append_race(server):
    """10 clients append 50 tokens each to one item: every token is there exactly once."""
    steps(server, [(b"set arace 0 0 0\r\n\r\n", b"STORED\r\n")])

    def worker(i):
        with server.connect() as conn:
            batch = b"".join(b"append arace 0 0 6\r\n[%02d%02d]\r\n" % (i, j) for j in range(50))
            got = conn.request(batch)
            if got != b"STORED\r\n" * 50:
                raise Failure("appends: %s" % short(got))

    errors = run_threads(worker, 10)
    expect(not errors, "; ".join(errors[:3]))
    with server.connect() as conn:
        got = conn.request(b"get arace\r\n")
    body = got.split(b"\r\n")[1]
    tokens = re.findall(rb"\[\d{4}\]", body)
    expect_eq(len(body), 500 * 6, "length of the appended value")
    expect_eq(sorted(tokens), sorted(b"[%02d%02d]" % (i, j) for i in range(10) for j in range(50)),
              "tokens")
    for i in range(10):  # each client's tokens in its own order
        mine = [t for t in tokens if t.startswith(b"[%02d" % i)]
        expect_eq(mine, [b"[%02d%02d]" % (i, j) for j in range(50)], "order of client %d" % i)


def test_slow_reader(server):
    """A client that asks for 25 MB of replies and does not read them must not stop the
    server from serving others; when it finally reads, every byte is there, in order."""
    value = bytes(range(256)) * 2000  # 512000 bytes
    with server.connect(timeout=10) as slow, server.connect() as other:
        expect_eq(slow.request(b"set sr 3 0 %d\r\n%s\r\n" % (len(value), value)),
                  b"STORED\r\n")
        n = 50
        slow.send(b"get sr\r\n" * n + b"version\r\n")
        for i in range(20):
            expect_eq(other.request(b"set sro%d 0 0 1\r\n%d\r\nget sro%d\r\n" % (i, i % 10, i)),
                      b"STORED\r\nVALUE sro%d 0 1\r\n%d\r\nEND\r\n" % (i, i % 10),
                      "other client while one does not read")
        one = b"VALUE sr 3 %d\r\n%s\r\nEND\r\n" % (len(value), value)
        got = slow.read_exact(len(one) * n, timeout=20)
        expect(got == one * n, "slow reader got different bytes (%d of %d)"
               % (sum(1 for i in range(n) if got[i * len(one):(i + 1) * len(one)] == one), n))
        expect(harness.SENTINEL_RE.match(slow.read_line()), "no VERSION after the values")


def test_many_connections(server):
    """300 clients connected at once, each storing and reading its own key."""
    conns = []
    try:
        for i in range(300):
            conns.append(server.connect())
        for i, conn in enumerate(conns):
            conn.send(b"set mc%d 0 0 %d\r\n%d\r\n" % (i, len(b"%d" % i), i))
        for i, conn in enumerate(conns):
            expect_eq(conn.read_line(), b"STORED\r\n", "client %d" % i)
        for i, conn in enumerate(conns):
            conn.send(b"get mc%d\r\n" % ((i + 1) % 300))
        for i, conn in enumerate(conns):
            j = (i + 1) % 300
            want = b"VALUE mc%d 0 %d\r\n%d\r\nEND\r\n" % (j, len(b"%d" % j), j)
            expect_eq(conn.read_exact(len(want)), want, "client %d" % i)
    finally:
        for conn in conns:
            conn.close()


def test_memory_limit():
    """-m 8: old items make room for new ones (evictions); with -M the server refuses with
    memcached's message instead. (How many items fit depends on memory accounting, which
    is not compared.)"""
    value = b"m" * 100000
    with harness.Server(args=["-m", "8"]) as server, server.connect() as conn:
        for i in range(300):
            expect_eq(conn.request(b"set m%d 0 0 %d\r\n%s\r\n" % (i, len(value), value)),
                      b"STORED\r\n", "set %d of 300 with -m 8" % i)
        expect_eq(conn.request(b"get m0\r\n"), b"END\r\n", "the oldest item is evicted")
        expect_eq(conn.request(b"get m299\r\n"), b"VALUE m299 0 100000\r\n" + value +
                  b"\r\nEND\r\n", "the newest item is there")
        stats = conn.request(b"stats\r\n")
        m = re.search(rb"STAT evictions (\d+)\r\n", stats)
        expect(m and int(m.group(1)) > 0, "no evictions counted: %s" % short(stats))
    with harness.Server(args=["-m", "8", "-M"]) as server, server.connect() as conn:
        refused = None
        for i in range(300):
            got = conn.request(b"set m%d 0 0 %d\r\n%s\r\n" % (i, len(value), value))
            if got != b"STORED\r\n":
                refused = i
                expect_eq(got, b"SERVER_ERROR out of memory storing object\r\n", "with -M")
                break
        expect(refused is not None and refused > 10, "-M -m 8: refused at %r" % refused)
        expect_eq(conn.request(b"get m0\r\n"), b"VALUE m0 0 100000\r\n" + value +
                  b"\r\nEND\r\n", "-M keeps the oldest item")
        expect_eq(conn.request(b"delete m0\r\nset m0 0 0 %d\r\n%s\r\n" % (len(value), value)),
                  b"DELETED\r\nSTORED\r\n", "room again after a delete")


def test_small_item_when_full():
    """With -M and memory full of 100 KB items, a small item still fits: memcached gives
    every slab class its first page even past -m."""
    value = b"m" * 100000
    with harness.Server(args=["-m", "8", "-M"]) as server, server.connect() as conn:
        for i in range(300):
            got = conn.request(b"set m%d 0 0 %d\r\n%s\r\n" % (i, len(value), value))
            if got != b"STORED\r\n":
                break
        expect_eq(conn.request(b"set small 0 0 1\r\nx\r\n"), b"STORED\r\n", "1-byte item")
        expect_eq(conn.request(b"set mid 0 0 5000\r\n%s\r\n" % (b"y" * 5000)), b"STORED\r\n",
                  "5000-byte item")


def test_expiry(server):
    """Relative exptimes up to 30 days, absolute ones beyond; items expire within a few
    seconds of their time (polled, bounded)."""
    with server.connect() as conn:
        expect_eq(conn.request(b"set x1 0 2592000 1\r\na\r\nset x2 0 2592001 1\r\nb\r\n"),
                  b"STORED\r\nSTORED\r\n")
        expect_eq(conn.request(b"get x1 x2\r\n"), b"VALUE x1 0 1\r\na\r\nEND\r\n",
                  "30 days is relative, 30 days + 1 s is an absolute time long past")
        now = int(time.time())
        expect_eq(conn.request(b"set x3 0 %d 1\r\nc\r\n" % (now + 1000)), b"STORED\r\n")
        expect_eq(conn.request(b"set x4 0 1 1\r\nd\r\nset x5 0 100 1\r\ne\r\n"),
                  b"STORED\r\nSTORED\r\n")
        expect_eq(conn.request(b"set x6 0 100 1\r\nf\r\ntouch x6 1\r\n"),
                  b"STORED\r\nTOUCHED\r\n")
        expect_eq(conn.request(b"set x7 0 100 1\r\ng\r\ngat 1 x7\r\n"),
                  b"STORED\r\nVALUE x7 0 1\r\ng\r\nEND\r\n")
        got = conn.request(b"mg x3 t\r\nmg x5 t\r\n")
        expect(harness.clock_tolerant_equal(got, b"HD t1000\r\nHD t100\r\n"),
               "TTLs: got %s" % short(got))
        deadline = time.monotonic() + 5
        got = None
        while time.monotonic() < deadline:
            got = conn.request(b"get x4 x6 x7 x3 x5\r\n")
            if got == b"VALUE x3 0 1\r\nc\r\nVALUE x5 0 1\r\ne\r\nEND\r\n":
                return
            time.sleep(0.2)
        raise Failure("items with exptime 1 not gone after 5 s: %s" % short(got))


def curr_connections(conn):
    m = re.search(rb"STAT curr_connections (\d+)\r\n", conn.request(b"stats\r\n"))
    if not m:
        raise Failure("no curr_connections in stats")
    return int(m.group(1))


def test_connection_churn(server):
    """500 short connections, many closed in the middle of a command or of a value, or with
    replies unread: the server keeps serving and its connection count returns to where it
    was (no leaked connections)."""
    with server.connect() as watcher:
        baseline = curr_connections(watcher)
        endings = [b"get churn\r\n", b"set churn 0 0 10\r\nabc", b"get chu",
                   b"set churn 0 0 1\r\nx\r\n", b"mg churn v\r\n" * 100, b"", b"bogus\r\n",
                   b"get " + b"k " * 2000]
        for i in range(500):
            sock = harness.connect(server.address(), 5)
            try:
                sock.sendall(endings[i % len(endings)])
            finally:
                sock.close()
        deadline = time.monotonic() + 5
        now = curr_connections(watcher)
        # (<=: closes of earlier tests' clients may still have been pending at the baseline)
        while now > baseline and time.monotonic() < deadline:
            time.sleep(0.05)
            now = curr_connections(watcher)
        expect(now <= baseline, "curr_connections after 500 closed clients: %d, before: %d"
               % (now, baseline))
        got = watcher.request(b"set churn2 0 0 2\r\nok\r\nget churn2\r\n")
        expect_eq(got, b"STORED\r\nVALUE churn2 0 2\r\nok\r\nEND\r\n")


def test_flush_all():
    with harness.Server() as server:
        steps(server, [
            (b"set f1 0 0 1\r\nx\r\nset f2 0 0 1\r\ny\r\n", b"STORED\r\nSTORED\r\n"),
            (b"flush_all\r\n", b"OK\r\n"),
            (b"get f1 f2\r\n", b"END\r\n"),
            (b"set f1 0 0 1\r\nx\r\n", b"STORED\r\n"),
            (b"get f1\r\n", b"VALUE f1 0 1\r\nx\r\nEND\r\n"),
            (b"flush_all noreply\r\n", b""),
            (b"get f1\r\n", b"END\r\n"),
            (b"set f1 0 0 1\r\nx\r\n", b"STORED\r\n"),
            (b"flush_all 0\r\n", b"OK\r\n"),
            (b"get f1\r\n", b"END\r\n"),
            # a delayed flush leaves items alone until its time comes
            (b"set f1 0 0 1\r\nx\r\n", b"STORED\r\n"),
            (b"flush_all 1000\r\n", b"OK\r\n"),
            (b"get f1\r\n", b"VALUE f1 0 1\r\nx\r\nEND\r\n"),
            (b"flush_all 1000 noreply\r\n", b""),
            (b"get f1\r\n", b"VALUE f1 0 1\r\nx\r\nEND\r\n"),
            (b"flush_all abc\r\n", b"CLIENT_ERROR invalid exptime argument\r\n"),
            (b"get f1\r\n", b"VALUE f1 0 1\r\nx\r\nEND\r\n"),
            (b"flush_all 0 noreply\r\n", b""),
            (b"get f1\r\n", b"END\r\n"),
            # a negative delay flushes at once
            (b"set f1 0 0 1\r\nx\r\n", b"STORED\r\n"),
            (b"flush_all -1\r\n", b"OK\r\n"),
            (b"get f1\r\n", b"END\r\n"),
            (b"set f1 0 0 1\r\nx\r\n", b"STORED\r\n"),
            (b"get f1\r\n", b"VALUE f1 0 1\r\nx\r\nEND\r\n"),
        ])


def test_item_size_limit(args, limit, key_len):
    """The largest value memcached accepts for a key of key_len bytes under -I, and one byte
    more: the error swallows the data and removes the old value."""
    key = b"L" * key_len
    with harness.Server(args=args) as server:
        with server.connect(timeout=10) as conn:
            expect_eq(conn.request(b"set %s 0 0 %d\r\n%s\r\n" % (key, limit, b"v" * limit)),
                      b"STORED\r\n", "set of %d bytes" % limit)
            got = conn.request(b"get %s\r\n" % key)
            expect_eq(got, b"VALUE %s 0 %d\r\n%s\r\nEND\r\n" % (key, limit, b"v" * limit),
                      "get of %d bytes" % limit)
            expect_eq(conn.request(b"set %s 0 0 %d\r\n%s\r\n" % (key, limit + 1, b"w" * (limit + 1))),
                      b"SERVER_ERROR object too large for cache\r\n", "set of %d" % (limit + 1))
            expect_eq(conn.request(b"get %s\r\n" % key), b"END\r\n", "old value after too large")
            expect_eq(conn.request(b"set %s 0 0 1\r\nx\r\n" % key), b"STORED\r\n")
            n = 4 * limit
            expect_eq(conn.request(b"set %s 0 0 %d noreply\r\n%s\r\n" % (key, n, b"u" * n)),
                      b"", "set of %d noreply" % n)
            expect_eq(conn.request(b"get %s\r\n" % key), b"END\r\n", "old value after noreply")


def test_unix_socket():
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "shoal.sock")
        with harness.Server(unix_path=path, args=["-a", "0700"]) as server:
            steps(server, [(b"set u1 0 0 2\r\nhi\r\nget u1\r\n",
                            b"STORED\r\nVALUE u1 0 2\r\nhi\r\nEND\r\n")])
            mode = os.stat(path).st_mode & 0o777
            expect_eq(mode, 0o700, "socket mode with -a 0700")


def test_listen_on_two_addresses():
    """-l takes a comma-separated list; every address is served."""
    with harness.Server(listen="127.0.0.1,127.0.0.2") as server:
        for host in ("127.0.0.1", "127.0.0.2"):
            with harness.Conn((host, server.port)) as conn:
                expect_eq(conn.request(b"set l1 0 0 1\r\n1\r\n"), b"STORED\r\n", host)


def process_running(pid):
    """True unless pid is gone or a zombie (nobody may reap a daemon in a container)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def test_daemon_with_pid_file():
    """-d detaches; -P names the file holding the daemon's pid."""
    binary = harness.binary_under_test()
    with tempfile.TemporaryDirectory() as tmp:
        pid_file = os.path.join(tmp, "shoal.pid")
        port = harness.free_port()
        cmd = [binary, "-d", "-P", pid_file, "-p", str(port), "-l", "127.0.0.1", "-U", "0"]
        if os.geteuid() == 0:
            cmd += ["-u", "root"]
        pid = None
        try:
            rc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, timeout=10).returncode
            expect_eq(rc, 0, "exit status of the starting process")
            deadline = time.monotonic() + 10
            while pid is None and time.monotonic() < deadline:
                try:
                    with open(pid_file) as f:
                        pid = int(f.read().strip())
                except (OSError, ValueError):
                    time.sleep(0.02)
            expect(pid is not None, "no pid in %s" % pid_file)
            conn = None
            while conn is None and time.monotonic() < deadline:
                try:
                    conn = harness.Conn(port)
                except OSError:
                    time.sleep(0.02)
            expect(conn is not None, "daemon not accepting on port %d" % port)
            with conn:
                expect_eq(conn.request(b"set dm 0 0 1\r\n1\r\n"), b"STORED\r\n")
        finally:
            if pid is not None:
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
                deadline = time.monotonic() + 5
                while process_running(pid) and time.monotonic() < deadline:
                    time.sleep(0.02)
                if process_running(pid):
                    os.kill(pid, signal.SIGKILL)

VERBOSE_SCRIPT = (b"set foo 0 0 3\r\nbar\r\nget foo\r\nget nope\r\ndelete foo\r\nbogus\r\n"
                  b"incr x 1\r\nmn\r\nset big 0 0 3 noreply\r\nabc\r\nget big foo\r\n")
VERBOSE_LOG = ["F: Client using the ascii protocol", "<F set foo 0 0 3", ">F STORED",
               "<F get foo", ">F sending key foo", ">F END", "<F get nope", ">F END",
               "<F delete foo", ">F DELETED", "<F bogus", ">F ERROR", "<F incr x 1", ">F NOT_FOUND",
               "<F mn", ">F MN", "<F set big 0 0 3 noreply", ">F NOREPLY STORED",
               "<F get big foo", ">F sending key big", ">F END", "<F quit",
               "<F connection closed."]


def verbose_lines(output):
    """The -vv lines of the one client that sent commands, with its fd written as F."""
    text = output.decode("utf-8", "replace")
    start = text.find(": Client using the ascii protocol")
    if start < 0:
        return []
    start = text.rfind("\n", 0, start) + 1
    fd = text[start:text.index(":", start)]
    lines = []
    for line in text[start:].splitlines():
        for prefix in (fd + ":", "<" + fd + " ", ">" + fd + " "):
            if line.startswith(prefix):
                rest = line[len(prefix):]
                if not rest.startswith(("version", "VERSION")):  # Conn.request's end marker
                    lines.append(prefix.replace(fd, "F") + rest)
    return lines


def test_verbose_log():
    """-vv: each command and each reply on stderr, as memcached prints them."""
    with harness.Server(args=["-vv"]) as server:
        with server.connect() as conn:
            expect_eq(conn.request(VERBOSE_SCRIPT),
                      b"STORED\r\nVALUE foo 0 3\r\nbar\r\nEND\r\nEND\r\nDELETED\r\nERROR\r\n"
                      b"NOT_FOUND\r\nMN\r\nVALUE big 0 3\r\nabc\r\nEND\r\n", "replies")
            conn.send(b"quit\r\n")
        # pread, not server.output(): seeking the log file the server is writing through would
        # move the server's own write offset.
        fd = server.log.fileno()

        def log():
            return verbose_lines(os.pread(fd, os.fstat(fd).st_size, 0))
        deadline = time.monotonic() + 10
        lines = log()
        while lines[-1:] != ["<F connection closed."] and time.monotonic() < deadline:
            time.sleep(0.02)
            lines = log()
        expect_eq(lines, VERBOSE_LOG, "-vv log")


def main():
    suite = harness.Suite("test_protocol")
    server = suite.server()
    for name, pairs in CASES.items():
        suite.run(name, steps, server, pairs)
    suite.run("version", test_version, server)
    suite.run("quit", test_quit, server)
    suite.run("gets and cas", test_gets_and_cas, server)
    suite.run("gets multi and gats", test_gets_multi_and_gats, server)
    suite.run("100 KB multi-get line", test_huge_multiget, server)
    suite.run("pipelining", test_pipelining, server)
    suite.run("20 concurrent clients", test_concurrent_clients, server)
    suite.run("cas race: no lost update", test_cas_race, server)
    suite.run("append race: no lost append", test_append_race, server)
    suite.run("a client that does not read its replies", test_slow_reader, server)
    suite.run("300 connections at once", test_many_connections, server)
    suite.run("connection churn leaks nothing", test_connection_churn, server)
    suite.run("expiry", test_expiry, server)
    suite.run("flush_all", test_flush_all)
    suite.run("-m 8 evicts, -M refuses", test_memory_limit)
    suite.run("-M: small items fit when memory is full", test_small_item_when_full)
    suite.run("largest value, -I 1m, 1-byte key", test_item_size_limit, [], 1048516, 1)
    suite.run("largest value, -I 1m, 200-byte key", test_item_size_limit, [], 1048317, 200)
    suite.run("largest value, -I 2m", test_item_size_limit, ["-I", "2m"], 2097092, 1)
    suite.run("unix socket with -s and -a", test_unix_socket)
    suite.run("-l with two addresses", test_listen_on_two_addresses)
    suite.run("-d with -P pid file", test_daemon_with_pid_file)
    suite.run("-vv logs commands and replies", test_verbose_log)
    suite.run("server still alive", lambda: expect(server.alive(), "server died"))
    suite.finish()


if __name__ == "__main__":
    main()
