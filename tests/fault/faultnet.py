"""The fault harness: real bin/shoal processes in a private network namespace, network faults made
with nftables rules inside it, process faults with signals, a client that records a history and a
checker that finds stale reads in it. Not a test itself (not executable: tests/run skips it).

Layout inside the namespace (created by `enter_namespace`, which re-executes the calling script
under `unshare -n`; the namespace and everything in it disappear with the script's process tree):
  - `lo` up; node i (1..N) listens on 127.0.0.(10+i):PORT (TCP, memcached protocol) and gossips
    on the same address and port over UDP; every node joins through node 1.
  - the test client talks from 127.0.0.2, an address of its own, so that a cut between nodes never
    cuts the client off.
  - one nftables table `inet faultnet` with an input and an output chain (both see loopback
    traffic); every fault is one rule, removed by its handle.

Without root, `unshare` or `nft`, `enter_namespace` prints why, prints `0 passed, 0 failed, 1
skipped` and exits 0: tests/run counts a skip, never a pass.

Checker rule (cluster/README.md, "Partitions"): every write carries a version unique to it. A read
may return a miss, or the value of any write not older than the latest write acknowledged before
the read began. It is *stale* if the write it returns had been acknowledged before a write that was
itself acknowledged before the read began (so a newer value was known to be in place). Writes that
failed or timed out may have been applied or not, at any time: they never make a read stale."""
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHOAL = os.environ.get("SHOAL_BIN", os.path.join(ROOT, "bin", "shoal"))
INSIDE = "SHOAL_FAULTNET_INSIDE"
CLIENT_ADDR = "127.0.0.2"
PORT = 11211
TABLE = "faultnet"
# Gossip timings: a 100 ms period with the default suspicion multipliers, so that a cut-off node
# is declared dead in about 1-2 s; push-pull every 2 s so that a healed partition finds itself
# quickly; routed requests give up after 300 ms rather than a second.
TIMINGS = ["--gossip-interval", "100", "--gossip-probe-timeout", "40",
           "--gossip-join-retry", "200", "--gossip-pushpull-interval", "2000",
           "--backend-timeout", "300"]


def skip(reason):
    print("skip: %s" % reason)
    print("0 passed, 0 failed, 1 skipped")
    sys.stdout.flush()
    sys.exit(0)


def enter_namespace():
    """Runs the rest of the calling script inside a fresh network namespace (re-executing it under
    `unshare -n`), or skips it (prints why and exits) when that is not possible."""
    if os.environ.get(INSIDE) == "1":
        _setup_inside()
        return
    if os.geteuid() != 0:
        skip("the fault harness needs root (unshare -n, nft)")
    for tool in ("unshare", "nft", "ip"):
        if not shutil.which(tool):
            skip("%s is not installed (scripts/install-deps installs nftables and iproute2)" % tool)
    probe = subprocess.run(["unshare", "-n", "true"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE)
    if probe.returncode != 0:
        skip("unshare -n failed: %s" % probe.stderr.decode(errors="replace").strip())
    env = dict(os.environ, **{INSIDE: "1"})
    sys.stdout.flush()
    os.execvpe("unshare", ["unshare", "-n", "--", sys.executable] + sys.argv, env)


def _run(args):
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(args), p.stderr.decode(errors="replace")))
    return p.stdout.decode()


def _setup_inside():
    _run(["ip", "link", "set", "lo", "up"])
    _run(["nft", "add", "table", "inet", TABLE])
    for chain, hook in (("input", "input"), ("output", "output")):
        _run(["nft", "add", "chain", "inet", TABLE, chain,
              "{ type filter hook %s priority 0; policy accept; }" % hook])


# ---- network faults ------------------------------------------------------------------------------

