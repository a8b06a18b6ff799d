#!/usr/bin/python3
"""`shoal --proxy --servers ...` in front of real memcached servers (/usr/bin/memcached on free
ports of 127.0.0.1): replies are memcached's, byte for byte, keys land where nutcracker puts them
(bin/shoal-ring, itself checked against nutcracker by tests/placement), and a backend that dies
costs only its own keys. Everything started here is killed at exit, also on failure."""
import os
import random
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Failure, expect, expect_eq, short  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN_DIR = os.environ.get("BIN_DIR", os.path.join(ROOT, "bin"))
RING = os.path.join(BIN_DIR, "shoal-ring")
MEMCCAPABLE = "/usr/bin/memccapable"
NAMES = ["alpha", "beta", "gamma"]


def memcached():
    return harness.Server(harness.REFERENCE_BIN)


def servers_arg(backends, names=NAMES):
    return ",".join("127.0.0.1:%d:1 %s" % (b.port, n) for b, n in zip(backends, names))


def proxy(backends, extra=()):
    return harness.Server(args=["--proxy", "--servers", servers_arg(backends), "-t", "2"]
                          + list(extra))


def expected_owner(keys, backends, hash_name=None):
    """Index of the backend nutcracker would pick for each key (names fix the ring)."""
    specs = ["127.0.0.1:%d:1 %s" % (b.port, n) for b, n in zip(backends, NAMES)]
    out = subprocess.run([RING] + (["-H", hash_name] if hash_name else []) + specs, input=b"".join(k + b"\n" for k in keys),
                         stdout=subprocess.PIPE, check=True, timeout=30).stdout
    owners = {}
    for line in out.splitlines():
        key, index, _ = line.split(b" ")
        owners[key] = int(index)
    return owners


def test_multiget_in_order(p, backends):
    with p.connect() as c:
        keys = [b"mk%d" % i for i in range(40)]
        for k in keys[::2]:
            expect_eq(c.request(b"set " + k + b" 3 0 " + b"%d" % len(k) + b"\r\n" + k + b"\r\n"),
                      b"STORED\r\n")
        order = keys[::-1] + [keys[0], keys[0]]
        want = b"".join(b"VALUE %s 3 %d\r\n%s\r\n" % (k, len(k), k)
                        for k in order if int(k[2:]) % 2 == 0) + b"END\r\n"
        expect_eq(c.request(b"get " + b" ".join(order) + b"\r\n"), want)
    owners = expected_owner(keys[::2], backends)
    expect(len(set(owners.values())) == len(backends), "keys spread over every backend")


def test_placement(p, backends):
    keys = [b"place:%d:%d" % (i, random.randrange(1 << 30)) for i in range(300)]
    with p.connect() as c:
        c.send(b"".join(b"set %s 0 0 1 noreply\r\nx\r\n" % k for k in keys))
        expect_eq(c.request(b""), b"")
    owners = expected_owner(keys, backends)
    conns = [b.connect() for b in backends]
    try:
        for k in keys:
            for i, conn in enumerate(conns):
                got = conn.request(b"get " + k + b"\r\n")
                has = got.startswith(b"VALUE")
                if has != (owners[k] == i):
                    raise Failure("%s: on backend %d: %s; nutcracker's owner: %d"
                                  % (k, i, has, owners[k]))
    finally:
        for conn in conns:
            conn.close()


def test_hash_option(_p, backends):
    """--hash fnv1a_64 places keys where nutcracker's `hash: fnv1a_64` would."""
    p = proxy(backends, ["--hash", "fnv1a_64"])
    try:
        keys = [b"fnv:%d" % i for i in range(120)]
        with p.connect() as c:
            c.send(b"".join(b"set %s 0 0 1 noreply\r\nh\r\n" % k for k in keys))
            expect_eq(c.request(b""), b"")
        owners = expected_owner(keys, backends, "fnv1a_64")
        md5_owners = expected_owner(keys, backends)
        expect(owners != md5_owners, "fnv1a_64 and md5 place these keys differently")
        conns = [b.connect() for b in backends]
        try:
            for k in keys:
                got = conns[owners[k]].request(b"get " + k + b"\r\n")
                expect(got.startswith(b"VALUE"), "%s on backend %d" % (k, owners[k]))
        finally:
            for conn in conns:
                conn.close()
    finally:
        p.stop()


