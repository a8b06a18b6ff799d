"""What the cluster tests share: local Shoal nodes joined by gossip with fast timings, bounded
waits, and a main() that runs a file's test_* functions and kills every node it started (also
on failure). Not a test itself (not executable, so tests/run does not run it)."""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHOAL = os.environ.get("SHOAL_BIN", os.path.join(ROOT, "bin", "shoal"))
DEADLINE = 15.0  # seconds any single wait may take before the test fails
FAST = ["--gossip-interval", "100", "--gossip-probe-timeout", "40",
        "--gossip-suspicion-mult", "2", "--gossip-suspicion-max-mult", "2",
        "--gossip-join-retry", "200", "--gossip-pushpull-interval", "2000"]
# The first line that makes a Shoal connection execute every command locally (cluster/README.md,
# "Forwarding marker"): how a test looks into one node's own store.
LOCAL_HELLO = b"me .shoal-forwarded\r\n"

started = []
tmp = tempfile.TemporaryDirectory(prefix="shoal-cluster-test-")


def free_port(kind=socket.SOCK_STREAM):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_until(cond, what, limit=DEADLINE):
    end = time.monotonic() + limit
    while time.monotonic() < end:
        last = cond()
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError("timed out waiting for %s" % what)


class Node:
    """One bin/shoal process: -t 2, logging at -v into a file of the test's temp dir."""

    def __init__(self, name, join=None, extra=()):
        self.name = name
        self.port = free_port()
        self.gport = free_port(socket.SOCK_DGRAM)
        self.log = os.path.join(tmp.name, name + ".log")
        self.args = [SHOAL, "-p", str(self.port), "-l", "127.0.0.1", "-t", "2", "-v",
                     "--node-name", name, "--gossip-port", str(self.gport)] + FAST + list(extra)
        if join:
            self.args += ["--join", join]
        self.proc = None

    def start(self):
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(self.args, stdout=subprocess.DEVNULL, stderr=log)
        started.append(self.proc)

        def up():
            if self.proc.poll() is not None:
                raise AssertionError("%s exited early: %s" % (self.name, self.log_text()))
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return True
            except OSError:
                return False
        wait_until(up, "%s to listen" % self.name)
        return self

    def log_text(self):
        with open(self.log, "rb") as f:
            return f.read().decode(errors="replace")


# ---- talking to nodes ----------------------------------------------------------------------

def exchange(port, data, ends, hello=False):
    """Sends data (after LOCAL_HELLO if hello) and reads until the reply ends with one of ends."""
    s = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
    try:
        if hello:
            s.sendall(LOCAL_HELLO)
            buf = b""
            while not buf.endswith(b"\r\n"):
                chunk = s.recv(4096)
                if not chunk:
                    raise AssertionError("connection closed after the local hello")
                buf += chunk
        s.sendall(data)
        buf = b""
        while not any(buf.endswith(e) for e in ends):
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
        return buf
    finally:
        s.close()


def get(port, key, hello=False):
    """The value of key through this node (or from its own store), or None on a miss."""
    reply = exchange(port, b"get " + key + b"\r\n", (b"END\r\n", b"ERROR\r\n"), hello)
    if reply == b"END\r\n":
        return None
    lines = reply.split(b"\r\n")
    assert lines[0].startswith(b"VALUE " + key + b" "), reply
    return lines[1]


def local_value(port, key):
    """The key's value in this node's own store, or None: a forwarded connection, and the
    warm-up opaque so that a node in warm-up does not look the key up elsewhere either."""
    reply = exchange(port, b"mg " + key + b" v O.shoal-warmup\r\nmn\r\n", (b"MN\r\n",),
                     hello=True)
    if reply.startswith(b"EN"):
        return None
    head, _, rest = reply.partition(b"\r\n")
    assert head.startswith(b"VA "), reply
    return rest[:int(head.split(b" ")[1])]


def set_(port, key, value):
    reply = exchange(port, b"set %s 0 0 %d\r\n%s\r\n" % (key, len(value), value),
                     (b"\r\n",))
    assert reply == b"STORED\r\n", reply


def cluster_stats(port, addresses=False):
    """`stats cluster` of the node on port: ({counter: value}, {member name: state}), or with
    addresses {member name: (gossip address, state)}."""
    text = exchange(port, b"stats cluster\r\n", (b"END\r\n", b"ERROR\r\n")).decode()
    counters, members = {}, {}
    for line in text.split("\r\n"):
        f = line.split(" ")
        if len(f) >= 6 and f[1] == "cluster_member":
            members[f[2]] = (f[3], f[4]) if addresses else f[4]
        elif len(f) == 3 and f[0] == "STAT":
            counters[f[1]] = f[2]
    return counters, members


def all_see(observers, name, state):
    def ok():
        return all(cluster_stats(n.port)[1].get(name) == state for n in observers)
    wait_until(ok, "%s %s in every view" % (name, state))


def main(tests):
    """Runs tests ([(name, fn)]), prints ok/FAIL lines and the summary; returns the exit code."""
    passed = failed = 0
    try:
        for name, fn in tests:
            t0 = time.monotonic()
            try:
                fn()
                passed += 1
                print("ok   %s (%.1fs)" % (name, time.monotonic() - t0))
            except Exception:
                failed += 1
                print("FAIL %s" % name)
                traceback.print_exc(file=sys.stdout)
    finally:
        for p in started:
            if p.poll() is None:
                p.send_signal(signal.SIGCONT)  # a stopped process dies only once resumed
                p.kill()
            try:
                p.wait(timeout=DEADLINE)
            except subprocess.TimeoutExpired:
                pass
        tmp.cleanup()
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0
