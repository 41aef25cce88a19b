#!/usr/bin/perl
# The flows around the login: lockout and its expiry, expired holds, a hold
# released by another edge, the policy switched on while sessions exist,
# users enrolled on their own, settings (disable refused while required),
# recovery codes, the JSON flow of a single-page app, step-up, Redis down.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use Time::HiRes qw(sleep);
use TwofaTest;

my $t = TwofaTest->new;
$t->start_redis->start_app;
$t->start_nginx(http => <<'END', gate_max_age => '2s');
    twofa_lockout 3 window=3s;
    twofa_hold_ttl 4s;
END

my $loc = \&TwofaTest::Client::location;
my $json = JSON::PP->new;

$t->redis('HSET', 'twofa:org:acme', 'require', '1');

# ---- lockout and its expiry --------------------------------------------

{
    my $c = $t->client;
    my $e = $c->enroll('lou', org => 'acme');
    is($e->{res}{status}, 303, 'lou enrolled');

    $c = $t->client;
    $c->login('lou', org => 'acme');
    my $csrf = TwofaTest::field($c->get('/2fa/verify')->{content}, 'csrf');

    my @s = map { $c->post('/2fa/verify', form => { code => '111111', csrf => $csrf })->{status} } 1 .. 3;
    is_deeply(\@s, [401, 401, 429], 'the third wrong code locks the user out');

    my $c2 = $t->client;
    my $r = $c2->login('lou', org => 'acme');
    is($loc->($r), '/2fa/verify', 'a new login is still held');
    $r = $c2->get('/2fa/verify');
    is($r->{status}, 429, 'but the code page says: locked');
    like($r->{headers}{'retry-after'} // '', qr/^[1-3]$/, 'with Retry-After');
    like($r->{content}, qr/Too many attempts/, 'and a page that says so');

    # while locked, even the right code is not looked at
    $r = $c2->login('lou', org => 'acme', json => 1);
    my $csrf2 = $json->decode($r->{content})->{csrf};
    $r = $c2->post('/2fa/verify', json => 1, form => {
        code => TwofaTest::totp($e->{secret}, 30), csrf => $csrf2 });
    is($r->{status}, 429, 'locked: the right code is refused too');
    like($r->{content}, qr/^\{"error":"locked","retry_after":[1-3]\}$/, 'JSON says locked');

    sleep 3.2;

    my $c3 = $t->client;
    $r = $c3->verify('lou', $e->{secret}, org => 'acme');
    is($r->{status}, 303, 'after the window, the right code works again');
    is($loc->($r), '/home', 'and the login is released');
}

# ---- expired hold --------------------------------------------------------

{
    my $c = $t->client;
    $c->enroll('exp', org => 'acme');
    $c = $t->client;
    my $r = $c->login('exp', org => 'acme');
    is($r->{status}, 303, 'held');
    my $csrf = TwofaTest::field($c->get('/2fa/verify')->{content}, 'csrf');
    sleep 4.5;
    $r = $c->post('/2fa/verify', form => { code => '123456', csrf => $csrf });
    is($r->{status}, 401, 'an expired hold: 401');
    like($r->{content}, qr/Sign-in expired/, 'the expired page');
    like($r->{content}, qr/<a href="\/">Sign in again<\/a>/, 'links back to the login');
    $r = $c->get('/2fa/verify', json => 1);
    ok(!$c->cookie('twofa_hold'), 'and the hold cookie is cleared');
}

# ---- a hold released by another nginx sharing the Redis ------------------

{
    my $port2 = TwofaTest::free_port();
    $t->start_nginx(name => 'nginx2', port => $port2,
                    http => "    twofa_hold_ttl 1m;");

    my $c = $t->client;
    my $e = $c->enroll('edge', org => 'acme');
    $c = $t->client;
    my $r = $c->login('edge', org => 'acme');
    is($loc->($r), '/2fa/verify', 'held on the first edge');

    my $base2 = "http://127.0.0.1:$port2";
    my $page = $c->get("$base2/2fa/verify");
    is($page->{status}, 200, 'the second edge knows the hold');
    $r = $c->post("$base2/2fa/verify", form => {
        code => TwofaTest::totp($e->{secret}, 30),
        csrf => TwofaTest::field($page->{content}, 'csrf') });
    is($r->{status}, 303, 'and releases it');
    is($r->{content}, "welcome edge\n", 'the app\'s response, intact');
    ok($c->cookie('app_session'), 'with the app session');

    my $home = $c->get('/home');
    is($home->{content}, "home of edge (acme) via totp\n",
       'the session cookie of one edge is good on the other');

    $t->stop('nginx2', 'QUIT');
}

# ---- the requirement switched on while a session exists ------------------

{
    my $c = $t->client;
    my $r = $c->login('sam', org => 'globex');
    is($r->{status}, 303, 'globex requires nothing: passed');
    is($c->get('/home')->{content}, "home of sam (globex) via pwd\n", 'session');

    my $admin = $t->client;
    $r = $admin->request('PUT', '/twofa-admin/orgs/globex',
        body => '{"require": true}',
        headers => { Authorization => 'Bearer ' . $t->admin_token });
    is($r->{status}, 200, 'the admin switches the requirement on');

    is($c->get('/home')->{content}, "home of sam (globex) via pwd\n",
       'the existing app session keeps working');

    my $c2 = $t->client;
    $r = $c2->login('sam', org => 'globex');
    is($loc->($r), '/2fa/enroll', 'the next login is held for enrollment');
}

# ---- requirement off, but the user enrolled: still asked ----------------

{
    my $c = $t->client;
    my $e = $c->enroll('olga', org => 'globex', enroll_offset => -30);
    is($e->{res}{status}, 303, 'olga enrolled while globex required it');
    $t->redis('HSET', 'twofa:org:globex', 'require', '0');

    $c = $t->client;
    my $r = $c->login('olga', org => 'globex');
    is($loc->($r), '/2fa/verify', 'requirement off, enrolled: still asked');

    # settings: disable is refused while required, allowed after
    $r = $c->verify('olga', $e->{secret}, org => 'globex', offset => 0);
    is($r->{status}, 303, 'signed in with a code');

    $t->redis('HSET', 'twofa:org:globex', 'require', '1');
    # a login abandoned at the code step leaves a hold cookie behind
    my $other = $t->client;
    $other->login('olga', org => 'globex');
    $c->cookie('twofa_hold', $other->cookie('twofa_hold'));

    my $s = $c->get('/2fa/settings');
    is($s->{status}, 200, 'the settings page (a stale hold cookie does not matter)');
    like($s->{content}, qr/id="twofa-status">On</, 'shows 2FA on');
    like($s->{content}, qr/requires two-factor/, 'and that the org requires it');

    my $csrf = TwofaTest::field($s->{content}, 'csrf');
    $r = $c->post('/2fa/settings/disable', form => {
        code => TwofaTest::totp($e->{secret}, 30), csrf => $csrf });
    is($r->{status}, 403, 'disable refused while the org requires 2FA');
    like($r->{content}, qr/cannot be turned off/, 'with the reason');
    is($t->redis('HGET', 'twofa:user:globex:olga', 'enabled'), '1', 'still on');

    $t->redis('HSET', 'twofa:org:globex', 'require', '0');
    $r = $c->post('/2fa/settings/disable', form => {
        code => '000000', csrf => $csrf });
    is($r->{status}, 401, 'disable needs a valid code');

    $r = $c->post('/2fa/settings/disable', form => {
        code => TwofaTest::totp($e->{secret}, 30), csrf => $csrf });
    is($r->{status}, 200, 'disable allowed once the org does not require it');
    like($r->{content}, qr/now off/, 'says so');
    is($t->redis('EXISTS', 'twofa:user:globex:olga'), '0', 'the secret is gone');

    my $c2 = $t->client;
    $r = $c2->login('olga', org => 'globex');
    is($loc->($r), '/home', 'and the next login passes without a code');
}

# ---- recovery codes work once -------------------------------------------

{
    my $c = $t->client;
    my $e = $c->enroll('rita', org => 'acme');
    is(scalar @{ $e->{codes} }, 10, 'rita has ten recovery codes');

    $c = $t->client;
    my $r = $c->verify('rita', undef, org => 'acme', code => uc $e->{codes}[3]);
    is($r->{status}, 303, 'a recovery code (any case) releases the login');
    is($c->get('/home')->{content}, "home of rita (acme) via recovery\n",
       'the session says recovery');

    $c = $t->client;
    $r = $c->verify('rita', undef, org => 'acme', code => $e->{codes}[3]);
    is($r->{status}, 401, 'the same recovery code is refused the second time');

    my $s = $c->get('/2fa/settings');
    is($s->{status}, 401, 'no session, no settings');

    $c = $t->client;
    $c->verify('rita', $e->{secret}, org => 'acme');
    like($c->get('/2fa/settings')->{content}, qr/Recovery codes left<\/dt><dd>9</,
         'nine recovery codes left');
}

# ---- the JSON flow of a single-page app ------------------------------------

{
    my $c = $t->client;
    my $r = $c->login('jay', org => 'acme', json => 1);
    is($r->{status}, 401, 'JSON login held: 401');
    my $j = $json->decode($r->{content});
    is($j->{twofa}, 'enroll', '{"twofa":"enroll"}');
    is($j->{url}, '/2fa/enroll', 'with the url');
    like($j->{csrf}, qr/^[\w-]{22}$/, 'and a csrf token');
    ok($c->cookie('twofa_hold'), 'and the hold cookie');

    $r = $c->get('/2fa/enroll', json => 1);
    is($r->{status}, 200, 'enroll step in JSON');
    my $step = $json->decode($r->{content});
    is($step->{step}, 'enroll', '{"step":"enroll"}');
    like($step->{otpauth}, qr/^otpauth:\/\/totp\/twofa-edge:jay\?secret=$step->{secret}&/,
         'secret and otpauth URI');
    is($step->{csrf}, $j->{csrf}, 'the same csrf token');

    $r = $c->post('/2fa/enroll', json => 1,
                  form => { code => '000000', csrf => $step->{csrf} });
    is($r->{status}, 401, 'a wrong code');
    is($r->{content}, '{"error":"invalid_code"}', '{"error":"invalid_code"}');

    $r = $c->post('/2fa/enroll', json => 1, form => {
        code => TwofaTest::totp($step->{secret}), csrf => $step->{csrf} });
    is($r->{status}, 200, 'the first code');
    my $rec = $json->decode($r->{content});
    is($rec->{step}, 'recovery', '{"step":"recovery"}');
    is(scalar @{ $rec->{recovery_codes} }, 10, 'with ten recovery codes');

    $r = $c->post('/2fa/continue', json => 1, form => { csrf => $step->{csrf} });
    is($r->{status}, 200, 'continue: the app\'s JSON login response');
    is_deeply($json->decode($r->{content}), { ok => JSON::PP::true, user => 'jay', org => 'acme' },
              'intact');
    ok($c->cookie('app_session') && $c->cookie('twofa_session'), 'with both cookies');

    $c = $t->client;
    $r = $c->login('jay', org => 'acme', json => 1);
    $j = $json->decode($r->{content});
    $c->{held_token} = $c->cookie('twofa_hold');
    is($j->{twofa}, 'verify', 'next JSON login: {"twofa":"verify"}');
    $r = $c->get('/2fa/verify', json => 1);
    is_deeply($json->decode($r->{content}), { step => 'verify', csrf => $j->{csrf} },
              '{"step":"verify","csrf":...}');
    $r = $c->post('/2fa/verify', json => 1, form => {
        code => TwofaTest::totp($step->{secret}, 30), csrf => $j->{csrf} });
    is($r->{status}, 200, 'verified: the app\'s JSON');

    $c->cookie('twofa_hold', $c->{held_token});
    $r = $c->post('/2fa/verify', json => 1, form => { code => '1', csrf => $j->{csrf} });
    is($r->{status}, 401, 'the hold is gone after release');
    is($r->{content}, '{"error":"expired"}', '{"error":"expired"}');
}

# ---- step-up: twofa_gate max_age=2s -----------------------------------------

{
    my $c = $t->client;
    $t->redis('HSET', 'twofa:org:initech', 'require', '0');
    $c->login('gus', org => 'initech');

    my $r = $c->get('/step-up/report?q=1');
    is($r->{status}, 303, 'a password-only session meets the gate');
    is($loc->($r), '/2fa/verify?return=%2Fstep-up%2Freport%3Fq%3D1',
       'to the verify page, and back after');

    $r = $c->get('/step-up/report', json => 1);
    is($r->{status}, 401, 'a JSON client gets 401');
    is($json->decode($r->{content})->{error}, 'step_up', '{"error":"step_up"}');

    $r = $c->get($loc->($c->get('/step-up/report?q=1')));
    is($loc->($r), '/2fa/enroll?return=%2Fstep-up%2Freport%3Fq%3D1',
       'not enrolled: enrollment first');

    my $page = $c->get('/2fa/enroll');
    my $secret = TwofaTest::secret_of($page->{content});
    $r = $c->post('/2fa/enroll', form => {
        code => TwofaTest::totp($secret, -30),
        csrf => TwofaTest::field($page->{content}, 'csrf') });
    is($r->{status}, 200, 'enrolled from the session');

    $r = $c->get('/step-up/report');
    is($r->{status}, 200, 'a fresh TOTP session passes the gate');
    is($r->{content}, "stepped up\n", 'the protected page');
    is($c->get('/step-up/report')->{status}, 200, 'again (from the worker\'s cache)');

    # the worker remembers that exact cookie, not anything like it
    my $good = $c->cookie('twofa_session');
    for my $pos (length($good) - 1, length($good) - 20, 12) {
        (my $bad = $good) =~ s/^(.{$pos})(.)/$1 . ($2 eq 'A' ? 'B' : 'A')/e;
        $c->cookie('twofa_session', $bad);
        is($c->get('/step-up/report')->{status}, 303,
           "a cached cookie changed at byte $pos is refused");
    }
    $c->cookie('twofa_session', $good . 'x');
    is($c->get('/step-up/report')->{status}, 303, 'and one with a byte more');
    $c->cookie('twofa_session', $good);

    sleep 3.1;
    $r = $c->get('/step-up/report?q=2');
    is($r->{status}, 303, 'a stale one is sent to verify again');

    $page = $c->get($loc->($r));
    is($page->{status}, 200, 'the verify page for the session');
    like($page->{content}, qr/name="return" value="\/step-up\/report\?q=2"/,
         'carries the return path');
    $r = $c->post('/2fa/verify', form => {
        code => TwofaTest::totp($secret, 0),
        csrf => TwofaTest::field($page->{content}, 'csrf'),
        return => '/step-up/report?q=2' });
    is($r->{status}, 303, 'a code');
    is($loc->($r), '/step-up/report?q=2', 'goes back to the page');
    is($c->get('/step-up/report')->{status}, 200, 'which now opens');

    for my $evil ('//evil.example/x', 'https://evil.example/', '/\\evil.example',
                  "/ok\r\nSet-Cookie: x=1", 'javascript:alert(1)') {
        $page = $c->get('/2fa/verify?return=' . TwofaTest::Client::escape($evil));
        (my $name = $evil) =~ s/[^ -~]/?/g;
        is(TwofaTest::field($page->{content}, 'return'), '/',
           "the return path $name becomes /");
    }

    sleep 2.5;
    $page = $c->get('/2fa/verify?return=%2F%2Fevil.example%2Fx');
    $r = $c->post('/2fa/verify', form => {
        code => TwofaTest::totp($secret, 30),
        csrf => TwofaTest::field($page->{content}, 'csrf'),
        return => '//evil.example/x' });
    is($r->{status}, 303, 'a code with an evil return path');
    is($loc->($r), '/', 'goes to /, never to another host');
}

# ---- Redis down during a held login: fail closed ---------------------------

{
    my $c = $t->client;
    my $e = $c->enroll('dora', org => 'acme', enroll_offset => -30);
    $c = $t->client;
    my $r = $c->login('dora', org => 'acme');
    is($loc->($r), '/2fa/verify', 'dora\'s login is held');
    my $page = $c->get('/2fa/verify');

    $t->stop('redis', 'KILL');

    $r = $c->post('/2fa/verify', form => {
        code => TwofaTest::totp($e->{secret}, 0),
        csrf => TwofaTest::field($page->{content}, 'csrf') });
    is($r->{status}, 503, 'Redis gone while held: the right code releases nothing');
    ok(!$c->cookie('app_session'), 'no app session');
    ok(!$c->cookie('twofa_session'), 'no session cookie');
}

{
    my $c = $t->client;
    my $r = $c->login('dan', org => 'acme');
    is($r->{status}, 503, 'Redis down: the login is refused (closed)');
    ok(!$c->cookie('app_session'), 'and the app session is not released');
    like($r->{content}, qr/unavailable/i, 'with a page that says so');
    $r = $c->login('dan', org => 'acme', json => 1);
    is($r->{content}, '{"error":"unavailable"}', 'or JSON');
    like($t->error_log, qr/login of "dan" refused \(twofa_on_redis_error closed\)/,
         'and a log line');
}

$t->memcheck_ok;

done_testing;
