#!/usr/bin/perl
# twofa_bind: the app's session cookie bound to the module's session, so
# that holding the login is safe even for an app that never rotates its
# session id (t/lib/standin_app.py in "fix" mode signs in the id the
# client already had) and for logins through a door the operator did not
# put behind twofa_login.  Unbound app cookies are taken out of requests
# before they reach the app.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(sleep time);
use TwofaTest;
use TwofaStandin;

my $t = TwofaTest->new;
$t->start_redis;
my $sp = TwofaStandin->start($t);

my $loc = \&TwofaTest::Client::location;
my $set = \&TwofaStandin::set_cookies;

my $http = $TwofaStandin::PASSED_MAP;

# the app's session cookie is bound on every location of the server
my $server = <<"END";
        twofa_app_cookie sid;
        twofa_bind on;
        twofa_login_success \$standin_passed;

        location = /login {
            twofa_login on;
            twofa_user \$twofa_form_user;
            proxy_pass http://127.0.0.1:$sp/m/fix/login;
        }
        location = /rot/login {
            twofa_login on;
            twofa_user \$twofa_form_user;
            proxy_pass http://127.0.0.1:$sp/login;
        }
        location = /relaxed/login {
            twofa_login on;
            twofa_user \$twofa_form_user;
            twofa_org relaxed;
            proxy_pass http://127.0.0.1:$sp/login;
        }
        # a door into the app's login the operator did not hold
        location = /other/login {
            proxy_pass http://127.0.0.1:$sp/login;
        }
        location /2fa/ { twofa_pages; }
        location = /metrics { twofa_metrics; }
        location / {
            proxy_pass http://127.0.0.1:$sp;
        }
END

# ---- nginx -t --------------------------------------------------------------

