#!/usr/bin/perl
# The audit trail: every security event (a policy change, an enrollment, a
# recovery code used, a lockout, 2FA turned off, a reset, a new deployment)
# lands in the Redis stream {prefix}audit, written by the same script that
# made the change, so no change goes unrecorded; GET {admin}/audit reads
# it, filtered and paged.  No code, secret or recovery code is ever in it.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use TwofaTest;

my $json = JSON::PP->new;
my @FIELDS = qw(actor client edge event org time user);

my $t = TwofaTest->new;
$t->start_redis(init => 0)->start_app;
$t->start_nginx(http => "    twofa_lockout 2 window=60s;\n"
                      . "    twofa_audit_max_len 1000;\n");

my $token = $t->admin_token;
my $admin = $t->client;

sub api {
    my ($method, $path, %o) = @_;
    my $r = $admin->request($method, "/twofa-admin/$path",
        headers => { Authorization => "Bearer $token" },
        ($o{json} ? (body => $json->encode($o{json})) : ()));
    $r->{json} = eval { $json->decode($r->{content}) };
    return $r;
}

sub trail {
    my ($query) = @_;
    my $r = api('GET', 'audit' . ($query // ''));
    die "GET audit: $r->{status} $r->{content}\n" unless $r->{status} == 200;
    return $r->{json};
}

is(scalar @{ trail()->{entries} }, 0, 'a new Redis has an empty trail');

my $r = api('POST', 'init');
is($r->{status}, 200, 'the admin initialises the deployment');
$r = api('POST', 'init');
is($r->{json}{created}, JSON::PP::false(), 'once');
my $before = trail();
is(scalar @{ $before->{entries} }, 1, 'one entry: a second init is none');
is($before->{entries}[0]{event}, 'init', '... the initialisation');

# a scripted session of everything that is recorded
$r = api('PUT', 'orgs/acme', json => { require => JSON::PP::true() });
is($r->{status}, 200, 'the admin requires 2FA for acme');

my $c = $t->client;
my $e = $c->enroll('alice', org => 'acme', enroll_offset => -30);
is($e->{res}{status}, 303, 'alice enrolls');

my $cc = $t->client;
my $carol = $cc->enroll('carol', org => 'acme', enroll_offset => -30);
is($carol->{res}{status}, 303, 'carol enrolls');

$r = $t->client->verify('alice', undef, org => 'acme',
                        code => $e->{codes}[0]);
is($r->{status}, 303, 'alice signs in with a recovery code');

my $bad = $t->client;
$bad->login('alice', org => 'acme');
my $csrf = TwofaTest::field($bad->get('/2fa/verify')->{content}, 'csrf');
for (1 .. 2) {
    $r = $bad->post('/2fa/verify', form => { code => '000000',
                                              csrf => $csrf });
}
is($r->{status}, 429, 'two wrong codes lock alice out');

$r = api('DELETE', 'orgs/acme/users/alice/totp');
is($r->{status}, 200, 'the admin resets alice');

$r = api('PUT', 'orgs/acme', json => { require => JSON::PP::false() });
is($r->{status}, 200, 'and lifts the requirement');

$r = $cc->verify('carol', $carol->{secret}, org => 'acme', offset => 0);
is($r->{status}, 303, 'carol signs in');
my $set = $cc->get('/2fa/settings');
$r = $cc->post('/2fa/settings/disable', form => {
    code => TwofaTest::totp($carol->{secret}, 30),
    csrf => TwofaTest::field($set->{content}, 'csrf') });
is($r->{status}, 200, 'carol turns 2FA off');

my $all = trail();
my @events = map { $_->{event} } @{ $all->{entries} };
is_deeply(\@events,
          ['init', 'require on', 'enroll', 'enroll', 'recovery code',
           'lockout', 'reset', 'require off', 'disable'],
          'every event, in order') or diag explain \@events;

my %by = map { ($_->{event} => $_) } @{ $all->{entries} };
is($by{'require on'}{org}, 'acme', 'a policy change names its org');
is($by{'require on'}{user}, '', '... and no user');
is($by{'require on'}{actor}, 'admin-token', '... and the admin API as actor');
is($by{'require on'}{client}, '127.0.0.1', '... and the client address');
is($all->{entries}[2]{user}, 'alice', 'an enrollment names the user');
is($all->{entries}[2]{actor}, 'user', '... who acted');
is($by{disable}{user}, 'carol', 'turning 2FA off names the user');
is($by{lockout}{user}, 'alice', 'a lockout names the user');
is($by{reset}{actor}, 'admin-token', 'a reset names the admin');
ok($by{reset}{edge} ne '', 'every entry names its edge');

my $now = time;
my @late = grep { $_->{time} < $now - 120 || $_->{time} > $now + 5 }
           @{ $all->{entries} };
is(scalar @late, 0, 'every entry has the time it happened');

my @ids = map { $_->{id} } @{ $all->{entries} };
is_deeply(\@ids, [sort { cmp_id($a, $b) } @ids], 'ids ascend');

sub cmp_id {
    my @x = split /-/, $_[0];
    my @y = split /-/, $_[1];
    return $x[0] <=> $y[0] || $x[1] <=> $y[1];
}

# nothing secret in the stream: every byte of it, as redis-cli prints it
my $raw = $t->redis('XRANGE', 'twofa:audit', '-', '+');
for my $secret ($e->{secret}, $carol->{secret}) {
    unlike($raw, qr/\Q$secret\E/i, 'no TOTP secret in the stream');
}
for my $code (@{ $e->{codes} }, @{ $carol->{codes} }) {
    unlike($raw, qr/\Q$code\E/, "no recovery code ($code) in the stream");
}
unlike($raw, qr/000000/, 'no submitted code in the stream');

# the newest entry: its id, then field, value, field, value...
my @f = split /\n/, $t->redis('XREVRANGE', 'twofa:audit', '+', '-',
                               'COUNT', '1');
my @names = @f[grep { $_ % 2 } 1 .. $#f];
is_deeply([sort @names], [sort @FIELDS],
          'an entry has the seven fields and no other');

# filters and pages
my $mine = trail('?org=acme&user=alice');
is_deeply([map { $_->{event} } @{ $mine->{entries} }],
          ['enroll', 'recovery code', 'lockout', 'reset'],
          'org= and user= filter');

my $none = trail('?org=globex');
is(scalar @{ $none->{entries} }, 0, 'an org with no events has none');

my $p1 = trail('?limit=3');
is(scalar @{ $p1->{entries} }, 3, 'limit= bounds a page');
ok(defined $p1->{next}, '... and says where to go on');
my $p2 = trail("?limit=3&after=$p1->{next}");
is_deeply([map { $_->{id} } @{ $p1->{entries} }, @{ $p2->{entries} }],
          [@ids[0 .. 5]], 'after= goes on after the page');
my $p3 = trail("?after=$p2->{next}");
is(scalar @{ $p3->{entries} }, 3, 'the rest');
my $end = trail("?after=$p3->{next}");
is(scalar @{ $end->{entries} }, 0, 'past the end: no entries');
ok(!defined $end->{next}, '... and no next');

my $future = trail('?since=' . ($now + 3600));
is(scalar @{ $future->{entries} }, 0, 'since= in the future: none');
my $since = trail('?since=' . ($now - 3600));
is(scalar @{ $since->{entries} }, 9, 'since= an hour ago: all');

for my $q ('?limit=0', '?limit=1001', '?limit=x', '?since=yesterday',
           '?after=12', '?after=a-b', '?org=a%01b', '?user=%FF',
           '?since=1&after=1-0')
{
    $r = api('GET', "audit$q");
    is($r->{status}, 400, "GET audit$q: 400");
    ok($r->{json} && $r->{json}{message}, '... with a message');
}

# identities are UTF-8: what the ASCII rule refused is a valid filter
for my $q ('?org=a:b', '?user=a%20b', '?user=%D0%AE%D0%BB%D0%B8%D1%8F') {
    $r = api('GET', "audit$q");
    is($r->{status}, 200, "GET audit$q: 200");
    is(scalar @{ $r->{json}{entries} // [1] }, 0, '... no entries');
}

$r = api('POST', 'audit');
is($r->{status}, 405, 'the trail is read only');

$r = $t->client->get('/twofa-admin/audit');
is($r->{status}, 401, 'reading it needs the token');

# the length bound: an edge with twofa_audit_max_len 10 trims the stream
# as Redis trims with MAXLEN ~ (whole nodes of 100 entries)
my $port2 = TwofaTest::free_port();
$t->start_nginx(name => 'nginx2', port => $port2,
                http => "    twofa_audit_max_len 10;\n");
for my $i (1 .. 250) {
    my $r2 = $admin->request('PUT', "http://127.0.0.1:$port2/twofa-admin/orgs/o$i",
        headers => { Authorization => "Bearer $token" },
        body => '{"require": true}');
    die "PUT: $r2->{status}\n" unless $r2->{status} == 200;
}
my $len = $t->redis('XLEN', 'twofa:audit');
cmp_ok($len, '<', 150, "twofa_audit_max_len trims the trail ($len left)");
cmp_ok($len, '>=', 10, '... to no fewer than asked');

$t->memcheck_ok;

done_testing;
