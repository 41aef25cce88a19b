#!/usr/bin/perl
# Identities are UTF-8 (issue 11): Cyrillic, "CORP\jdoe", inner spaces and
# what the old ASCII rule refused (':', '|', '*') are held, enrolled with
# oathtool and released; their Redis keys are the escaped form; two
# identities that differ only in an escaped character never share state;
# invalid UTF-8 and control characters are refused (502) with a log line;
# the admin API addresses them percent-encoded, the CLI takes them as
# arguments.  All strings here are bytes (no "use utf8").

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use Encode ();
use MIME::Base64 ();
use TwofaTest;

my $t = TwofaTest->new;
$t->start_redis->start_app->start_nginx;
$t->redis('HSET', 'twofa:org:acme', 'require', '1');

my $loc = \&TwofaTest::Client::location;
my $esc = \&TwofaTest::Client::escape;

my $yulia = "\xd0\xae\xd0\xbb\xd0\xb8\xd1\x8f";    # Юлия
my $corp = 'CORP\\jdoe';

# identity, its Redis key part, its HTML on the page
my @ids = (
    [$yulia,        $yulia,              $yulia],
    [$corp,         'CORP|5Cjdoe',       $corp],
    ['jean dupont', 'jean|20dupont',     'jean dupont'],
    ['a:b',         'a|3Ab',             'a:b'],
    ['x|y*',        'x|7Cy|2A',          'x|y*'],
    ["o'brien&co",  "o'brien&co",        'o&#x27;brien&amp;co'],
    ["Jos\xc3\xa9",  "Jos\xc3\xa9",        "Jos\xc3\xa9"],
);
my $jose_nfd = "Jose\xcc\x81";    # e and a combining acute accent

sub show {
    (my $s = $_[0]) =~ s/([^\x21-\x7e])/sprintf '\\x%02x', ord $1/ge;
    return $s;
}