{
    my $alone = <<"END";
        twofa_bind on;
        location / { proxy_pass http://127.0.0.1:$sp; }
END
    my ($rc, $out) = $t->nginx_t($t->conf(http => $http, server => $alone),
                                 'bind-alone.conf');
    isnt($rc, 0, 'nginx -t: twofa_bind without twofa_app_cookie is refused');
    like($out, qr/twofa_bind/, 'the error names twofa_bind') or diag($out);
    like($out, qr/twofa_app_cookie/, 'and twofa_app_cookie') or diag($out);
}

$t->start_nginx(http => $http, server => $server);
$t->redis('HSET', 'twofa:org:default', 'require', '1');

sub access_mark { $t->access_mark }
sub access_line { $t->access_line(@_) }

sub home { my ($c) = @_; my $r = $c->get('/home'); return $r }
sub signed_in_as {
    my ($r, $who) = @_;
    return $r->{status} == 200 && $r->{content} eq "hello $who\n";
}
sub signed_out {
    my ($r) = @_;
    return $r->{status} == 302 && $loc->($r) eq '/login';
}

# ---- an app that never rotates: the kept session id gets nothing -----------

my ($secret, $alice, @codes);
{
    my $c = TwofaStandin->client($t);
    $c->get('/login');
    my $sid = $c->cookie('sid');
    ok($sid, 'the app gives an anonymous session id first');

    my $r = $c->login_form('alice');
    is($r->{status}, 303, 'bound: a login of an app that keeps its session '
       . 'id is held (not refused as unsafe)');
    is($loc->($r), '/2fa/enroll', 'for enrollment');
    ok(!$set->($r, 'sid'), 'the app set no new session id');

    # the app has signed in the id the client holds; bound, it is nothing
    access_mark();
    ok(signed_out(home($c)), 'while held, the kept session id reaches '
       . 'nothing: the app sees a signed-out client');
    like(access_line(qr{^GET /home }) // '', qr/result=unbound/,
         '$twofa_result is unbound');

    my $e = TwofaStandin::enroll_held($c);
    is($e->{res}{status}, 302, 'enrolled and released: the app\'s 302');
    ok($set->($e->{res}, 'twofa_session'), 'with the module session');
    ok($set->($e->{res}, 'twofa_session_bind'), 'and its binding');
    is($c->cookie('sid'), $sid, 'the app\'s session id is still the old one');
    ok(signed_in_as(home($c), 'alice'),
       'bound to the session that passed the code, it works');
    ok(signed_in_as(home($c), 'alice'), 'again (the binding cached)');
    $secret = $e->{secret};
    @codes = @{ $e->{codes} };
    is(scalar @codes, 10, 'ten recovery codes');
    $alice = $c;
}

# ---- the password without the code: nothing, whatever is kept -----------

{
    my $c = TwofaStandin->client($t);
    $c->get('/login');
    my $r = $c->login_form('alice');
    is($r->{status}, 303, 'the password alone: held for a code');
    is($loc->($r), '/2fa/verify', 'at the code page');
    ok(signed_out(home($c)), 'the signed-in id kept by the thief: signed out');

    # every cookie anyone ever had, in one jar: alice's binding is for her
    # own session cookie and sid, not the thief's
    my $mixed = TwofaStandin->client($t);
    $mixed->cookie(sid => $c->cookie('sid'));
    $mixed->cookie(twofa_session => $alice->cookie('twofa_session'));
    $mixed->cookie(twofa_session_bind => $alice->cookie('twofa_session_bind'));
    ok(signed_out(home($mixed)), 'alice\'s module cookies do not bind the '
       . 'thief\'s session id');

    # a code for the thief's hold is what it takes
    $r = TwofaStandin::verify_held($c, $secret);
    is($r->{status}, 302, 'with the code, released');
    ok(signed_in_as(home($c), 'alice'), 'and then bound');
}

# ---- another door into the login ----------------------------------------

{
    my $c = TwofaStandin->client($t);
    my $r = $c->login_form('alice', path => '/other/login');
    is($r->{status}, 302, 'a login through a door not held: the app says yes');
    ok($set->($r, 'sid'), 'and sets its session id');
    access_mark();
    ok(signed_out(home($c)), 'that session reaches nothing');
    like(access_line(qr{^GET /home }) // '', qr/result=unbound/,
         'unbound, logged');

    # nor through the held login URL, without a login attempt
    $r = $c->get('/login');
    is($r->{status}, 200, 'the login page');
    isnt($c->cookie('sid'), undef, 'the app, seeing no session, makes one');
    like(access_line(qr{^GET /login }) // '', qr/result=unbound/,
         'the unbound id was taken out at the login URL too');
}

# ---- spellings of the cookie name an app may read as it ---------------------

{
    my $thief = TwofaStandin->client($t);
    $thief->login_form('alice', path => '/other/login');
    my $stolen = $thief->cookie('sid');
    ok($stolen, 'a session id signed in through the other door');

    my @variants = ('s%69d', 'SID', 'sid[x]', ' sid');
    for my $name (@variants) {
        my $r = TwofaStandin->client($t)->get('/home', headers => {
            Cookie => join('; ', "sid=" . $alice->cookie('sid'),
                           "twofa_session=" . $alice->cookie('twofa_session'),
                           "twofa_session_bind="
                           . $alice->cookie('twofa_session_bind'),
                           "$name=$stolen") });
        ok(signed_out($r), "a second app cookie spelled \"$name\" beside a "
           . 'bound one: both taken out')
            or diag("$r->{status} $r->{content}");
    }

    my $r = TwofaStandin->client($t)->get('/home', headers => {
        Cookie => join('; ', "sid=$stolen", "sid=" . $alice->cookie('sid'),
                       "twofa_session=" . $alice->cookie('twofa_session'),
                       "twofa_session_bind="
                       . $alice->cookie('twofa_session_bind')) });
    ok(signed_out($r), 'the app cookie twice: both taken out');
    $r = TwofaStandin->client($t)->get('/home', headers => {
        Cookie => join('; ', "sid=" . $alice->cookie('sid'),
                       "twofa_session=" . $alice->cookie('twofa_session'),
                       "twofa_session_bind="
                       . $alice->cookie('twofa_session_bind')) });
    ok(signed_in_as($r, 'alice'), 'the same cookies without the second app '
       . 'cookie: signed in (the test sends what it means to)');
}

# ---- an app that rotates: the new id is bound at release --------------------

{
    my $c = TwofaStandin->client($t);
    my $r = $c->login_form('alice', path => '/rot/login');
    is($r->{status}, 303, 'rotating app: held');
    my $old = $c->cookie('sid');
    # the TOTP steps of this minute are used: a recovery code
    $r = TwofaStandin::verify_held($c, $secret, code => shift @codes);
    is($r->{status}, 302, 'released');
    ok($set->($r, 'sid'), 'with the app\'s new session id');
    isnt($c->cookie('sid'), $old // '', 'which replaced the old one');
    ok(signed_in_as(home($c), 'alice'), 'bound to it');
}

# ---- no second factor needed: the login passes bound ---------------------

{
    my $c = TwofaStandin->client($t);
    my $r = $c->login_form('bob', path => '/relaxed/login');
    is($r->{status}, 302, 'an org without the requirement: passed');
    ok($set->($r, 'twofa_session_bind'), 'with a binding');
    ok(signed_in_as(home($c), 'bob'), 'which lets the app session through');

    # the app's logout (it deletes sid) ends the module's session too
    $r = $c->get('/logout');
    is($r->{status}, 302, 'the app\'s logout');
    ok((grep { /Max-Age=0/ } $set->($r, 'twofa_session')),
       'ends the module\'s session cookie');
    ok((grep { /Max-Age=0/ } $set->($r, 'twofa_session_bind')),
       'and its binding');
    is($c->cookie('twofa_session'), undef, 'the client holds no session');
    ok(signed_out(home($c)), 'signed out of the app');
}

# ---- step-up: a new module session keeps the binding -----------------------

{
    my $page = $alice->get('/2fa/verify');
    is($page->{status}, 200, 'a signed-in user\'s code page');
    my $r = $alice->post('/2fa/verify', form => {
        code => shift @codes,
        csrf => TwofaTest::field($page->{content}, 'csrf') });
    ok($set->($r, 'twofa_session'), 'step-up: a new session cookie');
    ok($set->($r, 'twofa_session_bind'), 'and the binding made again');
    ok(signed_in_as(home($alice), 'alice'), 'the app session still works');
}

# ---- a reset signs the user out of the app too ---------------------------

{
    my $out = `$TwofaTest::ADMIN --redis 127.0.0.1:@{[ $t->redis_port ]} user reset default alice 2>&1`;
    is($?, 0, 'twofa-admin user reset default alice') or diag($out);
    my $deadline = time + 3;
    my $r;
    do { $r = home($alice); sleep 0.1 } until signed_out($r) || time > $deadline;
    ok(signed_out($r), 'after an admin reset, the bound app session is out');
}

{
    my $unbound = () = $t->read_file('access.log') =~ /result=unbound/g;
    my $m = TwofaTest::Client->new(test => $t)->get('/metrics');
    my ($n) = $m->{content} =~ /^twofa_unbound_total (\d+)$/m;
    is($n, $unbound, "twofa_unbound_total counts the $unbound unbound "
       . 'requests of the access log');
}

unlike($t->error_log, qr/\[(alert|crit|emerg)\]|signal \d+/,
       'no alert or crash in the error log');

$t->memcheck_ok;

done_testing;