def test_noreply_and_quiet(p, backends):
    with p.connect() as c:
        expect_eq(c.request(b"set nq 0 0 1 noreply\r\n1\r\nincr nq 5 noreply\r\n"
                            b"delete nq_missing noreply\r\nget nq\r\n"),
                  b"VALUE nq 0 1\r\n6\r\nEND\r\n")
        expect_eq(c.request(b"ms mq 2 q\r\nhi\r\nmg mq v q\r\nmg mq_missing v q\r\n"
                            b"md mq_missing q\r\nmn\r\n"),
                  b"VA 2\r\nhi\r\nNF\r\nMN\r\n")
        expect_eq(c.request(b"mg mq_missing k O123\r\nmg mq k v Oab\r\n"),
                  b"EN kmq_missing O123\r\nVA 2 kmq Oab\r\nhi\r\n")


# A pipelined stream of commands whose replies do not depend on which server holds what (no
# CAS numbers or statistics): sent at once through the proxy and to one memcached holding
# everything, the replies must be the same bytes.
def random_stream(rng, n):
    keys = [b"p%d" % i for i in range(30)]
    out = []
    for _ in range(n):
        k = rng.choice(keys)
        v = b"v" * rng.randrange(0, 40)
        r = rng.randrange(16)
        if r == 0:
            out.append(b"get " + b" ".join(rng.choice(keys) for _ in range(rng.randrange(1, 12)))
                       + b"\r\n")
        elif r == 1:
            out.append(b"set %s %d 0 %d\r\n%s\r\n" % (k, rng.randrange(5), len(v), v))
        elif r == 2:
            out.append(b"add %s 0 0 %d noreply\r\n%s\r\n" % (k, len(v), v))
        elif r == 3:
            out.append(b"append %s 0 0 %d\r\n%s\r\n" % (k, len(v), v))
        elif r == 4:
            out.append(b"delete %s\r\n" % k)
        elif r == 5:
            out.append(b"incr %s %d\r\n" % (k, rng.randrange(100)))
        elif r == 6:
            out.append(b"set %s 0 0 %d\r\n%d\r\n" % (k, len(b"%d" % len(v)), len(v)))
        elif r == 7:
            out.append(b"touch %s 0\r\n" % k)
        elif r == 8:
            out.append(b"mg %s v f k O%d\r\n" % (k, rng.randrange(1000)))
        elif r == 9:
            out.append(b"ms %s %d T0 q\r\n%s\r\n" % (k, len(v), v))
        elif r == 10:
            out.append(b"md %s q\r\n" % k)
        elif r == 11:
            out.append(b"ma %s D3\r\n" % k)
        elif r == 12:
            out.append(b"mn\r\n")
        elif r == 13:
            out.append(b"bogus command\r\n")
        elif r == 14:
            out.append(b"gat 0 %s %s\r\n" % (k, rng.choice(keys)))
        else:
            out.append(b"set %s 0 0 2\r\nabcd\r\n" % k)  # bad data chunk
    return out


def test_pipelined_like_one_memcached(p, backends):
    reference = memcached()
    try:
        for seed in range(3):
            rng = random.Random(seed)
            stream = b"".join(random_stream(rng, 400))
            with p.connect() as a, reference.connect() as b:
                got = a.request(stream, timeout=20)
                want = b.request(stream, timeout=20)
            if got != want:
                at = next((i for i in range(min(len(got), len(want))) if got[i] != want[i]),
                          min(len(got), len(want)))
                raise Failure("seed %d differs at byte %d: proxy %s memcached %s"
                              % (seed, at, short(got[at - 80:at + 200]),
                                 short(want[at - 80:at + 200])))
            with p.connect() as a, reference.connect() as b:
                expect_eq(a.request(b"flush_all\r\n"), b"OK\r\n")
                expect_eq(b.request(b"flush_all\r\n"), b"OK\r\n")
    finally:
        reference.stop()


def test_memccapable(p, backends):
    if not os.access(MEMCCAPABLE, os.X_OK):
        raise Failure("no %s" % MEMCCAPABLE)
    proc = subprocess.run([MEMCCAPABLE, "-a", "-h", "127.0.0.1", "-p", str(p.port), "-t", "5"],
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=120)
    out = (proc.stdout + proc.stderr).decode("utf-8", "replace")
    passed = out.count("[pass]")
    expect(proc.returncode == 0 and "[FAIL]" not in out and passed >= 27,
           "memccapable -a exit %d, %d passed: %s" % (proc.returncode, passed, out[-600:]))


