#!/usr/bin/perl
# Two real apps from Debian packages, unmodified, behind the distribution's
# nginx with the module loaded (no twofa directives yet): Django's admin
# (gunicorn) and DokuWiki (php-fpm).  Real logins prove what the module
# will rely on and what it must beware of: the failure and success
# signals, the session cookies and whether they rotate at login, the
# other doors into the login, and the spellings each app merges into one
# account.  TwofaApps.pm's notes say the same in prose.

use strict;
use warnings;
use utf8;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use MIME::Base64 qw(encode_base64 decode_base64);
use TwofaTest;
use TwofaApps;

binmode Test::More->builder->$_, ':encoding(UTF-8)'
    for qw(output failure_output todo_output);

my $t = TwofaTest->new;
my $dw_port = TwofaTest::free_port();

my $dj = TwofaApps->django($t);
my $dw = TwofaApps->dokuwiki($t, port => $dw_port);

# the success signal as nginx sees it, in a header of every answer
$t->start_nginx(twofa => '', server => $dj->location,
                server_extra => '        add_header X-Login-Signal "'
                              . $dj->login_success . '" always;');
$t->start_nginx(name => 'nginx2', port => $dw_port, twofa => '',
                http => $dw->http, server => $dw->location,
                server_extra => '        add_header X-Login-Signal "'
                              . $dw->login_success . '" always;');

my $dw_base = "http://127.0.0.1:$dw_port";
my $DW = $dw->auth_cookie;
my $bytes = \&TwofaApps::utf8_bytes;

# a spelling for a test's name: controls and combining marks escaped
sub shown {
    my ($s) = @_;
    $s =~ s/([\x00-\x1f\x{300}-\x{36f}])/sprintf '\\x{%x}', ord $1/ge;
    return $s;
}

sub set_cookies {
    my ($res, $name) = @_;
    return grep { /^\Q$name\E=/ } TwofaTest::all_headers($res, 'set-cookie');
}

# ==== Django admin ======================================================

{
    my $c = $dj->client;
    is($c->signed_in, undef, 'django: signed out at first');
    like($c->get('/static/admin/css/base.css')->{content}, qr/\bbody\b/,
         'django: nginx serves the admin\'s static files');
    my $r = $c->get('/admin/');
    is($r->{status}, 302, 'django: the admin redirects a stranger');
    is(TwofaTest::Client::location($r), '/admin/login/?next=/admin/',
       'django: to its login page');

    $r = $c->login('alice', password => 'wrong');
    is($r->{status}, 200, 'django: a wrong password: 200');
    like($r->{content}, qr/Please enter the correct username and password/,
         'django: with the app\'s own error');
    ok(!set_cookies($r, 'sessionid'), 'django: and no sessionid');
    is($r->{headers}{'x-login-signal'}, undef,
       'django: nginx sees no signal (empty: no header)');
    is($c->signed_in, undef, 'django: still signed out');

    # a session id the client made up before the login
    $c->cookie(sessionid => 'planted0planted0planted0planted0');
    my $csrf_before = $c->cookie('csrftoken');
    $r = $c->login('alice');
    is($r->{status}, 302, 'django: the right password: 302');
    is(TwofaTest::Client::location($r), '/admin/', 'django: to next');
    my $sid = $c->cookie('sessionid');
    like($sid, qr/^[a-z0-9]{32}$/, 'django: a sessionid is set');
    isnt($sid, 'planted0planted0planted0planted0',
         'django: a new one, not the planted one (rotates)');
    is($r->{headers}{'x-login-signal'}, $sid,
       'django: nginx sees $upstream_cookie_sessionid');
    isnt($c->cookie('csrftoken'), $csrf_before, 'django: csrftoken rotates');
    is($c->signed_in, 'alice', 'django: the admin greets alice');

    my $planted = $dj->client;
    $planted->cookie(sessionid => 'planted0planted0planted0planted0');
    is($planted->signed_in, undef, 'django: the planted id gets nothing');
    my $only = $dj->client;
    $only->cookie(sessionid => $sid);
    is($only->signed_in, 'alice', 'django: sessionid alone is the credential');

    # logging in again as the same user keeps the key
    $r = $c->login('alice');
    is($r->{status}, 302, 'django: a signed-in alice logs in again');
    my @again = set_cookies($r, 'sessionid');
    is(scalar @again, 1, 'django: the answer sets sessionid');
    like($again[0], qr/^sessionid=\Q$sid\E;/,
         'django: to the value the client had (no rotation then)');

    # another user: a new key, the old one is flushed
    $r = $c->login('пётр');
    is($r->{status}, 302, 'django: alice\'s client logs in as пётр');
    isnt($c->cookie('sessionid'), $sid, 'django: a new sessionid');
    is($c->signed_in, $bytes->('пётр'), 'django: the admin greets пётр');
    is($only->signed_in, undef, 'django: alice\'s old session is gone');
}

