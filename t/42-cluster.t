#!/usr/bin/perl
# twofa_redis cluster=...: the module and the admin CLI on a real Redis
# Cluster (TwofaTopology: three primaries with a replica each,
# cluster-node-timeout 1 s).  nginx -t names the directive and the value
# for the misconfigurations.  The whole flow: init and a policy flip by the
# CLI, enrollment, codes, recovery codes, step-up, the admin API (the
# whole audit trail merged from every slot, CLI and API, paged; POST
# init marking every slot; both 503 with a primary dead); every
# key of an org in the slot of its org's tag, a hold's token carrying that
# slot.  A slot moved by hand (SETSLOT, MIGRATE) under a login load: ASK
# and TRYAGAIN followed while it moves, MOVED after, no login let through.
# kill -9 of a primary under a login load with a code in flight: 503, not
# released; every login held or 503; logins decided again once the
# replica took over (the gap measured); a code accepted and a hold
# released just before it are refused after it.  redis-cli --cluster
# reshard under a login load.  No alert in the log.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use POSIX ();
use Time::HiRes qw(sleep time);
use TwofaTest;
use TwofaTopology;
use TwofaLoad;
use TwofaFailover;

my $t = TwofaTest->new;
my $d = $t->dir;
my $admin = $ENV{TWOFA_ADMIN} // "$FindBin::Bin/../build/twofa-admin";
my $loc = \&TwofaTest::Client::location;
my $json = JSON::PP->new;

# ---- the layout, computed here as Redis does ------------------------------

sub crc16 {
    my $crc = 0;
    for my $b (unpack 'C*', $_[0]) {
        $crc ^= $b << 8;
        for (1 .. 8) {
            $crc = $crc & 0x8000 ? (($crc << 1) ^ 0x1021) & 0xffff
                                 : ($crc << 1) & 0xffff;
        }
    }
    return $crc;
}

# the shortest [0-9a-z] string of a slot, the first in byte order (as
# the core's twofa_slot_tags: lengths 1 to 3 whole, then 4 until every
# slot has one)
my %tag;
sub tag_of {
    my ($slot) = @_;
    unless (%tag) {
        my @alpha = ('0' .. '9', 'a' .. 'z');
        my @prev = ('');
        for my $len (1 .. 4) {
            my @cur;
            for my $p (@prev) {
                for my $ch (@alpha) {
                    my $s = "$p$ch";
                    push @cur, $s if $len < 3;
                    $tag{ crc16($s) & 16383 } //= $s;
                    last if keys %tag == 16384;
                }
                last if keys %tag == 16384;
            }
            last if keys %tag == 16384;
            @prev = $len == 3
                    ? map { my $a = $_; map { "$a$_" } @alpha } @prev
                    : @cur;
        }
    }
    return $tag{$slot};
}

sub slot_of_org { crc16($_[0]) & 16383 }
sub org_key { 'twofa:{' . tag_of(slot_of_org($_[0])) . "}$_[1]" }

my @b64 = ('A' .. 'Z', 'a' .. 'z', '0' .. '9', '-', '_');
my %b64 = map { $b64[$_] => $_ } 0 .. 63;
sub slot_of_token {
    my @c = split //, substr($_[0], 0, 3);
    return ($b64{$c[0]} << 12) | ($b64{$c[1]} << 6) | $b64{$c[2]};
}

# acme's and globex's slots on different primaries is not needed; the
# tag of a slot is checked against Redis below

# ---- nginx -t: the directive and the value named ------------------------

{
    my $key = "twofa_key_file $d/key;";
    for my $case (
        ['cluster=127.0.0.1:7000 db=2',
         qr/"twofa_redis" takes no "db=2" with "cluster="/,
         'db= with cluster='],
        ['cluster=',
         qr/"twofa_redis" has an empty "cluster="/, 'an empty cluster='],
        ['cluster=127.0.0.1:7000,,127.0.0.1:7001',
         qr/"twofa_redis" has an invalid cluster address "" in "cluster=/,
         'an empty cluster address'],
        ['cluster=127.0.0.1:7000 service=twofa',
         qr/"twofa_redis" takes no "service=twofa" with "cluster="/,
         'service= with cluster='],
        ['127.0.0.1:6379 cluster=127.0.0.1:7000',
         qr/"twofa_redis" takes an address, "sentinel=" or "cluster=" first, one of them: "cluster=127\.0\.0\.1:7000"/,
         'cluster= with an address'],
        ['cluster=127.0.0.1:7000 "prefix=tw{o}fa:"',
         qr/"twofa_redis" with "cluster=" takes no brace in "prefix=tw\{o\}fa:"/,
         'a brace in the prefix'],
        ['cluster=127.0.0.1:7000 timeout=200ms replica_wait=300ms',
         qr/"twofa_redis" "replica_wait=" must be shorter than "timeout=" \(200ms\)/,
         'replica_wait= not under timeout='],
        ['cluster=127.0.0.1:99999',
         qr/"twofa_redis" cannot use "127\.0\.0\.1:99999"/, 'a bad port'],
    ) {
        my ($redis, $re, $name) = @$case;
        my ($rc, $out) = $t->nginx_t($t->conf(twofa => "    twofa_redis $redis;\n    $key\n"));
        isnt($rc, 0, "nginx -t refuses $name");
        like($out, $re, "and names the directive and the value: $name");
    }

    $t->write_file('redis-pass', "pw\n");
    my ($rc, $out) = $t->nginx_t($t->conf(twofa =>
        "    twofa_redis cluster=127.0.0.1:7000,[::1]:7001 "
        . "password_file=$d/redis-pass timeout=500ms replica_wait=100ms "
        . "prefix=twofa:;\n    $key\n"));
    is($rc, 0, 'nginx -t takes the Cluster form with every parameter')
        or diag($out);
}