class Faults:
    """nftables rules in the namespace's table. Each method returns a handle list for `heal`."""

    def __init__(self):
        self.active = []

    def _add(self, chain, rule):
        out = _run(["nft", "-e", "-a", "add", "rule", "inet", TABLE, chain] + rule.split())
        handle = int(out.split("# handle ")[1].split()[0])
        self.active.append((chain, handle))
        return (chain, handle)

    def cut(self, side_a, side_b, both_ways=True):
        """Drops every packet from the addresses of side_a to those of side_b (and back)."""
        a = "{ %s }" % ", ".join(side_a)
        b = "{ %s }" % ", ".join(side_b)
        rules = [self._add("input", "ip saddr %s ip daddr %s drop" % (a, b))]
        if both_ways:
            rules.append(self._add("input", "ip saddr %s ip daddr %s drop" % (b, a)))
        return rules

    def loss(self, percent, proto="udp", among=None):
        """Drops percent% of the packets of proto (udp or tcp) at random (numgen random), only
        between the given addresses when among is set."""
        match = "meta l4proto %s" % proto
        if among:
            s = "{ %s }" % ", ".join(among)
            match += " ip saddr %s ip daddr %s" % (s, s)
        return [self._add("input", "%s numgen random mod 100 < %d drop" % (match, percent))]

    def heal(self, rules=None):
        """Removes the given rules (all when None)."""
        for chain, handle in list(self.active if rules is None else rules):
            _run(["nft", "delete", "rule", "inet", TABLE, chain, "handle", str(handle)])
            self.active.remove((chain, handle))


# ---- nodes ---------------------------------------------------------------------------------------

def node_addr(i):
    return "127.0.0.%d" % (10 + i)


class Node:
    def __init__(self, cluster, i):
        self.cluster = cluster
        self.i = i
        self.name = "n%d" % i
        self.addr = node_addr(i)
        self.log = os.path.join(cluster.tmp.name, self.name + ".log")
        self.proc = None
        self.stopped = False

    def args(self):
        a = [SHOAL, "-p", str(PORT), "-l", self.addr, "-U", "0", "-t", "2", "-v",
             "--node-name", self.name, "--cluster-secret-file", self.cluster.secret] + TIMINGS
        if self.i != 1:
            a += ["--join", node_addr(1)]
        return a + list(self.cluster.extra)

    def start(self):
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(self.args(), stdout=subprocess.DEVNULL, stderr=log)
        self.stopped = False
        self.cluster.procs.append(self.proc)
        wait_until(self.listening, "%s to listen" % self.name)

    def listening(self):
        if self.proc.poll() is not None:
            raise AssertionError("%s exited (%s): %s" % (self.name, self.proc.returncode,
                                                         self.log_tail()))
        try:
            connect(self.addr, 0.5).close()
            return True
        except OSError:
            return False

    def kill(self):
        if self.stopped:
            self.proc.send_signal(signal.SIGCONT)
        self.proc.kill()
        self.proc.wait(timeout=10)

    def pause(self):
        self.proc.send_signal(signal.SIGSTOP)
        self.stopped = True

    def resume(self):
        self.proc.send_signal(signal.SIGCONT)
        self.stopped = False

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines=30):
        with open(self.log, "rb") as f:
            return "\n".join(f.read().decode(errors="replace").splitlines()[-lines:])

    def stats(self, group=b"cluster"):
        """{name: value} of `stats <group>`, and the cluster_member lines as {name: (state, inc)}."""
        s = connect(self.addr, 2.0)
        try:
            s.sendall(b"stats " + group + b"\r\n")
            buf = b""
            while not buf.endswith(b"END\r\n"):
                chunk = s.recv(65536)
                if not chunk:
                    raise OSError("closed")
                buf += chunk
        finally:
            s.close()
        plain, members = {}, {}
        for line in buf.decode().split("\r\n"):
            f = line.split()
            if len(f) >= 3 and f[0] == "STAT":
                if f[1] == "cluster_member" and len(f) >= 6:
                    members[f[2]] = (f[4], int(f[5]))
                else:
                    plain[f[1]] = f[2]
        return plain, members

    def view(self):
        """{member name: state} as this node sees it."""
        return {k: v[0] for k, v in self.stats()[1].items()}


class Cluster:
    """N nodes n1..nN; kills every process it started on exit (close)."""

    def __init__(self, n, extra=()):
        self.tmp = tempfile.TemporaryDirectory(prefix="shoal-fault-")
        self.secret = os.path.join(self.tmp.name, "secret")
        fd = os.open(self.secret, os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, (os.urandom(32).hex() + "\n").encode())
        os.close(fd)
        self.extra = list(extra)
        self.procs = []
        self.nodes = [Node(self, i) for i in range(1, n + 1)]

    def node(self, i):
        return self.nodes[i - 1]

    def start(self):
        for nd in self.nodes:
            nd.start()
        self.wait_views({nd.name: "alive" for nd in self.nodes}, "every node alive everywhere")

    def wait_views(self, expect, what, nodes=None, limit=20.0):
        """Waits until every node of `nodes` (default: all running) sees every member of expect
        in that state."""
        def ok():
            for nd in nodes or [x for x in self.nodes if x.running() and not x.stopped]:
                try:
                    v = nd.view()
                except OSError:
                    return False
                if any(v.get(name) != state for name, state in expect.items()):
                    return False
            return True
        wait_until(ok, what, limit)

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGCONT)
                p.kill()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        self.tmp.cleanup()

    def sanitizer_reports(self):
        """Lines of the nodes' logs where a sanitizer (make asan, make tsan) reported something."""
        found = []
        for nd in self.nodes:
            with open(nd.log, "rb") as f:
                for line in f.read().decode(errors="replace").splitlines():
                    if ("Sanitizer" in line and ("ERROR" in line or "WARNING" in line)) or \
                            "runtime error:" in line:
                        found.append("%s: %s" % (nd.name, line))
        return found

    def logs(self):
        return "\n".join("--- %s\n%s" % (nd.name, nd.log_tail()) for nd in self.nodes)


