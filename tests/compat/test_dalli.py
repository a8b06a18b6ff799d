#!/usr/bin/python3
"""Ruby's Dalli (Debian's ruby-dalli 3.0.6, which speaks only the binary protocol) doing what
applications do (dalli_transcript.rb), against Debian's memcached and against $SHOAL_BIN: every
call must return the same on both. Each call of the transcript is one test case."""
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness  # noqa: E402

SCRIPT = os.path.join(HERE, "dalli_transcript.rb")


def transcript(server):
    """The transcript's lines as {call: result}, in order, plus anything Ruby wrote to stderr."""
    try:
        proc = subprocess.run(["ruby", SCRIPT, "127.0.0.1:%d" % server.port],
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=120)
    except subprocess.TimeoutExpired:
        return {}, "ruby killed after 120 s"
    calls = {}
    for line in proc.stdout.decode("utf-8", "replace").splitlines():
        for sep in (" -> ", " !! "):
            if sep in line:
                name, result = line.split(sep, 1)
                calls[name] = sep.strip() + " " + result
                break
    return calls, proc.stderr.decode("utf-8", "replace").strip()


def main():
    suite = harness.Suite("test_dalli")
    if shutil.which("ruby") is None or subprocess.run(
            ["ruby", "-e", "require 'dalli'"], stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL).returncode != 0:
        suite.fail("ruby-dalli installed", "no ruby with dalli (apt-get install ruby ruby-dalli)")
        suite.finish()
    reference = suite.server(harness.REFERENCE_BIN)
    expected, ref_err = transcript(reference)
    if not expected:
        suite.fail("transcript against memcached", ref_err[-500:] or "no output")
        suite.finish()
    got, err = transcript(suite.server())
    for name, want in expected.items():
        if name not in got:
            suite.fail(name, "not reached (expected %s): %s" % (want, err[-300:]))
        else:
            suite.check(name, got[name], want)
    suite.finish()


if __name__ == "__main__":
    main()
