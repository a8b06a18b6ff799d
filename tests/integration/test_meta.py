#!/usr/bin/python3
"""memcached's meta commands (mg ms md ma mn me) against $SHOAL_BIN, asserting the exact reply
bytes of memcached 1.6.18. Expectations were recorded from /usr/bin/memcached and reviewed; CAS
numbers are compared after harness.normalise(), and second counts (t, l, la=, exp=) may be one
apart because the server's clock may tick between two requests.

Each case runs on its own connection with its own keys, on one shared server."""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Failure, expect, expect_eq, short  # noqa: E402

K250 = b"k" * 250
K251 = b"k" * 251


def steps(server, pairs):
    """Sends each request and compares the (normalised) reply with the expected bytes."""
    with server.connect() as conn:
        for request, expected in pairs:
            got = harness.normalise(conn.request(request))
            if not harness.clock_tolerant_equal(got, expected):
                raise Failure("after %s: expected %s got %s"
                              % (short(request, 120), short(expected), short(got)))


# (name, [(request, expected normalised reply), ...]); keys are unique per case.
CASES = [
    ('mn', [
        (b'mn\r\n',
         b'MN\r\n'),
        (b'mn extra tokens\r\n',
         b'MN\r\n'),
    ]),
    ('mg hit and miss without flags', [
        (b'ms mg1 5\r\nhello\r\n',
         b'HD\r\n'),
        (b'mg mg1\r\n',
         b'HD\r\n'),
        (b'mg mg1_missing\r\n',
         b'EN\r\n'),
    ]),
    ('mg v s f', [
        (b'ms mg2 5 F42\r\nhello\r\n',
         b'HD\r\n'),
        (b'mg mg2 v\r\n',
         b'VA 5\r\nhello\r\n'),
        (b'mg mg2 s\r\n',
         b'HD s5\r\n'),
        (b'mg mg2 f\r\n',
         b'HD f42\r\n'),
        (b'mg mg2 s v f\r\n',
         b'VA 5 s5 f42\r\nhello\r\n'),
        (b'mg mg2 f s v\r\n',
         b'VA 5 f42 s5\r\nhello\r\n'),
    ]),
    ('mg k and O echo', [
        (b'ms mg3 1\r\nx\r\n',
         b'HD\r\n'),
        (b'mg mg3 k\r\n',
         b'HD kmg3\r\n'),
        (b'mg mg3 O123 k v\r\n',
         b'VA 1 O123 kmg3\r\nx\r\n'),
        (b'mg mg3_missing k O77\r\n',
         b'EN kmg3_missing O77\r\n'),
        (b'mg mg3 Oabcdefghijklmnopqrstuvwxyz012345\r\n',
         b'CLIENT_ERROR opaque token too long\r\n'),
        (b'mg mg3 Oabcdefghijklmnopqrstuvwxyz0123456\r\n',
         b'CLIENT_ERROR opaque token too long\r\n'),
        (b'mg mg3 O\r\n',
         b'HD O\r\n'),
    ]),
    ('mg t ttl', [
        (b'ms mg4 1\r\nx\r\n',
         b'HD\r\n'),
        (b'mg mg4 t\r\n',
         b'HD t-1\r\n'),
        (b'ms mg4 1 T1000\r\nx\r\n',
         b'HD\r\n'),
        (b'mg mg4 t v\r\n',
         b'VA 1 t1000\r\nx\r\n'),
    ]),
    ('mg c cas', [
        (b'ms mg5 1\r\nx\r\n',
         b'HD\r\n'),
        (b'mg mg5 c\r\n',
         b'HD c<cas>\r\n'),
        (b'mg mg5 c v s\r\n',
         b'VA 1 c<cas> s1\r\nx\r\n'),
    ]),
    ('mg h and l', [
        (b'ms mg6 1\r\nx\r\n',
         b'HD\r\n'),
        (b'mg mg6 h l\r\n',
         b'HD h0 l0\r\n'),
        (b'mg mg6 h l\r\n',
         b'HD h1 l0\r\n'),
        (b'mg mg6 h\r\n',
         b'HD h1\r\n'),
    ]),
    ('mg q quiet mode', [
        (b'ms mg7 1\r\nx\r\n',
         b'HD\r\n'),
        (b'mg mg7_missing q\r\nmg mg7 q v\r\nmg mg7_missing q k\r\nmn\r\n',
         b'VA 1\r\nx\r\nMN\r\n'),
        (b'mg mg7 q\r\nmn\r\n',
         b'HD\r\nMN\r\n'),
    ]),
    ('mg T touches', [
        (b'ms mg8 1 T100\r\nx\r\n',
         b'HD\r\n'),
        (b'mg mg8 T500 t\r\n',
         b'HD t500\r\n'),
        (b'mg mg8 t\r\n',
         b'HD t500\r\n'),
        (b'mg mg8 T-1\r\n',
         b'HD\r\n'),
        (b'mg mg8 v\r\n',
         b'EN\r\n'),
    ]),
    ('mg N vivify', [
        (b'mg mg9 N30 s v c t\r\n',
         b'VA 0 s0 c<cas> t30 W\r\n\r\n'),
        (b'mg mg9 N30 s v c t\r\n',
         b'VA 0 s0 c<cas> t30 Z\r\n\r\n'),
        (b'mg mg9 N30 v\r\n',
         b'VA 0 Z\r\n\r\n'),
        (b'ms mg9 3\r\nabc\r\n',
         b'HD\r\n'),
        (b'mg mg9 v c t\r\n',
         b'VA 3 c<cas> t-1\r\nabc\r\n'),
        (b'mg mg9 N30 v\r\n',
         b'VA 3\r\nabc\r\n'),
    ]),
    ('mg N vivify quiet', [
        (b'mg mg10 N30 q v\r\nmn\r\n',
         b'VA 0 W\r\n\r\nMN\r\n'),
        (b'mg mg10 N30 q v\r\nmn\r\n',
         b'VA 0 Z\r\n\r\nMN\r\n'),
    ]),
    ('mg R recache', [
        (b'ms mg11 3 T100\r\nabc\r\n',
         b'HD\r\n'),
        (b'mg mg11 R30 v t\r\n',
         b'VA 3 t100\r\nabc\r\n'),
        (b'mg mg11 R200 v t\r\n',
         b'VA 3 t100 W\r\nabc\r\n'),
        (b'mg mg11 R200 v t\r\n',
         b'VA 3 t100 Z\r\nabc\r\n'),
        (b'mg mg11 v\r\n',
         b'VA 3 Z\r\nabc\r\n'),
        (b'ms mg11 3\r\nnew\r\n',
         b'HD\r\n'),
        (b'mg mg11 v t\r\n',
         b'VA 3 t-1\r\nnew\r\n'),
    ]),
    ('mg base64 key', [
        (b'ms bWdiNjQ= 2 b\r\nhi\r\n',
         b'HD\r\n'),
        (b'mg bWdiNjQ= b v k\r\n',
         b'VA 2 kbWdiNjQ= b\r\nhi\r\n'),
        (b'mg mgb64 v k\r\n',
         b'VA 2 kbWdiNjQ= b\r\nhi\r\n'),
        (b'mg bWdiNjQ= v k\r\n',
         b'EN kbWdiNjQ=\r\n'),
        (b'mg bad! b v\r\n',
         b'CLIENT_ERROR error decoding key\r\n'),
        (b'mg bWdiNjQ b v\r\n',
         b'CLIENT_ERROR error decoding key\r\n'),
        (b'mg bWdiNj== b v\r\n',
         b'EN\r\n'),
    ]),
    ('mg unknown and bad flags', [
        (b'ms mg13 1\r\nx\r\n',
         b'HD\r\n'),
        (b'mg mg13 z\r\n',
         b'CLIENT_ERROR invalid flag\r\n'),
        (b'mg mg13 !\r\n',
         b'CLIENT_ERROR invalid flag\r\n'),
        (b'mg mg13 Tabc\r\n',
         b'CLIENT_ERROR bad token in command line format\r\n'),
        (b'mg mg13 N\r\n',
         b'CLIENT_ERROR bad token in command line format\r\n'),
        (b'mg mg13 Nabc\r\n',
         b'CLIENT_ERROR bad token in command line format\r\n'),
        (b'mg mg13 R\r\n',
         b'CLIENT_ERROR bad token in command line format\r\n'),
        (b'mg mg13 vv\r\n',
         b'VA 1\r\nx\r\n'),
        (b'mg mg13 v v\r\n',
         b'CLIENT_ERROR duplicate flag\r\n'),
    ]),
    ('mg key limits', [
        (b'ms ' + K250 + b' 1\r\nx\r\n',
         b'HD\r\n'),
        (b'mg ' + K250 + b' v k\r\n',
         b'VA 1 k' + K250 + b'\r\nx\r\n'),
        (b'mg ' + K251 + b' v\r\n',
         b'CLIENT_ERROR bad command line format\r\n'),
        (b'mg\r\n',
         b'ERROR\r\n'),
        (b'mg  \r\n',
         b'ERROR\r\n'),
    ]),
    ('mg too many tokens', [
        (b'mg mg14 v v v v v v v v v v v v v v v v v v v v v v v v v v v v v v\r\n',
         b'CLIENT_ERROR options flags are too long\r\n'),
        (b'mg mg14 v v v v v v v v v v v v v v v v v v v v v v\r\n',
         b'CLIENT_ERROR options flags are too long\r\n'),
    ]),
    ('ms basic', [
        (b'ms ms1 5\r\nhello\r\n',
         b'HD\r\n'),
        (b'mg ms1 v f\r\n',
         b'VA 5 f0\r\nhello\r\n'),
        (b'ms ms1 0\r\n\r\n',
         b'HD\r\n'),
        (b'mg ms1 v s\r\n',
         b'VA 0 s0\r\n\r\n'),
    ]),
    ('ms flags', [
        (b'ms ms2 2 F4294967295 T100 k O9 c\r\nhi\r\n',
         b'HD kms2 O9 c<cas>\r\n'),
        (b'mg ms2 f t v\r\n',
         b'VA 2 f4294967295 t100\r\nhi\r\n'),
        (b'ms ms2 2 F4294967296\r\nhi\r\n',
         b'HD\r\n'),
        (b'ms ms2 2 F-1\r\nhi\r\n',
         b'CLIENT_ERROR bad command line format\r\n'),
        (b'mg ms2 f\r\n',
         b'HD f0\r\n'),
    ]),
    ('ms quiet', [
        (b'ms ms3 2 q\r\nhi\r\nmn\r\n',
         b'MN\r\n'),
        (b'ms ms3 2 q MA\r\nhi\r\nmn\r\n',
         b'MN\r\n'),
        (b'ms ms3 2 q ME\r\nhi\r\nmn\r\n',
         b'NS\r\nMN\r\n'),
        (b'ms ms3 2 C1 q\r\nhi\r\nmn\r\n',
         b'EX\r\nMN\r\n'),
        (b'mg ms3 v\r\n',
         b'VA 4\r\nhihi\r\n'),
    ]),
    ('ms modes', [
        (b'ms ms4 1 MA\r\nx\r\n',
         b'NS\r\n'),
        (b'ms ms4 1 MP\r\nx\r\n',
         b'NS\r\n'),
        (b'ms ms4 1 MR\r\nx\r\n',
         b'NS\r\n'),
        (b'ms ms4 1 ME\r\na\r\n',
         b'HD\r\n'),
        (b'ms ms4 1 ME\r\nb\r\n',
         b'NS\r\n'),
        (b'ms ms4 1 MA\r\nc\r\n',
         b'HD\r\n'),
        (b'ms ms4 1 MP\r\nd\r\n',
         b'HD\r\n'),
        (b'mg ms4 v\r\n',
         b'VA 3\r\ndac\r\n'),
        (b'ms ms4 1 MR\r\ne\r\n',
         b'HD\r\n'),
        (b'mg ms4 v\r\n',
         b'VA 1\r\ne\r\n'),
        (b'ms ms4 1 MS\r\nf\r\n',
         b'HD\r\n'),
        (b'mg ms4 v\r\n',
         b'VA 1\r\nf\r\n'),
        (b'ms ms4 1 Ms\r\ng\r\n',
         b'CLIENT_ERROR invalid mode for ms M token\r\n'),
        (b'ms ms4 1 ma\r\nh\r\n',
         b'CLIENT_ERROR invalid flag\r\n'),
        (b'mg ms4 v\r\n',
         b'VA 1\r\nf\r\n'),
    ]),
    ('ms bad mode', [
        (b'ms ms5 1 MX\r\nx\r\n',
         b'CLIENT_ERROR invalid mode for ms M token\r\n'),
        (b'ms ms5 1 M\r\nx\r\n',
         b'CLIENT_ERROR incorrect length for M token\r\n'),
        (b'mg ms5 v\r\n',
         b'EN\r\n'),
    ]),
    ('ms append keeps flags', [
        (b'ms ms6 2 F5 T100\r\nab\r\n',
         b'HD\r\n'),
        (b'ms ms6 2 MA F9\r\ncd\r\n',
         b'HD\r\n'),
        (b'mg ms6 v f t\r\n',
         b'VA 4 f5 t100\r\nabcd\r\n'),
    ]),
    ('ms I invalidate on set', [
        (b'ms ms7 3\r\nabc\r\n',
         b'HD\r\n'),
        (b'ms ms7 3 I\r\nxyz\r\n',
         b'HD\r\n'),
        (b'mg ms7 v\r\n',
         b'VA 3\r\nxyz\r\n'),
    ]),
    ('ms bad lines', [
        (b'ms ms8\r\n',
         b'CLIENT_ERROR bad command line format\r\n'),
        (b'ms ms8 abc\r\nxx\r\n',
         b'CLIENT_ERROR bad command line format\r\nERROR\r\n'),
        (b'ms ms8 -1\r\n',
         b'CLIENT_ERROR bad command line format\r\n'),
        (b'ms ms8 2 Tabc\r\nxx\r\n',
         b'CLIENT_ERROR bad token in command line format\r\n'),
        (b'ms ms8 2 z\r\nxx\r\n',
         b'CLIENT_ERROR invalid flag\r\n'),
        (b'ms ms8 2\r\nxyz\r\n',
         b'CLIENT_ERROR bad data chunk\r\nERROR\r\n'),
        (b'ms\r\n',
         b'ERROR\r\n'),
        (b'ms ' + K251 + b' 1\r\nx\r\n',
         b'CLIENT_ERROR bad command line format\r\nERROR\r\n'),
        (b'mg ms8 v\r\n',
         b'EN\r\n'),
    ]),
    ('ms base64', [
        (b'ms bXM5 3 b k\r\nabc\r\n',
         b'HD kbXM5 b\r\n'),
        (b'mg ms9 v k\r\n',
         b'VA 3 kbXM5 b\r\nabc\r\n'),
        (b'ms bXM5= 3 b\r\nabc\r\n',
         b'CLIENT_ERROR error decoding key\r\n'),
    ]),
    ('md', [
        (b'md md1\r\n',
         b'NF\r\n'),
        (b'ms md1 1\r\nx\r\n',
         b'HD\r\n'),
        (b'md md1\r\n',
         b'HD\r\n'),
        (b'md md1\r\n',
         b'NF\r\n'),
        (b'mg md1 v\r\n',
         b'EN\r\n'),
    ]),
    ('md quiet', [
        (b'ms md2 1\r\nx\r\n',
         b'HD\r\n'),
        (b'md md2 q\r\nmn\r\n',
         b'MN\r\n'),
        (b'md md2 q\r\nmn\r\n',
         b'NF\r\nMN\r\n'),
        (b'md md2 q k O4\r\nmn\r\n',
         b'NF kmd2 O4\r\nMN\r\n'),
    ]),
    ('md k O', [
        (b'ms md3 1\r\nx\r\n',
         b'HD\r\n'),
        (b'md md3 k O1\r\n',
         b'HD kmd3 O1\r\n'),
        (b'md md3 k O2\r\n',
         b'NF kmd3 O2\r\n'),
    ]),
    ('md I invalidate', [
        (b'ms md4 3 T100\r\nabc\r\n',
         b'HD\r\n'),
        (b'md md4 I T30\r\n',
         b'HD\r\n'),
        (b'mg md4 v t\r\n',
         b'VA 3 t30 X W\r\nabc\r\n'),
        (b'mg md4 v t\r\n',
         b'VA 3 t30 Z X\r\nabc\r\n'),
        (b'mg md4 v\r\n',
         b'VA 3 Z X\r\nabc\r\n'),
        (b'ms md4 3\r\nnew\r\n',
         b'HD\r\n'),
        (b'mg md4 v t\r\n',
         b'VA 3 t-1\r\nnew\r\n'),
    ]),
    ('md I on missing', [
        (b'md md5 I\r\n',
         b'NF\r\n'),
        (b'mg md5 v\r\n',
         b'EN\r\n'),
    ]),
    ('md bad', [
        (b'md\r\n',
         b'ERROR\r\n'),
        (b'md ' + K251 + b'\r\n',
         b'CLIENT_ERROR bad command line format\r\n'),
        (b'md md6 z\r\n',
         b'CLIENT_ERROR invalid or duplicate flag\r\n'),
        (b'md md6 C\r\n',
         b'CLIENT_ERROR invalid or duplicate flag\r\n'),
        (b'md md6 Cabc\r\n',
         b'CLIENT_ERROR invalid or duplicate flag\r\n'),
    ]),
    ('md base64', [
        (b'ms md7 1\r\nx\r\n',
         b'HD\r\n'),
        (b'md bWQ3 b k\r\n',
         b'HD kbWQ3 b\r\n'),
        (b'md bWQ3 b k\r\n',
         b'NF kbWQ3 b\r\n'),
    ]),
    ('ma', [
        (b'ma ma1\r\n',
         b'NF\r\n'),
        (b'ms ma1 2\r\n10\r\n',
         b'HD\r\n'),
        (b'ma ma1\r\n',
         b'HD\r\n'),
        (b'mg ma1 v\r\n',
         b'VA 2\r\n11\r\n'),
        (b'ma ma1 v\r\n',
         b'VA 2\r\n12\r\n'),
        (b'ma ma1 D5 v\r\n',
         b'VA 2\r\n17\r\n'),
        (b'ma ma1 MI D5 v\r\n',
         b'VA 2\r\n22\r\n'),
        (b'ma ma1 M+ D5 v\r\n',
         b'VA 2\r\n27\r\n'),
        (b'ma ma1 MD D2 v\r\n',
         b'VA 2\r\n25\r\n'),
        (b'ma ma1 M- D2 v\r\n',
         b'VA 2\r\n23\r\n'),
        (b'ma ma1 MD D1000 v\r\n',
         b'VA 1\r\n0\r\n'),
        (b'ma ma1 Md v\r\n',
         b'CLIENT_ERROR invalid mode for ma M token\r\n'),
        (b'ma ma1 Mi v\r\n',
         b'CLIENT_ERROR invalid mode for ma M token\r\n'),
    ]),
    ('ma N J vivify', [
        (b'ma ma2 N0 J13 v\r\n',
         b'VA 2\r\n13\r\n'),
        (b'ma ma2 N0 J13 v\r\n',
         b'VA 2\r\n14\r\n'),
        (b'ma ma3 N100 J13 v t\r\n',
         b'VA 2 t100\r\n13\r\n'),
        (b'ma ma4 N0 v\r\n',
         b'VA 1\r\n0\r\n'),
        (b'ma ma5 J13 v\r\n',
         b'NF\r\n'),
        (b'ma ma6 N0 J13 MD v\r\n',
         b'VA 2\r\n13\r\n'),
    ]),
    ('ma wrap and bounds', [
        (b'ms ma7 20\r\n18446744073709551615\r\n',
         b'HD\r\n'),
        (b'ma ma7 v\r\n',
         b'VA 1\r\n0\r\n'),
        (b'ma ma7 D18446744073709551615 v\r\n',
         b'VA 20\r\n18446744073709551615\r\n'),
        (b'ma ma7 D18446744073709551616 v\r\n',
         b'CLIENT_ERROR invalid or duplicate flag\r\n'),
        (b'ma ma7 D-1 v\r\n',
         b'CLIENT_ERROR invalid or duplicate flag\r\n'),
        (b'ma ma7 Dabc v\r\n',
         b'CLIENT_ERROR invalid or duplicate flag\r\n'),
        (b'ma ma7 N0 J18446744073709551616 v\r\n',
         b'CLIENT_ERROR invalid or duplicate flag\r\n'),
    ]),
    ('ma non-numeric', [
        (b'ms ma8 1\r\na\r\n',
         b'HD\r\n'),
        (b'ma ma8\r\n',
         b'CLIENT_ERROR cannot increment or decrement non-numeric value\r\n'),
        (b'ms ma8 0\r\n\r\n',
         b'HD\r\n'),
        (b'ma ma8\r\n',
         b'CLIENT_ERROR cannot increment or decrement non-numeric value\r\n'),
    ]),
    ('ma quiet', [
        (b'ma ma9 q\r\nmn\r\n',
         b'NF\r\nMN\r\n'),
        (b'ms ma9 1\r\n1\r\n',
         b'HD\r\n'),
        (b'ma ma9 q\r\nmn\r\n',
         b'MN\r\n'),
        (b'ma ma9 q v\r\nmn\r\n',
         b'MN\r\n'),
        (b'ms ma10 1\r\na\r\n',
         b'HD\r\n'),
        (b'ma ma10 q\r\nmn\r\n',
         b'CLIENT_ERROR cannot increment or decrement non-numeric value\r\nMN\r\n'),
    ]),
    ('ma flags t c k O', [
        (b'ms ma11 1 T100\r\n1\r\n',
         b'HD\r\n'),
        (b'ma ma11 t c k O9 v\r\n',
         b'VA 1 t100 c<cas> kma11 O9\r\n2\r\n'),
        (b'ma ma11 T500 t v\r\n',
         b'VA 1 t500\r\n3\r\n'),
        (b'ma ma11 C1 v\r\n',
         b'EX\r\n'),
    ]),
    ('ma bad mode', [
        (b'ma ma12 MX\r\n',
         b'CLIENT_ERROR invalid mode for ma M token\r\n'),
        (b'ma ma12 M\r\n',
         b'CLIENT_ERROR invalid or duplicate flag\r\n'),
        (b'ma\r\n',
         b'ERROR\r\n'),
    ]),
    ('me', [
        (b'ms me1 5 T0\r\nhello\r\n',
         b'HD\r\n'),
        (b'me me1\r\n',
         b'ME me1 exp=-1 la=0 cas=<cas> fetch=no cls=1 size=67\r\n'),
        (b'me me_missing\r\n',
         b'EN\r\n'),
        (b'me\r\n',
         b'CLIENT_ERROR bad command line format\r\n'),
        (b'me bWUx b\r\n',
         b'ME me1 exp=-1 la=0 cas=<cas> fetch=no cls=1 size=67\r\n'),
    ]),
    ('meta too large', [
        (b'ms big1 5\r\nhello\r\n',
         b'HD\r\n'),
        (b'ms big1 2000000\r\n' + b'x' * 2000000 + b'\r\n',
         b'SERVER_ERROR object too large for cache\r\n'),
        (b'mg big1 v\r\n',
         b'EN\r\n'),
        (b'ms big1 2000000 q\r\n' + b'x' * 2000000 + b'\r\nmn\r\n',
         b'SERVER_ERROR object too large for cache\r\nMN\r\n'),
    ]),
    ('meta on a stale item with W X Z', [
        (b'ms st1 3 T100\r\nabc\r\n',
         b'HD\r\n'),
        (b'md st1 I\r\n',
         b'HD\r\n'),
        (b'mg st1 v c\r\n',
         b'VA 3 c<cas> X W\r\nabc\r\n'),
        (b'mg st1 v\r\n',
         b'VA 3 Z X\r\nabc\r\n'),
        (b'ms st1 3 I\r\nnew\r\n',
         b'HD\r\n'),
        (b'mg st1 v\r\n',
         b'VA 3\r\nnew\r\n'),
        (b'md st1 I\r\n',
         b'HD\r\n'),
        (b'ms st1 3\r\nfin\r\n',
         b'HD\r\n'),
        (b'mg st1 v\r\n',
         b'VA 3\r\nfin\r\n'),
    ]),
    ('mg u and x flags', [
        (b'ms mx1 2\r\nhi\r\n',
         b'HD\r\n'),
        (b'mg mx1 u v\r\n',
         b'VA 2\r\nhi\r\n'),
        (b'mg mx1 x\r\n',
         b'CLIENT_ERROR invalid flag\r\n'),
    ]),
    ('md x is not a 1.6.18 flag', [
        (b'ms mx2 2\r\nhi\r\n',
         b'HD\r\n'),
        (b'md mx2 x\r\n',
         b'CLIENT_ERROR invalid or duplicate flag\r\n'),
        (b'md mx2 x q\r\nmn\r\n',
         b'CLIENT_ERROR invalid or duplicate flag\r\nMN\r\n'),
        (b'mg mx2 v\r\n',
         b'VA 2\r\nhi\r\n'),
    ]),
    ('ms flags that only mg takes', [
        (b'ms mx3 2 S2\r\nhi\r\n',
         b'CLIENT_ERROR invalid flag\r\n'),
        (b'ms mx3 2 s\r\nhi\r\n',
         b'HD\r\n'),
        (b'ms mx3 2 h\r\nhi\r\n',
         b'HD\r\n'),
        (b'ms mx3 2 v\r\nhi\r\n',
         b'HD\r\n'),
        (b'ms mx3 2 t\r\nhi\r\n',
         b'HD\r\n'),
        (b'ms mx3 2 f\r\nhi\r\n',
         b'HD\r\n'),
        (b'mg mx3 v\r\n',
         b'VA 2\r\nhi\r\n'),
    ]),
    ('ms noreply is not a flag', [
        (b'ms mx4 2 noreply\r\nhi\r\n',
         b'CLIENT_ERROR invalid flag\r\n'),
        (b'mg mx4 v\r\n',
         b'EN\r\n'),
    ]),
    ('ms T-1 expires at once', [
        (b'ms mx5 2 T-1\r\nhi\r\n',
         b'HD\r\n'),
        (b'mg mx5 v\r\n',
         b'EN\r\n'),
    ]),
    ('mg hit with k and q, no v', [
        (b'ms mx6 2\r\nhi\r\n',
         b'HD\r\n'),
        (b'mg mx6 k q\r\nmn\r\n',
         b'HD kmx6\r\nMN\r\n'),
        (b'mg mx6 k q O5 s\r\nmn\r\n',
         b'HD kmx6 O5 s2\r\nMN\r\n'),
    ]),
    ('ma grows and shrinks the value', [
        (b'ms mx7 2\r\n99\r\n',
         b'HD\r\n'),
        (b'ma mx7 v\r\n',
         b'VA 3\r\n100\r\n'),
        (b'mg mx7 v s\r\n',
         b'VA 3 s3\r\n100\r\n'),
        (b'ma mx7 MD v\r\n',
         b'VA 2\r\n99\r\n'),
        (b'mg mx7 v s\r\n',
         b'VA 3 s3\r\n99 \r\n'),
        (b'ma mx7 MD D100 v\r\n',
         b'VA 1\r\n0\r\n'),
        (b'mg mx7 v s\r\n',
         b'VA 3 s3\r\n0  \r\n'),
    ]),
    ('ma on a value from incr', [
        (b'set mx8 0 0 3\r\n100\r\n',
         b'STORED\r\n'),
        (b'decr mx8 1\r\n',
         b'99\r\n'),
        (b'mg mx8 v\r\n',
         b'VA 3\r\n99 \r\n'),
        (b'ma mx8 v\r\n',
         b'VA 3\r\n100\r\n'),
        (b'get mx8\r\n',
         b'VALUE mx8 0 3\r\n100\r\nEND\r\n'),
    ]),
    ('ma base64 key', [
        (b'ma bXg5 b N0 J7 v k\r\n',
         b'VA 1 kbXg5 b\r\n7\r\n'),
        (b'mg mx9 v k\r\n',
         b'VA 1 kmx9\r\n7\r\n'),
    ]),
    ('mg N with T on a miss', [
        (b'mg mx10 N100 T50 t v\r\n',
         b'VA 0 t50 W\r\n\r\n'),
        (b'mg mx10 t v\r\n',
         b'VA 0 t50 Z\r\n\r\n'),
    ]),
    ('meta 1 MB value', [
        (b'ms mx11 1000000\r\n' + b'm' * 1000000 + b'\r\n',
         b'HD\r\n'),
        (b'mg mx11 s\r\n',
         b'HD s1000000\r\n'),
    ]),
    ('classic and meta on the same item', [
        (b'set mx12 7 0 3\r\nabc\r\n',
         b'STORED\r\n'),
        (b'mg mx12 f v s\r\n',
         b'VA 3 f7 s3\r\nabc\r\n'),
        (b'ms mx12 2 F9\r\nxy\r\n',
         b'HD\r\n'),
        (b'get mx12\r\n',
         b'VALUE mx12 9 2\r\nxy\r\nEND\r\n'),
        (b'md mx12\r\n',
         b'HD\r\n'),
        (b'get mx12\r\n',
         b'END\r\n'),
    ]),
    ('mg on an expired item with N', [
        (b'ms mx13 2 T-1\r\nhi\r\n',
         b'HD\r\n'),
        (b'mg mx13 N30 v\r\n',
         b'VA 0 W\r\n\r\n'),
        (b'mg mx13 v\r\n',
         b'VA 0 Z\r\n\r\n'),
    ]),
    ('mn in a pipeline of misses', [
        (b'mg mx14a q\r\nmg mx14b q\r\nmd mx14c q\r\nma mx14d q\r\nmn\r\nmn\r\n',
         b'NF\r\nNF\r\nMN\r\nMN\r\n'),
    ]),
    ('spaces between meta tokens', [
        (b'ms  mx15  2  T10 \r\nhi\r\n',
         b'HD\r\n'),
        (b'mg  mx15   v  t \r\n',
         b'VA 2 t10\r\nhi\r\n'),
    ]),
]

