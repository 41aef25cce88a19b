#!/usr/bin/perl
# twofa_redis sentinel=... service=...: the module and the admin CLI find
# the primary through a real Sentinel topology (TwofaTopology: a primary,
# two replicas, three sentinels, down-after 1 s).  Logins work; kill -9 of
# the primary under a login load with a code in flight: the commands in
# flight and the logins until a replica is promoted fail closed (503,
# never the app's response); logins work again once it is, and the time
# from the kill to the first login decided is measured.  A code accepted
# and a hold released just before the failover are refused after it (the
# replay guards were acknowledged by a replica before the release).
# Replicas that do not acknowledge: the code is refused (503).  The old
# primary restarted empty is never used.  nginx -t names the directive and
# the value for the misconfigurations.  And a plain Redis that stalls: the
# connection is closed and made again.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(sleep time);
use TwofaTest;
use TwofaTopology;
use TwofaLoad;
use TwofaFailover;

my $t = TwofaTest->new;
my $d = $t->dir;
my $admin = $ENV{TWOFA_ADMIN} // "$FindBin::Bin/../build/twofa-admin";
my $loc = \&TwofaTest::Client::location;

$t->write_file('redis-pass', "data-pw\n");
$t->write_file('sentinel-pass', "sentinel-pw\n");

# ---- nginx -t: the directive and the value named ------------------------

{
    my $key = "twofa_key_file $d/key;";
    for my $case (
        ['sentinel=127.0.0.1:99999 service=twofa',
         qr/"twofa_redis" cannot use "127\.0\.0\.1:99999"/,
         'a bad sentinel port'],
        ['sentinel=127.0.0.1:26379,,127.0.0.1:26380 service=twofa',
         qr/"twofa_redis" has an invalid sentinel address "" in "sentinel=/,
         'an empty sentinel address'],
        ['sentinel=unix:/tmp/s.sock service=twofa',
         qr/"twofa_redis" has an invalid sentinel address "unix:\/tmp\/s\.sock"/,
         'a unix socket as a sentinel'],
        ['sentinel= service=twofa',
         qr/"twofa_redis" has an empty "sentinel="/, 'an empty sentinel='],
        ['sentinel=127.0.0.1:26379',
         qr/"twofa_redis" with "sentinel=127\.0\.0\.1:26379" needs "service="/,
         'sentinel= without service='],
        ['127.0.0.1:6379 sentinel=127.0.0.1:26379 service=twofa',
         qr/"twofa_redis" takes an address, "sentinel=" or "cluster=" first, one of them: "sentinel=127\.0\.0\.1:26379"/,
         'sentinel= with an address'],
        ['127.0.0.1:6379 service=twofa',
         qr/"twofa_redis" has an invalid parameter "service=twofa"/,
         'service= without sentinel='],
        ['sentinel=127.0.0.1:26379 "service=two fa"',
         qr/"twofa_redis" has an invalid parameter "service=two fa"/,
         'a service name with a space'],
        ['sentinel=127.0.0.1:26379 service=twofa timeout=200ms '
         . 'replica_wait=300ms',
         qr/"twofa_redis" "replica_wait=" must be shorter than "timeout=" \(200ms\)/,
         'replica_wait= not under timeout='],
        ['sentinel=127.0.0.1:26379 service=twofa replica_wait=soon',
         qr/"twofa_redis" has an invalid parameter "replica_wait=soon"/,
         'a bad replica_wait='],
        ['sentinel=127.0.0.1:26379 service=twofa '
         . "sentinel_password_file=$d/nowhere",
         qr/"twofa_redis" .*nowhere/, 'a missing sentinel_password_file'],
    ) {
        my ($redis, $re, $name) = @$case;
        my ($rc, $out) = $t->nginx_t($t->conf(twofa => "    twofa_redis $redis;\n    $key\n"));
        isnt($rc, 0, "nginx -t refuses $name");
        like($out, $re, "and names the directive and the value: $name");
    }

    my ($rc, $out) = $t->nginx_t($t->conf(twofa =>
        "    twofa_redis sentinel=127.0.0.1:26379,[::1]:26380 "
        . "service=twofa sentinel_password_file=$d/sentinel-pass "
        . "password_file=$d/redis-pass db=0 timeout=500ms "
        . "replica_wait=100ms prefix=twofa:;\n    $key\n"));
    is($rc, 0, 'nginx -t takes the Sentinel form with every parameter')
        or diag($out);
}

# ---- the topology, the CLI through the sentinels --------------------------

$t->start_app;

