#!/usr/bin/perl
# twofa-admin, the operator's command line, against private redis-servers:
# it writes the keys and fields the module reads, reads what the module
# wrote, keeps to its output and exit-code contract, and never prints a
# secret.  redis-cli, an independent client, seeds and checks the state.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use Encode ();
use File::Temp qw(tempdir);
use IO::Socket::IP;
use POSIX qw(strftime WNOHANG);
use Time::HiRes qw(time sleep);
use TwofaTest ();
use Time::Local qw(timegm);
use Digest::SHA qw(sha1_hex);
use Sys::Hostname qw(hostname);

my $ADMIN = $ENV{TWOFA_ADMIN} || "$FindBin::Bin/../build/twofa-admin";

# what the module would have stored; none of it may ever be printed
my $SECRET = 'v1.k1.SEALEDsecretDoNotPrint0123456789abcdefABCDEF';
my @HASHES = map { sprintf '%032x', $_ * 7919 + 0xdeadbeef } 1 .. 3;
my $PASSWORD = 'pw-Redis-S3cret';

my $dir = tempdir('twofa-admin-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my %redis;            # name => { pid, port or sock, password }
my $all_output = '';  # every byte the tool printed, checked at the end

END {
    local $?;
    for my $r (values %redis) {
        kill 'TERM', $r->{pid};
    }
    for my $r (values %redis) {
        my $deadline = time + 5;
        while (waitpid($r->{pid}, WNOHANG) == 0) {
            if (time > $deadline) {
                kill 'KILL', $r->{pid};
                waitpid($r->{pid}, 0);
                last;
            }
            sleep 0.05;
        }
    }
}
$SIG{INT} = $SIG{TERM} = sub { exit 1 };

sub which {
    my ($prog) = @_;
    for my $d (split /:/, $ENV{PATH} // '') {
        return "$d/$prog" if -x "$d/$prog";
    }
    return;
}

# missing tools are a failure, not a skip
my $have = 1;
$have &= ok(-x $ADMIN, "twofa-admin is built ($ADMIN)");
$have &= ok(which('redis-server'), 'redis-server is installed');
$have &= ok(which('redis-cli'), 'redis-cli is installed');
unless ($have) {
    diag('run: make admin deps-test');
    done_testing;
    exit 1;
}

sub free_port { TwofaTest::free_port() }

# redis-cli against one of our servers: its output, chomped
sub rcli {
    my ($name, @args) = @_;
    my $r = $redis{$name} or die "no redis $name";
    my @conn = $r->{sock} ? ('-s', $r->{sock}) : ('-p', $r->{port});
    my @auth = $r->{password}
             ? ('--no-auth-warning', '-a', $r->{password}) : ();
    open my $fh, '-|', 'redis-cli', @conn, @auth, @args
        or die "redis-cli: $!";
    my $out = do { local $/; <$fh> } // '';
    close $fh;
    $out =~ s/\n\z//;
    return $out;
}

# PING, quietly: refused connections are expected while it starts
sub ping {
    my ($name) = @_;
    open my $saved, '>&', \*STDERR or die "dup: $!";
    open STDERR, '>', '/dev/null' or die "/dev/null: $!";
    my $pong = rcli($name, 'PING');
    open STDERR, '>&', $saved or die "dup: $!";
    return $pong eq 'PONG';
}

sub start_redis {
    my ($name, %o) = @_;
    my $d = "$dir/$name";
    mkdir $d or die "mkdir $d: $!";
    my @args = ('--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
                '--dir', $d, '--daemonize', 'no');
    my %r;
    if ($o{unix}) {
        $r{sock} = "$d/redis.sock";
        push @args, '--port', '0', '--unixsocket', $r{sock},
                    '--unixsocketperm', '700';
    } else {
        $r{port} = free_port();
        push @args, '--port', $r{port};
    }
    push @args, '--requirepass', $o{password} if $o{password};

    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDOUT, '>', "$d/redis.log" or die;
        open STDERR, '>&', \*STDOUT or die;
        exec 'redis-server', @args or die "exec redis-server: $!";
    }
    $r{pid} = $pid;
    $r{password} = $o{password};
    $redis{$name} = \%r;

    my $deadline = time + 10;
    until (ping($name)) {
        if (time > $deadline || waitpid($pid, WNOHANG) == $pid) {
            open my $log, '<', "$d/redis.log";
            local $/;
            die "redis-server $name did not start:\n" . (<$log> // '');
        }
        sleep 0.05;
    }

    # every Redis but "main" (which tests init) is an initialised one
    rcli($name, 'HSET', 'twofa:deployment', 'created', time, 'by', 'test')
        unless $name eq 'main';
    return \%r;
}

# runs the tool: { rc, out, err, secs }
sub admin {
    my ($args, %env) = @_;
    my ($out, $err) = ("$dir/out", "$dir/err");
    my $t0 = time;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        for my $k (keys %env) {
            if (defined $env{$k}) {
                $ENV{$k} = $env{$k};
            } else {
                delete $ENV{$k};
            }
        }
        open STDOUT, '>', $out or die;
        open STDERR, '>', $err or die;
        exec $ADMIN, @$args or die "exec $ADMIN: $!";
    }
    # a tool that hangs fails its tests instead of hanging the run
    my $deadline = $t0 + 20;
    while (waitpid($pid, WNOHANG) == 0) {
        if (time > $deadline) {
            kill 'KILL', $pid;
            waitpid($pid, 0);
            diag("twofa-admin @$args: killed after 20s");
            last;
        }
        sleep 0.005;
    }
    my %r = (rc => ($? & 127) ? -1 : $? >> 8, secs => time - $t0);
    for my $f ([out => $out], [err => $err]) {
        open my $fh, '<', $f->[1] or die;
        local $/;
        $r{$f->[0]} = <$fh> // '';
    }
    $all_output .= $r{out} . $r{err};
    return \%r;
}

# "key: value" lines into a hash, after checking the format
sub fields {
    my ($out) = @_;
    my (%h, @keys);
    for my $line (split /\n/, $out) {
        my ($k, $v) = $line =~ /^([a-z_]+): (\S.*)$/
            or return { _bad => $line };
        return { _dup => $k } if exists $h{$k};
        $h{$k} = $v;
        push @keys, $k;
    }
    $h{_keys} = join ',', @keys;
    return \%h;
}

sub iso { strftime('%Y-%m-%dT%H:%M:%SZ', gmtime $_[0]) }

sub from_iso {
    my ($y, $mo, $d, $h, $mi, $s) = ($_[0] // '')
        =~ /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)Z$/ or return -1;
    return timegm($s, $mi, $h, $d, $mo - 1, $y);
}

sub stat_calls {
    my ($name, $cmd) = @_;
    my ($n) = rcli($name, 'INFO', 'commandstats')
              =~ /^cmdstat_\Q$cmd\E:calls=(\d+)/m;
    return $n // 0;
}

sub connections {
    my ($name) = @_;
    my ($n) = rcli($name, 'INFO', 'stats')
              =~ /^total_connections_received:(\d+)/m;
    return $n;
}

