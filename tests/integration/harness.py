"""A small library for black-box tests of a memcached-compatible server.

- Server: starts a binary with memcached's flags on a free port of 127.0.0.1, polls until it
  accepts, and is killed at exit (normal exit, exception or SIGTERM/SIGINT).
- Conn: one client connection; every read has a deadline, so a hang is a failure, not a stall.
- Suite: prints one line per test case (`ok name` / `FAIL name: reason`) and at the end
  `N passed, N failed`, exiting 1 on any failure.

The binary under test is $SHOAL_BIN (default bin/shoal of the repository); the reference is
/usr/bin/memcached. Imported by tests/integration/test_* and tests/compat/test_*.
"""
import atexit
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REFERENCE_BIN = "/usr/bin/memcached"

# A reply to `version` ends every request/response exchange: it is the one command whose
# answer is a single line on every server, so reading up to it reads exactly one exchange.
SENTINEL = b"version\r\n"
SENTINEL_RE = re.compile(rb"VERSION [^\r\n]*\r\n\Z")

READ_TIMEOUT = float(os.environ.get("SHOAL_TEST_READ_TIMEOUT", "5"))
# A suite stops running cases after this many seconds (each remaining case fails at once), so
# that a server which hangs on everything costs a minute, not a read timeout per case.
SUITE_BUDGET = float(os.environ.get("SHOAL_SUITE_BUDGET", "60"))


def binary_under_test():
    path = os.environ.get("SHOAL_BIN") or os.path.join(ROOT, "bin", "shoal")
    return os.path.abspath(path)


