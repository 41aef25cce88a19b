#!/usr/bin/perl
# Keys and what they protect: rotation (a new key first keeps old sessions,
# secrets and holds good), tampered or unopenable holds and secrets release
# nothing, and a graceful shutdown is not held up by a reconnect pending.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(sleep time);
use TwofaTest;

my $t = TwofaTest->new;
my $d = $t->dir;
my $loc = \&TwofaTest::Client::location;

$t->start_redis->start_app;
$t->start_nginx;
$t->redis('HSET', 'twofa:org:acme', 'require', '1');

# ---- under the first key: an enrolled user, a session, a held login ------

my $c = $t->client;
my $e = $c->enroll('rob', org => 'acme', enroll_offset => -30);
is($e->{res}{status}, 303, 'rob enrolled under the first key');
my $old_session = $c->cookie('twofa_session');
my ($old_kid) = $old_session =~ /^v1\.([\w-]{8})\./;

my $held = $t->client;
is($loc->($held->login('rob', org => 'acme')), '/2fa/verify', 'a login held under the first key');
my $held_page = $held->get('/2fa/verify');

# ---- rotation: key2 first, key still accepted ---------------------------

$t->stop('nginx', 'QUIT');
$t->start_nginx(twofa => <<"END");
    twofa_redis 127.0.0.1:${\ $t->redis_port};
    twofa_key_file $d/key2;
    twofa_key_file $d/key;
END

is($c->get('/home')->{content}, "home of rob (acme) via totp\n",
   'after rotation, the session made under the old key is still good');

my $r = $held->post('/2fa/verify', form => {
    code => TwofaTest::totp($e->{secret}, 0),
    csrf => TwofaTest::field($held_page->{content}, 'csrf') });
is($r->{status}, 303, 'a hold sealed under the old key is released, with its old CSRF token');
is($r->{content}, "welcome rob\n", 'intact');
my ($new_kid) = ($held->cookie('twofa_session') // '') =~ /^v1\.([\w-]{8})\./;
ok($new_kid && $new_kid ne $old_kid, 'the new session cookie is made under the new key');

# ---- the old key removed: what it protected no longer opens -------------

$t->stop('nginx', 'QUIT');
$t->start_nginx(twofa => <<"END");
    twofa_redis 127.0.0.1:${\ $t->redis_port};
    twofa_key_file $d/key2;
END

is($c->get('/home')->{content}, "home of rob (acme) via -\n",
   'a session cookie under a removed key is no session');

my $c2 = $t->client;
$r = $c2->login('rob', org => 'acme');
is($loc->($r), '/2fa/verify', 'rob is still held for a code');
my $page = $c2->get('/2fa/verify');
$r = $c2->post('/2fa/verify', form => {
    code => TwofaTest::totp($e->{secret}, 30),
    csrf => TwofaTest::field($page->{content}, 'csrf') });
is($r->{status}, 500, 'his secret, sealed under the removed key, does not open: refused');
ok(!$c2->cookie('app_session'), 'nothing released');
like($t->error_log, qr/the stored secret of "rob" of "acme" does not open under the configured keys/,
     'and the log says why');
unlike($t->error_log, qr/\Q$e->{secret}\E/, 'without the secret');

# ---- a tampered hold releases nothing ----------------------------------

$t->stop('nginx', 'QUIT');
$t->start_nginx;

my $c3 = $t->client;
my $e3 = $c3->enroll('tess', org => 'acme', enroll_offset => -30);
$c3 = $t->client;
$c3->login('tess', org => 'acme');
my $key = 'twofa:hold:' . $c3->cookie('twofa_hold');
is($t->redis('EVAL', q{
    local v = redis.call('HGET', KEYS[1], 'r')
    local n = #v - 4
    local b = string.char((string.byte(v, n) + 1) % 256)
    redis.call('HSET', KEYS[1], 'r', string.sub(v, 1, n - 1) .. b
               .. string.sub(v, n + 1))
    return 1 }, 1, $key), '1', 'one byte of the GCM tag changed');

$page = $c3->get('/2fa/verify');
is($page->{status}, 200, 'the tampered hold still names its owner');
$r = $c3->post('/2fa/verify', form => {
    code => TwofaTest::totp($e3->{secret}, 0),
    csrf => TwofaTest::field($page->{content}, 'csrf') });
is($r->{status}, 409, 'the right code cannot release a tampered hold: 409');
ok(!$c3->cookie('app_session'), 'no app session');
like($t->error_log, qr/does not open under the configured keys/, 'logged');
is($t->redis('EXISTS', $key), '1', 'and the hold is not taken');

# Someone who can write to Redis rewrites the clear header of tess's hold
# to name eve, whose code they have: the response is sealed to its owner,
# so eve's code is accepted, and still nothing of tess's login comes out.
my $eve = $t->client;
my $ee = $eve->enroll('eve', org => 'acme', enroll_offset => -30);

$c3 = $t->client;
$c3->login('tess', org => 'acme');
$key = 'twofa:hold:' . $c3->cookie('twofa_hold');
is($t->redis('HSET', $key, 'user', 'eve'), '0', 'the hold now names eve');

$page = $c3->get('/2fa/verify');
like($page->{content}, qr/for <strong>eve<\/strong>/, 'the page believes it');
$r = $c3->post('/2fa/verify', form => {
    code => TwofaTest::totp($ee->{secret}, 0),
    csrf => TwofaTest::field($page->{content}, 'csrf') });
is($r->{status}, 409, 'eve\'s code cannot release tess\'s login');
ok(!$c3->cookie('app_session'), 'nothing released');
unlike($r->{content}, qr/welcome tess/, 'not a byte of it');

# ---- graceful shutdown with a reconnect pending -------------------------

$t->stop('redis', 'KILL');
$t->client->login('tess', org => 'acme');        # notices the loss
sleep 0.3;

my $pid = $t->{procs}{nginx};
my $t0 = time;
kill 'QUIT', $pid;
my $gone = 0;
while (time - $t0 < 5) {
    if (waitpid($pid, POSIX::WNOHANG()) == $pid) { $gone = 1; last }
    sleep 0.05;
}
delete $t->{procs}{nginx} if $gone;
ok($gone, sprintf('nginx -s quit finishes at once with Redis gone (%.2fs): '
                  . 'the reconnect timer does not hold it', time - $t0));

done_testing;
