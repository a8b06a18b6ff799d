#!/usr/bin/perl
# Perl's Cache::Memcached (Debian's libcache-memcached-perl) against $SHOAL_BIN, started here
# on a free port of 127.0.0.1 and killed at exit. One line per test, `ok name` or
# `FAIL name: reason`, and last `N passed, N failed`; exit 1 on any failure.
use strict;
use warnings;
use FindBin;
use IO::Socket::INET;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep time);
use Cache::Memcached;

$| = 1;

my $root = "$FindBin::Bin/../..";
my $bin = $ENV{SHOAL_BIN} || "$root/bin/shoal";
my ($passed, $failed) = (0, 0);
my $pid;

sub stop_server {
    return unless $pid;
    kill 'TERM', $pid;
    for (1 .. 100) {    # up to 5 s, then KILL
        last if waitpid($pid, WNOHANG) != 0;
        sleep 0.05;
    }
    kill 'KILL', $pid if waitpid($pid, WNOHANG) == 0;
    waitpid($pid, 0);
    $pid = undef;
}
END { my $rc = $?; stop_server(); $? = $rc; }
$SIG{TERM} = $SIG{INT} = sub { stop_server(); exit 1; };

sub free_port {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 1,
                                  Proto => 'tcp') or die "bind: $!";
    my $port = $s->sockport;
    close $s;
    return $port;
}

sub start_server {
    die "no executable $bin (build it, or set SHOAL_BIN)\n" unless -x $bin;
    for my $attempt (1 .. 3) {
        my $port = free_port();
        my @cmd = ($bin, '-p', $port, '-l', '127.0.0.1', '-U', '0');
        push @cmd, '-u', 'root' if $> == 0;
        $pid = fork();
        die "fork: $!" unless defined $pid;
        if ($pid == 0) {
            open STDIN, '<', '/dev/null';
            open STDOUT, '>', '/dev/null';
            open STDERR, '>', '/dev/null';
            exec @cmd or POSIX::_exit(127);
        }
        my $deadline = time + 10;
        while (time < $deadline) {
            last if waitpid($pid, WNOHANG) != 0;
            my $c = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                          Proto => 'tcp', Timeout => 1);
            if ($c) { close $c; return $port; }
            sleep 0.02;
        }
        stop_server();
    }
    die "$bin did not start accepting\n";
}

sub show {
    my $v = shift;
    return 'undef' unless defined $v;
    return ref($v) ? "<" . ref($v) . ">" : (length($v) > 60 ? sprintf("<%d bytes>", length $v) : "'$v'");
}

# check(name, sub): the sub returns '' on success or the reason of the failure.
# A test gets 10 s; after 60 s in all, the remaining tests fail at once (a hanging server
# must not stall the whole run).
my $started = time;
sub check {
    my ($name, $fn) = @_;
    my $reason;
    if (time - $started > 60) {
        $reason = "not run: the suite's 60 s budget is spent (does the server hang?)";
    } else {
        $reason = eval {
            local $SIG{ALRM} = sub { die "timed out after 10 s\n" };
            alarm 10;
            my $r = $fn->();
            alarm 0;
            $r;
        };
        alarm 0;
        $reason = "died: $@" if $@;
    }
    if (!defined $reason || $reason eq '') {
        $passed++;
        print "ok   $name\n";
    } else {
        $failed++;
        $reason =~ s/\s+$//;
        print "FAIL $name: $reason\n";
    }
}

sub is {
    my ($got, $want, $what) = @_;
    my $same = (!defined $got && !defined $want)
            || (defined $got && defined $want && $got eq $want);
    return $same ? '' : "$what: expected " . show($want) . " got " . show($got);
}

# The first failure among several checks, or ''.
sub all { for (@_) { return $_ if $_ ne '' } return '' }

my $port = eval { start_server() };
if (!$port) {
    print "FAIL server starts: $@";
    print "0 passed, 1 failed\n";
    exit 1;
}
my $mc = Cache::Memcached->new({ servers => ["127.0.0.1:$port"], select_timeout => 5,
                                 connect_timeout => 2 });

