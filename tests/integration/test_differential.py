#!/usr/bin/python3
"""Differential test: the same byte streams, valid and invalid, go to /usr/bin/memcached and to
$SHOAL_BIN (both started fresh here, with the same flags); the replies must be equal byte for
byte after harness.normalise() (CAS numbers, version string), and so must the fate of the
connection (still open, or closed by the server).

A case is a function of a server that returns a transcript (a list of values); both servers
run the whole list at the same time, each in its own thread, and the transcripts are compared
case by case. A case whose memcached transcript shows a timeout is a broken case, reported as
such. When $SHOAL_BIN is memcached itself the comparison is trivially equal."""
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import short  # noqa: E402

SUT_TIMEOUT = float(os.environ.get("SHOAL_TEST_SUT_TIMEOUT", "5"))  # slower than this is a hang

K250 = b"k" * 250
K251 = b"k" * 251


# ---- case builders ---------------------------------------------------------------------

def stream(*requests, raw=False):
    """Each request on one connection, in turn; the transcript holds each reply and whether
    the connection was still open after it (stops at the first close). raw: compare CAS
    numbers too (with -C they are all 0)."""
    def run(server):
        out = []
        with server.connect(timeout=SUT_TIMEOUT) as conn:
            for request in requests:
                got, status = conn.exchange(request)
                out.append((got if raw else harness.normalise(got), status))
                if status != "ok":
                    break
        return out
    return run


def unterminated(data, then=b"\r\n"):
    """data without a newline. The server may close the connection (a non-get line over 2048
    bytes) or wait for the rest; in the second case `then` and a sentinel complete it."""
    def run(server):
        with server.connect(timeout=SUT_TIMEOUT) as conn:
            conn.send(data)
            closed = conn.wait_closed(timeout=2.0)  # memcached closes at once; allow for load
            out = [("closed" if closed else "open", harness.normalise(conn.buf))]
            conn.buf = b""
            if not closed:
                got, status = conn.exchange(then)
                out.append((harness.normalise(got), status))
        return out
    return run


def split_sends(*chunks):
    """One request sent in pieces, each piece after the server answered a sentinel on
    another connection (so each piece arrives as its own read, most likely)."""
    def run(server):
        with server.connect(timeout=SUT_TIMEOUT) as conn, \
                server.connect(timeout=SUT_TIMEOUT) as other:
            for chunk in chunks:
                conn.send(chunk)
                other.request(b"")
            got, status = conn.exchange(b"")
            return [(harness.normalise(got), status)]
    return run


# ---- the corpus ------------------------------------------------------------------------

CASES = []


def case(name, fn):
    CASES.append((name, fn))


def s(name, *requests):
    case(name, stream(*requests))


# Valid traffic, as a baseline.
s("set/get", b"set v1 1 0 3\r\nabc\r\nget v1\r\ngets v1\r\n")
s("all storage commands", b"add v2 0 0 1\r\na\r\nappend v2 0 0 1\r\nb\r\nprepend v2 0 0 1\r\nc\r\n"
  b"replace v2 5 0 3\r\nxyz\r\nget v2\r\nadd v2 0 0 1\r\nq\r\nreplace v2x 0 0 1\r\nq\r\n"
  b"append v2x 0 0 1\r\nq\r\nprepend v2x 0 0 1\r\nq\r\n")
s("noreply storage", b"set v3 0 0 1 noreply\r\na\r\nadd v3 0 0 1 noreply\r\nb\r\n"
  b"append v3 0 0 1 noreply\r\nc\r\nprepend v3 0 0 1 noreply\r\nd\r\n"
  b"replace v3 0 0 2 noreply\r\nee\r\nget v3\r\n")
s("incr/decr", b"set v4 0 0 2\r\n99\r\nincr v4 1\r\ndecr v4 200\r\nincr v4 18446744073709551615\r\n"
  b"incr v4 1\r\nget v4\r\ndecr v4x 1\r\nincr v4 1 noreply\r\nget v4\r\n")
s("delete/touch/gat", b"set v5 0 0 1\r\nx\r\ntouch v5 100\r\ngat 100 v5\r\ngats 0 v5\r\n"
  b"delete v5\r\ndelete v5\r\ntouch v5 1\r\ngat 1 v5\r\n")
s("meta basics", b"ms v6 2 T100 F3\r\nhi\r\nmg v6 v s f t k O1\r\nma v6x N0 J5 v\r\nmd v6 q\r\n"
  b"mg v6 q\r\nmn\r\nme v6x\r\n")
s("version and verbosity", b"version\r\nverbosity 1\r\nverbosity 0 noreply\r\n")
s("many keys in one get", b"get " + b" ".join(b"mk%d" % i for i in range(200)) + b"\r\n")