# spellings: what signs into which account
for my $case (
    [ ' alice ', 'alice' ], [ "\talice\n", 'alice' ],
    [ 'ａｌｉｃｅ', 'alice' ],                   # NFKC
    [ 'josé', 'josé' ], [ "jose\x{301}", 'josé', 'josé' ],
    [ 'ALICE', undef, 'alice' ], [ 'Пётр', undef, 'пётр' ],
    [ 'jose', undef, 'josé' ], [ 'alice.', undef, 'alice' ])
{
    my ($typed, $account, $owner) = @$case;
    $owner //= $account;
    my $c = $dj->client;
    my $r = $c->login($typed, password => $dj->password($owner));
    my $name = "django: '" . shown($typed) . "'";
    if (defined $account) {
        is($r->{status}, 302, "$name passes");
        is($c->signed_in, $bytes->($account), "$name is $account");
    } else {
        is($r->{status}, 200, "$name fails (case-sensitive / kept apart)");
        is($c->signed_in, undef, "$name signs nothing in");
    }
}

# other doors: the credentials posted anywhere else sign nothing in
for my $path ('/admin/', '/admin/auth/user/', '/admin/logout/',
              '/admin/password_change/', '/admin/login') {
    my $c = $dj->client;
    $c->get('/admin/login/');
    my $r = $c->post($path, form => {
        csrfmiddlewaretoken => $c->cookie('csrftoken'),
        username => 'alice', password => $dj->password('alice') });
    ok(!set_cookies($r, 'sessionid') && !defined $c->signed_in,
       "django: a login POST to $path signs nothing in");
}
{
    my $c = $dj->client;
    $c->get('/admin/login/');
    my $r = $c->post('/admin/%6Cogin/', form => {
        csrfmiddlewaretoken => $c->cookie('csrftoken'),
        username => 'alice', password => $dj->password('alice') });
    is($c->signed_in, 'alice',
       'django: /admin/%6Cogin/ is the login view (the path is decoded)');
}

# ==== DokuWiki ==========================================================

{
    my $c = $dw->client(base => $dw_base);
    my $r = $c->get('/doku.php?id=start');
    like($r->{content}, qr/Permission Denied/,
         'dokuwiki: a stranger is denied');
    unlike($r->{content}, qr/secret-wiki-marker/, 'dokuwiki: and sees no page');
    like((set_cookies($r, $DW))[0] // '', qr/^\Q$DW\E=deleted;.*Max-Age=0/,
         'dokuwiki: every anonymous answer deletes the auth cookie');
    is($r->{headers}{'x-login-signal'}, '0', 'dokuwiki: so the signal is 0');
    my $session = $c->cookie('DokuWiki');
    # PHP's session ids: 26 of [0-9a-v] by default up to 8.3, 32 hex
    # digits from 8.4 on; 22 to 256 of [0-9a-zA-Z,-] as configured
    like($session, qr/^[0-9a-zA-Z,-]{22,256}$/,
         'dokuwiki: the PHP session begins');

    $r = $c->login('alice', password => 'wrong');
    is($r->{status}, 403, 'dokuwiki: a wrong password: 403');
    like($r->{content}, qr/username or password was wrong/,
         'dokuwiki: with the app\'s own error');
    is($r->{headers}{'x-login-signal'}, '0', 'dokuwiki: no signal');
    is($c->signed_in, undef, 'dokuwiki: signed out');

    $r = $c->login('alice');
    is($r->{status}, 302, 'dokuwiki: the right password: 302');
    is(TwofaTest::Client::location($r), '/doku.php?id=start',
       'dokuwiki: back to the page');
    is($r->{headers}{'x-login-signal'}, '1', 'dokuwiki: nginx sees the signal');
    ok(!set_cookies($r, 'DokuWiki'),
       'dokuwiki: the session id is not renewed at login');
    is($c->cookie('DokuWiki'), $session, 'dokuwiki: the client keeps its own');
    my $auth = $c->cookie($DW);
    my ($who) = split /%7C/, $auth;
    $who =~ s/%3D/=/g;
    is(decode_base64($who), 'alice', 'dokuwiki: the auth cookie names alice');
    is($c->signed_in, 'alice', 'dokuwiki: alice sees the page');

    my $session_only = $dw->client(base => $dw_base);
    $session_only->cookie(DokuWiki => $session);
    is($session_only->signed_in, undef,
       'dokuwiki: the signed-in session alone gets nothing');
    my $auth_only = $dw->client(base => $dw_base);
    $auth_only->cookie($DW => $auth);
    is($auth_only->signed_in, undef,
       'dokuwiki: the auth cookie alone gets nothing (tied to the session)');
    is($c->signed_in, 'alice', 'dokuwiki: both together still do');

    # the auth cookie's key includes the session id: a login in another
    # session gets another auth cookie, whatever the DokuWiki
    my $other = $dw->client(base => $dw_base);
    $r = $other->login('alice');
    is($r->{status}, 302, 'dokuwiki: alice logs in in another session');
    isnt($other->cookie($DW), $auth,
         'dokuwiki: another session, another auth cookie');

    # a login again in the same session: a new auth cookie only where the
    # encryption's random IV counts (see TwofaApps.pm's notes): up to
    # DokuWiki 2023-04-04 (bookworm); from 2024-02-06 (phpseclib 3:
    # trixie, sid) the cookie is a function of the session and the
    # password, so the same one comes back
    my $again = $dw->client(base => $dw_base);
    $again->cookie(DokuWiki => $session);
    $r = $again->login('alice');
    is($r->{status}, 302, 'dokuwiki: alice logs in again in her session');
    if ($dw->auth_cookie_random) {
        isnt($again->cookie($DW), $auth,
             'dokuwiki: each login, a new auth cookie (random IV; '
             . $dw->version . ')');
    } else {
        is($again->cookie($DW), $auth,
           'dokuwiki: the same session, the same auth cookie (no rotation; '
           . $dw->version . ')');
    }
    is($again->signed_in, 'alice', 'dokuwiki: and it signs alice in');
}
{
    # a session id the client made up is kept and signed in
    my $c = $dw->client(base => $dw_base);
    $c->cookie(DokuWiki => 'planted0planted0planted0');
    $c->login('alice');
    is($c->cookie('DokuWiki'), 'planted0planted0planted0',
       'dokuwiki: a planted session id survives the login');
    is($c->signed_in, 'alice', 'dokuwiki: and is the signed-in session');

    # "remember me": the auth cookie alone signs in
    my $sticky = $dw->client(base => $dw_base);
    $sticky->get('/doku.php?id=start&do=login');
    $sticky->post('/doku.php', form => { id => 'start', do => 'login',
        u => 'alice', p => $dw->password('alice'), r => 1 });
    my $bare = $dw->client(base => $dw_base);
    $bare->cookie($DW => $sticky->cookie($DW));
    is($bare->signed_in, 'alice',
       'dokuwiki: with remember-me the auth cookie alone signs in');
}