CAS_RE = re.compile(rb" c(\d+)")


def cas_of(conn, key):
    got = conn.request(b"mg " + key + b" c\r\n")
    m = CAS_RE.search(got)
    if not got.startswith(b"HD ") or not m:
        raise Failure("mg %s c: got %s" % (key.decode(), short(got)))
    return int(m.group(1))


def test_cas_compare(server):
    """C<cas> with real CAS values, which differ from server to server."""
    with server.connect() as conn:
        expect_eq(conn.request(b"ms xc1 3\r\nabc\r\n"), b"HD\r\n")
        cas = cas_of(conn, b"xc1")
        got = conn.request(b"gets xc1\r\n")
        expect_eq(got, b"VALUE xc1 0 3 %d\r\nabc\r\nEND\r\n" % cas, "gets agrees with mg c")
        expect_eq(conn.request(b"ms xc1 3 C%d\r\nxyz\r\n" % (cas + 1000)), b"EX\r\n")
        got = conn.request(b"ms xc1 3 C%d c\r\nxyz\r\n" % cas)
        m = re.match(rb"HD c(\d+)\r\n\Z", got)
        expect(m is not None, "ms C c: got %s" % short(got))
        cas2 = int(m.group(1))
        expect(cas2 != cas, "CAS unchanged by ms")
        expect_eq(cas_of(conn, b"xc1"), cas2, "CAS returned by ms c")
        expect_eq(conn.request(b"ms xc1 3 C%d\r\nxyz\r\n" % cas), b"EX\r\n")
        # ma with C
        expect_eq(conn.request(b"ms xc2 1\r\n5\r\n"), b"HD\r\n")
        cas = cas_of(conn, b"xc2")
        expect_eq(conn.request(b"ma xc2 C%d v\r\n" % (cas + 1)), b"EX\r\n")
        got = conn.request(b"ma xc2 C%d v c\r\n" % cas)
        m = re.match(rb"VA 1 c(\d+)\r\n6\r\n\Z", got)
        expect(m is not None and int(m.group(1)) != cas, "ma C: got %s" % short(got))
        # md with C
        cas = cas_of(conn, b"xc2")
        expect_eq(conn.request(b"md xc2 C%d\r\n" % (cas + 1)), b"EX\r\n")
        expect_eq(conn.request(b"md xc2 C%d q\r\nmn\r\n" % (cas + 1)), b"EX\r\nMN\r\n")
        expect_eq(conn.request(b"md xc2 C%d\r\n" % cas), b"HD\r\n")
        expect_eq(conn.request(b"md xc2 C%d\r\n" % cas), b"NF\r\n")
        # classic and meta share the CAS
        expect_eq(conn.request(b"set xc3 0 0 1\r\nx\r\n"), b"STORED\r\n")
        cas = cas_of(conn, b"xc3")
        expect_eq(conn.request(b"cas xc3 0 0 1 %d\r\ny\r\n" % cas), b"STORED\r\n")
        expect_eq(conn.request(b"ms xc3 1 C%d\r\nz\r\n" % cas), b"EX\r\n")