def wait_until(cond, what, limit=20.0):
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError("timed out after %.0f s waiting for %s" % (limit, what))


def connect(addr, timeout):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((CLIENT_ADDR, 0))
    try:
        s.connect((addr, PORT))
    except OSError:
        s.close()
        raise
    return s


# ---- client and history --------------------------------------------------------------------------

class Op:
    """One request as the history keeps it. kind: 'w' or 'r'; outcome: 'ok' (stored / answered),
    'err' (SERVER_ERROR, or an error line), 'fail' (timeout or connection trouble); value: the
    version written, or the version read (None: a miss)."""
    __slots__ = ("kind", "key", "value", "node", "t0", "t1", "outcome", "phase")

    def __init__(self, kind, key, value, node, t0, t1, outcome, phase):
        self.kind, self.key, self.value, self.node = kind, key, value, node
        self.t0, self.t1, self.outcome, self.phase = t0, t1, outcome, phase


class Client:
    """One connection per node, from CLIENT_ADDR; every request bounded by `timeout`. Values are
    b"v<version>". Records every request in self.history with the phase set by the caller."""

    def __init__(self, cluster, timeout=1.5):
        self.cluster = cluster
        self.timeout = timeout
        self.conns = {}
        self.history = []
        self.phase = ""
        self.version = 0

    def next_version(self):
        self.version += 1
        return self.version

    def _conn(self, nd):
        s = self.conns.get(nd.i)
        if s is None:
            s = connect(nd.addr, self.timeout)
            self.conns[nd.i] = s
        return s

    def _drop(self, nd):
        s = self.conns.pop(nd.i, None)
        if s:
            s.close()

    def _exchange(self, nd, req, done):
        """Sends req, reads until done(buf) says the reply is whole; returns it, or raises OSError."""
        s = self._conn(nd)
        s.sendall(req)
        buf = b""
        end = time.monotonic() + self.timeout
        while not done(buf):
            if time.monotonic() > end:
                raise OSError("timeout")
            chunk = s.recv(262144)
            if not chunk:
                raise OSError("closed")
            buf += chunk
        return buf

    def set(self, nd, key, version=None):
        v = self.next_version() if version is None else version
        val = b"v%d" % v
        t0 = time.monotonic()
        try:
            r = self._exchange(nd, b"set %s 0 0 %d\r\n%s\r\n" % (key.encode(), len(val), val),
                               lambda b: b.endswith(b"\r\n"))
            outcome = "ok" if r == b"STORED\r\n" else "err"
        except OSError:
            self._drop(nd)
            outcome = "fail"
        self.history.append(Op("w", key, v, nd.i, t0, time.monotonic(), outcome, self.phase))
        return outcome

    def get_many(self, nd, keys):
        """One multi-get; returns {key: version or None}, or None when the request failed."""
        t0 = time.monotonic()
        req = b"get " + " ".join(keys).encode() + b"\r\n"
        got = {}
        try:
            r = self._exchange(nd, req, lambda b: b.endswith(b"END\r\n") or
                               (b.endswith(b"\r\n") and (b.startswith(b"SERVER_ERROR") or
                                                         b.startswith(b"ERROR") or
                                                         b.startswith(b"CLIENT_ERROR"))))
            if not r.endswith(b"END\r\n"):
                outcome = "err"
            else:
                outcome = "ok"
                pos = 0
                while r.startswith(b"VALUE ", pos):
                    eol = r.index(b"\r\n", pos)
                    f = r[pos:eol].split()
                    n = int(f[3])
                    got[f[1].decode()] = int(r[eol + 2:eol + 2 + n][1:])
                    pos = eol + 2 + n + 2
        except OSError:
            self._drop(nd)
            outcome = "fail"
        t1 = time.monotonic()
        for k in keys:
            self.history.append(Op("r", k, got.get(k), nd.i, t0, t1, outcome, self.phase))
        return {k: got.get(k) for k in keys} if outcome == "ok" else None

    def get(self, nd, key):
        r = self.get_many(nd, [key])
        return None if r is None else r[key]

    def close(self):
        for s in self.conns.values():
            s.close()
        self.conns = {}