my $main = start_redis('main');
my @R = ('--redis', "127.0.0.1:$main->{port}");

my $AUDIT_RE = qr/^audit: (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) (.+)$/m;

# ---- help and usage ----------------------------------------------------

{
    my $r = admin(['--help']);
    is($r->{rc}, 0, '--help exits 0');
    like($r->{out}, qr/^EXIT STATUS$/m, '--help documents the exit status');
    for my $cmd ('init', 'org require ORG on|off', 'org show ORG',
                 'user show ORG USER', 'user reset ORG USER',
                 'audit [--org ORG] [--user USER] [--since TIME]')
    {
        like($r->{out}, qr/^ +twofa-admin \[OPTIONS\] \Q$cmd\E$/m,
             "--help's synopsis has $cmd");
    }
    is(scalar(grep { length > 80 } split /\n/, $r->{out}), 0,
       '--help fits in 80 columns');

    # [arguments, label, the message (naming the option) when it matters]
    for my $case ([[], 'no command'],
                  [['org'], 'no subcommand'],
                  [['group', 'show', 'x'], 'unknown command'],
                  [['org', 'delete', 'acme'], 'unknown subcommand'],
                  [['--colour', 'x', 'org', 'show', 'acme'], 'unknown option',
                   qr/unknown or ambiguous option "--colour"/],
                  [['-x', 'org', 'show', 'acme'], 'unknown short option',
                   qr/unknown option "-x"/],
                  [['--p', 'x', 'org', 'show', 'acme'], 'ambiguous option',
                   qr/unknown or ambiguous option "--p"/],
                  [['--json=yes', 'org', 'show', 'acme'],
                   'a value for an option that takes none',
                   qr/option "--json" takes no value/],
                  [['--db'], 'option without its value',
                   qr/option "--db" needs a value/],
                  [['--redis'], '--redis without its value',
                   qr/option "--redis" needs a value/],
                  [['--db', 'x', 'org', 'show', 'acme'], 'bad --db',
                   qr/invalid --db "x"/],
                  [['--timeout', '0', 'org', 'show', 'acme'], 'bad --timeout',
                   qr/invalid --timeout "0"/],
                  [['--lockout', '0', 'org', 'show', 'acme'], 'bad --lockout',
                   qr/invalid --lockout "0"/],
                  [['--redis', 'h:99999', 'org', 'show', 'acme'], 'bad port',
                   qr/invalid --redis "h:99999"/],
                  [['--redis', 'unix:rel.sock', 'org', 'show', 'acme'],
                   'relative unix socket'],
                  [['--password-file=', 'org', 'show', 'acme'],
                   'empty --password-file', qr/--password-file needs/],
                  [['--prefix', '', 'org', 'show', 'acme'], 'empty prefix',
                   qr/invalid --prefix ""/],
                  [['--prefix', 'a b:', 'org', 'show', 'acme'],
                   'prefix with a space'],
                  [['--prefix', 'p' x 65, 'org', 'show', 'acme'],
                   'prefix too long'],
                  [['init', 'now'], 'init with an argument',
                   qr/too many arguments for "init"/],
                  [['org', 'require', 'acme'], 'org require without on|off'],
                  [['org', 'require', 'acme', 'yes'], 'org require yes'],
                  [['org', 'show', 'acme', 'extra'], 'extra argument'],
                  [['user', 'show', 'acme', 'bob', '--json'],
                   'an option after the command'],
                  [['user', 'show', 'acme'], 'user show without USER'],
                  [['audit', 'acme'], 'audit with an argument',
                   qr/unexpected argument "acme" for "audit"/],
                  [['audit', '--limit', '0'], 'audit --limit 0',
                   qr/invalid --limit "0"/],
                  [['audit', '--limit=100001'], 'audit --limit too high'],
                  [['audit', '--limit', '-1'], 'audit --limit -1'],
                  [['audit', '--limit'], 'audit --limit without its value',
                   qr/option "--limit" needs a value/],
                  [['audit', '--since', 'yesterday'], 'audit --since word',
                   qr/invalid --since "yesterday"/],
                  [['audit', '--since', '2026-02-29T00:00:00Z'],
                   'audit --since a day that is not'],
                  [['audit', '--since', '2026-11-27T22:33:39'],
                   'audit --since without Z'],
                  [['audit', '--since', '2026-11-27 22:33:39Z'],
                   'audit --since with a space'],
                  [['audit', '--since', '253402300800'],
                   'audit --since past 9999'],
                  [['audit', '--follow=yes'], 'audit --follow with a value',
                   qr/option "--follow" takes no value/],
                  [['audit', '--colour'], 'audit with an unknown option',
                   qr/unknown or ambiguous option "--colour"/],
                  [['audit', '--json'], 'a global option after audit',
                   qr/option "--json" goes before the command/],
                  [['audit', '-x'], 'audit with an unknown short option',
                   qr/unknown option "-x"/])
    {
        my $before = connections('main');
        my $r = admin([@R, @{ $case->[0] }]);
        is($r->{rc}, 2, "usage error exits 2: $case->[1]");
        like($r->{err}, qr/^twofa-admin: \S/,
             "... with a message: $case->[1]");
        like($r->{err}, $case->[2], "... saying what is wrong: $case->[1]")
            if $case->[2];
        like($r->{err}, qr/^usage: twofa-admin /m,
             "... and the usage: $case->[1]");
        is($r->{out}, '', "... and nothing on stdout: $case->[1]");
        is(connections('main') - $before, 1,
           "... and Redis is not contacted: $case->[1]");
    }

    my $r2 = admin([@R, 'user', 'show', 'acme', 'bob', '--json']);
    like($r2->{err}, qr/options go before the command/,
         'an option after the command gets a hint');
}

# ---- org require / org show --------------------------------------------