# Malformed lines.
for line in [b"set v7 0 0\r\n", b"set v7 0\r\n", b"set v7\r\n", b"set\r\n", b"get\r\n",
             b"gets\r\n", b"gat\r\n", b"gat 10\r\n", b"gats\r\n", b"incr v7\r\n", b"incr\r\n",
             b"decr v7\r\n", b"touch v7\r\n", b"touch\r\n", b"delete\r\n", b"delete v7 0 0\r\n",
             b"delete v7 noreply 0\r\n", b"delete v7 x\r\n", b"cas v7 0 0 1\r\n", b"cas\r\n",
             b"verbosity\r\n", b"verbosity x y z\r\n", b"flush_all x y\r\n", b"version x\r\n",
             b"\r\n", b"\n", b"\r\r\n", b" \r\n", b"  get v7\r\n", b"get v7 \r\n",
             b"set  v7  0  0  1 \r\nx\r\n", b"set\tv7 0 0 1\r\nx\r\n", b"SET v7 0 0 1\r\nx\r\n",
             b"GET v7\r\n", b"get v7\x00x\r\n", b"get\x00\r\n", b"mn x y\r\n", b"stats nosuch\r\n",
             b"incr v7 1 2 3\r\n", b"touch v7 1 2 3\r\n", b"gets v7 v7 v7\r\n",
             b"set v7 0 0 1 noreply noreply\r\nx\r\n", b"quit now\r\n", b"shutdown\r\n",
             b"shutdown graceful\r\n", b"verbosity 1 noreply x\r\n", b"mg\r\n", b"ms\r\n",
             b"md\r\n", b"ma\r\n", b"me\r\n", b"mg v7 v\x00\r\n", b"\xff\xfe\r\n",
             b"get " + b"\xc3\xa9" * 10 + b"\r\n"]:
    s("malformed %r" % line[:40], line)

# Separators and stray bytes.
for line in [b"get\tv8\r\n", b"mg\tv8 v\r\n", b"get v8\r\r\n", b"set v8\x00x 0 0 1\r\ny\r\n",
             b"set v8 0 0 1\r\n\n\r\n", b"ms v8 1\r\n\n\r\n", b"set v8 0 0 1\n1\n",
             b"ms v8 1\n1\n", b"get v8 \x00\r\n", b"delete v8\t0\r\n", b"incr v8\t1\r\n",
             b"mn\t\r\n", b"mg v8 v\tk\r\n", b"\x00\r\n", b"\x00get v8\r\n", b"get v8\x7f\r\n"]:
    s("separators %r" % line[:30], b"set v8 0 0 1\r\nq\r\n" + line + b"get v8\r\n")

# Bad numbers in every numeric field.
NUMBERS = [b"abc", b"-1", b"-0", b"+5", b"0x10", b"1.5", b"1e5", b" ", b"4294967295",
           b"4294967296", b"2147483647", b"2147483648", b"-2147483649", b"9223372036854775807",
           b"9223372036854775808", b"18446744073709551615", b"18446744073709551616",
           b"99999999999999999999999", b"007"]
for index, n in enumerate(NUMBERS):
    # every case its own keys: an item stored with exptime 1 by one case must not be seen by
    # the next case, which would make the outcome depend on timing
    def s(name, *requests, _index=index):
        CASES.append((name, stream(*(r.replace(b" n", b" n%d_" % _index) for r in requests))))
    s("flags %r" % n, b"set nf 0 0 1\r\nq\r\nset nf %s 0 1\r\nx\r\nget nf\r\n" % n)
    s("exptime %r" % n, b"set ne 0 0 1\r\nq\r\nset ne 0 %s 1\r\nx\r\nget ne\r\n" % n)
    s("length %r" % n, b"set nl 0 0 %s\r\nx\r\nget nl\r\n" % n)
    s("incr delta %r" % n, b"set ni 0 0 2\r\n10\r\nincr ni %s\r\ndecr ni %s\r\nget ni\r\n" % (n, n))
    s("touch exptime %r" % n, b"set nt 0 0 1\r\nq\r\ntouch nt %s\r\nget nt\r\n" % n)
    s("gat exptime %r" % n, b"set ng 0 0 1\r\nq\r\ngat %s ng\r\nget ng\r\n" % n)
    s("cas unique %r" % n, b"set nc 0 0 1\r\nq\r\ncas nc 0 0 1 %s\r\nx\r\nget nc\r\n" % n)
    s("verbosity %r" % n, b"verbosity %s\r\n" % n)
    s("meta T %r" % n, b"ms nm 1 T%s\r\nx\r\nmg nm v t\r\nmg nm T%s\r\n" % (n, n))
    s("meta F %r" % n, b"ms nmf 1 F%s\r\nx\r\nmg nmf v f\r\n" % n)
    s("meta D %r" % n, b"ms nmd 2\r\n10\r\nma nmd D%s v\r\nma nmdx N%s J%s v\r\n" % (n, n, n))
    s("meta N %r" % n, b"mg nmn%d N%s v t\r\n" % (len(n), n))
    s("ms length %r" % n, b"ms nms %s\r\nx\r\nmg nms v\r\n" % n)
del s


def s(name, *requests):
    case(name, stream(*requests))


for n in [b"0", b"-1", b"abc", b"4294967296", b"99999999999999999999"]:
    s("incr value %r" % n, b"set niv 0 0 %d\r\n%s\r\nincr niv 1\r\nget niv\r\n" % (len(n), n))
for value in [b"1 ", b" 1", b"0001", b"12345678901234567890", b"-5", b"5\x00"]:
    s("incr of %r" % value,
      b"set nv 0 0 %d\r\n%s\r\nincr nv 1\r\nget nv\r\ndecr nv 1\r\n" % (len(value), value))