def test_client_gone_with_requests_in_flight(p, backends):
    for _ in range(5):
        c = p.connect()
        c.send(b"".join(b"get gone%d a b c d e f\r\n" % i for i in range(500))
               + b"set gone 0 0 1\r\n1\r\n" * 100)
        c.close()
    with p.connect() as c:
        expect_eq(c.request(b"set after 0 0 1\r\n1\r\nget after\r\n"),
                  b"STORED\r\nVALUE after 0 1\r\n1\r\nEND\r\n")


def test_half_close(p, backends):
    """A client that sends its requests and shuts down its side still gets every reply."""
    with socket.create_connection(("127.0.0.1", p.port), timeout=5) as s:
        s.sendall(b"set hc 0 0 2\r\nhi\r\n" + b"get hc a b c\r\n" * 20)
        s.shutdown(socket.SHUT_WR)
        got = b""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
    expect_eq(got, b"STORED\r\n" + b"VALUE hc 0 2\r\nhi\r\nEND\r\n" * 20)


def stats_proxy(p):
    with p.connect() as c:
        got = c.request(b"stats proxy\r\n")
    stats = {}
    for line in got.splitlines():
        if line.startswith(b"STAT "):
            _, name, value = line.split(b" ", 2)
            stats[name.decode()] = value.decode()
    return stats


def test_stats_proxy(p, backends):
    before = stats_proxy(p)
    for n in NAMES:
        expect("%s:requests" % n in before and "%s:in_flight" % n in before,
               "stats proxy names every backend: %s" % sorted(before))
    expect_eq(before["beta:addr"], "127.0.0.1:%d" % backends[1].port, "beta's address")
    with p.connect() as c:
        c.request(b"".join(b"get st%d\r\n" % i for i in range(50)))
    # Each worker publishes its counters once per loop turn, after the turn's replies went out:
    # a reader may be a turn behind, so poll (bounded) until they show the 50 gets.
    deadline = time.monotonic() + 10
    while True:
        after = stats_proxy(p)
        total = sum(int(after[n + ":requests"]) - int(before[n + ":requests"]) for n in NAMES)
        replies = sum(int(after[n + ":replies"]) - int(before[n + ":replies"]) for n in NAMES)
        if (total >= 50 and replies >= 50) or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    expect(total >= 50 and replies >= 50, "requests +%d, replies +%d" % (total, replies))


def start_memcached_on(port):
    proc = subprocess.Popen([harness.REFERENCE_BIN, "-p", str(port), "-l", "127.0.0.1", "-U", "0"]
                            + (["-u", "root"] if os.geteuid() == 0 else []),
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.02)
    proc.kill()
    raise Failure("memcached did not come back on port %d" % port)


def test_dead_backend(p, backends):
    keys = [b"dead%d" % i for i in range(60)]
    owners = expected_owner(keys, backends)
    victim = 2
    mine = [k for k in keys if owners[k] == victim]
    others = [k for k in keys if owners[k] != victim]
    expect(mine and others, "keys on both sides")
    with p.connect() as c:
        for k in keys:
            expect_eq(c.request(b"set %s 0 0 1\r\n1\r\n" % k), b"STORED\r\n")
        port = backends[victim].port
        backends[victim].stop(kill=True)
        got = c.request(b"get " + b" ".join(keys) + b"\r\n")
        want = b"".join(b"VALUE %s 0 1\r\n1\r\nEND\r\n" % k for k in others).replace(
            b"END\r\n", b"") + b"END\r\n"
        expect_eq(got, want, "multi-get with one backend dead")
        got = c.request(b"set %s 0 0 1\r\n2\r\n" % mine[0])
        expect(got.startswith(b"SERVER_ERROR backend"), "set on a dead backend: %s" % short(got))
        got = c.request(b"set %s 0 0 1 noreply\r\n2\r\n" % mine[0])
        expect(got.startswith(b"SERVER_ERROR backend"), "noreply set: %s" % short(got))
        expect_eq(c.request(b"mg %s v k\r\n" % mine[0]), b"EN k%s\r\n" % mine[0], "mg miss")
        expect_eq(c.request(b"set %s 0 0 1\r\n3\r\n" % others[0]), b"STORED\r\n")
        proc = start_memcached_on(port)
        try:
            ok = False
            for _ in range(100):  # the proxy reconnects within its backoff (<= 1 s)
                if c.request(b"set %s 0 0 1\r\n4\r\n" % mine[0]) == b"STORED\r\n":
                    ok = True
                    break
                time.sleep(0.05)
            expect(ok, "set works again after the backend came back")
            expect_eq(c.request(b"get %s\r\n" % mine[0]), b"VALUE %s 0 1\r\n4\r\nEND\r\n" % mine[0])
            stats = stats_proxy(p)
            expect(int(stats["gamma:errors"]) > 0 and int(stats["gamma:reconnects"]) > 0,
                   "gamma's errors and reconnects counted: %s" % stats)
        finally:
            proc.kill()
            proc.wait()