for my $case (
    [ 'ALICE', 'alice' ], [ ' alice ', 'alice' ], [ 'alice.', 'alice' ],
    [ '_Alice:', 'alice' ], [ 'пётр', 'пётр' ], [ 'ПЁТР', 'пётр' ],
    [ ' Пётр ', 'пётр' ], [ 'josé', 'jose' ], [ 'JOSÉ', 'jose' ],
    [ 'jose', 'jose' ], [ "jose\x{301}", 'jose' ],
    [ 'ＡＬＩＣＥ', undef, 'alice' ], [ 'петр', undef, 'пётр' ])
{
    my ($typed, $account, $owner) = @$case;
    $owner //= { jose => 'josé' }->{$account} // $account;
    my $c = $dw->client(base => $dw_base);
    my $r = $c->login($typed, password => $dw->password($owner));
    my $name = "dokuwiki: '" . shown($typed) . "'";
    if (defined $account) {
        is($r->{status}, 302, "$name passes");
        is($c->signed_in, $bytes->($account), "$name is $account");
    } else {
        is($r->{status}, 403, "$name fails");
        is($c->signed_in, undef, "$name signs nothing in");
    }
}

# other doors: u and p anywhere sign in, and so does HTTP Basic auth
my %cred = (u => 'alice', p => $dw->password('alice'));
for my $door (
    [ GET => '/doku.php?id=start&u=alice&p=pw-alice' ],
    [ POST => '/doku.php' ], [ POST => '/doku.php?do=search&q=x' ],
    [ POST => '/feed.php' ], [ POST => '/lib/exe/ajax.php' ],
    [ POST => '/lib/exe/detail.php' ], [ POST => '/lib/exe/xmlrpc.php' ],
    [ BASIC => '/lib/exe/fetch.php' ])
{
    my ($how, $path) = @$door;
    my $c = $dw->client(base => $dw_base);
    my $r = $how eq 'GET' ? $c->get($path)
          : $how eq 'POST' ? $c->post($path, form => \%cred)
          : $c->get($path, headers => { Authorization => 'Basic '
                . encode_base64("alice:$cred{p}", '') });
    is($r->{headers}{'x-login-signal'}, '1', "dokuwiki: $how $path: signal");
    is($c->signed_in, 'alice', "dokuwiki: $how $path signs alice in");
}
{
    my $c = $dw->client(base => $dw_base);
    $c->post('/lib/exe/css.php', form => \%cred);
    is($c->signed_in, undef, 'dokuwiki: css.php (no session) is no door');
}

ok($t->running('django') && $t->running('php-fpm'),
   'gunicorn and php-fpm still run');
unlike($t->read_file('php-errors.log'), qr/PHP (Fatal|Warning)/,
       'php: no errors or warnings logged');

done_testing;