# ---- the cluster, the CLI ------------------------------------------------

$t->start_app;

my $t0 = time;
my $c = TwofaTopology->cluster($t);
note(sprintf 'cluster up in %.1f s', time - $t0);
my $spec = $c->spec;

# the tags, checked against Redis itself
for my $slot (0, 5061, 12182, 16383, slot_of_org('acme')) {
    is($c->node_cli(($c->answering_addrs)[0], 'CLUSTER', 'KEYSLOT',
                    "x{" . tag_of($slot) . "}y"), $slot,
       "the tag of slot $slot is in slot $slot");
}

sub cli {
    my (@args) = @_;
    my $out = TwofaTopology::run(undef, $admin, '--redis', $spec, @args);
    return ($? >> 8, $out);
}

# where a key is, asked of any node with redirects followed
sub get_key {
    my (@cmd) = @_;
    my ($host, $port) = split /:/, ($c->answering_addrs)[0];
    my $out = `redis-cli -c -h $host -p $port @cmd 2>&1`;
    chomp $out;
    return $out;
}

{
    my ($rc, $out) = cli('init');
    is($rc, 0, 'twofa-admin init on the cluster') or diag($out);
    like($out, qr/created:\s+yes/, 'the marks made');
    my $marks = 0;
    for my $slot (0, 1, 8000, 16383) {
        $marks += get_key('EXISTS', "'twofa:{" . tag_of($slot)
                                    . "}deployment'") eq '1';
    }
    is($marks, 4, 'a deployment mark in every slot (four looked at)');
    ($rc, $out) = cli('init');
    like($out, qr/created:\s+no/, 'init again: kept');

    ($rc, $out) = cli('org', 'require', 'acme', 'on');
    is($rc, 0, 'twofa-admin org require on the cluster') or diag($out);
    is(get_key('HGET', "'" . org_key('acme', 'org:acme') . "'", 'require'),
       1, 'written in the slot of acme\'s tag: ' . org_key('acme', 'org:acme'));

    ($rc, $out) = cli('org', 'show', 'acme');
    like($out, qr/^key:\s+\Q@{[ org_key('acme', 'org:acme') ]}\E$/m,
         'org show names the key, for redis-cli');
    my ($host, $port) = split /:/, ($c->answering_addrs)[0];
    my $flip = `redis-cli -c -h $host -p $port HSET "\$($admin --redis $spec org show globex | sed -n 's/^key: *//p')" require 1 2>&1`;
    is(get_key('HGET', "'" . org_key('globex', 'org:globex') . "'",
               'require'), 1, 'the README\'s redis-cli one-liner flips globex')
        or diag($flip);
    get_key('HSET', "'" . org_key('globex', 'org:globex') . "'", 'require', 0);

    # the whole trail, merged from the streams of four slots on the three
    # primaries (slots 11304 and 14041, 9341, 4703: with the slots
    # split evenly, the three primaries), in the order the changes were made
    for my $o (['globex', 'off'], ['stark', 'on'], ['hooli', 'off']) {
        ($rc, $out) = cli('org', 'require', @$o);
        is($rc, 0, "org require @$o") or diag($out);
    }
    ($rc, $out) = cli('--json', 'audit');
    is($rc, 0, 'audit without --org on the cluster') or diag($out);
    my @all = map { $json->decode($_) } grep { /\S/ } split /\n/, $out;
    is(join(', ', map { "$_->{org} $_->{event}" } @all),
       'acme require on, globex require off, stark require on, '
       . 'hooli require off', 'merged from every slot, oldest first');
    is(join(' ', map { ($_->{id} =~ /\@(\d+)$/)[0] // 'none' } @all),
       join(' ', map { slot_of_org($_->{org}) } @all),
       'each id names the slot of its stream (ms-seq@slot)');
    ($rc, $out) = cli('--json', 'audit', '--limit', '2');
    is(join(', ', map { $json->decode($_)->{org} } grep { /\S/ }
                  split /\n/, $out),
       'acme, globex', '--limit 2: the two oldest');
    ($rc, $out) = cli('audit', '--user', 'nobody');
    is($rc . $out, '0', '--user filters the merged trail too');
    ($rc, $out) = cli('audit', '--since', int(time) + 3600);
    is($rc . $out, '0', '--since in the future: nothing');
    ($rc, $out) = cli('audit', '--since', int(time) - 3600);
    is(scalar(() = $out =~ /^\S+ require o/mg), 4,
       '--since an hour ago: all four');

    # --follow without --org: the merged listing (--limit 1), then new
    # entries of any slot as they come, until SIGTERM
    my $pid = open(my $fh, '-|') // die "fork: $!";
    if ($pid == 0) {
        open STDERR, '>&', \*STDOUT or die;
        exec $admin, '--redis', $spec, '--json', 'audit', '--limit', '1',
             '--follow' or die "exec: $!";
    }
    my @seen;
    my $line = sub {
        my $l = eval {
            local $SIG{ALRM} = sub { die "timeout\n" };
            alarm 10;
            my $got = <$fh>;
            alarm 0;
            $got;
        };
        alarm 0;
        return $l;
    };
    my $first = $line->() // '';
    is(eval { $json->decode($first)->{org} } // $first, 'acme',
       '--follow --limit 1: the oldest entry first');
    sleep 1.5;
    cli('org', 'require', 'stark', 'off');
    cli('org', 'require', 'hooli', 'on');
    for (1 .. 2) {
        my $l = $line->() // '';
        my $e = eval { $json->decode($l) } || {};
        push @seen, ($e->{org} // '?') . ' ' . ($e->{event} // $l);
    }
    is("@seen", 'stark require off hooli require on',
       '--follow: then the new entries of two primaries, not those '
       . '--limit left out');
    kill 'TERM', $pid;
    my $deadline = time + 10;
    sleep 0.05 while waitpid($pid, POSIX::WNOHANG()) == 0 && time < $deadline;
    my $status = $?;
    is($status, 0, '--follow ends with exit 0 at SIGTERM');
    my $rest = do { local $/; <$fh> } // '';
    close $fh;
    is($rest, '', '... having printed nothing else');

    $out = TwofaTopology::run(undef, $admin, '--redis', $spec, '--db', '1',
                              'org', 'show', 'acme');
    is($? >> 8, 2, '--db with cluster=: a usage error');
}

# ---- nginx on the cluster -------------------------------------------------

$t->start_nginx(workers => 2, log_level => 'notice',
                server_extra => '        location = /metrics { twofa_metrics; }',
                twofa => <<"END");
    twofa_redis $spec timeout=1s replica_wait=300ms;
    twofa_key_file $d/key;
END

# a second nginx that lets logins through when Redis gives no answer
# (twofa_on_redis_error open): a slot in migration is an answer, and
# must still fail closed there
my $open_port = TwofaTest::free_port();
$t->start_nginx(name => 'nginx-open', port => $open_port, workers => 1,
                log_level => 'notice', http => '    twofa_on_redis_error open;',
                twofa => <<"END");
    twofa_redis $spec timeout=1s replica_wait=300ms;
    twofa_key_file $d/key;
END
my $open_edge = bless { port => $open_port }, 'TwofaTest';

sub held {
    my ($r) = @_;
    return $r->{status} == 303
           && ($loc->($r) // '') =~ m{^/2fa/(verify|enroll)\z};
}

ok(TwofaTopology::poll(10, sub {
    held($t->client->login('zed', org => 'acme'))
}), 'logins are decided once the workers have the slot map');

# one connection per primary per worker (the seeds that are replicas
# left once the map is known), and a subscriber each
sub connections {
    my %m = map { /^twofa_redis_connections\{mode="(\w+)"\} (\d+)$/ ? ($1 => $2) : () }
            split /\n/, $t->client->get('/metrics')->{content};
    return "command $m{command}, subscriber $m{subscriber}";
}
ok(TwofaTopology::poll(10, sub {
    connections() eq 'command 6, subscriber 2'
}), 'two workers, three primaries: six command connections, two '
    . 'subscribers (' . connections() . ')');

my $e = $t->client->enroll('alice', org => 'acme', enroll_offset => -30);
is($e->{res}{status}, 303, 'alice enrolled on the cluster');
is($loc->($e->{res}), '/home', 'released after enrollment');
is(scalar @{ $e->{codes} }, 10, 'ten recovery codes');
my $secret = $e->{secret};
is(get_key('HGET', "'" . org_key('acme', 'user:acme:alice') . "'",
           'enabled'), 1, 'her TOTP state in the slot of acme');

{
    my $cl = $t->client;
    ok(held($cl->login('alice', org => 'acme')), 'alice held for a code');
    my $tok = $cl->cookie('twofa_hold');
    is(slot_of_token($tok), slot_of_org('acme'),
       'the hold token carries the slot of its org');
    is(get_key('EXISTS', "'" . org_key('acme', "hold:$tok") . "'"), 1,
       'the hold is there, with the org\'s keys');
    my $page = $cl->get('/2fa/verify');
    my $r = $cl->post('/2fa/verify', form => {
        code => TwofaTest::totp($secret, 0),
        csrf => TwofaTest::field($page->{content}, 'csrf') });
    is($r->{status}, 303, 'alice logs in with a code');
    is($loc->($r), '/home', 'released');
    is($cl->get('/home')->{content}, "home of alice (acme) via totp\n",
       'the app session');
}

# recovery codes, once each
{
    my $cl = $t->client;
    ok(held($cl->login('alice', org => 'acme')), 'held again');
    my $page = $cl->get('/2fa/verify');
    my $csrf = TwofaTest::field($page->{content}, 'csrf');
    my $r = $cl->post('/2fa/verify', form => { code => $e->{codes}[0],
                                               csrf => $csrf });
    is($r->{status}, 303, 'a recovery code releases the login');
    is($cl->get('/home')->{content}, "home of alice (acme) via recovery\n",
       'the session says recovery');
    my $c2 = $t->client;
    $c2->login('alice', org => 'acme');
    $page = $c2->get('/2fa/verify');
    $r = $c2->post('/2fa/verify', form => {
        code => $e->{codes}[0],
        csrf => TwofaTest::field($page->{content}, 'csrf') });
    is($r->{status}, 401, 'the same recovery code is refused the second time');
}

# step-up: a password-only session of another org enrolls from the gate
{
    my $cl = $t->client;
    is($cl->login('gus', org => 'initech')->{status}, 303,
       'initech requires nothing: passed');
    my $r = $cl->get('/step-up/report');
    is($loc->($r), '/2fa/verify?return=%2Fstep-up%2Freport', 'the gate');
    $r = $cl->get($loc->($r));
    is($loc->($r), '/2fa/enroll?return=%2Fstep-up%2Freport',
       'not enrolled: enrollment first');
    my $page = $cl->get('/2fa/enroll');
    my $s = TwofaTest::secret_of($page->{content});
    $r = $cl->post('/2fa/enroll', form => {
        code => TwofaTest::totp($s, -30),
        csrf => TwofaTest::field($page->{content}, 'csrf') });
    is($r->{status}, 200, 'enrolled from the session');
    is($cl->get('/step-up/report')->{content}, "stepped up\n",
       'the step-up page opens');
    is(get_key('HGET', "'" . org_key('initech', 'user:initech:gus') . "'",
               'enabled'), 1, 'in the slot of initech');
}

# the admin API
{
    my $a = $t->client;
    my %auth = (headers => { Authorization => 'Bearer ' . $t->admin_token });
    my $r = $a->request('PUT', '/twofa-admin/orgs/globex',
                        body => '{"require": true}', %auth);
    is($r->{status}, 200, 'the admin API switches globex on');
    is(get_key('HGET', "'" . org_key('globex', 'org:globex') . "'",
               'require'), 1, 'in the slot of globex');
    $r = $a->request('GET', '/twofa-admin/orgs/globex', %auth);
    is($json->decode($r->{content})->{require}, JSON::PP::true,
       'and reads it back');
    is($loc->($t->client->login('sam', org => 'globex')), '/2fa/enroll',
       'the next globex login is held for enrollment');

    $r = $a->request('GET', '/twofa-admin/orgs/acme/users/alice', %auth);
    my $u = $json->decode($r->{content});
    ok($u->{enrolled} && $u->{recovery_left} == 9,
       'the admin API reads alice: enrolled, nine recovery codes left');

    $r = $a->request('GET', '/twofa-admin/audit?org=acme', %auth);
    is($r->{status}, 200, 'the audit trail of acme');
    my @events = map { $_->{event} } @{ $json->decode($r->{content})->{entries} };
    ok((grep { $_ eq 'enroll' } @events)
       && (grep { $_ eq 'recovery code' } @events),
       'with the enrollment and the recovery code: ' . join(', ', @events));

    # the whole trail at once: every slot's stream, merged
    $r = $a->request('GET', '/twofa-admin/audit?limit=1000', %auth);
    is($r->{status}, 200, 'the whole trail with a cluster')
        or diag($r->{content});
    my $whole = $json->decode($r->{content});
    my @ids = map { $_->{id} } @{ $whole->{entries} };
    my $key = sub { [ $_[0] =~ /^(\d+)-(\d+)\@(\d+)\z/ ] };
    # ids in the merged trail's order: (ms, seq, slot)
    my $merged = sub {
        sort { my ($x, $y) = ($key->($main::a), $key->($main::b));
               $x->[0] <=> $y->[0] || $x->[1] <=> $y->[1]
               || $x->[2] <=> $y->[2] } @_
    };
    # every id of the whole trail through the API, limit= a page, each
    # page from the last one's next; and how many pages it took
    my $page_through = sub {
        my ($limit) = @_;
        my (@ids, $after, $pages);
        for (1 .. 1000) {
            my $p = $a->request('GET', "/twofa-admin/audit?limit=$limit"
                                . (defined $after ? "&after=$after" : ''),
                                %auth);
            last if $p->{status} != 200;
            my $page = $json->decode($p->{content});
            $pages++;
            push @ids, map { $_->{id} } @{ $page->{entries} };
            $after = $page->{next};
            last unless defined $after;
        }
        return (\@ids, $pages);
    };
    is(scalar(grep { @{ $key->($_) } == 3 } @ids), scalar(@ids),
       'ids are ms-seq@slot');
    is(join(' ', map { ($_->{id} =~ /\@(\d+)$/)[0] }
                 grep { $_->{org} ne '' } @{ $whole->{entries} }),
       join(' ', map { slot_of_org($_->{org}) }
                 grep { $_->{org} ne '' } @{ $whole->{entries} }),
       'each in the slot of its org');
    my %orgs = map { $_->{org} => 1 } @{ $whole->{entries} };
    ok($orgs{acme} && $orgs{globex} && $orgs{stark} && $orgs{hooli}
       && $orgs{initech}, 'orgs of several slots and primaries: '
       . join(', ', sort keys %orgs));
    is("@ids", join(' ', $merged->(@ids)), 'oldest first, by (ms, seq, slot)');
    my ($crc, $cout) = cli('--json', 'audit', '--limit', '100000');
    is(join(' ', map { $json->decode($_)->{id} } grep { /\S/ }
                 split /\n/, $cout), "@ids",
       'the same trail as twofa-admin audit gives');
    my ($paged, $pages) = $page_through->(2);
    is("@$paged", "@ids", "paged by two with after=/next ($pages pages): "
       . 'nothing skipped, nothing repeated');
    ok($pages > @ids / 2, 'in pages of two');
    $r = $a->request('GET', "/twofa-admin/audit?user=alice&limit=1", %auth);
    my $first = $json->decode($r->{content});
    is(join(',', map { $_->{user} } @{ $first->{entries} }), 'alice',
       'user= filters the merged trail');
    $r = $a->request('GET', '/twofa-admin/audit?since=' . (int(time) + 3600),
                     %auth);
    is($r->{content}, '{"entries":[],"next":null}',
       'since= in the future: nothing, the end');
    $r = $a->request('GET', '/twofa-admin/audit?after=1-0', %auth);
    is($r->{status}, 400, 'after= without its slot: 400 for the merged trail');
    $r = $a->request('GET', '/twofa-admin/audit?org=acme&after=1-0@3',
                     %auth);
    is($r->{status}, 400, 'and with a slot for one org\'s: 400');

    # a longer trail: 300 entries written straight into the streams of
    # three slots on the three primaries, ids interleaved, equal in two
    # or three streams (the slot decides), past the CLI's pages of 100
    # and in API pages of seven
    ($crc, $cout) = cli('--json', 'audit', '--limit', '100000');
    my $before = () = $cout =~ /^\{/mg;
    {
        my ($host, $port) = split /:/, ($c->answering_addrs)[0];
        my $base = (int(time) + 100) * 1000;
        my @streams = map { org_key($_, 'audit') } qw(hooli stark acme);
        open my $pipe, '|-', "redis-cli -c -h $host -p $port >/dev/null"
            or die "redis-cli: $!";
        for my $i (0 .. 99) {
            for my $k (0 .. 2) {
                my $id = ($base + $i) . '-' . ($k == 2 ? $i % 2 : 0);
                print $pipe "XADD $streams[$k] $id time 1 event "
                            . "synthetic org x user u$i actor t client t "
                            . "edge t\n";
            }
        }
        close $pipe;
    }
    ($crc, $cout) = cli('--json', 'audit', '--limit', '100000');
    my @long = map { $json->decode($_)->{id} } grep { /\S/ }
               split /\n/, $cout;
    my %seen;
    is(scalar(grep { !$seen{$_}++ } @long), $before + 300,
       'the CLI lists every entry once, past its pages of 100');
    is("@long", join(' ', $merged->(@long)), 'in the merged order');
    ($paged, $pages) = $page_through->(7);
    is("@$paged", "@long", "the API paged by seven ($pages pages): the same, "
       . 'nothing skipped, nothing repeated');

    # POST init: the mark in every slot, through the module's cluster
    # client; marks lost (acme's slot, the first, the last) are made again
    my @lost = (slot_of_org('acme'), 0, 16383);
    my $mark = sub { "'twofa:{" . tag_of($_[0]) . "}deployment'" };
    get_key('DEL', $mark->($_)) for @lost;
    is(join('', map { get_key('EXISTS', $mark->($_)) } @lost), '000',
       'three slots\' marks deleted');
    is($t->client->login('zed', org => 'acme')->{status}, 503,
       'acme\'s slot without its mark: its logins fail closed');
    $r = $a->request('POST', '/twofa-admin/init', %auth);
    is($r->{status}, 200, 'POST init with a cluster') or diag($r->{content});
    is_deeply($json->decode($r->{content}),
              { initialised => JSON::PP::true, created => JSON::PP::true },
              'created: the lost marks made again');
    is(join('', map { get_key('EXISTS', $mark->($_)) } @lost), '111',
       'in each of the three slots');
    is(get_key('HGET', $mark->(slot_of_org('acme')), 'by'), 'admin-token',
       'made by the API, as its audit line says');
    is(get_key('HGET', $mark->(1), 'by') eq 'admin-token' ? 'api' : 'kept',
       'kept', 'a mark that was there is kept (HSETNX)');
    ok(held($t->client->login('zed', org => 'acme')),
       'and acme\'s logins are decided again');
    $r = $a->request('POST', '/twofa-admin/init', %auth);
    is_deeply($json->decode($r->{content}),
              { initialised => JSON::PP::true, created => JSON::PP::false },
              'POST init again: nothing made');
    like($t->error_log, qr/twofa audit: init org=""/,
         'the notice line of the API\'s init');

    my $e2 = $t->client->enroll('ruth', org => 'acme', enroll_offset => -30);
    my $rc = $t->client;
    $rc->verify('ruth', $e2->{secret}, org => 'acme', offset => 0);
    is($rc->get('/home')->{status}, 200, 'ruth has a session');
    $r = $a->request('DELETE', '/twofa-admin/orgs/acme/users/ruth/totp',
                     %auth);
    is($r->{status}, 200, 'the admin API resets ruth');
    is($loc->($t->client->login('ruth', org => 'acme')), '/2fa/enroll',
       'she enrolls again at her next login');
    ok(TwofaTopology::poll(5, sub {
        $rc->get('/step-up/report')->{status} == 303
    }), 'her session is revoked (the cluster publishes to every node)');
    is(get_key('HLEN', 'twofa:revocations'), 1,
       'and the revocation copied where workers read them after a reconnect');
    $c->node_cli($_, 'CLIENT', 'KILL', 'TYPE', 'pubsub') for $c->live_addrs;
    ok(TwofaTopology::poll(10, sub {
        $t->error_log =~ /connection to "[\d.:]+" lost/
    }), 'the workers\' subscriptions cut');
    sleep 1;
    is($rc->get('/step-up/report')->{status}, 303,
       'her session stays revoked after the workers read them again');

    # the same from the CLI
    my $e3 = $t->client->enroll('tess', org => 'acme', enroll_offset => -30);
    my $tc = $t->client;
    $tc->verify('tess', $e3->{secret}, org => 'acme', offset => 0);
    is($tc->get('/step-up/report')->{status}, 200, 'tess has a session');
    my ($cr, $out) = cli('user', 'reset', 'acme', 'tess');
    is($cr, 0, 'twofa-admin user reset on the cluster') or diag($out);
    ok(TwofaTopology::poll(5, sub {
        $tc->get('/step-up/report')->{status} == 303
    }), 'her session is revoked on the edge');
    is(get_key('HLEN', 'twofa:revocations'), 2,
       'and the CLI copied the revocation too');

    ($cr, $out) = cli('org', 'require', 'globex', 'off');
    is($cr, 0, 'the CLI switches globex off');
    is($t->client->login('sam', org => 'globex')->{status}, 303,
       'and the next globex login passes');
    ($cr, $out) = cli('user', 'show', 'acme', 'alice');
    like($out, qr/enrolled:\s+yes/, 'the CLI reads alice');
}

# ---- acme's slot moved under a login load: ASK, TRYAGAIN, then MOVED -----

{
    my $slot = slot_of_org('acme');
    my $from = $c->primary_of($slot);
    my ($to) = grep { $_ ne $from } $c->primaries;
    my $load = TwofaLoad->start($t, 'acme', 2);
    my $open_load = TwofaLoad->start($t, 'acme', 1, $open_edge);
    sleep 0.5;
    my $began = time;
    my $moved = $c->move_slot($slot, $to, pause => 0.4, batch => 2);
    my $done = time;
    ok($moved >= 5, "slot $slot of acme moved from $from to $to "
                    . "($moved keys, in batches of two)");
    sleep 0.5;
    my ($open_status, $open_bad) = $open_load->stop();
    my ($status, $bad, $first) = $load->stop($done);
    note('load during the move: '
         . join(', ', map { "$_ x $status->{$_}" } sort keys %$status)
         . '; on the edge with twofa_on_redis_error open: '
         . join(', ', map { "$_ x $open_status->{$_}" }
                      sort keys %$open_status));
    is_deeply($bad, [], 'every login during the move held or refused: '
                        . 'none let through');
    is_deeply($open_bad, [], 'none either with twofa_on_redis_error open: '
                             . 'a migration is an answer, not a silence');
    ok(($status->{303} // 0) > 10, 'logins were decided while it moved');
    ok(defined $first, 'and after it, on the new primary');
    is($c->primary_of($slot), $to, 'the slot is on its new primary');
    my $asking = TwofaTopology::fields(
        $c->node_cli($to, 'INFO', 'commandstats'))->{cmdstat_asking} // '';
    like($asking, qr/^calls=[1-9]/,
         "the module sent ASKING to the importing node ($asking)");

    my $r = $t->client->verify('alice', $secret, org => 'acme', offset => 30);
    is($loc->($r), '/home', 'alice verifies a code on the new primary');
}

# ---- redis-cli --cluster reshard under a login load ------------------------

{
    # an org among the first slots of a primary: reshard moves those first
    my ($from, $to) = ($c->primaries)[0, 1];
    my ($first_slot) = map { $_->{slots}[0][0] }
                       grep { $_->{addr} eq $from } $c->nodes;
    my ($org) = grep { my $s = slot_of_org($_);
                       $s >= $first_slot && $s < $first_slot + 50 }
                map { "org$_" } 1 .. 100000;
    cli('org', 'require', $org, 'on');
    my $load = TwofaLoad->start($t, $org, 2);
    sleep 0.5;
    $c->reshard(from => $from, to => $to, slots => 100);
    my $done = time;
    sleep 0.5;
    my ($status, $bad, $first) = $load->stop($done);
    note("load of $org (slot " . slot_of_org($org) . ') during the reshard: '
         . join(', ', map { "$_ x $status->{$_}" } sort keys %$status));
    is($c->primary_of(slot_of_org($org)), $to,
       "redis-cli --cluster reshard moved ${org}'s slot to $to");
    is_deeply($bad, [], 'every login during the reshard held or refused');
    ok(defined $first, 'and logins decided on the new primary after it');
}

# ---- kill -9 of acme's primary under a login load --------------------------

my $erin = $t->client->enroll('erin', org => 'acme', enroll_offset => -30);
is($erin->{res}{status}, 303, 'erin enrolled');
my $accepted = TwofaFailover::accepted_before($t, 'acme', 'erin',
                                              $erin->{secret});

my $dave = TwofaFailover::held_for_code($t, 'acme', 'dave');

my $load = TwofaLoad->start($t, 'acme', 2);
sleep 1;

my $primary = $c->primary_of(slot_of_org('acme'));
$c->freeze($primary);
my $frozen_at = time;
my $inflight = TwofaFailover::post_in_flight($t, $dave);
sleep 0.2;

my $killed = $c->kill_primary($primary);
my $killed_at = time;
is($killed, $primary, "kill -9 of acme's primary $primary under load");
TwofaFailover::in_flight_refused($t, $inflight);

# the admin API's operations of every slot, while a primary is dead and
# not yet replaced (the replica takes over 2 s or so after the kill):
# 503, never a partial answer
my ($audit_asked, $audit_answer, $init_answer);
{
    my %auth = (headers => { Authorization => 'Bearer ' . $t->admin_token });
    my $audit = $t->client->request('GET', '/twofa-admin/audit', %auth);
    my $init = $t->client->request('POST', '/twofa-admin/init', %auth);
    my $after = time - $killed_at;
    ($audit_asked, $audit_answer, $init_answer) =
        ($after, $audit->{status}, $init->{status});
}

my ($new, $took) = $c->wait_failover(timeout => 30);
note(sprintf 'the cluster promoted %s %.1f s after the kill', $new, $took);

# asked before the replica took over (as it is, at once): 503 for both;
# asked after, the failover may be seen: then an answer or 503, whole
if ($audit_asked < $took) {
    is($audit_answer, 503, sprintf 'the whole trail with a primary dead: '
       . '503 (%.2f s after the kill)', $audit_asked);
    is($init_answer, 503, 'POST init with a primary dead: 503');
} else {
    like($audit_answer, qr/^(200|503)$/, sprintf 'the whole trail asked '
         . 'after the failover (%.2f s): 200 or 503', $audit_asked);
    like($init_answer, qr/^(200|503)$/, 'POST init: 200 or 503');
}

my $gap;
TwofaTopology::poll(30, sub {
    if (held($t->client->login('gap', org => 'acme'))) {
        $gap = time - $killed_at;
        return 1;
    }
    return 0;
});
ok(defined $gap, 'logins are decided again after the failover');
sleep 0.5;
my ($status, $bad, $first) = $load->stop($killed_at);
note('load: ' . join(', ', map { "$_ x $status->{$_}" } sort keys %$status));
is_deeply($bad, [], 'under the load every login was held or refused '
                    . '(503): none let through');
ok($status->{503}, 'the logins in flight and until the failover: 503');
ok(defined $first, 'the load is held again after the failover');
$gap = $first - $killed_at
    if defined $first && (!defined $gap || $first - $killed_at < $gap);
diag(sprintf 'cluster failover gap: %.1f s from kill -9 to the first login '
     . 'decided (%.1f s from the freeze just before it; the replica took '
     . 'over at %.1f s)', $gap // -1, ($gap // -1) + $killed_at - $frozen_at,
     $took);

# the new primary has no replica until the old one comes back as one: the
# replay guards cannot be acknowledged, so codes fail closed meanwhile
{
    my $v = $t->client->verify('dave', $dave->{secret}, org => 'acme',
                               offset => 0);
    is($v->{status}, 503, 'no replica behind the new primary yet: a code '
                          . 'is refused (503)');
    isnt($loc->($v), '/home', 'not released');
    like($t->error_log, qr/no replica of "\Q$new\E" acknowledged a replay guard within 300ms: refused/,
         'and the log says why');
}
$c->restart;
ok(TwofaTopology::poll(20, sub {
    # in sync as the replica sees it: the primary counts it online while
    # it still loads its first copy (Valkey 9), and it acknowledges
    # nothing until it has
    my $i = $c->info($killed, 'replication');
    ($i->{master_link_status} // '') eq 'up'
        && ($i->{master_port} // 0) == TwofaTopology::port_of($new)
}), 'the old primary is back, as a replica of the new one, in sync');

{
    TwofaFailover::replay_refused($t, $accepted, 85);

    my $v = $t->client->verify('dave', $dave->{secret}, org => 'acme',
                               offset => 30);
    is($v->{status}, 303, 'a fresh code works on the new primary');
    is($loc->($v), '/home', 'released');

    my ($rc, $out) = cli('user', 'show', 'acme', 'alice');
    is($rc, 0, 'the CLI finds the new primary') or diag($out);
    like($out, qr/enrolled:\s+yes/, 'and alice on it');
}

# ---- a reload: new workers find the map, the old ones leave --------------

{
    my $before = () = $t->error_log =~ /gracefully shutting down/g;
    $t->reload_nginx;
    ok(TwofaTopology::poll(10, sub {
        (() = $t->error_log =~ /gracefully shutting down/g) > $before
    }), 'nginx -s reload: the old workers shut down');
    ok(TwofaTopology::poll(10, sub {
        held($t->client->login('reloaded', org => 'acme'))
    }), 'the new workers decide logins');
}

# ---- the error log ------------------------------------------------------

{
    my $log = $t->error_log;
    # but the one of the login in a slot whose mark was deleted (POST init)
    is(scalar(() = $log =~ /\[alert\].*redis holds no twofa state/g), 1,
       'one alert of a slot without its mark, the one made on purpose');
    $log =~ s/^.*\[alert\].*redis holds no twofa state.*\n//mg;
    unlike($log, qr/\[(alert|crit|emerg)\]/, 'no other alert or crit in the log');
    unlike($log, qr/exited on signal|segfault/, 'no worker crashed');
    unlike($log, qr/CROSSSLOT|non local key|do not hash to the same slot/,
           'no script touched keys of two slots');
}

$t->memcheck_ok;

done_testing;