check("set/get", sub {
    all(is($mc->set("k1", "hello"), 1, "set"),
        is($mc->get("k1"), "hello", "get"),
        is($mc->get("nope"), undef, "get missing"),
        is($mc->set("k1", ""), 1, "set empty"),
        is($mc->get("k1"), "", "get empty"));
});

check("add/replace/append/prepend", sub {
    all(is($mc->add("k2", "a"), 1, "add"),
        is($mc->add("k2", "b") ? 1 : 0, 0, "add existing"),
        is($mc->replace("k2", "c"), 1, "replace"),
        is($mc->replace("k2nope", "c") ? 1 : 0, 0, "replace missing"),
        is($mc->append("k2", "d"), 1, "append"),
        is($mc->prepend("k2", "b"), 1, "prepend"),
        is($mc->get("k2"), "bcd", "value"));
});

check("get_multi", sub {
    $mc->set("m$_", "v$_") for 1 .. 50;
    my $h = $mc->get_multi(map { "m$_" } 1 .. 60);
    my $bad = all(map { is($h->{"m$_"}, "v$_", "m$_") } 1 .. 50);
    return $bad if $bad;
    return is(scalar(keys %$h), 50, "number of hits");
});

check("incr/decr", sub {
    $mc->set("n1", 10);
    all(is($mc->incr("n1", 5), 15, "incr"),
        is($mc->decr("n1", 3), 12, "decr"),
        is($mc->incr("n1"), 13, "incr by default 1"),
        is($mc->decr("n1", 100), 0, "decr floors at 0"),
        is($mc->incr("n1nope", 1), undef, "incr missing"));
});

check("incr wraps at 2^64", sub {
    $mc->set("n2", "18446744073709551615");
    is($mc->incr("n2", 1), 0, "incr");
});

check("delete", sub {
    $mc->set("d1", "x");
    all(is($mc->delete("d1"), 1, "delete"),
        is($mc->delete("d1") ? 1 : 0, 0, "delete missing"),
        is($mc->get("d1"), undef, "get after delete"));
});

check("expiry", sub {
    $mc->set("e1", "x", -1);
    $mc->set("e2", "y", 1000);
    all(is($mc->get("e1"), undef, "negative exptime"),
        is($mc->get("e2"), "y", "future exptime"));
});

check("serialized references (flags)", sub {
    my $data = { list => [1, 2, 3], name => "shoal" };
    $mc->set("r1", $data);
    my $got = $mc->get("r1");
    return "not a hash: " . show($got) unless ref($got) eq 'HASH';
    all(is(join(",", @{ $got->{list} }), "1,2,3", "list"), is($got->{name}, "shoal", "name"));
});

check("large values", sub {
    my $v = join("", map { chr($_ % 256) } 0 .. 500_000);
    all(is($mc->set("big1", $v), 1, "set 500 KB"),
        is($mc->get("big1"), $v, "get 500 KB"));
});

check("compressed values", sub {
    my $c = Cache::Memcached->new({ servers => ["127.0.0.1:$port"], select_timeout => 5,
                                    compress_threshold => 1000 });
    my $v = "abcdefgh" x 50_000;
    all(is($c->set("z1", $v), 1, "set"), is($c->get("z1"), $v, "get"),
        is(length($mc->get("z1") // ''), length($v), "the reader decompresses too"));
});

check("too large value is refused", sub {
    my $r = $mc->set("huge", "x" x (2 * 1024 * 1024));
    all(is($r ? 1 : 0, 0, "set of 2 MB"), is($mc->get("k2"), "bcd", "connection still usable"));
});

check("stats", sub {
    my $s = $mc->stats(['misc']);
    my $h = $s->{hosts}{"127.0.0.1:$port"}{misc};
    return "no stats" unless $h;
    all(map { defined $h->{$_} ? '' : "no stat $_" } qw(pid uptime curr_items cmd_get get_hits));
});

check("flush_all", sub {
    $mc->set("f1", "x");
    all(is($mc->flush_all ? 1 : 0, 1, "flush_all"), is($mc->get("f1"), undef, "after flush"));
});

check("server still alive", sub { waitpid($pid, WNOHANG) == 0 ? '' : "server exited" });

$mc->disconnect_all;
stop_server();
print "$passed passed, $failed failed\n";
exit($failed ? 1 : 0);
