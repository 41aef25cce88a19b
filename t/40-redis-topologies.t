#!/usr/bin/perl
# The Redis topologies the module's tests stand on (t/lib/TwofaTopology.pm),
# checked with redis-cli alone.  Sentinel: writes reach both replicas and
# WAIT counts them, kill -9 of the primary, a replica promoted (how fast),
# the sentinels agree, the old primary restarted empty is turned into a
# replica, or comes back as one; a node frozen and thawed.  Cluster: three primaries with a replica
# each, CLUSTER KEYSLOT of random keys and of a tag for every slot equal
# to the pure core's twofa_slot (src/twofa_slot.c, compiled here into a
# small program), a slot moved under traffic keeps every write, slots
# resharded keep their keys, a primary killed is replaced by its replica.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use File::Temp qw(tempdir);
use IO::Socket::INET;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep time);
use TwofaTopology;

my $ROOT = "$FindBin::Bin/..";
my $began = time;

my @missing = grep { system("command -v $_ >/dev/null 2>&1") != 0 }
              qw(redis-server redis-cli cc);
if (@missing) {
    fail("missing: @missing (`make deps-test` installs them)");
    done_testing;
    exit;
}

# ---- the pure core as a program -----------------------------------------
#
# `twofa-slot keys` prints the slot of each line of its input;
# `twofa-slot tags` prints the tag of each slot, one a line.