# the app's login naming $id: a body of our own, as HTTP::Tiny would
# encode the bytes of a string once more as if they were Latin-1
sub login_as {
    my ($c, $id, %o) = @_;
    my $body = join '&', 'user=app', 'password=pw-app',
                         'org=' . $esc->($o{org} // 'acme'),
                         'id=' . $esc->($id);
    return $c->request('POST', '/login', body => $body, headers => {
        'Content-Type' => 'application/x-www-form-urlencoded' });
}

sub keys_now { return split /\n/, $t->redis('KEYS', '*') }

# the session cookie's payload, "iat|exp|amr|org|user"
sub payload {
    my ($cookie) = @_;
    my (undef, undef, $p) = split /\./, $cookie // '';
    $p //= '';
    $p =~ tr{-_}{+/};
    $p .= '=' x (-length($p) % 4);
    return MIME::Base64::decode_base64($p);
}

my (%secret, %codes);

# ---- held, enrolled with oathtool, released ------------------------------

for my $case (@ids) {
    my ($id, $key, $html) = @$case;
    my $label = show($id);
    my $c = $t->client;

    my $r = login_as($c, $id);
    is($r->{status}, 303, "\"$label\": held");
    is($loc->($r), '/2fa/enroll', "... for enrollment");

    my $page = $c->get('/2fa/enroll');
    is($page->{status}, 200, "... the enrollment page");
    like($page->{content}, qr/Signed in as <strong>\Q$html\E<\/strong>/,
         "... names the user, HTML-escaped");
    my $uri = $t->read_qr($page->{content}) // '';
    like($uri, qr{^otpauth://totp/[^?]*\Q${\ $esc->($id)}\E\?secret=},
         "... its QR code names the user percent-encoded");

    my $secret = TwofaTest::secret_of($page->{content});
    my $csrf = TwofaTest::field($page->{content}, 'csrf');
    $r = $c->post('/2fa/enroll', form => {
        code => TwofaTest::totp($secret, -30), csrf => $csrf });
    is($r->{status}, 200, "... enrolled with oathtool's code");
    $codes{$id} = [ $r->{content}
                    =~ m{<li><code>([a-z2-7]{5}-[a-z2-7]{5})</code></li>}g ];
    $r = $c->post('/2fa/continue', form => { csrf => $csrf });
    is($r->{status}, 303, "... released");
    is($r->{content}, "welcome app\n", "... with the app's response");
    is($c->get('/home')->{content}, "home of app (acme) via totp\n",
       "... and the app session works");

    my $fields = (split /\|/, payload($c->cookie('twofa_session')), 4)[3];
    (my $field = $id) =~ s/([|\\])/sprintf '\\%02X', ord $1/ge;
    is($fields, "acme|$field", "... the session cookie carries it");

    ok((grep { $_ eq "twofa:user:acme:$key" } keys_now()),
       "... its Redis key is twofa:user:acme:" . show($key));
    is($t->redis('HGET', "twofa:user:acme:$key", 'enabled'), '1',
       '... enrolled there');

    $secret{$id} = $secret;
}

# later logins: a code, a recovery code (its hash binds org and user)
{
    my $c = $t->client;
    my $r = $c->verify('app', $secret{$corp}, org => 'acme', id => $corp);
    is($r->{status}, 303, "\"CORP\\jdoe\" verified with a code at the next login");

    for my $id ('a:b', $yulia) {
        $c = $t->client;
        $r = login_as($c, $id);
        is($loc->($r), '/2fa/verify', '"' . show($id) . '": asked for a code');
        my $page = $c->get('/2fa/verify');
        $r = $c->post('/2fa/verify', form => {
            code => $codes{$id}[0],
            csrf => TwofaTest::field($page->{content}, 'csrf') });
        is($r->{status}, 303, '... a recovery code releases the login');
    }
}

# ---- a signed-in user with ':', '|' and a space enrolls from settings -----

{
    my $id = 'a:b|c d';
    my $key = 'o|7Crg:a|3Ab|7Cc|20d';
    my $c = $t->client;
    my $r = login_as($c, $id, org => 'o|rg');
    is($loc->($r), '/home', '"a:b|c d" of "o|rg": nothing required, passed');

    my $s = $c->get('/2fa/settings');
    is($s->{status}, 200, '... the settings page');
    like($s->{content}, qr/<dd>a:b\|c d<\/dd>/, '... names the user');
    $r = $c->post('/2fa/settings/enable', form => {
        csrf => TwofaTest::field($s->{content}, 'csrf') });
    is($loc->($r), '/2fa/enroll', '... enable: to enrollment (CSRF good)');

    my $page = $c->get('/2fa/enroll');
    is($page->{status}, 200, '... the enrollment page');
    ok((grep { /^twofa:pending:\Q$key\E:\d+$/ } keys_now()),
       '... the pending secret bound to the session, identities escaped');
    my $secret = TwofaTest::secret_of($page->{content});
    $r = $c->post('/2fa/enroll', form => {
        code => TwofaTest::totp($secret, -30),
        csrf => TwofaTest::field($page->{content}, 'csrf') });
    is($r->{status}, 200, '... enrolled');
    is($t->redis('HGET', "twofa:user:$key", 'enabled'), '1',
       "... under twofa:user:$key");

    $s = $c->get('/2fa/settings');
    $r = $c->post('/2fa/settings/disable', form => {
        code => TwofaTest::totp($secret, 30),
        csrf => TwofaTest::field($s->{content}, 'csrf') });
    is($r->{status}, 200, '... and turns it off again with a code');
    is($t->redis('EXISTS', "twofa:user:$key"), '0', '... the key is gone');
}

# ---- no two identities share state ---------------------------------------

{
    # "a|3Ab" is the escape of "a:b": a naive encoding would merge them
    for my $other ('a|3Ab', 'x%7Cy*', 'CORP|5Cjdoe', 'CORP/jdoe') {
        my $c = $t->client;
        my $r = login_as($c, $other);
        is($loc->($r), '/2fa/enroll',
           '"' . show($other) . '" is someone else: asked to enroll');
    }
    ok((grep { $_ eq 'twofa:user:acme:a|7C3Ab' } keys_now()) == 0,
       'a hold does not write the user key');

    # org a, user b:c and org a:b, user c
    $t->redis('HSET', 'twofa:org:a', 'require', '1');
    $t->redis('HSET', 'twofa:org:a|3Ab', 'require', '1');
    my $c = $t->client;
    my $e = $c->enroll('app', org => 'a', id => 'b:c', enroll_offset => -30);
    is($e->{res}{status}, 303, 'org "a" user "b:c" enrolled');
    my $r = $t->client->login('app', org => 'a:b', id => 'c');
    is($loc->($r), '/2fa/enroll', 'org "a:b" user "c" is someone else');
    ok((grep { $_ eq 'twofa:user:a:b|3Ac' } keys_now()),
       '... keys twofa:user:a:b|3Ac and twofa:user:a|3Ab:c apart');
}

# ---- refused: not UTF-8, control characters --------------------------------

for my $bad (["\xff\xfe",        '\\xFF\\xFE',     'invalid UTF-8'],
             ["caf\xe9",          'caf\\xE9',       'invalid UTF-8'],
             ["a\x01b",           'a\\x01b',        'control character'],
             ["a\x7fb",           'a\\x7Fb',        'control character'],
             ["a\xc2\x85b",       'a\\xC2\\x85b',   'control character'],
             ['u' x 129,          'u' x 129,        'too long'])
{
    my ($id, $logged, $why) = @$bad;
    my $r = login_as($t->client, $id);
    is($r->{status}, 502, '"' . show($id) . "\" refused: $why");
    like($t->error_log,
         qr/twofa_user "\Q$logged\E" names no usable identity \(\Q$why\E/,
         '... with a log line naming it, escaped');
}

unlike($t->error_log, qr/[\x00-\x08\x0b-\x1f\x7f]/,
       'no control character reached the error log');

# ---- the admin API: percent-encoded paths, UTF-8 JSON ---------------------

{
    my %auth = (Authorization => 'Bearer ' . $t->admin_token);
    my $admin = $t->client;

    my $path = '/twofa-admin/orgs/acme/users/' . $esc->($yulia);
    my $r = $admin->request('GET', $path, headers => \%auth);
    is($r->{status}, 200, 'GET .../users/%D0%AE%D0%BB%D0%B8%D1%8F: 200');
    my $j = eval { decode_json($r->{content}) } || {};
    is($j->{user}, Encode::decode('UTF-8', $yulia), '... the user in UTF-8 JSON');
    ok($j->{enrolled}, '... enrolled');

    $r = $admin->request('GET', '/twofa-admin/orgs/acme/users/'
                         . $esc->('x|y*'), headers => \%auth);
    $j = eval { decode_json($r->{content}) } || {};
    ok($r->{status} == 200 && $j->{user} eq 'x|y*' && $j->{enrolled},
       'GET .../users/x%7Cy%2A: the user, enrolled');

    $r = $admin->request('GET', '/twofa-admin/orgs/acme/users/'
                         . $esc->($jose_nfd), headers => \%auth);
    $j = eval { decode_json($r->{content}) } || {};
    ok($r->{status} == 200 && $j->{enrolled}
       && $j->{user} eq Encode::decode('UTF-8', "Jos\xc3\xa9"),
       'GET .../users/Jose%CC%81 (decomposed): the user of the NFC login');

    $r = $admin->request('GET', '/twofa-admin/orgs/acme/users/a%2Fb',
                         headers => \%auth);
    $j = eval { decode_json($r->{content}) } || {};
    ok($r->{status} == 200 && $j->{user} eq 'a/b' && !$j->{enrolled},
       'GET .../users/a%2Fb: user "a/b", a segment of its own');

    $r = $admin->request('GET', '/twofa-admin/orgs/acme/users/%FF',
                         headers => \%auth);
    is($r->{status}, 400, 'GET .../users/%FF (not UTF-8): 400');
    $r = $admin->request('GET', '/twofa-admin/orgs/acme/users/a%0Ab',
                         headers => \%auth);
    is($r->{status}, 400, 'GET .../users/a%0Ab (a control): 400');
    $r = $admin->request('GET', '/twofa-admin/orgs/acme/users/a%G1',
                         headers => \%auth);
    like($r->{status}, qr/^4\d\d$/, 'GET .../users/a%G1 (a broken escape): '
         . "refused ($r->{status})");

    $r = $admin->request('DELETE', "$path/totp", headers => \%auth);
    is($r->{status}, 200, 'DELETE .../users/%D0%AE.../totp: 200');
    $j = eval { decode_json($r->{content}) } || {};
    ok($j->{existed}, '... it existed');
    is($t->redis('EXISTS', "twofa:user:acme:$yulia"), '0',
       '... and its key is gone');
    like($t->error_log,
         qr/twofa audit: user reset org="acme" user="\Q$yulia\E"/,
         '... the change logged with the name in UTF-8');

    my @audit = split /\n/, $t->redis('XRANGE', 'twofa:audit', '-', '+');
    ok((grep { $_ eq $yulia } @audit), 'the audit stream carries the name');

    $r = $admin->request('GET', '/twofa-admin/audit?user='
                         . $esc->('jean dupont'), headers => \%auth);
    $j = eval { decode_json($r->{content}) } || {};
    ok((grep { $_->{event} eq 'enroll' } @{ $j->{entries} // [] }),
       'GET audit?user=jean%20dupont: its enrollment');
}

# ---- the CLI: UTF-8 arguments ----------------------------------------------

sub cli {
    my @args = @_;
    my $pid = open(my $fh, '-|') // die "fork: $!";
    if ($pid == 0) {
        open STDERR, '>&', \*STDOUT;
        exec $TwofaTest::ADMIN, '--redis', '127.0.0.1:' . $t->redis_port,
             @args;
        exit 127;
    }
    my $out = do { local $/; <$fh> } // '';
    close $fh;
    return ($? >> 8, $out);
}

{
    my ($rc, $out) = cli('user', 'show', 'acme', $corp);
    is($rc, 0, 'twofa-admin user show acme "CORP\\jdoe": exit 0');
    like($out, qr/^user: CORP\\jdoe$/m, '... names the user');
    like($out, qr/^enrolled: yes$/m, '... enrolled');

    ($rc, $out) = cli('user', 'reset', 'acme', 'jean dupont');
    is($rc, 0, 'twofa-admin user reset acme "jean dupont": exit 0');
    like($out, qr/^was_enrolled: yes$/m, '... it was enrolled');
    like($out, qr/^audit: \S+ user reset org=acme user=jean\\x20dupont by=/m,
         '... its audit line, the space escaped');
    is($t->redis('EXISTS', 'twofa:user:acme:jean|20dupont'), '0',
       '... its key is gone');
    is($t->redis('EXISTS', 'twofa:user:acme:' . $corp =~ s/\\/|5C/r), '1',
       '... and only its own');

    ($rc, $out) = cli('--json', 'user', 'show', 'acme', 'a:b');
    my $j = eval { decode_json($out) } || {};
    ok($rc == 0 && $j->{user} eq 'a:b' && $j->{enrolled},
       'twofa-admin --json user show acme a:b: enrolled');

    ($rc, $out) = cli('user', 'show', ' acme ', $jose_nfd);
    is($rc, 0, 'twofa-admin user show " acme " "Jose\xcc\x81": exit 0');
    like($out, qr/^org: acme\nuser: Jos\xc3\xa9$/m,
         '... in the spelling the module keeps (trimmed, NFC)');
    like($out, qr/^enrolled: yes$/m, '... enrolled');

    ($rc, $out) = cli('user', 'show', 'acme', "caf\xe9");
    is($rc, 2, 'twofa-admin user show with Latin-1 bytes: exit 2');
    like($out, qr/invalid user "caf\\xe9"/, '... saying so');

    ($rc, $out) = cli('audit', '--user', $yulia);
    like($out, qr/ reset org=acme user=\Q$yulia\E /,
         'twofa-admin audit --user (Cyrillic): the reset, in UTF-8');
}

$t->memcheck_ok;

done_testing;