# Key lengths 250 and 251 on every command that takes a key.
for k, tag in ((K250, b"250"), (K251, b"251")):
    s("key %s: storage" % tag.decode(),
      b"set %s 0 0 1\r\nx\r\nadd %s 0 0 1\r\nx\r\nreplace %s 0 0 1\r\nx\r\n"
      b"append %s 0 0 1\r\nx\r\nprepend %s 0 0 1\r\nx\r\ncas %s 0 0 1 1\r\nx\r\n" % ((k,) * 6))
    # one exchange each: memcached drops the replies queued before a failing get in the
    # same read, which depends on how the stream was read
    s("key %s: retrieval" % tag.decode(), b"get %s\r\n" % k, b"gets %s\r\n" % k,
      b"gat 0 %s\r\n" % k, b"gats 0 %s\r\n" % k, b"get a %s b\r\n" % k)
    s("key %s: others" % tag.decode(),
      b"incr %s 1\r\ndecr %s 1\r\ntouch %s 1\r\ndelete %s\r\n" % ((k,) * 4))
    s("key %s: meta" % tag.decode(),
      b"ms %s 1\r\nx\r\nmg %s v k\r\nma %s\r\nmd %s\r\nme %s\r\n" % ((k,) * 5))
s("key with control bytes", b"set a\x01b 0 0 1\r\nx\r\nget a\x01b\r\n")
s("base64 key of 251 decoded bytes", b"mg " + b"YWFh" * 84 + b" b v\r\n")

# Too many tokens.
s("get with 30 keys", b"set tk 0 0 1\r\nx\r\nget " + b"tk " * 30 + b"\r\n")
s("set with extra tokens", b"set tk2 0 0 1 noreply a b c d e f g h i j k l m n o p q r s t\r\nx\r\n")
s("incr with 30 tokens", b"incr tk3 1" + b" x" * 30 + b"\r\n")
s("delete with 30 tokens", b"delete tk4" + b" x" * 30 + b"\r\n")
s("mg with 25 flags", b"mg tk5" + b" v" * 25 + b"\r\n")
s("mg with 24 distinct flags", b"mg tk6 b c f h k l O1 q s t v N1 R1 T1 u x y z E1 P1 L1 M1 S1 I\r\n")

# Wrong data length, missing CRLF after data.
s("data shorter than declared", b"set dl1 0 0 5\r\nab\r\ncdefg\r\nget dl1\r\n")
s("data longer than declared", b"set dl2 0 0 3\r\nabcd\r\nget dl2\r\n")
s("data longer, old value", b"set dl3 0 0 1\r\nq\r\nset dl3 0 0 3\r\nabcd\r\nget dl3\r\n")
s("data then junk instead of CRLF", b"set dl4 0 0 3\r\nabcXXget dl4\r\n")
s("data then CR only", b"set dl5 0 0 3\r\nabc\rget dl5\r\n")
s("data then LF only", b"set dl6 0 0 3\r\nabc\nget dl6\r\n")
s("data then CRLFCRLF", b"set dl7 0 0 3\r\nabc\r\n\r\nget dl7\r\n")
s("meta data too long", b"ms dl8 2\r\nabc\r\nmg dl8 v\r\n")
s("meta data too short", b"ms dl9 5\r\nab\r\ncdefg\r\nmg dl9 v\r\n")
s("noreply data too long", b"set dl10 0 0 2 noreply\r\nabc\r\nget dl10\r\n")
s("append data too long", b"set dl11 0 0 1\r\na\r\nappend dl11 0 0 1\r\nbc\r\nget dl11\r\n")

# Noreply on errors.
for line in [b"set nr 0 0 x noreply\r\nab\r\n", b"incr nr abc noreply\r\n",
             b"incr nrmissing 1 noreply\r\n", b"delete nr 5 noreply\r\n",
             b"touch nr abc noreply\r\n", b"cas nr 0 0 1 abc noreply\r\nx\r\n",
             b"nosuchcommand noreply\r\n", b"set nr 0 0 1 noreply\r\nabc\r\n",
             b"set " + K251 + b" 0 0 1 noreply\r\nx\r\n", b"verbosity noreply\r\n",
             b"flush_all abc noreply\r\n", b"get nr noreply\r\n", b"cas nrmissing 0 0 1 1 noreply\r\nx\r\n",
             b"set nr 0 0 1\r\n5\r\nincr nr 1 noreply\r\nget nr\r\n"]:
    s("noreply error %r" % line[:40], line)