my $t0 = time;
my $s = TwofaTopology->sentinel($t, password => 'data-pw',
                                sentinel_password => 'sentinel-pw');
note(sprintf 'sentinel topology up in %.1f s', time - $t0);
my $first = $s->first_primary;
my $spec = $s->spec;

sub cli {
    my (@args) = @_;
    my $out = TwofaTopology::run(undef, $admin, '--redis',
        "$spec sentinel_password_file=$d/sentinel-pass",
        '--password-file', "$d/redis-pass", @args);
    return ($? >> 8, $out);
}

{
    my ($rc, $out) = cli('init');
    is($rc, 0, 'twofa-admin init through the sentinels') or diag($out);
    ($rc, $out) = cli('org', 'require', 'acme', 'on');
    is($rc, 0, 'twofa-admin org require through the sentinels') or diag($out);
    is($s->node_cli($first, 'HGET', 'twofa:org:acme', 'require'), 1,
       'written on the primary the sentinels name');

    $out = TwofaTopology::run(undef, $admin, '--redis',
        "$spec sentinel_password_file=$d/redis-pass",
        '--password-file', "$d/redis-pass", 'org', 'show', 'acme');
    is($? >> 8, 1, 'a wrong sentinel password: the CLI fails (exit 1)');
    like($out, qr/sentinel 127\.0\.0\.1:\d+: AUTH failed/,
         'and says which sentinel refused it');
    like($out, qr/no sentinel named a primary of "twofa"/,
         'and that none named the primary');

    $out = TwofaTopology::run(undef, $admin, '--redis',
        'sentinel=127.0.0.1:26379', 'org', 'show', 'acme');
    is($? >> 8, 2, 'sentinel= without service=: a usage error');
    like($out, qr/invalid --redis "sentinel=127\.0\.0\.1:26379"/,
         'naming the option and its value');
}

# ---- nginx through the sentinels -------------------------------------------

$t->start_nginx(workers => 2, twofa => <<"END");
    twofa_redis $spec sentinel_password_file=$d/sentinel-pass
                password_file=$d/redis-pass timeout=1s replica_wait=300ms;
    twofa_key_file $d/key;
END