class FakeBackend:
    """A backend address held by a socket of ours: with listening=False nothing listens there
    (the port stays bound so no one else takes it), so a connection is refused; with True the
    kernel accepts connections and nothing ever answers."""

    def __init__(self, listening):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        if listening:
            self.sock.listen(16)
        self.port = self.sock.getsockname()[1]

    def close(self):
        self.sock.close()


def test_read_failure_as_error(_p, backends):
    """--backend-read-failure error: a read whose backend failed answers SERVER_ERROR, as a
    write does (a multi-get with any failed owner too, and a quiet mg); keys on live backends
    are unaffected and the connection stays open."""
    dead = FakeBackend(listening=False)
    pair = [backends[0], dead]
    p = harness.Server(args=["--proxy", "--servers", servers_arg(pair), "-t", "1",
                             "--backend-read-failure", "error"])
    try:
        keys = [b"rf%d" % i for i in range(40)]
        owners = expected_owner(keys, pair)
        live = [k for k in keys if owners[k] == 0]
        gone = [k for k in keys if owners[k] == 1]
        expect(live and gone, "keys on both sides")
        hit = b"VALUE %s 0 1\r\n1\r\nEND\r\n" % live[0]
        with p.connect() as c:
            expect_eq(c.request(b"set %s 0 0 1\r\n1\r\n" % live[0]), b"STORED\r\n")
            expect_eq(c.request(b"get %s\r\n" % live[0]), hit)
            for req in (b"get %s\r\n" % gone[0], b"get %s %s\r\n" % (live[0], gone[0]),
                        b"mg %s v\r\n" % gone[0], b"mg %s v q\r\n" % gone[0]):
                got = c.request(req)
                expect(got.startswith(b"SERVER_ERROR backend") and got.count(b"\r\n") == 1,
                       "%s -> %s" % (short(req), short(got)))
            expect_eq(c.request(b"get %s\r\n" % live[0]), hit, "the connection still serves")
            expect(b"STAT backend_read_failure error\r\n" in c.request(b"stats settings\r\n"),
                   "stats settings shows the policy")
    finally:
        p.stop()
        dead.close()


def test_backend_timeout(_p, _backends):
    silent = FakeBackend(listening=True)
    try:
        port = silent.port
        p = harness.Server(args=["--proxy", "--servers", "127.0.0.1:%d" % port,
                                 "--backend-timeout", "200", "-t", "1"])
        try:
            with p.connect() as c:
                # the first request on the connection is the one that times out; the next
                # ones meet a connection in backoff or timing out again: misses and errors
                expect_eq(c.request(b"set slow 0 0 1\r\n1\r\n"),
                          b"SERVER_ERROR backend timeout\r\n")
                expect_eq(c.request(b"get slow\r\n"), b"END\r\n", "a failed get is a miss")
            stats = stats_proxy(p)
            expect(int(stats["127.0.0.1:%d:timeouts" % port]) >= 1, "timeouts counted: %s" % stats)
        finally:
            p.stop()
    finally:
        silent.close()