def test_new_cas_flag(server):
    """E<token> (memcached 1.6.45's doc/protocol.txt: "use token as new CAS value"), which
    1.6.18 refuses as an invalid flag: Shoal answers as 1.6.45 does; the reference binary, as
    1.6.18 does."""
    with server.connect() as conn:
        if harness.binary_under_test() == os.path.realpath(harness.REFERENCE_BIN):
            expect_eq(conn.request(b"ms xe1 2 E5\r\nhi\r\n"), b"CLIENT_ERROR invalid flag\r\n")
            expect_eq(conn.request(b"mg xe1 E5\r\n"), b"CLIENT_ERROR invalid flag\r\n")
            return
        # ms: the stored item's CAS is the token, also as gets and `c` show it
        expect_eq(conn.request(b"ms xe1 2 E5 c\r\nhi\r\n"), b"HD c5\r\n")
        expect_eq(conn.request(b"gets xe1\r\n"), b"VALUE xe1 0 2 5\r\nhi\r\nEND\r\n")
        expect_eq(conn.request(b"ms xe1 2 C5 E77\r\nho\r\n"), b"HD\r\n")
        expect_eq(cas_of(conn, b"xe1"), 77)
        expect_eq(conn.request(b"ms xe1 2 C5 E78\r\nhu\r\n"), b"EX\r\n")
        expect_eq(conn.request(b"ms xe1 2 MA E90\r\n!!\r\n"), b"HD\r\n")
        expect_eq(conn.request(b"mg xe1 v c\r\n"), b"VA 4 c90\r\nho!!\r\n")
        # a refused ms keeps the item and its CAS
        expect_eq(conn.request(b"ms xe1 1 ME E91\r\nz\r\n"), b"NS\r\n")
        expect_eq(cas_of(conn, b"xe1"), 90)
        # mg: only an item the command creates (N) takes the token; a hit keeps its CAS
        expect_eq(conn.request(b"mg xe1 E5\r\n"), b"HD\r\n")
        expect_eq(cas_of(conn, b"xe1"), 90)
        expect_eq(conn.request(b"mg xe2 E5\r\n"), b"EN\r\n")
        expect_eq(conn.request(b"mg xe2 N30 E1234 c\r\n"), b"HD c1234 W\r\n")
        # ma: the changed (or created) value takes the token
        expect_eq(conn.request(b"ms xe3 1\r\n5\r\n"), b"HD\r\n")
        expect_eq(conn.request(b"ma xe3 E600 v c\r\n"), b"VA 1 c600\r\n6\r\n")
        expect_eq(conn.request(b"ma xe4 N0 J7 E601 v c\r\n"), b"VA 1 c601\r\n7\r\n")
        # md I: the invalidated item takes the token
        expect_eq(conn.request(b"md xe3 I E700\r\n"), b"HD\r\n")
        expect_eq(conn.request(b"mg xe3 c\r\n"), b"HD c700 X W\r\n")
        # a bad token
        expect_eq(conn.request(b"ms xe5 1 Ex\r\nz\r\n"),
                  b"CLIENT_ERROR bad token in command line format\r\n")