{
    my $r = admin([@R, 'org', 'show', 'acme']);
    is($r->{rc}, 0, 'org show of an org never set exits 0');
    is($r->{out}, "org: acme\nrequire: off\nupdated: -\n",
       'org show of an org never set: require off, updated -');
    is(rcli('main', 'EXISTS', 'twofa:org:acme'), '0',
       'org show does not create the org');

    # a Redis without the deployment mark takes no policy
    $r = admin([@R, 'org', 'require', 'acme', 'on']);
    is($r->{rc}, 1, 'org require on a Redis with no twofa state: exit 1');
    like($r->{err}, qr/holds no twofa state .*twofa-admin init/,
         '... and stderr says why and what to do');
    is(rcli('main', 'EXISTS', 'twofa:org:acme'), '0', '... nothing written');

    # nor does it say "not enrolled" about anyone: it does not know
    $r = admin([@R, 'user', 'show', 'acme', 'alice']);
    is($r->{rc}, 1, 'user show on a Redis with no twofa state: exit 1');
    like($r->{err}, qr/holds no twofa state .*twofa-admin init/,
         '... and stderr says why and what to do');
    is($r->{out}, '', '... and nothing on stdout');

    $r = admin([@R, 'init'], SUDO_USER => 'ops.alice');
    is($r->{rc}, 0, 'init exits 0');
    my $fi = fields($r->{out});
    is($fi->{_keys}, 'initialised,created,audit', 'init prints its fields');
    is($fi->{created}, 'yes', 'init: created');
    like($r->{out}, qr/^audit: \S+ init by=ops\.alice$/m, 'init is audited');
    is(rcli('main', 'HGET', 'twofa:deployment', 'by'), 'ops.alice',
       'init marks the deployment, with who did it');
    $r = admin([@R, 'init']);
    is(fields($r->{out})->{created}, 'no', 'a second init changes nothing');
    unlike($r->{out}, qr/^audit:/m, '... and is not audited');

    rcli('main', 'CONFIG', 'RESETSTAT');
    my $t0 = int time;
    $r = admin([@R, 'org', 'require', 'acme', 'on'],
               SUDO_USER => 'ops.alice', USER => 'root');
    my $t1 = int(time) + 1;
    is($r->{rc}, 0, 'org require on exits 0');
    is($r->{err}, '', 'org require on: nothing on stderr');
    is(rcli('main', 'HGET', 'twofa:org:acme', 'require'), '1',
       'org require on stores require 1');
    my $updated = rcli('main', 'HGET', 'twofa:org:acme', 'updated');
    ok($updated =~ /^\d+$/ && $updated >= $t0 && $updated <= $t1,
       "org require on stores updated = now ($updated)");
    is(stat_calls('main', 'hset'), 1, 'org require is one HSET');
    is(stat_calls('main', 'hmset') + stat_calls('main', 'hsetnx'), 0,
       '... and no other hash write');

    my $f = fields($r->{out});
    is($f->{_keys}, 'org,require,updated,audit',
       'org require prints org, require, updated, audit');
    is($f->{org}, 'acme', '... org');
    is($f->{require}, 'on', '... require: on');
    is($f->{updated}, iso($updated), '... updated as ISO-8601 UTC');
    my @audit = $r->{out} =~ /^audit: /mg;
    is(scalar @audit, 1, 'org require prints exactly one audit line');
    my ($when, $what) = $r->{out} =~ $AUDIT_RE;
    is($when, iso($updated), 'the audit line carries the time of the change');
    is($what, 'org require on org=acme by=ops.alice',
       'audit line: what, org, by=$SUDO_USER');

    $r = admin([@R, 'org', 'show', 'acme']);
    is($r->{out}, "org: acme\nrequire: on\nupdated: " . iso($updated) . "\n",
       'org show after require on');

    $r = admin([@R, '--json', 'org', 'show', 'acme']);
    my $j = eval { decode_json($r->{out}) };
    is(ref $j, 'HASH', 'org show --json is one JSON object') or diag($@);
    ok(JSON::PP::is_bool($j->{require}) && $j->{require},
       '--json: require is the boolean true');
    is($j->{updated}, iso($updated), '--json: updated as ISO-8601');
    is($j->{org}, 'acme', '--json: org');
    is(join(',', sort keys %$j), 'org,require,updated',
       '--json: the same keys as the lines');

    $r = admin([@R, '--json', 'org', 'show', 'never-set']);
    $j = eval { decode_json($r->{out}) } || {};
    ok(exists $j->{updated} && !defined $j->{updated},
       '--json: an org never set has updated null');
    ok(JSON::PP::is_bool($j->{require}) && !$j->{require},
       '--json: ... and require false');

    sleep 1.1;    # a later "updated"
    $r = admin([@R, '--json', 'org', 'require', 'acme', 'off'],
               SUDO_USER => undef, USER => 'bob');
    is($r->{rc}, 0, 'org require off exits 0');
    is(rcli('main', 'HGET', 'twofa:org:acme', 'require'), '0',
       'org require off stores require 0');
    my $updated2 = rcli('main', 'HGET', 'twofa:org:acme', 'updated');
    ok($updated2 > $updated, 'org require off moves updated on');
    $j = eval { decode_json($r->{out}) } || {};
    ok(JSON::PP::is_bool($j->{require}) && !$j->{require},
       '--json org require off: require false');
    like($j->{audit} // '',
         qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ org require off org=acme by=bob$/,
         '--json: the audit line is the "audit" member, by=$USER');

    $r = admin([@R, 'org', 'show', 'acme']);
    like($r->{out}, qr/^require: off$/m, 'org show after require off');

    $r = admin([@R, 'org', 'require', 'acme', 'on'],
               SUDO_USER => undef, USER => undef);
    like($r->{out}, qr/^audit: \S+ org require on org=acme by=uid:$<$/m,
         'audit by=uid:N without $SUDO_USER and $USER');

    $r = admin([@R, 'org', 'require', 'acme', 'on'],
               SUDO_USER => "x y\naudit: forged", USER => 'carol');
    like($r->{out}, qr/^audit: \S+ org require on org=acme by=carol$/m,
         'a $SUDO_USER that is not a clean name is not used');
    is(scalar(() = $r->{out} =~ /^audit: /mg), 1,
       '... and cannot forge a second audit line');

    # only "1" requires, as in the module
    rcli('main', 'HSET', 'twofa:org:odd', 'require', 'true');
    $r = admin([@R, 'org', 'show', 'odd']);
    # (org_get.lua, the module's script, returns what the module applies,
    # not the raw field: the old warning about it is gone)
    is($r->{rc}, 0, 'org show of an odd require field exits 0');
    like($r->{out}, qr/^require: off$/m,
         'a require field other than 1 shows off, as the module reads it');

    # values after the command are literal, even with a leading "-"
    $r = admin([@R, 'org', 'require', '-dash', 'on']);
    is($r->{rc}, 0, 'an org starting with "-" is a value, not an option');
    is(rcli('main', 'HGET', 'twofa:org:-dash', 'require'), '1',
       '... and is stored under its own key');
}

# ---- user show ---------------------------------------------------------

my $enrolled_at = 1767225600;    # 2026-01-01T00:00:00Z

sub seed_user {
    my ($name, $db, $key, %o) = @_;
    rcli($name, '-n', $db, 'HSET', $key, 'secret', $SECRET,
         'enabled', $o{enabled} // '1', 'enrolled_at', $enrolled_at,
         'last_step', '58907520',
         'recovery', 'k1:' . join(',', @HASHES));
}