def free_port():
    """A port nobody listens on right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_live_servers = []
# Sanitizer reports (ASan, UBSan, TSan, LSan) found in the output of stopped servers; a suite
# fails on them in finish(), as `make asan` / `make tsan` would otherwise never show them.
sanitizer_reports = []
SANITIZER_RE = re.compile(rb"(ERROR: AddressSanitizer|ERROR: LeakSanitizer|WARNING: ThreadSanitizer"
                          rb"|runtime error:)")


def _stop_all():
    for server in list(_live_servers):
        server.stop()


def _on_signal(signum, _frame):
    _stop_all()
    sys.exit(128 + signum)


atexit.register(_stop_all)
signal.signal(signal.SIGTERM, _on_signal)
signal.signal(signal.SIGINT, _on_signal)


def connect(address, timeout):
    """A connected socket: TCP (without Nagle) for a (host, port), unix for a path."""
    if isinstance(address, str):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(address)
        except OSError:
            sock.close()
            raise
        return sock
    sock = socket.create_connection(address, timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


class ServerError(Exception):
    pass


class Server:
    """One server process on 127.0.0.1. Use as a context manager or call stop()."""

    def __init__(self, binary=None, args=(), start=True, listen="127.0.0.1", unix_path=None):
        """listen: the -l argument; unix_path: serve on this unix socket (-s) instead of TCP."""
        self.binary = binary or binary_under_test()
        self.args = list(args)
        self.listen = listen
        self.unix_path = unix_path
        self.port = None
        self.proc = None
        self.log = None
        if start:
            self.start()

    def command(self, port):
        if self.unix_path:
            cmd = [self.binary, "-s", self.unix_path, "-U", "0"]
        else:
            cmd = [self.binary, "-p", str(port), "-l", self.listen, "-U", "0"]
        if os.geteuid() == 0:
            cmd += ["-u", "root"]  # memcached refuses to run as root without it
        return cmd + self.args

    def start(self, attempts=3):
        if not os.access(self.binary, os.X_OK):
            raise ServerError("no executable %s (build it, or set SHOAL_BIN)" % self.binary)
        last = ""
        for _ in range(attempts):  # another process may take the free port before we bind it
            port = free_port()
            self.log = tempfile.TemporaryFile()
            self.proc = subprocess.Popen(self.command(port), stdin=subprocess.DEVNULL,
                                         stdout=self.log, stderr=subprocess.STDOUT)
            self.port = port
            _live_servers.append(self)
            if self._wait_accepting(deadline=time.monotonic() + 10):
                return self
            last = self.output()
            self.stop()
        raise ServerError("%s did not start accepting: %r" % (" ".join(self.command(0)), last))

    def _wait_accepting(self, deadline):
        delay = 0.005
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                connect(self.address(), timeout=1).close()
                return True
            except OSError:
                time.sleep(delay)
                delay = min(delay * 2, 0.1)
        return False

    def output(self):
        """What the server printed so far (stdout and stderr)."""
        if self.log is None:
            return b""
        # The server writes through the same open file: pread leaves the shared offset alone
        # (a seek would move where the server's next line lands).
        fd = self.log.fileno()
        chunks, at = [], 0
        while True:
            chunk = os.pread(fd, 1 << 16, at)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
            at += len(chunk)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, kill=False):
        """Ends the server: SIGTERM (and waits), or SIGKILL at once with kill=True."""
        if self.proc is not None and self.proc.poll() is None:
            if kill:
                self.proc.kill()
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self in _live_servers:
            _live_servers.remove(self)
            out = self.output()
            m = SANITIZER_RE.search(out)
            if m:
                sanitizer_reports.append("%s: %s" % (os.path.basename(self.binary),
                                                     out[m.start():m.start() + 1500].decode(
                                                         "utf-8", "replace")))

    def address(self):
        return self.unix_path or ("127.0.0.1", self.port)

    def connect(self, timeout=READ_TIMEOUT):
        return Conn(self.address(), timeout)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


class Conn:
    """A client connection whose every read is bounded by a deadline."""

    def __init__(self, address, timeout=READ_TIMEOUT):
        """address: a port of 127.0.0.1, a (host, port) pair or a unix socket path."""
        self.timeout = timeout
        if isinstance(address, int):
            address = ("127.0.0.1", address)
        self.sock = connect(address, timeout)
        self.buf = b""
        self.eof = False

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self, deadline):
        """Reads what is there into self.buf. False on timeout; sets self.eof on EOF."""
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(1 << 20)
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            chunk = b""
        if not chunk:
            self.eof = True
        self.buf += chunk
        return True

    def read_until(self, done, timeout=None):
        """Reads until done(buffer) is true. Returns (data, status), status being 'ok', 'eof' or
        'timeout'; the data is consumed from the buffer."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while not done(self.buf):
            if self.eof:
                status = "eof"
                break
            if not self._fill(deadline):
                status = "timeout"
                break
        else:
            status = "ok"
        data, self.buf = self.buf, b""
        return data, status

    def read_exact(self, n, timeout=None):
        data, status = self.read_until(lambda b: len(b) >= n, timeout)
        self.buf = data[n:]
        if status != "ok":
            raise AssertionError("wanted %d bytes, got %s after %r" % (n, status, data[:300]))
        return data[:n]

    def read_line(self, timeout=None):
        data, status = self.read_until(lambda b: b"\r\n" in b, timeout)
        if status != "ok":
            raise AssertionError("wanted a line, got %s after %r" % (status, data[:300]))
        line, _, self.buf = data.partition(b"\r\n")
        return line + b"\r\n"

    def exchange(self, data, timeout=None):
        """Sends data followed by `version` and returns every byte the server answered before
        the VERSION line. Returns (reply, status): status 'ok' when VERSION came (the
        connection is open), 'eof' when the server closed it, 'timeout' otherwise."""
        self.send(data + SENTINEL)
        got, status = self.read_until(lambda b: SENTINEL_RE.search(b) is not None, timeout)
        if status == "ok":
            m = SENTINEL_RE.search(got)
            got = got[:m.start()]
        return got, status

    def request(self, data, timeout=None):
        """exchange() for the normal case: fails unless the server answered and stayed open."""
        got, status = self.exchange(data, timeout)
        if status != "ok":
            raise AssertionError("after sending %s: %s, got %s" % (short(data), status, short(got)))
        return got

    def wait_closed(self, timeout=None):
        """True if the server closes the connection (EOF) before the timeout; the bytes read
        on the way are left in self.buf."""
        data, status = self.read_until(lambda b: False, timeout)
        self.buf = data
        return status == "eof"

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def short(data, limit=400):
    """repr() of bytes, cut in the middle when long (anything else: its repr())."""
    if not isinstance(data, (bytes, bytearray)) or len(data) <= limit:
        return repr(data)
    return "%r...(%d bytes)...%r" % (data[:limit // 2], len(data), data[-limit // 2:])


def normalise(data):
    """Replaces what legitimately differs between servers: CAS numbers in VALUE lines and meta
    `c` flags, and the version string."""
    data = re.sub(rb"^(VALUE \S+ \d+ \d+) \d+\r\n", rb"\1 <cas>\r\n", data, flags=re.M)
    data = re.sub(rb"^VERSION [^\r\n]*\r\n", b"VERSION <v>\r\n", data, flags=re.M)
    data = re.sub(rb"^((?:VA|HD|EN|NF|NS|EX)(?: [^\r\n]*)?) c\d+", rb"\1 c<cas>", data,
                  flags=re.M)
    data = re.sub(rb"^(ME [^\r\n]*) cas=\d+", rb"\1 cas=<cas>", data, flags=re.M)
    return data


# Meta flags and `me` fields that count seconds: memcached's clock may tick between two
# requests, so these may differ by one from the expectation without being wrong.
CLOCK_RE = re.compile(rb"(?<= )(t|l|la=|exp=)(-?\d+)")


# How far apart (seconds) the two servers' clock readings may be: they run the same case at
# about the same time, but under a sanitizer (make asan/tsan) on a loaded machine one can lag.
CLOCK_SLACK = int(os.environ.get("SHOAL_TEST_CLOCK_SLACK", "1"))


def clock_tolerant_equal(got, expected):
    """got == expected, except that second counts (see CLOCK_RE) may be CLOCK_SLACK apart."""
    if got == expected:
        return True
    if CLOCK_RE.sub(rb"\1#", got) != CLOCK_RE.sub(rb"\1#", expected):
        return False
    for (_, g), (_, e) in zip(CLOCK_RE.findall(got), CLOCK_RE.findall(expected)):
        g, e = int(g), int(e)
        if g != e and (g < 0 or e < 0 or abs(g - e) > CLOCK_SLACK):
            return False
    return True


class Failure(Exception):
    pass


def expect_eq(got, expected, what="reply"):
    if got != expected:
        raise Failure("%s: expected %s got %s" % (what, short(expected), short(got)))


def expect(cond, message):
    if not cond:
        raise Failure(message)


KNOWN_DIFFERENCES = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                 "known_differences.txt")


def known_differences(suite_name):
    """{case name: why} for the cases of this suite listed in known_differences.txt: known
    differences between Shoal and memcached, reported as `xfail` and counted as skipped, so
    that `make test` stays green while they are open. Ignored when the binary under test is
    memcached itself."""
    if os.path.realpath(binary_under_test()) == os.path.realpath(REFERENCE_BIN):
        return {}
    known = {}
    try:
        with open(KNOWN_DIFFERENCES) as f:
            for line in f:
                if line.strip() and not line.startswith("#"):
                    suite, case, why = (part.strip() for part in line.split("|", 2))
                    if suite == suite_name:
                        known[case] = why
    except (OSError, ValueError):
        pass
    return known


class Suite:
    """Runs test cases and reports them one per line, ending with `N passed, N failed`
    (and `, N skipped` when known differences were skipped)."""

    def __init__(self, name):
        self.name = name
        self.passed = 0
        self.failed = 0
        self.skipped = 0
        self.known = known_differences(name)
        self.start = time.monotonic()

    def ok(self, name):
        self.passed += 1
        if name in self.known:
            print("ok   %s (XPASS: listed in known_differences.txt, remove it)" % name,
                  flush=True)
        else:
            print("ok   %s" % name, flush=True)

    def fail(self, name, reason):
        if name in self.known:
            self.skipped += 1
            print("xfail %s: %s [known difference: %s]" % (name, reason, self.known[name]),
                  flush=True)
            return
        self.failed += 1
        print("FAIL %s: %s" % (name, reason), flush=True)

    def over_budget(self):
        return time.monotonic() - self.start > SUITE_BUDGET

    def run(self, name, fn, *args):
        """Calls fn(*args); any exception fails the case with its message."""
        if self.over_budget():
            self.fail(name, "not run: the suite's %g s budget is spent (does the server hang?)"
                      % SUITE_BUDGET)
            return
        try:
            fn(*args)
        except (Failure, AssertionError) as e:
            self.fail(name, str(e) or type(e).__name__)
        except Exception as e:  # a crash of the test or of the connection is a failure too
            where = traceback.extract_tb(e.__traceback__)[-1]
            self.fail(name, "%s: %s (line %d)" % (type(e).__name__, e, where.lineno))
        else:
            self.ok(name)

    def server(self, binary=None, args=()):
        """A started server, or the end of the suite with one failure saying why not."""
        try:
            return Server(binary, args)
        except ServerError as e:
            self.fail("server starts", str(e))
            self.finish()

    def check(self, name, got, expected):
        if got == expected:
            self.ok(name)
        else:
            self.fail(name, "expected %s got %s" % (short(expected), short(got)))

    def finish(self):
        _stop_all()
        if sanitizer_reports:
            self.fail("no sanitizer reports from the server",
                      "%d report(s); the first:\n%s" % (len(sanitizer_reports),
                                                       sanitizer_reports[0]))
        print("# %s: %.1f s" % (self.name, time.monotonic() - self.start))
        skipped = ", %d skipped" % self.skipped if self.skipped else ""
        print("%d passed, %d failed%s" % (self.passed, self.failed, skipped), flush=True)
        sys.exit(1 if self.failed else 0)