def random_workload(client, nodes, keys, seconds, rng, max_ops=100000, write_share=0.5):
    """Random writes and reads of keys through random nodes of `nodes` for `seconds` (and at
    most max_ops requests)."""
    end = time.monotonic() + seconds
    ops = 0
    while time.monotonic() < end and ops < max_ops:
        nd = rng.choice(nodes)
        key = rng.choice(keys)
        if rng.random() < write_share:
            client.set(nd, key)
        else:
            client.get(nd, key)
        ops += 1
    return ops


# ---- checker -------------------------------------------------------------------------------------

def stale_reads(history):
    """The reads (Op) that returned a value older than one known to be in place when they began."""
    import bisect
    writes = {}     # key -> acknowledged writes, by acknowledgement time
    by_version = {}  # version -> Op
    for op in history:
        if op.kind == "w":
            by_version[op.value] = op
            if op.outcome == "ok":
                writes.setdefault(op.key, []).append(op)
    acks, latest_start = {}, {}
    for key, ws in writes.items():
        ws.sort(key=lambda w: w.t1)
        acks[key] = [w.t1 for w in ws]
        run, starts = None, []
        for w in ws:                # the latest start among writes acknowledged so far
            run = w.t0 if run is None or w.t0 > run else run
            starts.append(run)
        latest_start[key] = starts
    stale = []
    for op in history:
        if op.kind != "r" or op.outcome != "ok" or op.value is None:
            continue
        w = by_version.get(op.value)
        if w is None:
            stale.append(op)        # a value nobody wrote
            continue
        if w.outcome != "ok":
            continue                # may have been applied at any time
        # writes acknowledged before this read began: the latest of their starts
        n = bisect.bisect_left(acks.get(op.key, ()), op.t0)
        if n and w.t1 < latest_start[op.key][n - 1]:
            stale.append(op)
    return stale


def availability(history):
    """{phase: (requests, share answered without error, share of reads that hit)} in the order
    phases first appear."""
    out = {}
    for op in history:
        n, ok, reads, hits = out.get(op.phase, (0, 0, 0, 0))
        r = op.kind == "r"
        out[op.phase] = (n + 1, ok + (op.outcome == "ok"), reads + r,
                         hits + (r and op.value is not None))
    return {p: (n, ok / n if n else 1.0, hits / reads if reads else 0.0)
            for p, (n, ok, reads, hits) in out.items()}


def report(history, extra=None):
    """Lines summarising a history: stale reads, and per phase the requests and share answered."""
    lines = []
    stale = stale_reads(history)
    lines.append("stale reads: %d of %d reads" % (len(stale), sum(op.kind == "r" for op in history)))
    for op in stale[:5]:
        lines.append("  stale: %s through n%d returned v%d in phase %s" % (op.key, op.node,
                                                                          op.value, op.phase))
    for phase, (n, share, hits) in availability(history).items():
        lines.append("phase %-10s %7d requests, %5.1f%% answered without error, %5.1f%% of reads "
                     "hit" % (phase, n, 100 * share, 100 * hits))
    if extra:
        lines.extend(extra)
    return lines


def run_tests(tests):
    """Runs [(name, fn)] inside the namespace, prints ok/FAIL lines and `N passed, N failed`;
    exits with the status."""
    import traceback
    enter_namespace()
    passed = failed = 0
    for name, fn in tests:
        t0 = time.monotonic()
        try:
            fn()
            passed += 1
            print("ok   %s (%.1fs)" % (name, time.monotonic() - t0), flush=True)
        except Exception:
            failed += 1
            print("FAIL %s" % name, flush=True)
            traceback.print_exc(file=sys.stdout)
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


__all__ = ["Client", "Cluster", "Faults", "enter_namespace", "node_addr", "random_workload",
           "report", "run_tests", "stale_reads", "availability", "wait_until", "random"]