{
    rcli('main', 'HSET', 'twofa:org:acme', 'require', '1');
    seed_user('main', 0, 'twofa:user:acme:alice');

    my $r = admin([@R, 'user', 'show', 'acme', 'alice']);
    is($r->{rc}, 0, 'user show of an enrolled user exits 0');
    my $f = fields($r->{out});
    is($f->{_keys}, 'org,user,enrolled,enrolled_at,org_require,'
                  . 'locked,failures,failures_ttl,lockout,recovery_left',
       'user show prints its fields in the documented order');
    is($f->{org}, 'acme', 'user show: org');
    is($f->{user}, 'alice', 'user show: user');
    is($f->{enrolled}, 'yes', 'user show: enrolled');
    is($f->{enrolled_at}, '2026-01-01T00:00:00Z', 'user show: since when');
    is($f->{org_require}, 'on', "user show: the org's requirement");
    is($f->{locked}, 'no', 'user show: not locked');
    is($f->{failures}, '0', 'user show: no failures');
    is($f->{failures_ttl}, '0', 'user show: no failure window');
    is($f->{recovery_left}, '3', 'user show: 3 recovery codes left');

    my $j = eval { decode_json(admin([@R, '--json', 'user', 'show', 'acme',
                                      'alice'])->{out}) } || {};
    ok(JSON::PP::is_bool($j->{enrolled}) && $j->{enrolled},
       '--json user show: enrolled true');
    is($j->{recovery_left}, 3, '--json user show: recovery_left 3');
    ok(!ref $j->{recovery_left} && $j->{recovery_left} =~ /^\d+$/,
       '--json user show: counts are numbers');
    is($j->{enrolled_at}, '2026-01-01T00:00:00Z',
       '--json user show: enrolled_at');

    # a user hash left by an older version: a secret, not enabled
    rcli('main', 'HSET', 'twofa:user:acme:pat', 'secret', $SECRET,
         'enabled', '0', 'enrolled_at', $enrolled_at);
    $f = fields(admin([@R, 'user', 'show', 'acme', 'pat'])->{out});
    is($f->{enrolled}, 'no', 'a secret not enabled: not enrolled');
    is($f->{enrolled_at}, '-', 'not enrolled: enrolled_at -');

    # a user with no state at all
    my $before = rcli('main', 'DBSIZE');
    $r = admin([@R, 'user', 'show', 'acme', 'nobody']);
    is($r->{rc}, 0, 'user show of an unknown user exits 0');
    $f = fields($r->{out});
    is($f->{enrolled}, 'no', 'unknown user: enrolled no');
    is($f->{recovery_left}, '0', 'unknown user: no recovery codes');
    is(rcli('main', 'DBSIZE'), $before, 'user show creates no key');

    # locked: the failure counter at --lockout (default 5)
    rcli('main', 'SET', 'twofa:fail:acme:alice', '5', 'EX', '300');
    $f = fields(admin([@R, 'user', 'show', 'acme', 'alice'])->{out});
    is($f->{locked}, 'yes', 'failures = 5 (default --lockout): locked');
    is($f->{failures}, '5', 'locked user: failures 5');
    ok($f->{failures_ttl} =~ /^\d+$/ && $f->{failures_ttl} > 290
       && $f->{failures_ttl} <= 300,
       "locked user: the window's TTL in seconds ($f->{failures_ttl})");

    $f = fields(admin([@R, '--lockout', '6', 'user', 'show', 'acme',
                       'alice'])->{out});
    is($f->{locked}, 'no', '--lockout 6: 5 failures are not locked');
    is($f->{lockout}, '6', 'user show echoes the lockout used');
    $f = fields(admin([@R, '--lock=6', 'user', 'show', 'acme',
                       'alice'])->{out});
    is($f->{lockout}, '6', 'an unambiguous abbreviation (--lock=6) works');

    rcli('main', 'SET', 'twofa:fail:acme:alice', '4', 'EX', '300');
    $f = fields(admin([@R, 'user', 'show', 'acme', 'alice'])->{out});
    is($f->{locked}, 'no', 'failures = 4: not locked');
    is($f->{failures}, '4', 'failures 4 shown');

    rcli('main', 'SET', 'twofa:fail:acme:alice', '9');
    $j = eval { decode_json(admin([@R, '--json', 'user', 'show', 'acme',
                                   'alice'])->{out}) } || {};
    ok(JSON::PP::is_bool($j->{locked}) && $j->{locked},
       '--json: locked true');
    is($j->{failures_ttl}, -1, 'a counter without expiry: failures_ttl -1');
}

# ---- user reset --------------------------------------------------------

{
    rcli('main', 'SET', 'twofa:fail:acme:alice', '3', 'EX', '300');
    rcli('main', 'CONFIG', 'RESETSTAT');
    my $r = admin([@R, 'user', 'reset', 'acme', 'alice'],
                  SUDO_USER => 'ops.alice');
    is($r->{rc}, 0, 'user reset exits 0');
    is(rcli('main', 'EXISTS', 'twofa:user:acme:alice'), '0',
       'user reset removes the user hash');
    is(rcli('main', 'EXISTS', 'twofa:fail:acme:alice'), '0',
       'user reset removes the failure counter');
    is(stat_calls('main', 'del'), 1, 'user reset is one DEL');
    my $f = fields($r->{out});
    is($f->{_keys}, 'org,user,existed,was_enrolled,audit',
       'user reset prints org, user, existed, was_enrolled, audit');
    is($f->{existed}, 'yes', 'user reset says the user had TOTP state');
    is($f->{was_enrolled}, 'yes', '... and was enrolled');
    my ($when, $what) = $r->{out} =~ $AUDIT_RE;
    is($what, 'user reset org=acme user=alice by=ops.alice',
       'user reset audit line');
    ok(abs(from_iso($when) - time) < 5, "the audit time is now ($when)");

    $r = admin([@R, 'user', 'reset', 'acme', 'alice']);
    is($r->{rc}, 0, 'a second reset exits 0');
    is(fields($r->{out})->{existed}, 'no', '... and says nothing existed');
    like($r->{out}, $AUDIT_RE, '... and is audited');

    $r = admin([@R, '--json', 'user', 'reset', 'acme', 'pat']);
    my $j = eval { decode_json($r->{out}) } || {};
    ok($j->{existed} && !$j->{was_enrolled},
       '--json reset of a user not enrolled: existed true, was_enrolled false');
    is(rcli('main', 'EXISTS', 'twofa:user:acme:pat'), '0',
       'the old secret is gone');

    # a counter alone is not TOTP state, but goes too
    rcli('main', 'SET', 'twofa:fail:acme:zed', '2', 'EX', '300');
    $r = admin([@R, 'user', 'reset', 'acme', 'zed']);
    is(fields($r->{out})->{existed}, 'no',
       'a user with only failures had no TOTP state');
    is(rcli('main', 'EXISTS', 'twofa:fail:acme:zed'), '0',
       '... and the counter is removed');

    # the org is untouched by a user reset
    is(rcli('main', 'HGET', 'twofa:org:acme', 'require'), '1',
       'user reset leaves the org policy alone');
}

# ---- the module's scripts: EVALSHA, and EVAL once after NOSCRIPT -------

# the SHA1 Redis gives a script: of the file in lua/, as it is embedded
sub script_sha {
    my ($name) = @_;
    my $file = "$FindBin::Bin/../lua/$name.lua";
    open my $fh, '<:raw', $file or die "$file: $!";
    local $/;
    return sha1_hex(<$fh>);
}

# EVALSHA and EVAL calls since the last CONFIG RESETSTAT
sub evals {
    my ($name) = @_;
    return sprintf 'evalsha=%d,eval=%d', stat_calls($name, 'evalsha'),
                   stat_calls($name, 'eval');
}