# acme requires 2FA: a login is held for a code or for the enrollment (303
# to /2fa/verify or /2fa/enroll), which takes the login script: a login
# decided by Redis.  The app's own answer (303 to /home) would be a login
# let through without a second factor.
sub held {
    my ($r) = @_;
    return $r->{status} == 303
           && ($loc->($r) // '') =~ m{^/2fa/(verify|enroll)\z};
}

ok(TwofaTopology::poll(10, sub {
    my $r = $t->client->login('zed', org => 'acme');
    $r->{status} == 303;
}), 'logins are decided once the workers found the primary');

my $e = $t->client->enroll('alice', org => 'acme', enroll_offset => -30);
is($e->{res}{status}, 303, 'alice enrolled through the sentinels')
    or diag($e->{res}{status});
my $secret = $e->{secret};

{
    my $r = $t->client->verify('alice', $secret, org => 'acme', offset => 0);
    is($r->{status}, 303, 'alice logs in with a code');
    is($loc->($r), '/home', 'released');
}

my $carol = $t->client->enroll('carol', org => 'acme', enroll_offset => -30);
is($carol->{res}{status}, 303, 'carol enrolled');

# ---- replicas that do not acknowledge: the code is refused ----------------

{
    my @replicas = $s->replica_addrs_of($first);
    is(scalar @replicas, 2, 'the primary has two replicas');
    my $eb = $t->client->enroll('bob', org => 'acme', enroll_offset => -30);
    is($eb->{res}{status}, 303, 'bob enrolled');

    $s->freeze($_) for @replicas;
    my $r = $t->client->verify('bob', $eb->{secret}, org => 'acme', offset => 30);
    $s->thaw($_) for @replicas;
    is($r->{status}, 503, 'no replica acknowledged the used step: 503, '
                          . 'no release');
    like($r->{content}, qr/Sign-in is unavailable/, 'the unavailable page');
    ok(!grep({ /app_session/ } TwofaTest::all_headers($r, 'set-cookie')),
       'no app session cookie');
    like($t->error_log, qr/no replica of "127\.0\.0\.1:\d+" acknowledged a replay guard within 300ms: refused/,
         'and the log says why');
}

# ---- the replay guard across a failover ----------------------------------

# a code accepted and a hold taken just before the failover: both are on
# a replica before the release
my $accepted = TwofaFailover::accepted_before($t, 'acme', 'alice', $secret);

# dave's login is held now, for a code posted while the primary dies
my $dave = TwofaFailover::held_for_code($t, 'acme', 'dave');

# ---- kill -9 of the primary under a login load ----------------------------

my $load = TwofaLoad->start($t, 'acme', 2);
sleep 1;

# the primary frozen a moment, so that dave's code is surely in flight
# when it is killed: the time of the freeze counts as the failure's
$s->freeze($first);
my $frozen_at = time;
my $inflight = TwofaFailover::post_in_flight($t, $dave);
sleep 0.2;

my $killed = $s->kill_primary;
my $killed_at = time;
is($killed, $first, 'kill -9 of the primary under load');
TwofaFailover::in_flight_refused($t, $inflight);

my ($new, $took) = $s->wait_promotion(timeout => 30);
note(sprintf 'sentinel promoted %s %.1f s after the kill', $new, $took);

# the first login decided after the kill, from the main process too
my $gap;
TwofaTopology::poll(30, sub {
    my $r = $t->client->login('gap', org => 'acme');
    if (held($r)) {
        $gap = time - $killed_at;
        return 1;
    }
    return 0;
});
ok(defined $gap, 'logins are decided again after the promotion');
sleep 1;
my ($status, $bad, $first_ok_after) = $load->stop($killed_at);
note('load: ' . join(', ', map { "$_ x $status->{$_}" } sort keys %$status));
is_deeply($bad, [], 'under the load every login was held or refused '
                     . '(503): none let through');
ok($status->{503}, 'the logins in flight and until the promotion: 503');
ok(defined $first_ok_after, 'the load is held again after the promotion');
$gap = $first_ok_after - $killed_at
    if defined $first_ok_after && (!defined $gap || $first_ok_after - $killed_at < $gap);
diag(sprintf 'failover gap: %.1f s from kill -9 to the first login decided '
     . '(%.1f s from the freeze just before it; sentinel promotion at '
     . '%.1f s)', $gap // -1, ($gap // -1) + $killed_at - $frozen_at, $took);
ok(defined $gap && $gap < 20, 'within 20 s');

# ---- after the failover ---------------------------------------------------

{
    TwofaFailover::replay_refused($t, $accepted, 55);

    my $v = $t->client->verify('carol', $carol->{secret}, org => 'acme', offset => 30);
    is($v->{status}, 303, 'a fresh code works on the new primary');
    is($loc->($v), '/home', 'released');

    my ($rc, $out) = cli('user', 'show', 'acme', 'alice');
    is($rc, 0, 'the CLI finds the new primary') or diag($out);
    like($out, qr/enrolled:\s+yes/, 'and alice on it');
}

# ---- the old primary restarted empty is never used -----------------------

{
    my $before = () = $t->error_log =~ /using "\Q$killed\E"/g;
    $s->restart(as => 'empty');
    is($s->role($killed), 'master', 'the old primary is back, empty, '
                                    . 'a primary of its own');
    my @r = map { my $r = $t->client->login("after$_", org => 'acme');
                  sleep 0.1; $r } 1 .. 20;
    is(scalar(grep { held($_) } @r), 20,
       'logins keep going to the new primary meanwhile');
    my $after = () = $t->error_log =~ /using "\Q$killed\E"/g;
    is($after, $before, 'nginx never connects to the old primary');
    # the sentinels may make it a replica meanwhile, which copies the
    # new primary's keys: no script ran there is what tells (a replica
    # applies a script's effects, never the script)
    my $stats = $s->node_cli($killed, 'INFO', 'commandstats');
    unlike($stats, qr/^cmdstat_(evalsha|eval|fcall):/m,
           'no script ran there');
}

# ---- a sentinel down: the others are asked -------------------------------

{
    # the first sentinel of the list is the one asked first
    my ($dead) = $s->sentinel_addrs;
    $t->stop($s->{sentinels}{ TwofaTopology::port_of($dead) }{name}, 'KILL');
    my $primary = $s->primary;
    my $losses = sub {
        scalar(() = $t->error_log =~ /connection to "\Q$primary\E" lost/g)
    };
    my $before = $losses->();

    # nginx's connections to the primary cut: the sentinels are asked again
    $s->node_cli($primary, 'CLIENT', 'KILL', 'TYPE', $_) for qw(normal pubsub);
    ok(TwofaTopology::poll(10, sub { $losses->() > $before }),
       'nginx lost its connections to the primary');
    ok(TwofaTopology::poll(10, sub {
        held($t->client->login('sentinel-down', org => 'acme'))
    }), 'the first sentinel down: the primary is found through the others');

    my ($rc, $out) = cli('org', 'show', 'acme');
    is($rc, 0, 'and by the CLI') or diag($out);
    like($out, qr/sentinel \Q$dead\E: cannot connect/,
         'which says it passed over the dead one');
}

# ---- the primary checked while idle --------------------------------------

{
    # ROLE is asked of an idle primary at each stall check: a replica gone
    # is seen without a login
    my $primary = $s->primary;

    # the old primary, restarted empty, is turned into a replica a few
    # seconds later: both replicas in sync first, so that the count is sure
    ok(TwofaTopology::poll(20, sub {
        $s->online_replicas($primary) == 2
            && $s->replica_addrs_of($primary) == 2
    }), 'the primary has two replicas again') or diag($s->logs);
    sleep 1;
    my $seen = sub {
        scalar(() = $t->error_log
                      =~ /the primary "\Q$primary\E" now has replicas: 1\b/g)
    };
    my $before = $seen->();
    my ($replica) = $s->replica_addrs_of($primary);
    $s->kill_node($replica);
    ok(TwofaTopology::poll(5, sub { $seen->() > $before }),
       'a replica killed: nginx sees 1 left while idle');
}

# ---- a failover the operator asks for (SENTINEL FAILOVER) ---------------

{
    my $old = $s->primary;
    my ($asked) = $s->live_sentinels;
    my $uses = sub {
        my ($addr) = @_;
        scalar(() = $t->error_log
                      =~ /using "\Q$addr\E", primary of "twofa"/g)
    };
    my %before = map { $_ => $uses->($_) } $s->live_addrs;
    like(scalar $s->sentinel_cli($asked, 'SENTINEL', 'FAILOVER', 'twofa'),
         qr/^OK/, 'SENTINEL FAILOVER');
    my $new = TwofaTopology::poll(20, sub {
        my $p = $s->primary_per($asked);
        $p && $p ne $old && $s->role($p) eq 'master' ? $p : 0;
    });
    ok($new, 'another primary: ' . ($new // 'none'));
    ok(TwofaTopology::poll(10, sub {
        $uses->($new) > ($before{$new} // 0)
    }), 'nginx follows it');
    ok(TwofaTopology::poll(10, sub {
        held($t->client->login('switched', org => 'acme'))
    }), 'logins decided on it');
}

# ---- the error log ------------------------------------------------------

{
    my $log = $t->error_log;
    unlike($log, qr/\[(alert|crit|emerg)\]/, 'no alert or crit in the log');
    unlike($log, qr/exited on signal|segfault/, 'no worker crashed');
    like($log, qr/\+switch-master twofa 127\.0\.0\.1 \d+ 127\.0\.0\.1 \d+/,
         'the +switch-master event was seen');
}

$t->memcheck_ok;

# ---- a peer that stops answering without closing -------------------------

# A single Redis this time (the stall check is the client's, whatever the
# form): frozen with a command outstanding, the connection is closed after
# a timeout with nothing read, the command fails, and the worker connects
# again once Redis answers.
{
    my $p = TwofaTest->new;
    $p->start_redis->start_app;
    $p->start_nginx(timeout => '300ms');
    $p->redis('HSET', 'twofa:org:acme', 'require', '1');
    ok(held($p->client->login('sam', org => 'acme')), 'a plain Redis: held');

    my $pid = fork // die;
    if ($pid == 0) {
        open STDOUT, '>', '/dev/null';
        exec 'redis-cli', '-p', $p->redis_port, 'DEBUG', 'SLEEP', '1.5';
    }
    sleep 0.2;
    my $t0 = time;
    my $r = $p->client->login('sam', org => 'acme');
    is($r->{status}, 503, 'Redis frozen: 503');
    ok(time - $t0 < 1, sprintf 'at about the timeout (%.2f s)', time - $t0);
    waitpid $pid, 0;
    ok(TwofaTopology::poll(5, sub {
        $p->error_log =~ /twofa redis: "127\.0\.0\.1:\d+" (stalled: \d+ answers due, nothing read for \d+ms|not ready within 300ms): closed/
    }), 'the stalled connection is closed') or diag($p->error_log);
    ok(TwofaTopology::poll(5, sub {
        held($p->client->login('sam', org => 'acme'))
    }), 'and logins are decided again after it');
    unlike($p->error_log, qr/\[(alert|crit)\]|exited on signal/,
           'no alert, no crash');
    $p->memcheck_ok;
}

done_testing;