def test_in_flight_bounded(_p, _backends):
    """A client pipelining against a backend that never answers has at most 256 commands in
    flight: the proxy stops reading it, and other clients are still served."""
    silent = FakeBackend(listening=True)
    try:
        port = silent.port
        p = harness.Server(args=["--proxy", "--servers", "127.0.0.1:%d" % port,
                                 "--backend-timeout", "5000", "-t", "1"])
        try:
            with p.connect() as c:
                c.send(b"".join(b"get inflight%d\r\n" % i for i in range(2000)))
                name = "127.0.0.1:%d:in_flight" % port
                seen = 0
                deadline = time.monotonic() + 4
                while time.monotonic() < deadline and seen < 256:
                    seen = int(stats_proxy(p)[name])
                    time.sleep(0.02)
                expect_eq(seen, 256, "in flight for the pipelining client")
                # watched for a while (20 samples), it never grows past the bound
                for _ in range(20):
                    expect(int(stats_proxy(p)[name]) <= 256, "still bounded")
                    time.sleep(0.01)
        finally:
            p.stop()
    finally:
        silent.close()


def test_refused_options(_p, _backends):
    cmd = [harness.binary_under_test(), "--proxy", "-p", "0", "-U", "0"]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=10)
    expect(proc.returncode == 64 and b"--servers" in proc.stdout,
           "--proxy alone: exit %d %s" % (proc.returncode, short(proc.stdout)))
    proc = subprocess.run(cmd + ["--servers", "nohost"], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, timeout=10)
    expect(proc.returncode == 64, "a bad --servers: exit %d" % proc.returncode)


BIG = 20000000  # over CONN_IN_MAX (8 MiB), under -I 32m
HUGE = 40000000  # over -I 32m


