#!/usr/bin/perl
# The second factor in front of two real apps from Debian packages,
# unmodified (t/45-real-apps.t found how they behave): Django's admin
# (gunicorn) and DokuWiki (php-fpm).  The identity comes from the login
# form ($twofa_form_username, $twofa_form_u), the password step's result
# from the app's own cookie (twofa_login_success), and the app's session
# cookie must be new at a held login (twofa_app_cookie).

use strict;
use warnings;
use utf8;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;

# test names carry Unicode identities (use utf8 above)
binmode(Test::More->builder->$_, ':encoding(UTF-8)')
    for qw(output failure_output todo_output);
use MIME::Base64 ();
use Time::HiRes qw(sleep time);
use TwofaTest;
use TwofaApps;
use TwofaStandin;

my $t = TwofaTest->new;
$t->start_redis;
my $dw_port = TwofaTest::free_port();

my $dj = TwofaApps->django($t);
my $dw = TwofaApps->dokuwiki($t, port => $dw_port);
my $DW = $dw->auth_cookie;
my $dw_base = "http://127.0.0.1:$dw_port";

my $pages = "        location ^~ /2fa/ { twofa_pages; }\n";

$t->start_nginx(server => $pages . $dj->twofa_location(<<"END"));
            twofa_login on;
            twofa_org django;
            twofa_user \$twofa_form_$dj->{fields}{user};
            twofa_login_success ${\ $dj->login_success};
            twofa_app_cookie ${\ join ' ', $dj->session_cookies};
END
# DokuWiki: every PHP entry point logs in from u and p, so each is a
# login location; the success signal is its auth cookie, except for its
# periodic re-check of a signed-in browser's cookie (TwofaApps.pm,
# twofa_http; conf-examples/dokuwiki.conf has the same)
$t->start_nginx(name => 'nginx2', port => $dw_port, http => $dw->twofa_http,
                server => $pages . $dw->twofa_location(<<"END"));
            twofa_login on;
            twofa_org wiki;
            twofa_user \$twofa_form_$dw->{fields}{user};
            twofa_login_success \$dokuwiki_twofa_login;
            twofa_app_cookie $DW;
END

$t->redis('HSET', 'twofa:org:django', 'require', '1');
$t->redis('HSET', 'twofa:org:wiki', 'require', '1');

my $loc = \&TwofaTest::Client::location;
my $set = \&TwofaStandin::set_cookies;

sub log_mark { $t->access_mark }
sub access_line { $t->access_line(@_) }