def test_invalidated_win_token(server):
    """md I marks the item stale and bumps its CAS; the first mg gets W (the right to
    recache). An ms I with the CAS seen after the invalidation stores a fresh item; an ms I
    with an older CAS stores the value but leaves it stale; a newer CAS is refused."""
    with server.connect() as conn:
        expect_eq(conn.request(b"ms xi1 3 T100\r\nold\r\n"), b"HD\r\n")
        before = cas_of(conn, b"xi1")
        expect_eq(conn.request(b"md xi1 I T30\r\n"), b"HD\r\n")
        got = conn.request(b"mg xi1 v c\r\n")
        expect_eq(harness.normalise(got), b"VA 3 c<cas> X W\r\nold\r\n")
        after = int(CAS_RE.search(got).group(1))
        expect(after != before, "md I did not change the CAS")
        expect_eq(conn.request(b"ms xi1 3 C%d I\r\nnew\r\n" % after), b"HD\r\n")
        expect_eq(conn.request(b"mg xi1 v\r\n"), b"VA 3\r\nnew\r\n")
        current = cas_of(conn, b"xi1")
        expect_eq(conn.request(b"ms xi1 3 C%d I\r\nold\r\n" % (current - 1)), b"HD\r\n")
        expect_eq(conn.request(b"mg xi1 v\r\n"), b"VA 3 X W\r\nold\r\n")
        expect_eq(conn.request(b"mg xi1 v\r\n"), b"VA 3 Z X\r\nold\r\n")
        current = cas_of(conn, b"xi1")
        expect_eq(conn.request(b"ms xi1 3 C%d I\r\nnwr\r\n" % (current + 5)), b"EX\r\n")