{
    for my $case (['org_get', 'org', 'show', 'acme'],
                  ['org_set', 'org', 'require', 'acme', 'on'],
                  ['state', 'user', 'show', 'acme', 'alice'],
                  ['reset', 'user', 'reset', 'acme', 'nobody'],
                  ['init', 'init'])
    {
        my ($script, @cmd) = @$case;
        my $label = join ' ', @cmd;
        my $sha = script_sha($script);
        # the lines that do not change from one call to the next
        my $stable = sub { join '', grep { !/^(audit|updated): / }
                                    split /^/, $_[0] };

        admin([@R, @cmd]);    # the script is loaded, whatever came before
        rcli('main', 'CONFIG', 'RESETSTAT');
        my $r = admin([@R, @cmd]);
        is($r->{rc}, 0, "$label exits 0");
        is(evals('main'), 'evalsha=1,eval=0',
           "$label: a loaded script goes out as one EVALSHA");
        is(rcli('main', 'SCRIPT', 'EXISTS', $sha), '1',
           "... of $script.lua, with the SHA1 Redis computes");

        rcli('main', 'SCRIPT', 'FLUSH');
        is(rcli('main', 'SCRIPT', 'EXISTS', $sha), '0',
           "$label: SCRIPT FLUSH forgot $script.lua");
        my $r2 = admin([@R, @cmd]);
        is($r2->{rc}, 0, "$label after SCRIPT FLUSH still exits 0");
        is($r2->{err}, '', '... with nothing on stderr');
        is($stable->($r2->{out}), $stable->($r->{out}),
           '... and the same output');
        is(evals('main'), 'evalsha=2,eval=1',
           '... after an EVALSHA that met NOSCRIPT, one EVAL');
        is(rcli('main', 'SCRIPT', 'EXISTS', $sha), '1',
           '... which loaded the script again');

        admin([@R, @cmd]);
        is(evals('main'), 'evalsha=3,eval=1',
           "$label: the next call is an EVALSHA again, no EVAL");
    }
}

# ---- identity values ---------------------------------------------------

{
    seed_user('main', 0, 'twofa:user:acme:keep');
    # not UTF-8 (Latin-1 bytes, a lone byte), control characters (C0,
    # DEL, C1), empty, longer than 128 bytes
    my @bad = ('', 'x' x 200, 'x' x 129, "a\nb", "a\tb", "a\x7fb",
               "a\xc2\x85b", "\x{e9}t\x{e9}", "\xff", "\xd0");
    for my $v (@bad) {
        (my $show = $v) =~ s/([^\x21-\x7e])/sprintf '\\x%02x', ord $1/ge;
        $show = substr($show, 0, 20) . '...' if length $show > 20;
        for my $cmd (['org', 'require', $v, 'on'],
                     ['org', 'show', $v],
                     ['user', 'show', 'acme', $v],
                     ['user', 'reset', $v, 'keep'],
                     ['user', 'reset', 'acme', $v])
        {
            my $label = "\"$show\" in " . join(' ', @$cmd[0, 1]);
            my $size = rcli('main', 'DBSIZE');
            my $conns = connections('main');
            my $r = admin([@R, @$cmd]);
            is($r->{rc}, 2, "invalid identity exits 2: $label");
            like($r->{err}, qr/^twofa-admin: invalid (org|user) /,
                 "... with a clear message: $label");
            is($r->{out}, '', "... nothing on stdout: $label");
            is(connections('main') - $conns, 1,
               "... Redis is not contacted: $label");
            is(rcli('main', 'DBSIZE'), $size, "... nothing written: $label");
        }
    }
    is(rcli('main', 'EXISTS', 'twofa:user:acme:keep'), '1',
       'no invalid reset touched a valid user');

    my $long = 'u' x 128;
    my $r = admin([@R, 'org', 'require', $long, 'on']);
    is($r->{rc}, 0, 'a 128-character org is valid');
    is(rcli('main', 'HGET', "twofa:org:$long", 'require'), '1',
       '... and stored under its key');

    $r = admin([@R, 'user', 'reset', 'acme', 'j.doe+x@acme-1_a']);
    is($r->{rc}, 0, 'every allowed character passes');
    like($r->{out}, qr/^user: j\.doe\+x\@acme-1_a$/m, '... and is printed');

    # UTF-8 identities, and what was refused before: encoded in the keys
    my $u8 = "\xd0\xae\xd0\xbb\xd0\xb8\xd1\x8f";    # Юлия, as bytes
    for my $c (['a:b', 'a|3Ab'], ['jean dupont', 'jean|20dupont'],
               ['CORP\\jdoe', 'CORP|5Cjdoe'], ['a*?[b]', 'a|2A|3F|5Bb|5D'],
               ['a|b', 'a|7Cb'], ['a/b"c', 'a/b"c'], [$u8, $u8])
    {
        my ($v, $k) = @$c;
        (my $show = $v) =~ s/([^\x21-\x7e])/sprintf '\\x%02x', ord $1/ge;
        $r = admin([@R, 'org', 'require', $v, 'on']);
        is($r->{rc}, 0, "org require \"$show\" exits 0");
        is(rcli('main', 'HGET', "twofa:org:$k", 'require'), '1',
           "... stored under twofa:org:$k");
        seed_user('main', 0, "twofa:user:$k:$k");
        $r = admin([@R, 'user', 'show', $v, $v]);
        is($r->{rc}, 0, "user show \"$show\" \"$show\" exits 0");
        like($r->{out}, qr/^enrolled: yes$/m,
             '... and reads the escaped key');
        $r = admin([@R, '--json', 'user', 'show', $v, $v]);
        my $j = eval { decode_json($r->{out}) } || {};
        is($j->{user}, Encode::decode('UTF-8', $v),
           '... --json: the user as UTF-8');
    }
}

# ---- --prefix and --db -------------------------------------------------