def big_value(n, seed):
    """n bytes that differ by seed and position, so a shifted or mixed-up block is caught."""
    unit = bytes((seed * 7 + i * 13) % 251 for i in range(4096))
    return (unit * (n // len(unit) + 1))[:n]


def big_setup():
    """Three memcached -I 32m and a proxy -I 32m in front of them (stopped by the caller). The
    backend timeout is long: these tests are about sizes, and a loaded machine can stall a
    20 MB transfer past the default second."""
    servers = [harness.Server(harness.REFERENCE_BIN, ["-I", "32m"]) for _ in NAMES]
    servers.append(proxy(servers[:3], ["-I", "32m", "--backend-timeout", "20000"]))
    return servers[:3], servers[3]


def test_big_values(_p, _backends):
    """A 20 MB value through the proxy: set, get, a multi-get with it, pipelined gets, and one
    written straight to its backend relayed back."""
    backends, p = big_setup()
    try:
        big = big_value(BIG, 1)
        with p.connect(timeout=30) as c:
            expect_eq(c.request(b"set big:a 5 0 %d\r\n" % BIG + big + b"\r\n"), b"STORED\r\n")
            want_a = b"VALUE big:a 5 %d\r\n" % BIG + big + b"\r\n"
            expect(c.request(b"get big:a\r\n") == want_a + b"END\r\n", "get of the 20 MB value")
            small = [b"small:%d" % i for i in range(6)]
            c.send(b"".join(b"set %s 0 0 1 noreply\r\n%d\r\n" % (k, i % 10)
                            for i, k in enumerate(small)))
            keys = small[:3] + [b"big:a", b"big:missing"] + small[3:]
            want = b"".join(b"VALUE %s 0 1\r\n%d\r\n" % (k, i % 10) for i, k in enumerate(small)
                            if k in keys[:3]) + want_a + b"".join(
                b"VALUE %s 0 1\r\n%d\r\n" % (k, 3 + i) for i, k in enumerate(small[3:])) \
                + b"END\r\n"
            expect(c.request(b"get " + b" ".join(keys) + b"\r\n") == want,
                   "a multi-get with the 20 MB value")
            got = c.request(b"gets big:a\r\nget small:0\r\nmg big:a v f k\r\ngets big:a\r\n")
            head = got[:got.index(b"\r\n") + 2]
            expect(head.startswith(b"VALUE big:a 5 %d " % BIG), "gets head %s" % short(head))
            one_gets = head + big + b"\r\nEND\r\n"
            want = (one_gets + b"VALUE small:0 0 1\r\n0\r\nEND\r\n"
                    + b"VA %d f5 kbig:a\r\n" % BIG + big + b"\r\n" + one_gets)
            expect(got == want, "pipelined gets of the 20 MB value (%d bytes, want %d)"
                   % (len(got), len(want)))
            # two big sets pipelined with other commands in one stream
            big2 = big_value(BIG - 1, 9)
            got = c.request(b"set big:p 1 0 %d\r\n" % BIG + big + b"\r\nget small:1\r\n"
                            + b"set big:q 2 0 %d noreply\r\n" % len(big2) + big2
                            + b"\r\nget big:q small:2\r\n")
            expect(got == b"STORED\r\nVALUE small:1 0 1\r\n1\r\nEND\r\n"
                   + b"VALUE big:q 2 %d\r\n" % len(big2) + big2
                   + b"\r\nVALUE small:2 0 1\r\n2\r\nEND\r\n",
                   "big sets pipelined with gets: %s" % short(got))
        # the reply direction alone: a value written straight to its owner
        owner = expected_owner([b"big:direct"], backends)[b"big:direct"]
        other = big_value(BIG + 3, 2)
        with backends[owner].connect(timeout=30) as d:
            expect_eq(d.request(b"set big:direct 0 0 %d\r\n" % len(other) + other + b"\r\n"),
                      b"STORED\r\n")
        with p.connect(timeout=30) as c:
            expect(c.request(b"get big:direct\r\n")
                   == b"VALUE big:direct 0 %d\r\n" % len(other) + other + b"\r\nEND\r\n",
                   "a 20 MB value from a backend relayed")
    finally:
        p.stop()
        for b in backends:
            b.stop()


def test_too_large_values(_p, _backends):
    """Blocks over -I get memcached's answers (the same -I), byte for byte, the connection
    stays open, and the old value is gone as in memcached."""
    backends, p = big_setup()
    reference = harness.Server(harness.REFERENCE_BIN, ["-I", "32m"])
    try:
        huge = big_value(HUGE, 3)
        cases = [
            b"set tl:a 0 0 3\r\nold\r\nset tl:a 0 0 %d\r\n" % HUGE + huge + b"\r\nget tl:a\r\n",
            b"set tl:b 0 0 3\r\nold\r\nms tl:b %d T0 MA\r\n" % HUGE + huge + b"\r\nmg tl:b v\r\n",
            b"set tl:c 0 0 3\r\nold\r\nset tl:c 0 0 %d noreply\r\n" % HUGE + huge + b"\r\nmn\r\n"
            + b"get tl:c\r\n",
            b"set tl:d 0 0 3\r\nold\r\nadd tl:d 0 0 %d\r\n" % HUGE + huge + b"\r\nget tl:d\r\n",
            b"set tl:e 0 0 %d\r\n" % HUGE + huge + b"XX\r\nget tl:e\r\n",
            # a base64 key (placed by its decoded bytes, "tl:f")
            b"set tl:f 0 0 3\r\nold\r\nms dGw6Zg== %d b\r\n" % HUGE + huge
            + b"\r\nmg tl:f v\r\n",
            b"set tl:g 0 0 3\r\nold\r\nms tl:g %d Mz\r\n" % HUGE + huge + b"\r\nmg tl:g v\r\n",
        ]
        for case in cases:
            with p.connect(timeout=30) as a, reference.connect(timeout=30) as b:
                want = b.request(case)
                got = a.request(case)
                expect(got == want, "proxy %s, memcached %s" % (short(got), short(want)))
                expect_eq(a.request(b"set tl:after 0 0 2\r\nok\r\nget tl:after\r\n"),
                          b"STORED\r\nVALUE tl:after 0 2\r\nok\r\nEND\r\n",
                          "the connection still works")
    finally:
        reference.stop()
        p.stop()
        for b in backends:
            b.stop()


def server_stats(server):
    with server.connect() as c:
        got = c.request(b"stats\r\n")
    return {line.split(b" ")[1].decode(): int(line.split(b" ")[2])
            for line in got.splitlines()
            if line.startswith(b"STAT ") and line.split(b" ")[2].isdigit()}


def wait_bytes_read(server, at_least):
    deadline = time.monotonic() + 20
    while True:
        stats = server_stats(server)
        if stats["bytes_read"] >= at_least or time.monotonic() > deadline:
            return stats
        time.sleep(0.02)


def test_big_block_memory(_p, _backends):
    """A block over -I is never held whole (swallowed as it comes); one within -I is held in a
    buffer sized once and freed after."""
    backends, p = big_setup()
    try:
        base = server_stats(p)
        part = 12000000  # more than CONN_IN_MAX, less than either block
        with p.connect(timeout=30) as c:
            huge = big_value(HUGE, 4)
            c.send(b"set mem:huge 0 0 %d\r\n" % HUGE + huge[:part])
            stats = wait_bytes_read(p, base["bytes_read"] + part)
            expect(stats["bytes_read"] >= base["bytes_read"] + part, "the proxy read the part")
            expect(stats["read_buf_bytes"] < base["read_buf_bytes"] + (1 << 20),
                   "over -I: %d bytes held" % (stats["read_buf_bytes"] - base["read_buf_bytes"]))
            expect_eq(c.request(huge[part:] + b"\r\n"),
                      b"SERVER_ERROR object too large for cache\r\n")
            base = server_stats(p)
            big = big_value(BIG, 5)
            c.send(b"set mem:big 0 0 %d\r\n" % BIG + big[:part])
            stats = wait_bytes_read(p, base["bytes_read"] + part)
            held = stats["read_buf_bytes"] - base["read_buf_bytes"]
            expect(BIG <= held < BIG + (1 << 20), "within -I: %d bytes held" % held)
            expect_eq(c.request(big[part:] + b"\r\n"), b"STORED\r\n")
            held = server_stats(p)["read_buf_bytes"] - base["read_buf_bytes"]
            expect(held < (1 << 20), "after the set: %d bytes held" % held)
    finally:
        p.stop()
        for b in backends:
            b.stop()


class TrickleBackend:
    """A backend that answers the proxy's first get with a reply it trickles out: a value sent
    in `chunks` pieces `gap` seconds apart, so that the whole reply takes several backend
    timeouts while bytes keep coming; then it answers the second get at once. It answers the
    proxy's hello (any "me" line) with EN. Runs on its own thread until closed."""

    def __init__(self, chunks, gap):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.value = b"t" * (chunks * 1000)
        self.chunks, self.gap = chunks, gap
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(30)
            buf = b""
            while buf.count(b"get ") < 2:
                data = conn.recv(4096)
                if not data:
                    return
                buf += data
                if buf.startswith(b"me "):
                    line, _, buf = buf.partition(b"\r\n")
                    conn.sendall(b"EN\r\n")
            conn.sendall(b"VALUE a 0 %d\r\n" % len(self.value))
            for i in range(self.chunks):
                time.sleep(self.gap)
                conn.sendall(self.value[i * 1000:(i + 1) * 1000])
            conn.sendall(b"\r\nEND\r\nVALUE b 0 1\r\nx\r\nEND\r\n")
            conn.recv(1)  # until the proxy closes

    def close(self):
        self.sock.close()


def test_slow_reply_queued_request(_p, _backends):
    """A request queued behind a reply that takes far longer than the backend timeout, while
    its bytes keep coming, is not timed out: the timeout counts from the connection's last
    progress, not only from the send. (2 s of reply, one piece every 0.1 s, a 1 s timeout.)"""
    slow = TrickleBackend(chunks=20, gap=0.1)
    p = harness.Server(args=["--proxy", "--servers", "127.0.0.1:%d:1 slow" % slow.port, "-t", "1",
                             "--backend-timeout", "1000"])
    try:
        with p.connect(timeout=30) as c:
            got = c.request(b"get a\r\nget b\r\n")
            want = (b"VALUE a 0 %d\r\n" % len(slow.value) + slow.value + b"\r\nEND\r\n"
                    + b"VALUE b 0 1\r\nx\r\nEND\r\n")
            expect_eq(got, want)
    finally:
        p.stop()
        slow.close()


def test_flush_disabled(_p, backends):
    """-F holds for a proxy as for memcached: flush_all is refused, never fanned out."""
    p = proxy(backends, ["-F"])
    try:
        with p.connect() as c:
            expect_eq(c.request(b"set nf:k 0 0 1\r\nx\r\n"), b"STORED\r\n")
            expect_eq(c.request(b"flush_all\r\n"), b"CLIENT_ERROR flush_all not allowed\r\n")
            expect_eq(c.request(b"get nf:k\r\n"), b"VALUE nf:k 0 1\r\nx\r\nEND\r\n")
    finally:
        p.stop()


def test_partial_flush(_p, backends):
    """A flush_all that some servers did not carry out says so: the client must not believe the
    whole cache was flushed."""
    dead = FakeBackend(listening=False)
    p = harness.Server(args=["--proxy", "--servers", servers_arg([backends[0], dead], NAMES[:2]),
                             "-t", "1"])
    try:
        with p.connect() as c:
            got = c.request(b"flush_all\r\n")
            expect(got.startswith(b"SERVER_ERROR reached 1 of 2 servers: backend "),
                   "flush_all with one of two servers dead: %s" % short(got))
    finally:
        p.stop()
        dead.close()


def peak_rss(server):
    with open("/proc/%d/status" % server.proc.pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise Failure("no VmHWM for pid %d" % server.proc.pid)


def test_big_multiget_memory(_p, _backends):
    """A multi-get of many large values cannot take the proxy's memory: a backend reply past
    64 MiB is read and dropped as it arrives, and the command answers SERVER_ERROR; smaller
    multi-gets and the connection keep working."""
    n, size = 150, 1000000  # 150 MB in one backend's reply
    backends = [harness.Server(harness.REFERENCE_BIN, ["-m", "400", "-I", "2m"])]
    # a long backend timeout: a loaded machine must not turn the drop into a timeout (a miss)
    p = harness.Server(args=["--proxy", "--servers", servers_arg(backends, NAMES[:1]), "-t", "1",
                             "-I", "2m", "--backend-timeout", "20000"])
    try:
        value = big_value(size, 7)
        keys = [b"mget:%d" % i for i in range(n)]
        with p.connect(timeout=30) as c:
            for k in keys:
                expect_eq(c.request(b"set %s 0 0 %d\r\n" % (k, size) + value + b"\r\n"),
                          b"STORED\r\n")
            got = c.request(b"get " + b" ".join(keys) + b"\r\n")
            expect_eq(got, b"SERVER_ERROR backend reply too large\r\n")
            got = c.request(b"get " + b" ".join(keys[:20]) + b"\r\n")
            expect(got.count(b"VALUE mget:") == 20 and got.endswith(b"END\r\n"),
                   "20 values after the refused multi-get: %d" % got.count(b"VALUE mget:"))
        peak = peak_rss(p)
        # (a sanitizer's shadow memory multiplies RSS: the bound holds for the plain build)
        if not os.environ.get("SHOAL_TEST_SANITIZED"):
            expect(peak < 120 * 1000000, "proxy peak RSS %d MB for a %d MB reply"
                   % (peak // 1000000, n * size // 1000000))
        print("    big multi-get: proxy peak RSS %.1f MB for a %d MB reply" % (peak / 1e6, n * size // 1000000))
    finally:
        p.stop()
        for b in backends:
            b.stop()


def main():
    suite = harness.Suite("test_proxy")
    try:
        backends = [memcached() for _ in NAMES]
    except harness.ServerError as e:
        suite.fail("memcached starts", str(e))
        suite.finish()
    p = suite.server(args=["--proxy", "--servers", servers_arg(backends), "-t", "2"])
    for name, fn in [("multi-get across owners in client order", test_multiget_in_order),
                     ("keys land where nutcracker puts them", test_placement),
                     ("--hash fnv1a_64 places keys as nutcracker", test_hash_option),
                     ("noreply and quiet meta", test_noreply_and_quiet),
                     ("pipelined mixed stream equals one memcached", test_pipelined_like_one_memcached),
                     ("memccapable -a through the proxy", test_memccapable),
                     ("client gone with requests in flight", test_client_gone_with_requests_in_flight),
                     ("half-closed client gets its replies", test_half_close),
                     ("stats proxy", test_stats_proxy),
                     ("dead backend: misses, SERVER_ERROR, recovery", test_dead_backend),
                     ("backend timeout", test_backend_timeout),
                     ("--backend-read-failure error: failed reads answer SERVER_ERROR",
                      test_read_failure_as_error),
                     ("in-flight commands per client are bounded", test_in_flight_bounded),
                     ("--proxy needs --servers", test_refused_options),
                     ("20 MB values through the proxy with -I 32m", test_big_values),
                     ("values over -I answered as memcached", test_too_large_values),
                     ("big blocks: memory bounded by -I, freed after", test_big_block_memory),
                     ("a request queued behind a slow reply does not time out",
                      test_slow_reply_queued_request),
                     ("-F: flush_all refused, not fanned out", test_flush_disabled),
                     ("flush_all that reached some servers says so", test_partial_flush),
                     ("a multi-get of 150 MB: bounded memory, SERVER_ERROR", test_big_multiget_memory)]:
        suite.run(name, fn, p, backends)
    suite.finish()


if __name__ == "__main__":
    main()