def test_quiet_pipeline(server):
    """A burst of quiet commands where only the failures and the mn answer."""
    with server.connect() as conn:
        request = b""
        expected = b""
        for i in range(100):
            request += b"ms xq%d 2 q\r\n%02d\r\n" % (i, i)
        for i in range(0, 120, 3):
            request += b"mg xq%d q v k\r\n" % i
            if i < 100:
                expected += b"VA 2 kxq%d\r\n%02d\r\n" % (i, i)
        for i in range(0, 120, 7):
            request += b"md xq%d q\r\n" % i
            if i >= 100:
                expected += b"NF\r\n"
        request += b"mn\r\n"
        expected += b"MN\r\n"
        expect_eq(conn.request(request), expected, "quiet pipeline")


def main():
    suite = harness.Suite("test_meta")
    server = suite.server()
    for name, pairs in CASES:
        suite.run(name, steps, server, pairs)
    suite.run("C compare-and-swap", test_cas_compare, server)
    suite.run("E sets the new CAS (memcached 1.6.45)", test_new_cas_flag, server)
    suite.run("invalidate then win and recache", test_invalidated_win_token, server)
    suite.run("quiet pipeline", test_quiet_pipeline, server)
    suite.run("server still alive", lambda: expect(server.alive(), "server died"))
    suite.finish()


if __name__ == "__main__":
    main()