my $tmp = tempdir('twofa-slot-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $slot_bin = "$tmp/twofa-slot";
{
    open my $fh, '>', "$tmp/main.c" or die "$tmp/main.c: $!";
    print $fh <<'END';
#include <stdio.h>
#include <string.h>
#include "twofa_slot.h"

static char  tags[TWOFA_SLOTS][TWOFA_SLOT_TAG_MAX + 1];

int
main(int argc, char **argv)
{
    char    line[4096];
    size_t  len, slot;

    if (argc == 2 && strcmp(argv[1], "tags") == 0) {
        if (twofa_slot_tags(tags) != 0) {
            return 1;
        }
        for (slot = 0; slot < TWOFA_SLOTS; slot++) {
            printf("%s\n", tags[slot]);
        }
        return 0;
    }

    while (fgets(line, sizeof(line), stdin) != NULL) {
        len = strcspn(line, "\n");
        printf("%u\n", twofa_slot(line, len));
    }

    return 0;
}
END
    close $fh;
    my $out = `cc -std=c99 -O2 -Wall -Wextra -Werror -I$ROOT/include \\
               $tmp/main.c $ROOT/src/twofa_slot.c -o $slot_bin 2>&1`;
    is($?, 0, 'the slot core compiles into a small program') or diag($out);
}

sub slurp {
    my ($path) = @_;
    open my $fh, '<', $path or return '';
    local $/;
    return scalar <$fh>;
}

# the slots a primary serves, as one node sees them
sub slot_count {
    my ($c, $primary) = @_;
    my $n = 0;
    for my $node (grep { $_->{addr} eq $primary } $c->nodes) {
        $n += $_->[1] - $_->[0] + 1 for @{ $node->{slots} };
    }
    return $n;
}

# nothing listens on the address any more
sub closed {
    my ($addr) = @_;
    return !IO::Socket::INET->new(PeerAddr => $addr, Proto => 'tcp');
}

sub can_read {
    my ($sock, $timeout) = @_;
    my $bits = '';
    vec($bits, fileno($sock), 1) = 1;
    return select($bits, undef, undef, $timeout) > 0;
}

sub core_slots {
    my (@keys) = @_;
    return split /\n/,
        TwofaTopology::run(join('', map { "$_\n" } @keys), $slot_bin, 'keys');
}

# ---- Sentinel -------------------------------------------------------------

{
    my $t0 = time;
    my $s = TwofaTopology->sentinel(undef, password => 'data-pw',
                                    sentinel_password => 'sentinel-pw');
    note(sprintf 'sentinel topology up in %.1f s', time - $t0);

    my $primary = $s->first_primary;
    my @sentinels = $s->sentinel_addrs;
    is(scalar @sentinels, 3, 'three sentinels');
    is_deeply([ map { $s->primary_per($_) } @sentinels ],
              [ ($primary) x 3 ], 'each names the first primary');
    like($s->sentinel_cli($sentinels[0], 'SENTINEL', 'CKQUORUM', 'twofa'),
         qr/^OK 3 usable/, 'CKQUORUM: three usable sentinels');
    like(join(' ', TwofaTopology::cli($sentinels[0], undef, 'PING')),
         qr/NOAUTH/, 'a sentinel wants its password');
    like(join(' ', TwofaTopology::cli($primary, undef, 'GET', 'x')),
         qr/NOAUTH/, 'the primary wants its password');

    is($s->role($primary), 'master', 'ROLE of the primary: master');
    my @replicas = sort $s->replica_addrs_of($primary);
    is(scalar @replicas, 2, 'two replicas follow it');

    my @r = $s->node_cli($primary,
        { input => "SET twofa:t:one 1\nWAIT 2 1000\n" });
    is_deeply(\@r, [ 'OK', 2 ], 'SET, then WAIT 2 on the same connection: 2');
    is_deeply([ map { scalar $s->node_cli($_, 'GET', 'twofa:t:one') }
                @replicas ], [ 1, 1 ], 'both replicas have the write');

    # writes acknowledged by both replicas survive the primary's death
    my $input = join('', map { "SET twofa:t:acked:$_ $_\n" } 1 .. 100)
                . "WAIT 2 1000\n";
    @r = $s->node_cli($primary, { input => $input });
    is($r[-1], 2, '100 writes, WAIT 2: acknowledged by both');

    my $killed = $s->kill_primary;
    is($killed, $primary, 'kill -9 of the primary');
    # typically 2.5 s: down-after 1 s, up to 1 s of desynchronisation, a
    # vote, the INFO period 1 s; a split vote costs a second election
    # 2 x failover-timeout (6 s) later, hence the bound
    my ($new, $took) = $s->wait_promotion(timeout => 30);
    ok((grep { $_ eq $new } @replicas), "a replica is promoted: $new");
    ok($took < 15, sprintf 'within 15 s of the kill: %.1f s', $took);
    diag(sprintf 'sentinel failover: %.1f s from kill -9 to a new primary',
         $took);
    is_deeply([ map { $s->primary_per($_) } @sentinels ], [ ($new) x 3 ],
              'the three sentinels agree on it');
    is($s->role($new), 'master', 'ROLE of the new primary: master');
    is($s->node_cli($new, 'EVAL',
        'local n = 0 for i = 1, 100 do '
        . 'if redis.call("GET", "twofa:t:acked:" .. i) == tostring(i) '
        . 'then n = n + 1 end end return n', 0),
       100, 'it holds every acknowledged write');

    my ($other) = grep { $_ ne $new } @replicas;
    ok(TwofaTopology::poll(15, sub {
        my $i = $s->info($other, 'replication');
        ($i->{master_port} // 0) == TwofaTopology::port_of($new)
            && ($i->{master_link_status} // '') eq 'up';
    }), 'the other replica now follows the new primary') or diag($s->logs);

    # the old primary comes back empty, as a supervisor would restart it
    $t0 = time;
    $s->restart(as => 'empty');
    is($s->role($killed), 'master', 'the old primary restarted empty: '
                                    . 'at first a primary of its own');
    is($s->node_cli($killed, 'DBSIZE'), 0, 'with no data at all');
    is($s->primary, $new, 'the sentinels keep naming the new primary');
    ok(TwofaTopology::poll(20, sub {
        my $i = $s->info($killed, 'replication');
        ($i->{role} // '') eq 'slave'
            && ($i->{master_port} // 0) == TwofaTopology::port_of($new)
            && ($i->{master_link_status} // '') eq 'up';
    }), 'a sentinel turns it into a replica of the new primary')
        or diag($s->logs);
    note(sprintf 'the old primary became a replica %.1f s after its restart',
         time - $t0);
    is($s->node_cli($killed, 'GET', 'twofa:t:acked:100'), 100,
       'and it has the data again');

    # and restarted as a replica straight away
    $s->kill_node($killed);
    $s->restart(addr => $killed, as => 'replica');
    is($s->role($killed), 'slave', 'restarted as a replica: ROLE slave');
    ok(TwofaTopology::poll(10, sub {
        $s->node_cli($killed, 'GET', 'twofa:t:one') eq '1'
    }), 'in sync with the new primary');

    # a frozen node keeps its connections and says nothing
    my $sock = IO::Socket::INET->new(PeerAddr => $other, Proto => 'tcp')
        or die "connect $other: $!";
    $s->freeze($other);
    print $sock "PING\r\n";
    ok(!can_read($sock, 0.5), 'frozen (SIGSTOP): no answer in 0.5 s');
    $s->thaw($other);
    ok(can_read($sock, 5), 'thawed (SIGCONT): the answer comes');
    close $sock;

    $s->stop_all;
    is_deeply([ grep { !closed($_) } $s->node_addrs, @sentinels ], [],
              'all stopped: nothing listens on their ports');
}

# ---- Cluster --------------------------------------------------------------

{
    my $t0 = time;
    my $c = TwofaTopology->cluster;
    note(sprintf 'cluster up in %.1f s', time - $t0);

    my @nodes = $c->node_addrs;
    is(scalar @nodes, 6, 'six nodes');
    is_deeply([ map { $c->cluster_info($_)->{cluster_state} } @nodes ],
              [ ('ok') x 6 ], 'cluster_state:ok on each');
    my @primaries = $c->primaries;
    is(scalar @primaries, 3, 'three primaries');
    is_deeply([ map { scalar(() = $c->replicas_of($_)) } @primaries ],
              [ 1, 1, 1 ], 'with one replica each');
    my $covered = 0;
    for my $n (grep { $_->{flags}{master} } $c->nodes) {
        $covered += $_->[1] - $_->[0] + 1 for @{ $n->{slots} };
    }
    is($covered, 16384, 'their slots cover all 16384');

    # keys of every shape: CLUSTER KEYSLOT of a real node against the core
    srand(40);
    my @chars = ('a' .. 'z', 'A' .. 'Z', '0' .. '9', qw(: _ . - { } { }));
    my @keys = ('foo', 'bar', '123456789', '{user1000}.following',
                'foo{}{bar}', 'foo{{bar}}zap', 'foo{bar}{zap}', '{}', '{',
                'twofa:org:{acme}', 'twofa:user:{acme}:bob');
    push @keys, join '', map { $chars[rand @chars] } 1 .. 1 + int rand 40
        while @keys < 400;
    my $seed = $nodes[0];
    my @server = $c->node_cli($seed,
        { input => join('', map { "CLUSTER KEYSLOT $_\n" } @keys) });
    my @core = core_slots(@keys);
    is(scalar @server, scalar @keys, scalar(@keys) . ' keys asked');
    my @differ = grep { ($server[$_] // '') ne ($core[$_] // '') }
                 0 .. $#keys;
    is(scalar @differ, 0, 'CLUSTER KEYSLOT equals twofa_slot for each')
        or diag(join "\n", map { "$keys[$_]: server $server[$_], core "
                                 . ($core[$_] // '?') } @differ[0 .. 4]);

    # a tag for every slot: twofa:marker:{TAG} lands in it, says the server
    my @tags = split /\n/, TwofaTopology::run(undef, $slot_bin, 'tags');
    is(scalar @tags, 16384, 'twofa_slot_tags: 16384 tags');
    @server = $c->node_cli($seed, { input => join('',
        map { "CLUSTER KEYSLOT twofa:marker:{$_}\n" } @tags) });
    @differ = grep { ($server[$_] // -1) != $_ } 0 .. 16383;
    is(scalar @differ, 0, 'the server puts twofa:marker:{TAG} in its slot, '
                          . 'for every slot')
        or diag("slot $differ[0]: tag $tags[$differ[0]]");

    # a slot moved by hand while writes run through redis-cli -c
    my $slot = (core_slots('acme'))[0];
    my $from = $c->primary_of($slot);
    my ($to) = grep { $_ ne $from } @primaries;
    my $stop = "$tmp/traffic.stop";
    my $writer = fork // die "fork: $!";
    if ($writer == 0) {
        my $ok = open(STDOUT, '>', "$tmp/traffic.out")
                 && open(STDERR, '>&', \*STDOUT)
                 && open(my $to_cli, '|-', 'redis-cli', '-c', '-p',
                         TwofaTopology::port_of($seed));
        POSIX::_exit(1) unless $ok;
        $to_cli->autoflush(1);
        my $n = 0;
        until (-e $stop) {
            print $to_cli 'INCR twofa:traffic:{acme}:' . ($n++ % 20) . "\n";
            sleep 0.002;
        }
        close $to_cli;
        open my $fh, '>', "$tmp/traffic.sent";
        print $fh "$n\n";
        close $fh;
        POSIX::_exit(0);
    }
    ok(TwofaTopology::poll(10, sub {
        $c->node_cli($from, 'CLUSTER', 'COUNTKEYSINSLOT', $slot) == 20
    }), "the writer has written its 20 keys on $from");
    my $moved = eval { $c->move_slot($slot, $to, pause => 0.3, batch => 5) };
    is($@, '', "slot $slot moved from $from to $to under writes")
        or diag($c->logs);
    sleep 0.3;
    open my $fh, '>', $stop or die "$stop: $!";
    close $fh;
    waitpid $writer, 0;
    is($?, 0, 'the writer ran');
    is($moved, 20, 'the keys were migrated in batches (ASK meanwhile)');

    my @out = split /\n/, slurp("$tmp/traffic.out");
    my @replies = grep { !/^-> Redirected/ } @out;
    my $sent = slurp("$tmp/traffic.sent") || 0;
    chomp $sent;
    ok($sent > 100, "writes during the move: $sent");
    is(scalar @replies, $sent, 'a reply to each');
    is(scalar(grep { !/^\d+$/ } @replies), 0, 'all of them counts, no error');
    # an ASK is good for one command: redis-cli goes to the target, then
    # back to the slot's owner, which a MOVED never makes it do
    my ($at_target, $back) = (0, 0);
    for (@out) {
        my ($where) = /^-> Redirected to slot \[\d+\] located at (\S+)/
            or next;
        $at_target ||= $where eq $to;
        $back++ if $at_target && $where eq $from;
    }
    ok($back > 0, "ASK redirections followed to $to and back ($back)");
    is_deeply([ map { $c->primary_of($slot, $_) } @nodes ], [ ($to) x 6 ],
              'every node says the slot is on its new primary');
    is($c->node_cli($to, 'CLUSTER', 'COUNTKEYSINSLOT', $slot), 20,
       'its 20 keys are there');
    is($c->node_cli($from, 'CLUSTER', 'COUNTKEYSINSLOT', $slot), 0,
       'none left behind');
    my $sum = 0;
    $sum += $_ for $c->node_cli($to, 'MGET',
                                map { "twofa:traffic:{acme}:$_" } 0 .. 19);
    is($sum, $sent, 'the counters add up to the writes: none lost');

    # slots resharded with redis-cli --cluster reshard keep their keys
    $c->node_cli($seed, { input => join('',
        map { "SET twofa:t:spread:$_ $_\n" } 1 .. 300) }, '-c');
    my $before = 0;
    $before += $c->node_cli($_, 'DBSIZE') for $c->primaries;
    ok($before >= 300, "keys over the cluster: $before");
    my ($rfrom, $rto) = ($c->primary_of(0), $c->primary_of(16383));
    my $had = slot_count($c, $rto);
    $t0 = time;
    $c->reshard(from => $rfrom, to => $rto, slots => 50);
    note(sprintf 'reshard of 50 slots: %.1f s', time - $t0);
    is(slot_count($c, $rto), $had + 50, 'reshard: 50 slots more on the target');
    my $after = 0;
    $after += $c->node_cli($_, 'DBSIZE') for $c->primaries;
    is($after, $before, "and the $before keys are all still there");

    # a primary killed: its replica takes over
    my $victim = $c->primary_of($slot);
    my ($heir) = $c->replicas_of($victim);
    my @r = $c->node_cli($victim, { input => "SET twofa:t:{acme}:last 1\n"
                                          . "WAIT 1 1000\n" });
    is($r[-1], 1, 'a write acknowledged by the replica');
    $c->kill_primary($victim);
    my ($new, $took) = $c->wait_failover(timeout => 30);
    is($new, $heir, "its replica $heir takes over");
    ok($took < 15, sprintf 'within 15 s of the kill: %.1f s', $took);
    diag(sprintf 'cluster failover: %.1f s from kill -9 to cluster_state ok',
         $took);
    is($c->node_cli($new, 'GET', 'twofa:t:{acme}:last'), 1,
       'the acknowledged write survived');
    is($c->node_cli($new, 'CLUSTER', 'COUNTKEYSINSLOT', $slot), 21,
       'and the moved keys');

    $c->restart;
    $c->wait_ok;
    is($c->role($victim), 'slave', 'the old primary restarted rejoins '
                                   . 'as a replica');
    $c->stop_all;
}

diag(sprintf 't/40-redis-topologies.t: %.0f s', time - $began);
done_testing;