# signed_in with every combination of the values of NAMES the client was
# ever sent (and none): nobody is signed in
sub no_session {
    my ($c, $name, @names) = @_;
    my %kept = map { $_ => $c->cookie($_) } @names;
    my @combos = ({});
    for my $n (@names) {
        @combos = map { my $k = $_; map { +{ %$k, $n => $_ } }
                        ($c->seen($n), undef) } @combos;
    }
    my @open;
    for my $combo (@combos) {
        for my $n (@names) {
            defined $combo->{$n} ? $c->cookie($n => $combo->{$n})
                                 : $c->forget($n);
        }
        my $who = $c->signed_in;
        push @open, join(' ', map { "$_=" . ($combo->{$_} // '-') } @names)
                    . " signs in $who" if defined $who;
    }
    for my $n (@names) {
        defined $kept{$n} ? $c->cookie($n => $kept{$n}) : $c->forget($n);
    }
    ok(!@open, "$name: no cookie the client ever got signs it in ("
       . scalar(@combos) . ' combinations)') or diag(join "\n", @open);
}

# ==== Django admin ======================================================

my %dj;
{
    my $c = $dj->client;
    my $r = $c->login('alice', password => 'wrong');
    is($r->{status}, 200, 'django: a wrong password: Django\'s 200');
    like($r->{content}, qr/Please enter the correct username and password/,
         'django: Django\'s own failure page');
    ok(!$set->($r, 'twofa_hold'), 'django: nothing held');

    log_mark();
    $r = $c->login('alice');
    is($r->{status}, 303, 'django: the right password is held');
    is($loc->($r), '/2fa/enroll', 'django: for enrollment');
    ok($set->($r, 'twofa_hold'), 'django: a hold cookie');
    ok(!$set->($r, 'sessionid'), 'django: Django\'s sessionid is held back');
    like(access_line(qr{^POST /admin/login/\S* HTTP/1\.1 303 }) // '',
         qr/user=alice org=django result=held/, 'django: held for alice');
    no_session($c, 'django: held', 'sessionid', 'csrftoken');

    my $e = TwofaStandin::enroll_held($c, before_continue => sub {
        no_session($c, 'django: enrolled, before continue',
                   'sessionid', 'csrftoken') });
    is($e->{enrolled}{status}, 200, 'django: the first code is accepted');
    like($e->{enrolled}{content}, qr/<ol[^>]*id="twofa-recovery"/,
         'django: the recovery codes are shown');
    is(scalar @{ $e->{codes} }, 10, 'django: ten of them');

    $r = $e->{res};
    is($r->{status}, 302, 'django: continue: Django\'s own 302');
    is($loc->($r), '/admin/', 'django: to the admin');
    ok($set->($r, 'sessionid'), 'django: with Django\'s sessionid');
    is($c->signed_in, 'alice', 'django: the admin index greets alice');
    %dj = %$e;

    # Django keeps the session id when a signed-in user logs in again as
    # herself (t/45-real-apps.t): not a new value, so the module refuses to
    # hold that login; the session she had is left as it was
    log_mark();
    $r = $c->login('alice');
    is($r->{status}, 502, 'django: alice logs in again, same sessionid: 502');
    like(access_line(qr{^POST /admin/login/\S* HTTP/1\.1 502 }) // '',
         qr/result=unsafe/, 'django: $twofa_result is unsafe');
    ok(!$set->($r, 'twofa_hold'), 'django: nothing held');
    is($c->signed_in, 'alice', 'django: her session is untouched');

    $r = $c->post('/admin/logout/',
                  form => { csrfmiddlewaretoken => $c->cookie('csrftoken') });
    is($c->signed_in, undef, 'django: alice logged out');

    $r = $c->login('alice');
    is($r->{status}, 303, 'django: the next login is held');
    is($loc->($r), '/2fa/verify', 'django: for a code');
    no_session($c, 'django: held for a code', 'sessionid', 'csrftoken');
    $r = TwofaStandin::verify_held($c, $e->{secret});
    is($r->{status}, 302, 'django: the right code: Django\'s 302');
    is($c->signed_in, 'alice', 'django: alice is back in the admin');
}
{
    # Django strips the user name: " alice " is alice, one enrollment
    my $c = $dj->client;
    log_mark();
    my $r = $c->login(' alice ', password => $dj->password('alice'));
    is($loc->($r), '/2fa/verify', 'django: " alice " is asked for alice\'s code');
    like(access_line(qr{^POST /admin/login/\S* HTTP/1\.1 303 }) // '',
         qr/user=alice org=django/, 'django: " alice " is alice');
    $r = TwofaStandin::verify_held($c, undef, code => $dj{codes}[0]);
    is($r->{status}, 302, 'django: a recovery code releases the login');
    is($c->signed_in, 'alice', 'django: " alice " signs in alice');

    # a spelling Django does not merge is no login at all
    $c = $dj->client;
    $r = $c->login('ALICE', password => $dj->password('alice'));
    is($r->{status}, 200, 'django: "ALICE" fails at Django (case-sensitive)');
    ok(!$set->($r, 'twofa_hold'), 'django: nothing held for it');
}
{
    # a Unicode user, end to end: held, enrolled, released, asked again
    my $logged = join '', map { sprintf '\\x%02X', ord }
                 split //, TwofaApps::utf8_bytes('пётр');
    my $c = $dj->client;
    log_mark();
    my $r = $c->login('пётр');
    is($r->{status}, 303, 'django: пётр is held');
    is($loc->($r), '/2fa/enroll', 'django: пётр enrolls');
    like(access_line(qr{^POST /admin/login/\S* HTTP/1\.1 303 }) // '',
         qr/user=\Q$logged\E org=django result=held/,
         'django: $twofa_user is пётр (nginx escapes its bytes in the log)');
    no_session($c, 'django: пётр held', 'sessionid', 'csrftoken');
    my $e = TwofaStandin::enroll_held($c);
    like($e->{page}, qr/\Q${\ TwofaApps::utf8_bytes('пётр')}\E/,
         'django: the enrollment page names пётр');
    is($e->{res}{status}, 302, 'django: пётр released');
    is($c->signed_in, TwofaApps::utf8_bytes('пётр'),
       'django: the admin greets пётр');

    my $again = $dj->client;
    $r = $again->login('пётр');
    is($loc->($r), '/2fa/verify', 'django: пётр\'s next login asks a code');
    $r = TwofaStandin::verify_held($again, undef, code => $e->{codes}[0]);
    is($r->{status}, 302, 'django: a recovery code of пётр releases it');
    is($again->signed_in, TwofaApps::utf8_bytes('пётр'),
       'django: пётр is in the admin');
}
is(join(' ', sort split /\n/,
        $t->redis('--scan', '--pattern', 'twofa:user:django:*')),
   join(' ', sort 'twofa:user:django:alice',
        'twofa:user:django:' . TwofaApps::utf8_bytes('пётр')),
   'django: two enrollments, alice\'s and пётр\'s');

# ==== Django with twofa_bind (conf-examples/django.conf) ================
#
# The same Django behind a third nginx whose server binds Django's
# sessionid to the edge's session: a sessionid got through another door
# reaches nothing, and a signed-in user who logs in again as herself
# (Django keeps her sessionid) is held like any other login.

my $bind_port = TwofaTest::free_port();
my $bind_base = "http://127.0.0.1:$bind_port";
$t->start_nginx(name => 'nginx3', port => $bind_port,
                server => <<"END" . $pages . $dj->twofa_location(<<"END2"));
        twofa_app_cookie ${\ join ' ', $dj->session_cookies};
        twofa_bind on;
END
            twofa_login on;
            twofa_org djbind;
            twofa_user \$twofa_form_$dj->{fields}{user};
            twofa_login_success ${\ $dj->login_success};
END2
$t->redis('HSET', 'twofa:org:djbind', 'require', '1');
{
    my $c = $dj->client(base => $bind_base);
    my $r = $c->login('alice');
    is($loc->($r), '/2fa/enroll', 'django, bound: alice is held to enroll');
    no_session($c, 'django, bound: held', 'sessionid', 'csrftoken');
    my $e = TwofaStandin::enroll_held($c);
    is($e->{res}{status}, 302, 'django, bound: released');
    ok($set->($e->{res}, 'twofa_session_bind'),
       'django, bound: with a bind cookie');
    is($c->signed_in, 'alice', 'django, bound: the admin greets alice');

    # another door: Django's own port, as a proxy that skips the edge or
    # a second login view would give
    my $door = $dj->client(base => 'http://' . $dj->upstream);
    $r = $door->login('alice');
    is($r->{status}, 302, 'django, bound: a login at Django itself passes');
    my $stolen = $door->cookie('sessionid');
    ok($stolen, 'django, bound: ... and gives a sessionid');
    my $thief = $dj->client(base => $bind_base);
    $thief->cookie(sessionid => $stolen);
    log_mark();
    is($thief->signed_in, undef,
       'django, bound: that sessionid reaches nothing through the edge');
    like(access_line(qr{^GET /admin/ HTTP/1\.1 }) // '', qr/result=unbound/,
         'django, bound: $twofa_result is unbound');
    is($door->signed_in, 'alice',
       'django, bound: (the session itself is valid at Django)');

    # alice, signed in, logs in again as herself: Django keeps her
    # sessionid, and the login is held (not refused as "unsafe")
    my $kept = $c->cookie('sessionid');
    log_mark();
    $r = $c->login('alice');
    is($r->{status}, 303, 'django, bound: alice logs in again: held');
    is($loc->($r), '/2fa/verify', 'django, bound: for a code');
    $r = TwofaStandin::verify_held($c, $e->{secret});
    is($r->{status}, 302, 'django, bound: the code releases it');
    is($c->cookie('sessionid'), $kept, 'django, bound: the same sessionid');
    is($c->signed_in, 'alice', 'django, bound: alice is in the admin');

    # Django's logout deletes sessionid: the edge's session ends with it
    $r = $c->post('/admin/logout/',
                  form => { csrfmiddlewaretoken => $c->cookie('csrftoken') });
    ok(!$c->cookie('twofa_session'),
       'django, bound: the logout ends the edge\'s session too');
    is($c->signed_in, undef, 'django, bound: alice is signed out');
    $r = $c->login('alice');
    is($loc->($r), '/2fa/verify', 'django, bound: the next login asks a code');
}

# ==== DokuWiki ==========================================================

my $live = sub { grep { !/^\Q$DW\E=(deleted)?;/ } $set->($_[0], $DW) };
my %dw;
{
    my $c = $dw->client(base => $dw_base);
    my $r = $c->login('alice', password => 'wrong');
    is($r->{status}, 403, 'dokuwiki: a wrong password: DokuWiki\'s 403');
    like($r->{content}, qr/username or password was wrong/,
         'dokuwiki: its own failure page');
    ok(!$set->($r, 'twofa_hold'), 'dokuwiki: nothing held');

    log_mark();
    $r = $c->login('alice');
    is($r->{status}, 303, 'dokuwiki: the right password is held');
    is($loc->($r), '/2fa/enroll', 'dokuwiki: for enrollment');
    ok(!$live->($r), 'dokuwiki: the auth cookie is held back');
    like(access_line(qr{^POST /doku\.php HTTP/1\.1 303 }) // '',
         qr/user=alice org=wiki result=held/, 'dokuwiki: held for alice');
    no_session($c, 'dokuwiki: held', 'DokuWiki', $DW);

    my $e = TwofaStandin::enroll_held($c, before_continue => sub {
        no_session($c, 'dokuwiki: enrolled, before continue',
                   'DokuWiki', $DW) });
    is($e->{enrolled}{status}, 200, 'dokuwiki: the first code is accepted');
    is(scalar @{ $e->{codes} }, 10, 'dokuwiki: ten recovery codes');
    $r = $e->{res};
    is($r->{status}, 302, 'dokuwiki: continue: DokuWiki\'s own 302');
    ok($live->($r), 'dokuwiki: with its auth cookie');
    is($c->signed_in, 'alice', 'dokuwiki: alice sees the page');
    %dw = %$e;
}
{
    # DokuWiki folds case: ALICE is alice, and meets alice's enrollment
    my $c = $dw->client(base => $dw_base);
    log_mark();
    my $r = $c->login('ALICE', password => $dw->password('alice'));
    is($r->{status}, 303, 'dokuwiki: "ALICE" is held');
    is($loc->($r), '/2fa/verify', 'dokuwiki: for alice\'s code');
    like(access_line(qr{^POST /doku\.php HTTP/1\.1 303 }) // '',
         qr/user=alice org=wiki/, 'dokuwiki: "ALICE" is alice');
    no_session($c, 'dokuwiki: "ALICE" held', 'DokuWiki', $DW);
    $r = TwofaStandin::verify_held($c, $dw{secret});
    is($r->{status}, 302, 'dokuwiki: the right code: DokuWiki\'s 302');
    is($c->signed_in, 'alice', 'dokuwiki: "ALICE" signs in alice');
}
{
    # a Unicode user: DokuWiki's пётр (its names fold case: "Пётр" too)
    my $logged = join '', map { sprintf '\\x%02X', ord }
                 split //, TwofaApps::utf8_bytes('пётр');
    my $c = $dw->client(base => $dw_base);
    log_mark();
    my $r = $c->login('Пётр', password => $dw->password('пётр'));
    is($r->{status}, 303, 'dokuwiki: "Пётр" is held');
    is($loc->($r), '/2fa/enroll', 'dokuwiki: for enrollment');
    like(access_line(qr{^POST /doku\.php HTTP/1\.1 303 }) // '',
         qr/user=\Q$logged\E org=wiki result=held/,
         'dokuwiki: $twofa_user is пётр (escaped in the access log)');
    no_session($c, 'dokuwiki: пётр held', 'DokuWiki', $DW);
    my $e = TwofaStandin::enroll_held($c);
    like($e->{page}, qr/\Q${\ TwofaApps::utf8_bytes('пётр')}\E/,
         'dokuwiki: the enrollment page names пётр');
    is($e->{res}{status}, 302, 'dokuwiki: пётр released');
    is($c->signed_in, TwofaApps::utf8_bytes('пётр'),
       'dokuwiki: пётр sees the page');
}
{
    # another door (u and p in the query string): no identity in the body,
    # the password passed: refused
    my $c = $dw->client(base => $dw_base);
    my $r = $c->get('/doku.php?id=start&u=alice&p=' . $dw->password('alice'));
    is($r->{status}, 502, 'dokuwiki: a login through the query string: 502');
    ok(!$live->($r), 'dokuwiki: no auth cookie reaches the client');
    is($c->signed_in, undef, 'dokuwiki: nobody is signed in');

    # the same with a (made-up) auth cookie: still a login
    $c = $dw->client(base => $dw_base);
    $c->cookie($DW => 'made-up');
    $r = $c->get('/doku.php?id=start&u=alice&p=' . $dw->password('alice'));
    is($r->{status}, 502, 'dokuwiki: the same with a made-up auth cookie: 502');
    ok(!$live->($r), 'dokuwiki: no auth cookie reaches the client');

    # HTTP Basic auth logs in too
    $c = $dw->client(base => $dw_base);
    $r = $c->get('/doku.php?id=start', headers => { Authorization => 'Basic '
        . MIME::Base64::encode_base64('alice:' . $dw->password('alice'), '') });
    is($r->{status}, 502, 'dokuwiki: a login by HTTP Basic auth: 502');
    ok(!$live->($r), 'dokuwiki: no auth cookie reaches the client');

    # another PHP entry point with a form body: held like the login form
    $c = $dw->client(base => $dw_base);
    $r = $c->post('/lib/exe/ajax.php', form => {
        u => 'alice', p => $dw->password('alice') });
    is($r->{status}, 303, 'dokuwiki: a login posted to ajax.php is held');
    is($loc->($r), '/2fa/verify', 'dokuwiki: for alice\'s code');
    ok(!$live->($r), 'dokuwiki: its auth cookie is held back');
}
{
    # "remember me": the auth cookie alone signs in; DokuWiki re-checks it
    # in each new session and sets it again.  A page view, not a login.
    my $c = $dw->client(base => $dw_base);
    my $form = $c->get('/doku.php?id=start&do=login');
    my $r = $c->post('/doku.php', form => {
        sectok => TwofaTest::field($form->{content}, 'sectok') // '',
        id => 'start', do => 'login', u => 'alice',
        p => $dw->password('alice'), r => 1 });
    is($loc->($r), '/2fa/verify', 'dokuwiki: remember me: held for a code');
    $r = TwofaStandin::verify_held($c, undef, code => $dw{codes}[0]);
    is($r->{status}, 302, 'dokuwiki: remember me: a recovery code releases it');
    my $sticky = $c->cookie($DW);
    ok(defined $sticky && $sticky ne 'deleted',
       'dokuwiki: remember me: the auth cookie arrives');

    my $b = $dw->client(base => $dw_base);
    $b->cookie($DW => $sticky);
    $r = $b->get('/doku.php?id=start');
    is($r->{status}, 200, 'dokuwiki: the auth cookie alone, a new session: 200');
    like($r->{content}, qr/secret-wiki-marker/, 'dokuwiki: the page, signed in');
    ok($live->($r), 'dokuwiki: DokuWiki re-checked and set its cookie again '
       . '(passed through: no login)');
}
is(join(' ', sort split /\n/,
        $t->redis('--scan', '--pattern', 'twofa:user:wiki:*')),
   join(' ', sort 'twofa:user:wiki:alice',
        'twofa:user:wiki:' . TwofaApps::utf8_bytes('пётр')),
   'dokuwiki: two enrollments, alice\'s and пётр\'s ("ALICE" met alice\'s)');

{
    # the maps tested here are the example's (its cookie name is port 443's)
    my $example = $t->read_file("$TwofaTest::ROOT/conf-examples/dokuwiki.conf");
    my ($re) = $example =~ /^\s*("~\^1:.*")\s*$/m;
    my ($ours) = $dw->twofa_http =~ /^\s*("~\^1:.*")\s*$/m;
    ok(defined $re && defined $ours && $re eq $ours,
       'dokuwiki: the re-check map is conf-examples/dokuwiki.conf\'s');
}

ok($t->running('nginx') && $t->running('nginx2') && $t->running('nginx3'),
   'the three nginx still run');
unlike($t->error_log, qr/\[alert\]|\[emerg\]|signal/,
       'no [alert] and no worker died on a signal');

done_testing;
