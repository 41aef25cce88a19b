#!/usr/bin/perl
# Holding the login: pass-through when no second factor is needed (the
# app's response, byte for byte), enrollment with the QR code read by
# zbarimg and codes from oathtool, release, verification, wrong, reused and
# enrollment codes, identity headers, the size limit, CSRF.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use HTTP::Tiny;
use TwofaTest;

my $t = TwofaTest->new;
$t->start_redis->start_app;

# an operator's template for the code page (the others stay built in)
mkdir $t->dir . '/tpl';
$t->write_file('tpl/verify.html', <<'END');
<h1>Custom code page for {{user}}</h1>
<form method="post" action="{{action}}">
{{#error}}<p id="twofa-error">{{error}}</p>{{/error}}
<input id="code" name="code" autocomplete="one-time-code">
<input type="hidden" name="csrf" value="{{csrf}}">
</form>
END

my $app_port = $t->app_port;
$t->start_nginx(http => "    twofa_hold_max_size 256k;\n"
                      . "    twofa_templates ${\ $t->dir}/tpl;",
                server_extra => <<"END");
        location = /login-plain {
            twofa_login on;
            twofa_user \$upstream_http_x_user_id;
            twofa_hide_identity_headers off;
            proxy_pass http://127.0.0.1:$app_port/login;
        }
END

my $app = HTTP::Tiny->new(max_redirect => 0);
my $loc = \&TwofaTest::Client::location;

# ---- requirement off, not enrolled: the app's response ----------------

{
    my $c = $t->client;
    my $via = $c->login('ann', org => 'acme');
    my $direct = $app->post_form("http://127.0.0.1:" . $t->app_port . '/login',
                                 { user => 'ann', password => 'pw-ann',
                                   org => 'acme' });

    is($via->{status}, $direct->{status}, 'passed: the app\'s status');
    is($via->{content}, $direct->{content}, 'passed: the app\'s body, unchanged');
    is($via->{headers}{location}, $direct->{headers}{location},
       'passed: the app\'s redirect, as nginx proxies it');
    is($via->{headers}{'content-type'}, $direct->{headers}{'content-type'},
       'passed: the app\'s content type');
    is($via->{headers}{'x-app-extra'}, 'kept', 'passed: other app headers kept');
    ok(!exists $via->{headers}{'x-user-id'}, 'passed: X-User-Id hidden');
    ok(!exists $via->{headers}{'x-org-id'}, 'passed: X-Org-Id hidden');
    ok($c->cookie('app_session'), 'passed: the app session cookie arrives');
    like($c->cookie('twofa_session') // '', qr/^v1\.[\w-]{8}\.[\w-]+\.[\w-]{43}$/,
         'passed: plus the module\'s session cookie');

    my ($set) = grep { /^twofa_session=/ } TwofaTest::all_headers($via, 'set-cookie');
    like($set, qr/; HttpOnly/, 'session cookie is HttpOnly');
    like($set, qr/; Secure/, 'session cookie is Secure by default');
    like($set, qr/; SameSite=Lax/, 'session cookie is SameSite=Lax');

    my $home = $c->get('/home');
    is($home->{content}, "home of ann (acme) via pwd\n",
       'the app session works; $twofa_amr says pwd');

    my $bad = $c->login('ann', password => 'nope');
    is($bad->{status}, 200, 'a failed login passes through');
    is($bad->{content}, "<form>wrong password</form>\n", 'with the app\'s page');
    ok(!grep({ /^twofa_session=/ } TwofaTest::all_headers($bad, 'set-cookie')),
       'and no session cookie');

    my @count = $t->redis('--scan', '--pattern', 'twofa:hold:*');
    is(scalar(grep { length } @count), 0, 'nothing was held');
}

# ---- requirement on, not enrolled: enrollment, recovery, release ------

$t->redis('HSET', 'twofa:org:acme', 'require', '1');

my %enrolled;

{
    my $c = $t->client;
    my $r = $c->login('bob', org => 'acme');

    is($r->{status}, 303, 'held: 303 See Other');
    is($loc->($r), '/2fa/enroll', 'held: to the enrollment page');
    ok(!$c->cookie('app_session'), 'held: the app session cookie is held back');
    ok(!$c->cookie('twofa_session'), 'held: no session cookie yet');
    like($c->cookie('twofa_hold'), qr/^[\w-]{32}$/, 'held: a hold cookie');
    ok(!exists $r->{headers}{'x-user-id'}, 'held: X-User-Id hidden');

    my ($hold_cookie) = grep { /^twofa_hold=/ } TwofaTest::all_headers($r, 'set-cookie');
    like($hold_cookie, qr/Path=\/2fa\/; Max-Age=300; HttpOnly; Secure; SameSite=Lax/,
         'the hold cookie: pages only, short, HttpOnly, Lax');

    my $key = 'twofa:hold:' . $c->cookie('twofa_hold');
    is($t->redis('HMGET', $key, 'org', 'user', 'v'), "acme\nbob\n0",
       'redis holds the login (owner in clear fields, not passed yet)');
    my $blob = $t->redis('HGET', $key, 'r');
    unlike($blob, qr/app_session|welcome bob/, 'the held response is sealed');
    my $ttl = $t->redis('TTL', $key);
    ok($ttl > 290 && $ttl <= 300, "the hold expires ($ttl s)");

    my $page = $c->get('/2fa/enroll');
    is($page->{status}, 200, 'enrollment page');
    my $html = $page->{content};
    my $secret = TwofaTest::secret_of($html);
    like($secret, qr/^([A-Z2-7]{4} ){7}[A-Z2-7]{4}$/, 'the key in groups of 4');
    like($html, qr/<svg[^>]*id="twofa-qr"/, 'the QR code is inline SVG');
    like($html, qr/autocomplete="one-time-code"/, 'one-time-code input');
    like($html, qr/inputmode="numeric"/, 'numeric input');
    like($html, qr/<label for="code">/, 'the code box has a label');
    (my $bare = $html) =~ s{xmlns="http://www\.w3\.org/2000/svg"}{};
    unlike($bare, qr/<(script|link|img|iframe)\b|\bsrc=|url\(|https?:\/\//i,
           'no external resources, no scripts');
    like($page->{headers}{'content-security-policy'}, qr/default-src 'none'/, 'CSP');
    is($page->{headers}{'x-frame-options'}, 'DENY', 'X-Frame-Options');
    is($page->{headers}{'cache-control'}, 'no-store', 'no-store');
    is($page->{headers}{'referrer-policy'}, 'no-referrer', 'no referrer');

    my $uri = $t->read_qr($html);
    (my $plain = $secret) =~ s/ //g;
    is($uri, "otpauth://totp/twofa-edge:bob?secret=$plain&issuer=twofa-edge"
             . '&algorithm=SHA1&digits=6&period=30',
       'zbarimg reads the QR code: the otpauth URI of the same key');

    my $again = $c->get('/2fa/enroll');
    is(TwofaTest::secret_of($again->{content}), $secret,
       'reloading shows the same pending key');

    my $pkey = 'twofa:pending:' . $c->cookie('twofa_hold');
    my $stored = $t->redis('GET', $pkey);
    ok(length $stored > 40, 'the pending secret is stored, with the hold');
    unlike($stored, qr/\Q$plain\E/, 'sealed, not in the clear');
    my $pttl = $t->redis('TTL', $pkey);
    ok($pttl > 280 && $pttl <= 300, "and dies with the hold ($pttl s)");
    is($t->redis('EXISTS', 'twofa:user:acme:bob'), '0',
       'the user has no TOTP state until the first code');

    my $csrf = TwofaTest::field($html, 'csrf');
    my $code = TwofaTest::totp($secret);
    $r = $c->post('/2fa/enroll', form => { code => $code, csrf => $csrf });
    is($r->{status}, 200, 'the first code is accepted');
    my @codes = $r->{content} =~ m{<li><code>([a-z2-7]{5}-[a-z2-7]{5})</code></li>}g;
    is(scalar @codes, 10, 'ten recovery codes, shown once');
    like($r->{content}, qr/<ol[^>]*id="twofa-recovery"/, 'in <ol id="twofa-recovery">');
    ok(!$c->cookie('app_session'), 'still no app session before continue');
    is($t->redis('HGET', 'twofa:user:acme:bob', 'enabled'), '1', 'TOTP is on');
    my $rec = $t->redis('HGET', 'twofa:user:acme:bob', 'recovery');
    like($rec, qr/^[\w-]{8}:[0-9a-f]{32}(,[0-9a-f]{32}){9}$/, 'recovery codes stored hashed');
    unlike($rec, qr/\Q$codes[0]\E/, 'not in the clear');

    $r = $c->post('/2fa/continue', form => { csrf => $csrf });
    is($r->{status}, 303, 'continue: the app\'s own response');
    is($loc->($r), '/home', 'continue: the app\'s redirect');
    is($r->{content}, "welcome bob\n", 'continue: the app\'s body');
    is($r->{headers}{'x-app-extra'}, 'kept', 'continue: app headers kept');
    ok(!exists $r->{headers}{'x-user-id'}, 'continue: X-User-Id hidden');
    ok($c->cookie('app_session'), 'the app session cookie arrives only now');
    ok($c->cookie('twofa_session'), 'with the session cookie');
    ok(!$c->cookie('twofa_hold'), 'the hold cookie is cleared');
    is($t->redis('EXISTS', $key), '0', 'the hold is gone');
    is($c->get('/home')->{content}, "home of bob (acme) via totp\n",
       'the app works, $twofa_amr says totp');

    # the hold cannot be replayed
    $c->cookie('twofa_hold', (split /:/, $key)[2]);
    $r = $c->post('/2fa/continue', form => { csrf => $csrf });
    is($r->{status}, 401, 'a released hold cannot be released again');
    like($r->{content}, qr/Sign-in expired/, 'it has expired');
    like($r->{content}, qr/href="\/"/, 'with a link back to the login');

    %enrolled = (secret => $secret, codes => \@codes, code => $code);
}

# ---- enrolled: verification --------------------------------------------

{
    my $c = $t->client;
    my $r = $c->login('bob', org => 'acme');
    is($loc->($r), '/2fa/verify', 'enrolled: held for a code');

    my $page = $c->get('/2fa/verify');
    is($page->{status}, 200, 'the verify page');
    like($page->{content}, qr/autocomplete="one-time-code"/, 'one-time-code input');
    like($page->{content}, qr/<h1>Custom code page for bob<\/h1>/,
         'the operator\'s template (twofa_templates) is rendered');
    like($page->{content}, qr/<main>/, 'inside the built-in layout');
    my $csrf = TwofaTest::field($page->{content}, 'csrf');

    # the code used to enroll cannot log in again
    my $enroll_code = $c->post('/2fa/verify',
                               form => { code => $enrolled{code}, csrf => $csrf });
    is($enroll_code->{status}, 401, 'the enrollment code is refused');

    my $wrong = $c->post('/2fa/verify', form => { code => '000000', csrf => $csrf });
    is($wrong->{status}, 401, 'a wrong code: 401');
    like($wrong->{content}, qr/id="twofa-error"/, 'with an error on the page');
    is($wrong->{content}, $enroll_code->{content},
       'wrong and used codes look exactly the same');

    my $nocsrf = $c->post('/2fa/verify', form => { code => '000000' });
    is($nocsrf->{status}, 403, 'CSRF token missing: 403');
    my $badcsrf = $c->post('/2fa/verify',
                           form => { code => '000000', csrf => 'x' x 22 });
    is($badcsrf->{status}, 403, 'CSRF token wrong: 403');

    is($t->redis('GET', 'twofa:fail:acme:bob'), '2', 'two failures counted');

    my $good = TwofaTest::totp($enrolled{secret}, 30);
    $r = $c->post('/2fa/verify', form => { code => $good, csrf => $csrf });
    is($r->{status}, 303, 'a valid code releases the login');
    is($loc->($r), '/home', 'the app\'s redirect');
    ok($c->cookie('app_session'), 'and the app session');
    is($t->redis('EXISTS', 'twofa:fail:acme:bob'), '0', 'failures cleared');

    # the same code on another login: reused
    my $c2 = $t->client;
    $c2->login('bob', org => 'acme');
    $page = $c2->get('/2fa/verify');
    $r = $c2->post('/2fa/verify', form => {
        code => $good, csrf => TwofaTest::field($page->{content}, 'csrf') });
    is($r->{status}, 401, 'a code is accepted once');
}

# ---- identity: markup is escaped, invalid identities are refused --------

{
    my $c = $t->client;
    my $r = $c->login('eve', org => 'acme', id => "<b>'eve'&amp;<i>");
    is($r->{status}, 303, 'an identity with markup is held like any other');
    my $page = $c->get('/2fa/enroll');
    like($page->{content}, qr/&lt;b&gt;&#x27;eve&#x27;&amp;amp;&lt;i&gt;/,
         'and escaped on the page');
    unlike($page->{content}, qr/<b>'eve'/, 'never reflected raw');

    $r = $c->login('mallory', org => 'acme', id => 'x' x 200);
    is($r->{status}, 502, 'an identity longer than 128 bytes is refused');
    like($t->error_log, qr/twofa_user "x{200}" names no usable identity \(too long/,
         'with a log line saying why');
    $r = $c->login('mallory', id => "a\x01b");
    is($r->{status}, 502, 'an identity with a control character is refused');
    like($t->error_log, qr/twofa_user "a\\x01b" names no usable identity \(control character/,
         'with a log line naming the value, escaped');

    # what the ASCII rule refused before identities were UTF-8 (issue 11)
    $r = $t->client->login('mallory', org => 'a:b');
    is($r->{status}, 303, 'an org with ":" is taken (encoded where it goes)');
    is($loc->($r), '/home', '... and passes: its org requires nothing');
    $r = $t->client->login('mallory', id => 'a b');
    is($r->{status}, 303, 'an identity with an inner space is taken');
    is($loc->($r), '/home', '... and passes');
}

# ---- the size limit, and holds larger than one read of hiredis ----------

{
    my $c = $t->client;
    my $e = $c->enroll('big', org => 'acme', enroll_offset => -30);
    $c = $t->client;
    my $r = $c->login('big', org => 'acme', size => 200 * 1024);
    is($r->{status}, 303, 'a 200 KB login response under twofa_hold_max_size is held');
    my $page = $c->get('/2fa/verify');
    $r = $c->post('/2fa/verify', form => {
        code => TwofaTest::totp($e->{secret}, 0),
        csrf => TwofaTest::field($page->{content}, 'csrf') });
    is($r->{status}, 303, 'and released');
    is(length $r->{content}, 200 * 1024, 'whole: Redis replies of many reads are drained');
    like($r->{content}, qr/^welcome big\nx+\n\z/, 'byte for byte');

    $r = $c->login('big', org => 'acme', size => 300 * 1024);
    is($r->{status}, 502, 'a larger one is refused, never truncated');
    like($t->error_log, qr/the login response is larger than twofa_hold_max_size 262144/,
         'with a clear log line');

    $t->redis('HSET', 'twofa:org:other', 'require', '0');
    $r = $c->login('big', org => 'other', size => 250 * 1024);
    is(length $r->{content}, 250 * 1024, 'a passed response arrives whole');
}

# ---- twofa_hide_identity_headers off -------------------------------------

{
    my $c = $t->client;
    my $r = $c->post('/login-plain', form => { user => 'vic', password => 'pw-vic' });
    is($r->{status}, 303, 'passed on a location that keeps identity headers');
    is($r->{headers}{'x-user-id'}, 'vic', 'X-User-Id reaches the client when asked');
}

# ---- the access log ------------------------------------------------------

my $log = $t->read_file('access.log');
like($log, qr/POST \/login HTTP\/1\.1 303 user=ann org=acme result=passed/, '$twofa_result passed');
like($log, qr/POST \/login HTTP\/1\.1 303 user=bob org=acme result=held/, '$twofa_result held');
like($log, qr/POST \/2fa\/enroll HTTP\/1\.1 200 user=bob org=acme result=enrolled/, 'enrolled');
like($log, qr/POST \/2fa\/verify HTTP\/1\.1 401 user=bob org=acme result=failed/, 'failed');
like($log, qr/POST \/2fa\/verify HTTP\/1\.1 303 user=bob org=acme result=verified/, 'verified');

unlike($t->error_log, qr/\b$enrolled{code}\b/, 'no code in the error log');
unlike($t->error_log, qr/\Q$enrolled{secret}\E/, 'no secret in the error log');
unlike($t->error_log, qr/\[(alert|crit|emerg)\]/, 'no alerts');

$t->memcheck_ok;

done_testing;