# HTTP and other protocols.
s("HTTP request", b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
s("HTTP POST", b"POST /x HTTP/1.0\r\n\r\n")
s("HTTP without version", b"GET /\r\n")
for line in [b"foo\r\n", b"gett k\r\n", b"sets k 0 0 1\r\n", b"m\r\n", b"mgg k\r\n", b"mz k\r\n",
             b"getx\r\n", b"stats_x\r\n", b"lru_crawler nonsense\r\n", b"watch nonsense\r\n",
             b"slabs nonsense\r\n", b"cache_memlimit\r\n", b"misbehave\r\n"]:
    s("unknown command %r" % line[:20], line)

# Oversize values (default -I 1m).
s("oversize set removes the old value",
  b"set ov1 0 0 1\r\nq\r\nset ov1 0 0 1048577\r\n" + b"x" * 1048577 + b"\r\nget ov1\r\n")
s("oversize add/replace/append keep the old value",
  b"set ov2 0 0 1\r\nq\r\nadd ov2 0 0 2000000\r\n" + b"x" * 2000000 + b"\r\n"
  b"replace ov2 0 0 2000000\r\n" + b"x" * 2000000 + b"\r\nappend ov2 0 0 2000000\r\n"
  + b"x" * 2000000 + b"\r\nget ov2\r\n")
s("oversize ms", b"ms ov3 1\r\nq\r\nms ov3 1048577\r\n" + b"x" * 1048577 + b"\r\nmg ov3 v\r\n")
s("oversize noreply", b"set ov4 0 0 1\r\nq\r\nset ov4 0 0 1048577 noreply\r\n" + b"x" * 1048577
  + b"\r\nget ov4\r\n")
s("oversize length over 2^31", b"set ov5 0 0 3000000000\r\nxx\r\nget ov5\r\n")
s("incr result grows the value", b"set ov6 0 0 1\r\n9\r\nincr ov6 1\r\nget ov6\r\n"
  b"incr ov6 18446744073709551515\r\nget ov6\r\n")

# Lines without a newline.
case("2049-byte set line without newline", unterminated(b"set " + b"a" * 2045))
case("4000-byte junk line without newline", unterminated(b"x" * 4000))
case("3000-byte get line without newline", unterminated(b"get " + b"abcdefghi " * 300))
case("3000-byte gets line without newline", unterminated(b"gets " + b"abcdefghi " * 300))
case("get with over 100 leading spaces", unterminated(b" " * 101 + b"get " + b"a " * 1500))
case("2000-byte line without newline", unterminated(b"set k 0 0 1" + b" " * 1989, b"\r\nx\r\n"))
case("meta get line without newline", unterminated(b"mg " + b"a" * 3000))
s("3000-byte key line with newline", b"get " + b"a" * 3000 + b"\r\n")
s("3000-byte set line with newline", b"set " + b"a" * 3000 + b" 0 0 1\r\nx\r\n")
s("line of 3000 spaces", b" " * 3000 + b"\r\n")
case("command split across reads", split_sends(b"se", b"t sp 0 0 5\r", b"\nhel", b"lo\r",
                                               b"\nget sp\r\n"))
case("data split after CR", split_sends(b"set sp2 0 0 2\r\nab\r", b"\nget sp2\r\n"))

# Pipelines mixing errors and good commands.
s("pipeline of errors and commands",
  b"set pe 0 0 1\r\na\r\nbogus\r\nget pe\r\nincr pe 1\r\nset pe 0 0 x\r\nget pe\r\n"
  b"mg pe v\r\nmd pe q\r\nmg pe v\r\n" * 3)

s("quit mid pipeline", b"set qp 0 0 1\r\na\r\nget qp\r\nquit\r\nget qp\r\n")
s("flush_all forms", b"set fa 0 0 1\r\na\r\nflush_all\r\nget fa\r\nflush_all 0\r\n"
  b"flush_all noreply\r\nflush_all -1\r\nflush_all abc\r\nflush_all 0 noreply\r\n")


# Admin commands, on servers of their own (they change server-wide settings).
ADMIN_CASES = []
for line in [b"cache_memlimit 100", b"cache_memlimit 0", b"cache_memlimit 7", b"cache_memlimit abc",
             b"cache_memlimit 100 noreply", b"cache_memlimit", b"lru mode flat",
             b"lru mode segmented", b"lru mode x", b"lru tune 10 30 0.1 2", b"lru",
             b"slabs automove 1", b"slabs automove 0", b"slabs automove 9", b"slabs", b"slabs x",
             b"lru_crawler disable", b"lru_crawler sleep 100", b"lru_crawler tocrawl 10",
             b"lru_crawler", b"lru_crawler x", b"stats reset", b"stats detail on",
             b"stats detail dump", b"stats detail off", b"stats detail",
             b"stats sizes_enable", b"stats sizes_disable", b"stats sizes", b"extstore",
             b"debugtime", b"misbehave", b"verbosity 5", b"verbosity 0",
             b"cache_memlimit 1000000001", b"cache_memlimit 8 noreply x", b"lru tune 41 40 0.1 2",
             b"lru tune 10 30 0 2", b"lru tune 10 30 x 2", b"lru temp_ttl 5", b"slabs automove 3",
             b"slabs automove x", b"slabs automove ratio 0.5", b"lru_crawler enable",
             b"lru_crawler crawl all", b"lru_crawler crawl 64", b"lru_crawler sleep 1000001",
             b"lru_crawler sleep x", b"lru_crawler tocrawl x", b"lru_crawler disable x"]:
    ADMIN_CASES.append(("admin %r" % line, stream(line + b"\r\n")))


def chunked(seed, request):
    """request sent in pieces of 1 to 60 bytes (a seeded sequence), each piece after a round
    trip on another connection, so that the server sees many partial reads."""
    import random
    rng = random.Random(seed)
    chunks = []
    i = 0
    while i < len(request):
        n = rng.randint(1, 60)
        chunks.append(request[i:i + n])
        i += n
    return split_sends(*chunks)


CHUNKED_PIPELINE = (
    b"set ch1 1 0 10\r\n0123456789\r\nget ch1\r\nappend ch1 0 0 3\r\nabc\r\ngets ch1\r\n"
    b"incr ch2 1\r\nset ch2 0 0 2\r\n41\r\nincr ch2 1\r\ndelete ch1\r\nget ch1 ch2\r\n"
    b"ms ch3 5 T100 F7\r\nhello\r\nmg ch3 v f t s k\r\nma ch4 N0 J9 v\r\nmd ch3 q\r\n"
    b"mg ch3 q v\r\nmn\r\nset ch5 0 0 300\r\n" + b"z" * 300 + b"\r\nget ch5\r\n"
    b"set ch6 0 0 3 noreply\r\nabc\r\nbogus command\r\nset ch6 0 0 x\r\nget ch6\r\n"
    b"touch ch6 100\r\ngat 100 ch6\r\nverbosity 0\r\n")
case("pipeline in random pieces (seed 1)", chunked(1, CHUNKED_PIPELINE))
case("pipeline in random pieces (seed 2)", chunked(2, CHUNKED_PIPELINE.replace(b"ch", b"cx")))
case("pipeline in random pieces (seed 3)", chunked(3, CHUNKED_PIPELINE.replace(b"ch", b"cy")))
s("values bigger than a read buffer, pipelined",
  b"".join(b"set bb%d 0 0 %d\r\n%s\r\n" % (i, 20000 + i, bytes([65 + i]) * (20000 + i))
           for i in range(10)) + b"get " + b" ".join(b"bb%d" % i for i in range(10)) + b"\r\n")


# ---- scenarios with several connections ----------------------------------------------

def stall_scenario(server):
    """One client sends half a command and stalls; others are served meanwhile; then the
    first one finishes and gets its reply."""
    out = []
    with server.connect(timeout=SUT_TIMEOUT) as a, server.connect(timeout=SUT_TIMEOUT) as b, \
            server.connect(timeout=SUT_TIMEOUT) as c:
        a.send(b"set stall 0 0 10\r\nabc")
        c.send(b"get stall stall2")
        for _ in range(3):
            out.append(b.exchange(b"set other 0 0 2\r\nok\r\nget other stall\r\n"))
        a.send(b"defghij\r\n")
        out.append(a.exchange(b"get stall\r\n"))
        c.send(b"\r\n")
        out.append(c.exchange(b""))
    return [(harness.normalise(g), st) for g, st in out]


case("half a command then stall", stall_scenario)


def closed_mid_value(server):
    """A client that disconnects in the middle of a value stores nothing."""
    with server.connect(timeout=SUT_TIMEOUT) as a:
        a.send(b"set cmv 0 0 100\r\n" + b"x" * 50)
    with server.connect(timeout=SUT_TIMEOUT) as b:
        return [b.request(b"get cmv\r\n")]


case("client closes in the middle of a value", closed_mid_value)


def item_size_limits(args):
    """The largest value stored for a few key lengths, found by bisection."""
    def run(server):
        out = []
        with server.connect(timeout=10) as conn:
            for key in (b"a", b"b" * 100, b"c" * 250):
                lo, hi = 1, 4 * 1024 * 1024
                for _ in range(30):
                    if lo >= hi:
                        break
                    mid = (lo + hi + 1) // 2
                    got = conn.request(b"set %s 0 0 %d\r\n%s\r\n" % (key, mid, b"v" * mid))
                    if got == b"STORED\r\n":
                        lo = mid
                    else:
                        hi = mid - 1
                out.append((len(key), lo))
        return out
    return run


# ---- stats ------------------------------------------------------------------------------

def parse_stats(reply):
    stats = []
    for line in reply.split(b"\r\n"):
        if line.startswith(b"STAT "):
            parts = line.split(b" ", 2)
            stats.append((parts[1], parts[2] if len(parts) > 2 else b""))
    return stats


# Counters that a known command script on a fresh server determines exactly. (Not `threads`:
# Shoal defaults -t to the number of cores, memcached to 4; "stats settings" checks -t. Not
# total_items: memcached counts 7 or 8 for this script, depending on its background threads.)
COUNTERS = [b"cmd_get", b"cmd_set", b"cmd_flush", b"cmd_touch", b"cmd_meta", b"get_hits",
            b"get_misses", b"get_flushed", b"delete_misses", b"delete_hits",
            b"incr_misses", b"incr_hits", b"decr_misses", b"decr_hits", b"cas_misses",
            b"cas_hits", b"cas_badval", b"touch_hits", b"touch_misses", b"store_too_large",
            b"max_connections", b"limit_maxbytes", b"evictions",
            b"accepting_conns", b"rejected_connections"]

STATS_SCRIPT = (
    b"set s1 0 0 1\r\n1\r\nset s2 0 0 1\r\n2\r\nadd s1 0 0 1\r\nx\r\nget s1 s2 s3\r\n"
    b"gets s1\r\nincr s1 5\r\nincr s9 1\r\ndecr s1 1\r\ndecr s9 1\r\ndelete s2\r\n"
    b"delete s2\r\ntouch s1 100\r\ntouch s9 1\r\ncas s1 0 0 1 1\r\nx\r\ncas s9 0 0 1 1\r\n"
    b"x\r\ngat 100 s1 s9\r\nmg s1 v\r\nmg s9 v\r\n"
    b"ms s5 1\r\n5\r\nma s5\r\nmd s5\r\nmn\r\nset s6 0 0 2000000\r\n" + b"x" * 2000000 +
    b"\r\nappend s1 0 0 1\r\n0\r\nprepend s1 0 0 1\r\n0\r\nreplace s1 0 0 1\r\n7\r\n"
    b"set s7 0 0 1\r\nx\r\nflush_all\r\n")
# (no item is read after the flush or after it expires: the LRU crawler may reclaim it first,
# which turns a get_flushed or get_expired into a get_misses)


def stats_counters(server):
    """The counters of `stats` after STATS_SCRIPT on a fresh server."""
    with server.connect(timeout=SUT_TIMEOUT) as conn:
        conn.request(STATS_SCRIPT)
        stats = dict(parse_stats(conn.request(b"stats\r\n")))
    return [(name, stats.get(name)) for name in COUNTERS]


def stats_names(server):
    """Which stats `stats` and `stats settings` report, in order (only those missing from
    the server under test count as a difference: see compare_stats_names)."""
    with server.connect(timeout=SUT_TIMEOUT) as conn:
        general = [n for n, _ in parse_stats(conn.request(b"stats\r\n"))]
        settings = [n for n, _ in parse_stats(conn.request(b"stats settings\r\n"))]
        other = conn.request(b"stats reset\r\nstats detail on\r\nstats detail off\r\n")
    return [("stats", general), ("stats settings", settings), ("reset/detail", other)]


SETTINGS = [b"maxbytes", b"maxconns", b"udpport", b"inter", b"evictions", b"shutdown_command",
            b"growth_factor", b"chunk_size", b"num_threads", b"reqs_per_event", b"cas_enabled",
            b"tcp_backlog", b"item_size_max", b"flush_enabled", b"idle_timeout",
            b"read_buf_mem_limit", b"maxconns_fast", b"hashpower_init", b"verbosity"]
SETTINGS_ARGS = ["-m", "32", "-c", "500", "-t", "2", "-I", "2m", "-F", "-A", "-M", "-C",
                 "-f", "1.5", "-n", "64", "-R", "10", "-b", "256", "-o", "idle_timeout=600",
                 "-v"]


def stats_settings(server):
    with server.connect(timeout=SUT_TIMEOUT) as conn:
        settings = dict(parse_stats(conn.request(b"stats settings\r\n")))
        general = dict(parse_stats(conn.request(b"stats\r\n")))
    return ([(name, settings.get(name)) for name in SETTINGS]
            + [(name, general.get(name)) for name in (b"threads", b"max_connections",
                                                      b"limit_maxbytes")])


# ---- servers with their own flags ------------------------------------------------------

def flag_cases():
    """(name, server args, case function) for behaviour that depends on flags."""
    out = [
        ("-I 1m largest values", [], item_size_limits([])),
        ("-I 2m largest values", ["-I", "2m"], item_size_limits(["-I", "2m"])),
        ("-C: gets without CAS", ["-C"],
         stream(b"set c1 0 0 1\r\nx\r\ngets c1\r\ncas c1 0 0 1 0\r\ny\r\nmg c1 c v\r\n"
                b"ms c1 1 c\r\nz\r\nma c2 N0 J1 c v\r\n", raw=True)),
        ("-F: flush_all refused", ["-F"],
         stream(b"set f1 0 0 1\r\nx\r\nflush_all\r\nflush_all 0\r\nflush_all noreply\r\n"
                b"get f1\r\n")),
        ("no -A: shutdown refused", [],
         stream(b"shutdown\r\n", b"shutdown graceful\r\n", b"shutdown x\r\n")),
        ("-A: bad shutdown mode", ["-A"], stream(b"shutdown x\r\n", b"shutdown now\r\n")),
        ("-A: shutdown", ["-A"], shutdown_case(b"shutdown\r\n")),
        ("-A: shutdown graceful", ["-A"], shutdown_case(b"shutdown graceful\r\n")),
        ("-c: too many connections", ["-c", "40", "-t", "4"], maxconns_case),
        ("-o idle_timeout=1: idle clients are closed", ["-o", "idle_timeout=1"], idle_case),
        ("stats counters after a known script", [], stats_counters),
        ("stats names", [], stats_names),
        ("stats settings reflect the flags", SETTINGS_ARGS, stats_settings),
    ]
    return out


def idle_case(server):
    """An idle connection is closed after a few seconds (memcached checks about once a
    second); waits at most 8 s."""
    with server.connect(timeout=SUT_TIMEOUT) as conn:
        got = conn.request(b"set idle 0 0 1\r\nx\r\n")
        closed = conn.wait_closed(timeout=8)
        return [got, closed, conn.buf]


def shutdown_case(line):
    def run(server):
        with server.connect(timeout=SUT_TIMEOUT) as conn:
            got, status = conn.exchange(line)
        try:
            server.proc.wait(5)
            exited = server.proc.returncode
        except Exception:
            exited = "still running"
        return [(got, status), ("exit", exited)]
    return run


def maxconns_case(server):
    """Connects until the server refuses with "ERROR Too many open connections" and closes;
    after some clients leave, connections are accepted again. The exact number accepted
    depends on how the server counts its own descriptors, so it is printed, not compared."""
    conns = []
    out = []
    refused = None
    try:
        for i in range(80):  # twice -c: memcached refuses sooner, as it counts its own fds
            conn = server.connect(timeout=SUT_TIMEOUT)
            got, status = conn.exchange(b"")
            if status != "ok":
                refused = (got, status)
                conn.close()
                break
            conns.append(conn)
        out.append(("refused", refused))
        maxconns_case.accepted[server.binary] = len(conns)
        for conn in conns[:3]:
            conn.close()
        # the server notices the closes asynchronously: poll, bounded
        deadline = time.monotonic() + 5
        again = None
        while time.monotonic() < deadline:
            conn = server.connect(timeout=SUT_TIMEOUT)
            got, status = conn.exchange(b"")
            if status == "ok":
                again = (got, status)
                conns.append(conn)
                break
            conn.close()
            time.sleep(0.05)
        out.append(("accepted again", again))
    finally:
        for conn in conns:
            conn.close()
    return out


maxconns_case.accepted = {}


# ---- command lines ---------------------------------------------------------------------

def free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# memcached command lines an operator may have: the server under test must start and serve
# where memcached does, and refuse where memcached refuses.
COMMAND_LINES = [
    ["-o", "modern"], ["-o", "slab_reassign,slab_automove"], ["-o", "lru_crawler"],
    ["-o", "no_lru_crawler"], ["-o", "hashpower=20"], ["-o", "idle_timeout=30"],
    ["-o", "maxconns_fast"], ["-o", "no_maxconns_fast"], ["-o", "read_buf_mem_limit=64"],
    ["-o", "tail_repair_time=10"], ["-o", "lru_maintainer"], ["-o", "no_lru_maintainer"],
    ["-o", "hot_lru_pct=20"], ["-o", "temporary_ttl=61"], ["-o", "nonsense"], ["-v"], ["-vv"],
    ["-vvv"], ["-r"], ["-D", ":"], ["-B", "ascii"], ["-B", "auto"], ["-B", "binary"],
    ["-R", "20"], ["-b", "1024"], ["-n", "48"], ["-f", "1.25"], ["-f", "0.5"], ["-t", "1"],
    ["-t", "0"], ["-t", "65"], ["-c", "1024"], ["-c", "0"], ["-m", "64"], ["-m", "0"], ["-M"],
    ["-C"], ["-X"], ["-W"], ["-I", "512"], ["-I", "2m"], ["-I", "129m"], ["-U", str(free_udp_port())],
    ["-Z"], ["-S"], ["-A"], ["-F"], ["-h"], ["-V"], ["--threads=2"],
    ["--memory-limit=64"], ["--max-conns=100"], ["--disable-cas"], ["--enable-shutdown"],
    ["--disable-flush-all"], ["--extended=modern"], ["-x"], ["-Q"],
]


def start_outcome(binary, args):
    """'serves' (starts and answers), 'silent' (starts, answers no ASCII) or 'refuses'."""
    try:
        server = harness.Server(binary, args)
    except harness.ServerError:
        return "refuses"
    try:
        with server.connect(timeout=SUT_TIMEOUT) as conn:
            _, status = conn.exchange(b"")
        return "serves" if status == "ok" else "silent"
    finally:
        server.stop(kill=True)


def command_line_name(args):
    return "-U <udp port>" if args[0] == "-U" else " ".join(args)


def command_line_results(sut):
    """{case name: (memcached's outcome, sut's outcome)}, eight command lines at a time."""
    from concurrent.futures import ThreadPoolExecutor
    jobs = [(command_line_name(args), binary, args) for args in COMMAND_LINES
            for binary in (harness.REFERENCE_BIN, sut)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(lambda job: start_outcome(job[1], job[2]), jobs))
    results = {}
    for (name, binary, _), outcome in zip(jobs, outcomes):
        results.setdefault("command line " + name, []).append(outcome)
    return results


# ---- running -----------------------------------------------------------------------------

def run_all(server, cases, results, deadline):
    for name, fn in cases:
        if time.monotonic() > deadline:
            results[name] = [("not run: the suite's time budget is spent (does it hang?)",)]
            continue
        try:
            results[name] = fn(server)
        except Exception as e:  # recorded as the outcome, compared like any other
            results[name] = [("exception", type(e).__name__, str(e)[:200])]
        if not server.alive():
            results[name].append(("server died",))
            server.start()


def run_pair(cases, args, reference, sut, deadline):
    """Runs cases against fresh memcached and SUT servers started with args, in parallel."""
    ref = harness.Server(harness.REFERENCE_BIN, args)
    try:
        out = harness.Server(sut, args)
    except harness.ServerError as e:
        ref.stop()
        return ({name: [("started",)] for name, _ in cases},
                {name: [("server error", str(e)[:300])] for name, _ in cases})
    ref_results, sut_results = {}, {}
    threads = [threading.Thread(target=run_all, args=(ref, cases, ref_results, deadline)),
               threading.Thread(target=run_all, args=(out, cases, sut_results, deadline))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    ref.stop()
    out.stop()
    return ref_results, sut_results


def transcript_equal(a, b):
    if isinstance(a, bytes) and isinstance(b, bytes):
        return harness.clock_tolerant_equal(a, b)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(transcript_equal(x, y) for x, y in zip(a, b))
    return a == b


def first_difference(ref, got):
    """The first few differing steps of two transcripts."""
    diffs = ["step %d: memcached %s, shoal %s" % (i, fmt(r), fmt(g))
             for i, (r, g) in enumerate(zip(ref, got)) if not transcript_equal(r, g)]
    if diffs:
        more = " (and %d more)" % (len(diffs) - 4) if len(diffs) > 4 else ""
        return "; ".join(diffs[:4]) + more
    return "memcached %d steps %s, shoal %d steps %s" % (len(ref), fmt(ref), len(got), fmt(got))


def fmt(value):
    if isinstance(value, bytes):
        return short(value, 300)
    if isinstance(value, (list, tuple)):
        return "(" + ", ".join(fmt(v) for v in value) + ")"
    return repr(value)


def compare_stats_names(ref, got):
    """What the server under test lacks (extra stats are allowed)."""
    if len(got) != len(ref) or not all(isinstance(x, tuple) and len(x) == 2 for x in got):
        return ["got %s" % fmt(got)]
    out = []
    for (what, ref_value), (_, got_value) in zip(ref, got):
        if isinstance(ref_value, list):
            missing = [n.decode() for n in ref_value if n not in got_value]
            if missing:
                out.append("%s lacks %s" % (what, " ".join(missing)))
        elif ref_value != got_value:
            out.append("%s: memcached %s, shoal %s" % (what, fmt(ref_value), fmt(got_value)))
    return out


def has_timeout(transcript):
    if isinstance(transcript, str):
        return transcript == "timeout"
    if isinstance(transcript, (list, tuple)):
        return any(has_timeout(x) for x in transcript)
    return False


def main():
    suite = harness.Suite("test_differential")
    sut = harness.binary_under_test()
    suite.server(sut).stop()  # ends the suite with one clear failure if it cannot start
    groups = [(CASES, []), (ADMIN_CASES, [])]
    per_flag = flag_cases()
    for name, args, fn in per_flag:
        groups.append(([(name, fn)], args))

    # the shared-server corpus in one pair, each flag case in a pair of its own; the flag
    # pairs run a few at a time next to each other to keep the wall time short
    results = []
    lock = threading.Lock()

    def run_group(cases, args):
        try:
            ref, got = run_pair(cases, args, harness.REFERENCE_BIN, sut, deadline)
        except harness.ServerError as e:  # the reference did not start
            ref = {name: [("reference did not start", str(e)[:300])] for name, _ in cases}
            got = {name: [("not run",)] for name, _ in cases}
        with lock:
            results.append((cases, ref, got))

    deadline = suite.start + harness.SUITE_BUDGET
    main_group = threading.Thread(target=run_group, args=groups[0])
    main_group.start()
    pending = [threading.Thread(target=run_group, args=g) for g in groups[1:]]
    for i in range(0, len(pending), 3):
        batch = pending[i:i + 3]
        for t in batch:
            t.start()
        for t in batch:
            t.join(180)
    main_group.join(180)
    if time.monotonic() < deadline:
        command_lines = command_line_results(sut)
    else:
        command_lines = {"command line " + command_line_name(a): ["not run", "time budget spent"]
                         for a in COMMAND_LINES}

    order = {name: i for i, (name, _) in
             enumerate(CASES + ADMIN_CASES + [(n, f) for n, _, f in per_flag])}
    rows = []
    for cases, ref, got in results:
        for name, _ in cases:
            rows.append((order[name], name, ref.get(name), got.get(name)))
    for _, name, ref, got in sorted(rows):
        if ref is None or got is None:
            suite.fail(name, "no result (a runner thread hung)")
        elif has_timeout(ref):
            suite.fail(name, "broken case: memcached itself timed out: %s" % fmt(ref))
        elif name == "stats names":
            missing = compare_stats_names(ref, got)
            if missing:
                suite.fail(name, "; ".join(missing))
            else:
                suite.ok(name)
        elif transcript_equal(ref, got):
            suite.ok(name)
            if os.environ.get("SHOAL_DIFF_DUMP"):  # to see what memcached answered
                print("     memcached: %s" % fmt(ref))
        else:
            suite.fail(name, first_difference(ref, got))
    for name, (ref, got) in command_lines.items():
        if ref == got:
            suite.ok(name)
        else:
            suite.fail(name, "memcached %s, shoal %s" % (ref, got))
    if maxconns_case.accepted:
        print("# -c 40 -t 4: clients accepted before refusal: %s" % ", ".join(
            "%s=%d" % (os.path.basename(b), n) for b, n in maxconns_case.accepted.items()))
    suite.finish()


if __name__ == "__main__":
    main()