{
    my $size = rcli('main', 'DBSIZE');
    admin([@R, '--prefix', 'edge:', 'init']);
    admin([@R, '--db', '3', 'init']);
    my $r = admin([@R, '--prefix', 'edge:', 'org', 'require', 'pfx', 'on']);
    is($r->{rc}, 0, '--prefix: org require exits 0');
    is(rcli('main', 'HGET', 'edge:org:pfx', 'require'), '1',
       '--prefix edge: writes edge:org:pfx');
    is(rcli('main', 'EXISTS', 'twofa:org:pfx'), '0',
       '--prefix: nothing under the default prefix');

    seed_user('main', 0, 'edge:user:pfx:ann');
    my $f = fields(admin([@R, '--prefix=edge:', 'user', 'show', 'pfx',
                          'ann'])->{out});
    is($f->{enrolled}, 'yes', '--prefix=edge: reads edge:user:pfx:ann');
    is($f->{org_require}, 'on', '--prefix: reads edge:org:pfx');
    $f = fields(admin([@R, 'user', 'show', 'pfx', 'ann'])->{out});
    is($f->{enrolled}, 'no', 'without --prefix the user is not seen');

    $r = admin([@R, '--prefix', 'edge:', 'user', 'reset', 'pfx', 'ann']);
    is(rcli('main', 'EXISTS', 'edge:user:pfx:ann'), '0',
       '--prefix: user reset removes edge:user:pfx:ann');

    $r = admin([@R, '--db', '3', 'org', 'require', 'dbo', 'on']);
    is($r->{rc}, 0, '--db 3: org require exits 0');
    is(rcli('main', '-n', '3', 'HGET', 'twofa:org:dbo', 'require'), '1',
       '--db 3 writes in db 3');
    is(rcli('main', 'EXISTS', 'twofa:org:dbo'), '0', '... not in db 0');

    seed_user('main', 3, 'twofa:user:dbo:dan');
    $f = fields(admin([@R, '--db=3', 'user', 'show', 'dbo', 'dan'])->{out});
    is($f->{enrolled}, 'yes', '--db=3: user show reads db 3');
    $r = admin([@R, '--db', '3', 'user', 'reset', 'dbo', 'dan']);
    is(rcli('main', '-n', '3', 'EXISTS', 'twofa:user:dbo:dan'), '0',
       '--db 3: user reset in db 3');

    $r = admin([@R, '--db', '99', 'org', 'show', 'dbo']);
    is($r->{rc}, 1, 'a db Redis does not have: exit 1');
    like($r->{err}, qr/SELECT/, '... naming SELECT');
}

# ---- a Redis with a password -------------------------------------------

{
    my $auth = start_redis('auth', password => $PASSWORD);
    my @A = ('--redis', "127.0.0.1:$auth->{port}");
    open my $fh, '>', "$dir/right.pass" or die;
    print $fh "$PASSWORD\n";
    close $fh;
    open $fh, '>', "$dir/crlf.pass" or die;
    print $fh "$PASSWORD\r\n";
    close $fh;
    open $fh, '>', "$dir/wrong.pass" or die;
    print $fh "not-the-password\n";
    close $fh;
    open $fh, '>', "$dir/empty.pass" or die;
    print $fh "\n";
    close $fh;

    my $r = admin([@A, 'org', 'require', 'pw', 'on']);
    is($r->{rc}, 1, 'no password for a Redis that needs one: exit 1');
    like($r->{err}, qr/NOAUTH/, '... saying authentication is required');

    $r = admin([@A, '--password-file', "$dir/wrong.pass", 'org', 'require',
                'pw', 'on']);
    is($r->{rc}, 1, 'wrong password: exit 1');
    like($r->{err}, qr/AUTH: .*(WRONGPASS|invalid)/i,
         '... with the AUTH error on stderr');
    is($r->{out}, '', '... and nothing on stdout');
    is(rcli('auth', 'EXISTS', 'twofa:org:pw'), '0', '... and nothing written');

    $r = admin([@A, '--password-file', "$dir/right.pass", 'org', 'require',
                'pw', 'on']);
    is($r->{rc}, 0, 'right password (trailing newline ignored): exit 0');
    is(rcli('auth', 'HGET', 'twofa:org:pw', 'require'), '1',
       '... and the change is made');

    $r = admin([@A, "--password-file=$dir/crlf.pass", 'org', 'show', 'pw']);
    is($r->{rc}, 0, 'a CRLF password file works too');
    like($r->{out}, qr/^require: on$/m, '... and reads the policy');

    $r = admin([@A, '--password-file', "$dir/empty.pass", 'org', 'show',
                'pw']);
    is($r->{rc}, 2, 'an empty password file: exit 2');
    like($r->{err}, qr/empty/, '... saying so');

    $r = admin([@A, '--password-file', "$dir/missing.pass", 'org', 'show',
                'pw']);
    is($r->{rc}, 2, 'a missing password file: exit 2');
    like($r->{err}, qr/missing\.pass/, '... naming the file');
}

# ---- a unix socket -----------------------------------------------------

{
    my $ux = start_redis('unix', unix => 1);
    my @U = ('--redis', "unix:$ux->{sock}");
    my $r = admin([@U, 'org', 'require', 'sock', 'on']);
    is($r->{rc}, 0, 'unix socket: org require exits 0');
    is(rcli('unix', 'HGET', 'twofa:org:sock', 'require'), '1',
       'unix socket: the change is made');

    $r = admin([@U, 'org', 'show', 'sock']);
    like($r->{out}, qr/^require: on$/m, 'unix socket: org show');

    $r = admin(['--redis', "unix:$dir/nothing.sock", 'org', 'show', 'sock']);
    is($r->{rc}, 1, 'a unix socket nobody listens on: exit 1');
    like($r->{err}, qr/cannot connect/, '... cannot connect');
}

# ---- an unreachable or silent Redis ------------------------------------

{
    my $port = free_port();
    my $r = admin(['--redis', "127.0.0.1:$port", 'org', 'require', 'x',
                   'on']);
    is($r->{rc}, 1, 'nothing listening: exit 1');
    like($r->{err}, qr/^twofa-admin: redis 127\.0\.0\.1:$port: cannot connect/,
         '... with a message naming the address');
    ok($r->{secs} < 1.0,
       sprintf('... quickly (%.2fs, timeout 2000 ms)', $r->{secs}));
    is($r->{out}, '', '... no output, no audit line');

    # accepts connections (the kernel does) but never answers
    my $silent = IO::Socket::IP->new(LocalHost => '127.0.0.1',
                                     LocalPort => 0, Listen => 5)
        or die "listen: $!";
    $r = admin(['--redis', '127.0.0.1:' . $silent->sockport,
                '--timeout', '300', 'org', 'show', 'x']);
    is($r->{rc}, 1, 'a Redis that never answers: exit 1');
    like($r->{err}, qr/no reply within 300 ms/, '... saying it timed out');
    ok($r->{secs} >= 0.25 && $r->{secs} < 1.5,
       sprintf('... after about the timeout (%.2fs)', $r->{secs}));
    close $silent;
}

# ---- audit: the audit trail -------------------------------------------

# "TIME EVENT [org=ORG] [user=USER] actor=A client=C edge=E id=ID"
sub audit_entry {
    my ($line) = @_;
    my ($t, $rest) = ($line // '')
        =~ /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) (.*)$/ or return {};
    my ($event, $fields) = $rest =~ /^(.+?)((?: [a-z]+=\S*)+)$/
        or return {};
    my %e = (time => $t, event => $event);
    $e{$1} = $2 while $fields =~ / ([a-z]+)=(\S*)/g;
    $e{_keys} = join ',', $fields =~ / ([a-z]+)=/g;
    return \%e;
}

sub audit_events {
    my ($out) = @_;
    return join ',', map { audit_entry($_)->{event} // '?' } split /\n/, $out;
}

# a line from the pipe within $secs, or undef (at EOF or the deadline)
sub read_line_within {
    my ($fh, $buf, $secs) = @_;
    my $deadline = time + $secs;
    while ($$buf !~ /\n/) {
        my $left = $deadline - time;
        return if $left <= 0;
        my $rin = '';
        vec($rin, fileno($fh), 1) = 1;
        my $n = select(my $rout = $rin, undef, undef, $left);
        next if $n <= 0;
        my $got = sysread($fh, $$buf, 4096, length $$buf);
        return if !$got;
    }
    $$buf =~ s/^([^\n]*)\n//;
    $all_output .= "$1\n";
    return $1;
}

# twofa-admin ... audit ... --follow, its stdout a pipe: (pid, handle)
sub follow {
    my (@args) = @_;
    my $pid = open(my $fh, '-|') // die "fork: $!";
    if ($pid == 0) {
        open STDERR, '>', "$dir/follow.err" or die;
        exec $ADMIN, @args or die "exec $ADMIN: $!";
    }
    return ($pid, $fh);
}

# ends a follower with a signal: its exit status, or -1 (killed, hung)
sub stop_follow {
    my ($pid, $fh, $sig) = @_;
    kill $sig, $pid;
    my $deadline = time + 10;
    while (waitpid($pid, WNOHANG) == 0) {
        if (time > $deadline) {
            kill 'KILL', $pid;
            waitpid($pid, 0);
            return -1;
        }
        sleep 0.02;
    }
    my $status = $?;
    my $rest = do { local $/; <$fh> } // '';
    close $fh;
    $all_output .= $rest;
    return (($status & 127) ? -1 : $status >> 8, $rest);
}

{
    my $au = start_redis('audit');
    my @AU = ('--redis', "127.0.0.1:$au->{port}");
    my %who = (SUDO_USER => 'ops.audit');
    my $host = hostname();

    # init is audited when it makes the mark
    rcli('audit', 'DEL', 'twofa:deployment');

    my $t0 = int time;
    for my $cmd (['init'], ['org', 'require', 'acme', 'on'],
                 ['user', 'reset', 'acme', 'alice'],
                 ['org', 'require', 'beta', 'off'])
    {
        is(admin([@AU, @$cmd], %who)->{rc}, 0, "@$cmd, for the trail");
    }
    my $t1 = int(time) + 1;

    my $r = admin([@AU, 'audit']);
    is($r->{rc}, 0, 'audit exits 0');
    is($r->{err}, '', '... with nothing on stderr');
    my @lines = split /\n/, $r->{out};
    is(scalar @lines, 4, 'audit lists the four changes, one line each');
    my @e = map { audit_entry($_) } @lines;
    is(join('|', map { $_->{event} // '?' } @e),
       'init|require on|reset|require off',
       '... oldest first, with the events the scripts record');
    is(join('|', map { $_->{_keys} // '?' } @e),
       'actor,client,edge,id|org,actor,client,edge,id|'
       . 'org,user,actor,client,edge,id|org,actor,client,edge,id',
       '... org= and user= only when the entry has them');
    is(join('|', map { $_->{org} // '-' } @e), '-|acme|acme|beta',
       '... the orgs');
    is($e[2]{user}, 'alice', '... the user reset');
    is(scalar(grep { ($_->{actor} // '') eq 'cli:ops.audit' } @e), 4,
       '... every actor cli:$SUDO_USER');
    is(scalar(grep { ($_->{client} // '') eq 'local' } @e), 4,
       '... every client local');
    is(scalar(grep { ($_->{edge} // '') eq $host } @e), 4,
       "... every edge this host ($host)");
    is(scalar(grep { my $t = from_iso($_->{time}); $t >= $t0 && $t <= $t1 }
              @e), 4, '... times of the changes, ISO-8601 UTC');

    my $xr = eval { decode_json(rcli('audit', '--json', 'XRANGE',
                                     'twofa:audit', '-', '+')) } || [];
    is(join(',', map { $_->{id} // '?' } @e),
       join(',', map { $_->[0] } @$xr), '... with the stream ids');

    # nothing else goes into the trail: no secret, no code, no token
    for my $name ('audit', 'main') {
        my $all = eval { decode_json(rcli($name, '--json', 'XRANGE',
                                          'twofa:audit', '-', '+')) } || [];
        ok(@$all >= 4, "the trail of \"$name\" has entries");
        my %fields;
        for my $entry (@$all) {
            my @kv = @{ $entry->[1] };
            $fields{ join ',', @kv[grep { $_ % 2 == 0 } 0 .. $#kv] }++;
        }
        is(join(' ', sort keys %fields),
           'time,event,org,user,actor,client,edge',
           "... every entry of \"$name\" has the 7 known fields, in order");
    }

    is(audit_events(admin([@AU, 'audit', '--org', 'acme'])->{out}),
       'require on,reset', '--org acme: only acme\'s entries');
    is(audit_events(admin([@AU, 'audit', '--user', 'alice'])->{out}),
       'reset', '--user alice: only alice\'s');
    is(audit_events(admin([@AU, 'audit', '--user=alice', '--org',
                           'beta'])->{out}),
       '', '--user and --org together: both must match');
    is(audit_events(admin([@AU, 'audit', '--o', 'beta'])->{out}),
       'require off', 'an abbreviation (--o) works after audit');
    is(audit_events(admin([@AU, 'audit', '--org', '-dash'])->{out}),
       '', 'an org starting with "-" is a value');

    $r = admin([@AU, 'audit', '--since', $t1 + 3600]);
    is($r->{rc}, 0, '--since in the future exits 0');
    is($r->{out}, '', '... and lists nothing');
    is(admin([@AU, 'audit', '--since', iso($t1 + 3600)])->{out}, '',
       '--since in the future, as ISO-8601: nothing');
    is(scalar(split /\n/, admin([@AU, 'audit', '--since', iso($t0)])->{out}),
       4, '--since the time of the first change, as ISO-8601: all');
    is(scalar(split /\n/, admin([@AU, 'audit', '--since', $t0])->{out}), 4,
       '--since as unix seconds: all');
    is(scalar(split /\n/, admin([@AU, 'audit', '--since', '0'])->{out}), 4,
       '--since 0: all');

    is(audit_events(admin([@AU, 'audit', '--limit', '1'])->{out}), 'init',
       '--limit 1: the first entry only');
    is(audit_events(admin([@AU, 'audit', '--limit=3'])->{out}),
       'init,require on,reset', '--limit 3: the first three');
    is(audit_events(admin([@AU, 'audit', '--org', 'acme', '--limit', '1'])
                    ->{out}),
       'require on', '--limit counts the entries that match');

    $r = admin([@AU, '--json', 'audit']);
    is($r->{rc}, 0, '--json audit exits 0');
    my @json = split /\n/, $r->{out};
    is(scalar @json, 4, '--json: one line per entry');
    my @j = map { scalar eval { decode_json($_) } } @json;
    is(scalar(grep { ref $_ eq 'HASH' } @j), 4,
       '--json: each line is one JSON object');
    is(join('|', map { join ',', /"([a-z]+)":/g } @json[0, 2]),
       join('|', ('id,time,event,org,user,actor,client,edge') x 2),
       '--json: the keys, in order');
    is(join('|', map { $_->{event} // '?' } @j),
       'init|require on|reset|require off', '--json: the events');
    is(join('|', map { $_->{id} } @j), join('|', map { $_->{id} } @e),
       '--json: the same ids');
    is(join('|', map { $_->{time} } @j), join('|', map { $_->{time} } @e),
       '--json: the same times, ISO-8601 strings');
    ok(!defined $j[0]{org} && !defined $j[0]{user},
       '--json: init has org and user null');
    ok(!defined $j[1]{user} && $j[1]{org} eq 'acme',
       '--json: an org change has user null');
    is($j[2]{user}, 'alice', '--json: the user reset');
    is($j[3]{actor} . ' ' . $j[3]{client} . ' ' . $j[3]{edge},
       "cli:ops.audit local $host", '--json: actor, client, edge');

    # what it reads is Redis's: a value may be anything
    my $size = rcli('audit', 'DBSIZE');
    my $conns = connections('audit');
    $r = admin([@AU, 'audit', '--org', "a\x01b"]);
    is($r->{rc}, 2, 'audit --org with an invalid org exits 2');
    like($r->{err}, qr/^twofa-admin: invalid org "a\\x01b"/, '... saying so');
    is($r->{out}, '', '... nothing on stdout');
    is(connections('audit') - $conns, 1, '... Redis is not contacted');
    $r = admin([@AU, 'audit', '--user', "a\nb"]);
    is($r->{rc}, 2, 'audit --user with an invalid user exits 2');
    like($r->{err}, qr/^twofa-admin: invalid user "a\\x0ab"/,
         '... saying so, escaped');
    is(rcli('audit', 'DBSIZE'), $size, 'audit writes nothing');

    # the module's script: EVAL once after SCRIPT FLUSH
    rcli('audit', 'SCRIPT', 'FLUSH');
    rcli('audit', 'CONFIG', 'RESETSTAT');
    $r = admin([@AU, 'audit']);
    is($r->{out}, join('', map { "$_\n" } @lines),
       'audit after SCRIPT FLUSH: the same output');
    is(stat_calls('audit', 'eval'), 1, '... after one EVAL');
    is(rcli('audit', 'SCRIPT', 'EXISTS', script_sha('audit_read')), '1',
       '... which loaded audit_read.lua');

    # an entry no script wrote: control characters, spaces, not UTF-8
    rcli('audit', 'XADD', 'twofa:audit', '*', 'time', 'x',
         'event', "evil\e[2J\nforged", 'org', 'o rg=x', 'user', "\xff\xfe",
         'actor', "a\x7fb\tc", 'client', "c\r\n", 'edge', '');
    $r = admin([@AU, 'audit']);
    @lines = split /\n/, $r->{out};
    is(scalar @lines, 5, 'an entry with a newline is still one line');
    unlike($r->{out}, qr/[^\x20-\x7e\n]/,
           '... and no control character or byte of no UTF-8 is printed');
    like($lines[4], qr/^\Q- evil\x1B[2J\x0Aforged org=o\x20rg=x\E
                       \Q user=\xFF\xFE actor=a\x7Fb\x09c\E
                       \Q client=c\x0D\x0A edge= id=\E\d+-\d+$/x,
         '... each escaped as \\xHH, a time that is no number as "-"');
    $r = admin([@AU, '--json', 'audit', '--limit', '5']);
    my $odd = eval { decode_json((split /\n/, $r->{out})[4]) } || {};
    unlike($r->{out}, qr/[^\x20-\x7e\n]/, '--json: ASCII only');
    is($odd->{event}, "evil\e[2J\nforged", '--json: the event, escaped');
    is($odd->{actor}, "a\x7fb\tc", '--json: the actor, escaped');
    is($odd->{user}, '??', '--json: bytes that are no UTF-8 as "?"');
    ok(exists $odd->{time} && !defined $odd->{time},
       '--json: a time that is no number is null');

    # more entries than one call of the script looks at (1000)
    rcli('audit', 'EVAL', "for i = 1, 2500 do redis.call('XADD', KEYS[1], "
         . "'*', 'time', ARGV[1], 'event', 'bulk', 'org', 'bulk', 'user', "
         . "'u' .. i, 'actor', 't', 'client', 't', 'edge', 't') end", 1,
         'bulk:audit', int time);
    my @B = (@AU, '--prefix', 'bulk:', 'audit');
    is(scalar(split /\n/, admin([@B, '--limit', '100000'])->{out}), 2500,
       'a trail of 2500 entries: all of them');
    is(scalar(split /\n/, admin([@B])->{out}), 100, '... 100 by default');
    my @last = split /\n/, admin([@B, '--limit', '1500'])->{out};
    is(scalar @last, 1500, '... 1500 with --limit 1500');
    is(audit_entry($last[-1])->{user}, 'u1500', '... the first 1500');
    is(audit_events(admin([@B, '--user', 'u2500'])->{out}), 'bulk',
       '... and the last one found by --user');

    # --follow: new entries as they come, until SIGTERM or SIGINT
    my ($pid, $fh) = follow(@AU, 'audit', '--org', 'acme', '--follow');
    my $buf = '';
    is(audit_events(join "\n", grep { defined }
                    map { read_line_within($fh, \$buf, 10) } 1 .. 2),
       'require on,reset', '--follow --org acme: the listing first');
    admin([@AU, 'org', 'require', 'beta', 'on'], %who);
    admin([@AU, 'org', 'require', 'acme', 'off'], %who);
    my $e = audit_entry(read_line_within($fh, \$buf, 10));
    is(($e->{event} // '?') . ' ' . ($e->{org} // '?'), 'require off acme',
       '--follow: then a new entry, of acme (beta\'s is filtered)');
    my ($rc, $rest) = stop_follow($pid, $fh, 'TERM');
    is($rc, 0, '--follow ends with exit 0 at SIGTERM');
    is($buf . $rest, '', '... having printed nothing else');

    # --limit, then --follow: what the limit left out is skipped
    ($pid, $fh) = follow(@AU, '--json', 'audit', '--limit', '1', '--follow');
    $buf = '';
    my $first = eval { decode_json(read_line_within($fh, \$buf, 10)) } || {};
    is($first->{event}, 'init', '--follow --limit 1 --json: the first entry');
    admin([@AU, 'user', 'reset', 'acme', 'bob'], %who);
    my $next = eval { decode_json(read_line_within($fh, \$buf, 10)) } || {};
    is(($next->{event} // '?') . ' ' . ($next->{user} // '?'), 'reset bob',
       '... then the new one, not those --limit left out');
    ($rc, $rest) = stop_follow($pid, $fh, 'INT');
    is($rc, 0, '--follow ends with exit 0 at SIGINT');
    is($buf . $rest, '', '... having printed nothing else');
}

# ---- nothing secret, ever ----------------------------------------------

ok(index($all_output, $SECRET) < 0, 'the secret never appears in any output');
is(scalar(grep { index($all_output, $_) >= 0 } @HASHES), 0,
   'no recovery hash appears in any output');
ok(index($all_output, $PASSWORD) < 0,
   'the Redis password never appears in any output');
ok(length($all_output) > 1000, 'the checks above did see output');

done_testing;
