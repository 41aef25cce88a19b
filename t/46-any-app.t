#!/usr/bin/perl
# Any app, unchanged: the identity comes from the login request's body
# ($twofa_form_user), the password step's result from the app's answer
# (twofa_login_success), and the app's session cookie must be new at a
# held login (twofa_app_cookie).  The app is t/lib/standin_app.py: it
# names nobody in a header; its modes rotate the session id at login, or
# sign in the id the client already had (session fixation), or delete it.

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

my $server = <<"END";
        location = /login {
            twofa_login on;
            twofa_user \$twofa_form_user;
            # several values: passed when one is non-empty and not 0
            twofa_login_success \$upstream_cookie_nothing_here \$standin_passed;
            proxy_pass http://127.0.0.1:$sp;
        }
        location = /probe/login {
            twofa_login on;
            twofa_user \$twofa_form_user;
            twofa_login_success \$standin_passed;
            # what the variable reads, for the tests (never in production:
            # it is the raw value, control characters and all)
            add_header X-Form-User "[\$twofa_form_user]" always;
            proxy_pass http://127.0.0.1:$sp/login;
        }
        location /m/ {
            twofa_login on;
            twofa_user \$twofa_form_user;
            twofa_login_success \$standin_passed;
            twofa_app_cookie sid;
            proxy_pass http://127.0.0.1:$sp;
        }
        location /relaxed/ {
            twofa_login on;
            twofa_user \$twofa_form_user;
            twofa_org relaxed;
            twofa_login_success \$standin_passed;
            twofa_app_cookie sid;
            proxy_pass http://127.0.0.1:$sp/;
        }
        location = /never/login {
            twofa_login on;
            twofa_user \$twofa_form_user;
            twofa_login_success 0 \$upstream_cookie_nothing_here;
            proxy_pass http://127.0.0.1:$sp/login;
        }
        location = /keep/login {
            twofa_login on;
            twofa_user \$twofa_form_user case=keep;
            twofa_login_success \$standin_passed;
            proxy_pass http://127.0.0.1:$sp/login;
        }
        location = /hdr/login {
            twofa_login on;
            twofa_user \$upstream_http_x_user;
            proxy_pass http://127.0.0.1:$sp/m/hdr/login;
        }
        location = /hdr-lower/login {
            twofa_login on;
            twofa_user \$upstream_http_x_user case=lower;
            proxy_pass http://127.0.0.1:$sp/m/hdr/login;
        }
        location /2fa/ { twofa_pages; }
        location / {
            proxy_pass http://127.0.0.1:$sp;
        }
END

# ---- nginx -t: what the configuration must say --------------------------

sub conf_with {
    my ($locations, %o) = @_;
    return $t->conf(http => $http, server => $locations, %o);
}

{
    my ($rc, $out) = $t->nginx_t(conf_with(<<"END"), 'no-success.conf');
        location = /login {
            twofa_login on;
            twofa_user \$twofa_form_user;
            proxy_pass http://127.0.0.1:$sp;
        }
END
    isnt($rc, 0, 'nginx -t: a form identity without twofa_login_success is refused');
    like($out, qr/twofa_user/, 'the error names twofa_user') or diag($out);
    like($out, qr/twofa_login_success/, 'and twofa_login_success') or diag($out);

    my $inherits = <<"END";
        location = /login {
            twofa_login on;
            twofa_user \$twofa_form_user;
            proxy_pass http://127.0.0.1:$sp;
        }
END
    ($rc, $out) = $t->nginx_t(conf_with($inherits, server_extra =>
        '        twofa_login_success $standin_passed;'), 'server-success.conf');
    is($rc, 0, 'nginx -t: twofa_login_success inherited from server{} will do')
        or diag($out);

    ($rc, $out) = $t->nginx_t(conf_with(<<"END"), 'bogus-case.conf');
        location = /login {
            twofa_login on;
            twofa_user \$upstream_http_x_user case=bogus;
            proxy_pass http://127.0.0.1:$sp;
        }
END
    isnt($rc, 0, 'nginx -t: twofa_user ... case=bogus is refused');
    like($out, qr/twofa_user/, 'the error names twofa_user') or diag($out);
    like($out, qr/case=bogus/, 'and case=bogus') or diag($out);

    for my $bad ('"sid;x"', 'sid=x') {
        ($rc, $out) = $t->nginx_t(conf_with(<<"END"), 'bad-cookie.conf');
        location = /login {
            twofa_login on;
            twofa_user \$twofa_form_user;
            twofa_login_success \$standin_passed;
            twofa_app_cookie $bad;
            proxy_pass http://127.0.0.1:$sp;
        }
END
        isnt($rc, 0, "nginx -t: twofa_app_cookie $bad is refused");
        like($out, qr/twofa_app_cookie/, 'the error names twofa_app_cookie')
            or diag($out);
    }
}

$t->start_nginx(http => $http, server => $server);
$t->redis('HSET', 'twofa:org:default', 'require', '1');

# ---- helpers -------------------------------------------------------------

# what the logs got since log_mark()
my $mark = 0;
sub log_mark {
    $mark = length $t->error_log;
    $t->access_mark;
}
sub log_new { substr($t->error_log, $mark) }
sub access_line { $t->access_line(@_) }

# the holds in Redis (their keys); the ones that are new since a list
sub holds {
    my $out = $t->redis('--scan', '--pattern', 'twofa:hold:*');
    return [ sort grep { length } split /\n/, $out ];
}
sub new_holds {
    my ($before) = @_;
    my %old = map { $_ => 1 } @$before;
    return [ grep { !$old{$_} } @{ holds() } ];
}

# a login the module must refuse: 502, nothing held, nothing of the app's
# answer (its session cookie, its body) reaches the client
sub refused {
    my ($r, $name, $before) = @_;
    is($r->{status}, 502, "$name: 502") or diag("$r->{status} $r->{content}");
    ok(!$set->($r, 'twofa_hold'), "$name: no hold cookie");
    ok(!$set->($r, 'sid'), "$name: the app's sid does not reach the client");
    unlike($r->{content} // '', qr/welcome/, "$name: nor the app's body");
    is_deeply(new_holds($before), [], "$name: nothing held in Redis");
}

# a fresh client, with the app's anonymous session, posts a login the
# module must refuse (refused() checks it); the client, for more checks
sub post_refused {
    my ($what, $type, $body, $query) = @_;
    my $c = TwofaStandin->client($t);
    $c->get('/login');
    my $before = holds();
    log_mark();
    my $r = $c->post_raw('/login' . ($query // ''), $type, $body);
    refused($r, $what, $before);
    return $c;
}

# every sid value the client was ever sent, on its own with the client's
# other cookies: none opens the app
sub no_app_session {
    my ($c, $name) = @_;
    my @sids = ($c->seen('sid'), '');
    my $kept = $c->cookie('sid');
    my @open;
    for my $sid (@sids) {
        length $sid ? $c->cookie(sid => $sid) : $c->forget('sid');
        my $r = $c->get('/home');
        push @open, "sid=$sid: $r->{status} $r->{content}"
            unless $r->{status} == 302 && $loc->($r) eq '/login';
    }
    defined $kept ? $c->cookie(sid => $kept) : $c->forget('sid');
    ok(!@open, "$name: no sid the client ever got opens the app ("
       . scalar(@sids) . ' tried)') or diag(join "\n", @open);
}

my $page = "<form>wrong password</form>\n";

# ---- a wrong password: the app's own answer -----------------------------

{
    my $c = TwofaStandin->client($t);
    $c->get('/login');
    my $before = holds();
    log_mark();
    my $r = $c->login_form('alice', password => 'nope');
    is($r->{status}, 200, 'wrong password: the app\'s 200');
    is($r->{content}, $page, 'wrong password: the app\'s page, unchanged');
    ok(!$set->($r, 'twofa_hold') && !$set->($r, 'twofa_session'),
       'wrong password: no cookie of the module');
    is_deeply(new_holds($before), [], 'wrong password: nothing held');
    like(access_line(qr{^POST /login HTTP/1\.1 200 }) // '', qr/result=/,
         'wrong password: logged');

    $r = $c->login_multipart('alice', password => 'nope');
    is($r->{content}, $page, 'wrong password (multipart): the app\'s page');
    $r = $c->login_json('alice', password => 'nope');
    is($r->{content}, $page, 'wrong password (JSON): the app\'s page');

    # $twofa_form_user, decoded, whatever the body's type
    my $read = sub { $_[0]{headers}{'x-form-user'} // 'no header' };
    for my $case (
        [ 'urlencoded', 'application/x-www-form-urlencoded',
          'password=nope&user=b%6Fb+x%2B' ],
        [ 'multipart', TwofaStandin::Client::multipart([
          password => 'nope', user => 'bob x+' ]) ],
        [ 'JSON', 'application/json',
          '{"password":"nope","user":"b\\u006fb x+"}' ])
    {
        my ($what, $type, $body) = @$case;
        $r = $c->post_raw('/probe/login', $type, $body);
        is($r->{content}, $page, "wrong password ($what): the app's page");
        is($read->($r), '[bob x+]', "\$twofa_form_user ($what): decoded");
    }
    $r = $c->post_raw('/probe/login', 'application/x-www-form-urlencoded',
                      'password=nope&username=bob&users=bob&xuser=bob');
    is($read->($r), '[]', '$twofa_form_user: empty when absent');

    # the password step failed: even a body the module cannot read passes
    log_mark();
    $r = $c->post_raw('/probe/login', 'application/x-www-form-urlencoded',
                      'user=alice&user=alice&password=nope');
    is($r->{status}, 200, 'wrong password, field twice: the app\'s 200');
    is($r->{content}, $page, 'wrong password, field twice: its page');
    is($read->($r), '[]', 'field twice: $twofa_form_user is empty');
    like(log_new(), qr/\[warn\].*twofa_form_user/,
         'field twice: a [warn] line names twofa_form_user');
    is_deeply(new_holds($before), [],
              'wrong password, field twice: nothing held');

    # decoded CR LF must not reach a header the variable is put in
    for my $case (
        [ 'urlencoded', 'application/x-www-form-urlencoded',
          'password=nope&user=a%0D%0AX-Injected:%20yes' ],
        [ 'JSON', 'application/json',
          '{"password":"nope","user":"a\\r\\nX-Injected: yes"}' ])
    {
        my ($what, $type, $body) = @$case;
        log_mark();
        $r = $c->post_raw('/probe/login', $type, $body);
        is($r->{headers}{'x-injected'}, undef,
           "CR LF in the field ($what): no header injected");
        is($read->($r), '[]', "CR LF in the field ($what): the variable is empty");
        like(log_new(), qr/\[warn\].*twofa_form_user.*control character/,
             "CR LF in the field ($what): a [warn] line says why");
    }
    $r = $c->post_raw('/probe/login', 'application/x-www-form-urlencoded',
                      'password=nope&user=%09bob%0A');
    is($read->($r), '[bob]', 'white space at the ends of the field is trimmed');
}

# ---- urlencoded: alice is held, enrolls, is released --------------------

my %alice;
{
    my $c = TwofaStandin->client($t);
    my $r = $c->get('/login');
    ok($c->cookie('sid'), 'the app gives an anonymous session first');
    my $before = holds();

    log_mark();
    $r = $c->login_form('alice');
    is($r->{status}, 303, 'urlencoded: alice is held');
    is($loc->($r), '/2fa/enroll', 'urlencoded: for enrollment');
    ok($set->($r, 'twofa_hold'), 'urlencoded: a hold cookie');
    ok(!$set->($r, 'sid'), 'urlencoded: the app\'s new sid is held back');
    is(scalar @{ new_holds($before) }, 1, 'urlencoded: one hold in Redis');
    like(access_line(qr{^POST /login HTTP/1\.1 303 user=alice }) // '',
         qr/org=default result=held/, 'urlencoded: $twofa_user is alice');

    no_app_session($c, 'held');

    my $e = TwofaStandin::enroll_held($c, before_continue => sub {
        no_app_session($c, 'enrolled, not yet continued') });
    is($e->{enrolled}{status}, 200, 'alice\'s first code is accepted');
    is(scalar @{ $e->{codes} }, 10, 'ten recovery codes are shown');
    ok(!$set->($e->{enrolled}, 'sid'), 'the recovery page sets no sid');

    $r = $e->{res};
    is($r->{status}, 302, 'continue: the app\'s own 302');
    is($loc->($r), '/home', 'continue: to the app\'s page');
    is($r->{content}, "welcome alice\n", 'continue: the app\'s body');
    my ($sid) = $set->($r, 'sid');
    like($sid // '', qr/^sid=[0-9a-f]{32};/, 'continue: the app\'s sid at last');
    is($c->get('/home')->{content}, "hello alice\n", 'the app knows alice');
    is($t->redis('HGET', 'twofa:user:default:alice', 'enabled'), '1',
       'alice\'s TOTP is on, under her canonical name');

    %alice = %$e;
}

# ---- the spellings the app merges meet one enrollment -------------------

{
    my $c = TwofaStandin->client($t);
    $c->get('/login');
    log_mark();
    my $r = $c->login_form(' ALICE ');
    is($r->{status}, 303, '" ALICE ": held');
    is($loc->($r), '/2fa/verify', '" ALICE ": asked for alice\'s code, '
       . 'not a new enrollment');
    like(access_line(qr{^POST /login HTTP/1\.1 303 user=alice }) // '',
         qr/result=held/, '" ALICE ": $twofa_user is alice');
    no_app_session($c, '" ALICE " held');

    $r = TwofaStandin::verify_held($c, $alice{secret});
    is($r->{status}, 302, '" ALICE ": the right code releases the app\'s 302');
    ok($set->($r, 'sid'), '" ALICE ": with the app\'s sid');
    is($c->get('/home')->{content}, "hello alice\n", '" ALICE " is alice');
}
for my $case ([ 'ALICE', 'login_multipart', 'multipart' ],
              [ "\tAlice\n", 'login_json', 'JSON' ],
              [ 'aLiCe', 'login_form', 'urlencoded' ]) {
    my ($typed, $how, $what) = @$case;
    (my $shown = $typed) =~ s/\t/\\t/g;
    $shown =~ s/\n/\\n/g;
    my $c = TwofaStandin->client($t);
    my $r = $c->$how($typed);
    is($loc->($r), '/2fa/verify',
       "'$shown' ($what): alice's enrollment, a code is asked");
}
is($t->redis('--scan', '--pattern', 'twofa:user:*'), 'twofa:user:default:alice',
   'one enrollment in Redis: alice\'s, under no other spelling');

# ---- multipart and JSON identify the user -------------------------------

for my $case (
    [ bob => 'login_multipart', {}, 'multipart' ],
    [ carol => 'login_json', {}, 'JSON' ],
    [ dan => 'login_json', { type => 'application/json; charset=utf-8' },
      'JSON; charset=utf-8' ],
    [ erin => 'login_json', { extra => { meta => { user => 'mallory' },
                                         remember => JSON::PP::true(),
                                         tries => 1 } },
      'JSON with a nested user and other members' ],
    )
{
    my ($user, $how, $o, $what) = @$case;
    my $c = TwofaStandin->client($t);
    $c->get('/login');
    log_mark();
    my $r = $c->$how($user, %$o);
    is($r->{status}, 303, "$what: $user is held");
    is($loc->($r), '/2fa/enroll', "$what: for enrollment");
    ok(!$set->($r, 'sid'), "$what: the sid is held back");
    like(access_line(qr{^POST /login HTTP/1\.1 303 user=\Q$user\E }) // '',
         qr/result=held/, "$what: \$twofa_user is $user");
}
{
    # a multipart login completes too
    my $c = TwofaStandin->client($t);
    $c->get('/login');
    my $r = $c->login_multipart('gus');
    is($loc->($r), '/2fa/enroll', 'multipart: gus is held');
    no_app_session($c, 'multipart held');
    my $e = TwofaStandin::enroll_held($c);
    is($e->{res}{status}, 302, 'multipart: released after enrollment');
    is($c->get('/home')->{content}, "hello gus\n", 'multipart: the app knows gus');
}
{
    my $c = TwofaStandin->client($t);
    my $r = $c->post_raw('/login', 'application/x-www-form-urlencoded; charset=UTF-8',
                         'user=hal&password=pw-hal');
    is($loc->($r), '/2fa/enroll', 'urlencoded; charset=UTF-8: held for hal');
}

# ---- bodies the module refuses to read ----------------------------------

my $big = 'a' x 102400;
my $REASON = qr/twice|more than once|duplicate|malformed|pars|invalid|charset
               |too (?:large|long|big)|size|object|content.type|encod
               |variant|unsupported/xi;
for my $case (
    [ 'urlencoded field twice', 'application/x-www-form-urlencoded',
      'user=mallory&user=alice&password=pw-alice' ],
    [ 'multipart field twice',
      TwofaStandin::Client::multipart([ user => 'mallory', user => 'alice',
                                        password => 'pw-alice' ]) ],
    [ 'JSON key twice', 'application/json',
      '{"user":"mallory","user":"alice","password":"pw-alice"}' ],
    [ 'malformed %XX', 'application/x-www-form-urlencoded',
      'user=al%ZZice&password=pw-al%25zzice' ],
    [ 'truncated %X', 'application/x-www-form-urlencoded',
      'password=pw-alice%252&user=alice%2' ],
    [ 'JSON array', 'application/json', '["alice","pw-alice"]',
      '?user=alice&password=pw-alice' ],
    [ 'JSON string', 'application/json', '"alice"',
      '?user=alice&password=pw-alice' ],
    [ 'JSON that does not parse', 'application/json',
      '{"user":"alice","password":"pw-alice"', '?user=alice&password=pw-alice' ],
    [ 'charset=iso-8859-1', 'application/x-www-form-urlencoded; charset=iso-8859-1',
      'user=alice&password=pw-alice' ],
    [ 'JSON charset=utf-16', 'application/json; charset=utf-16',
      '{"user":"alice","password":"pw-alice"}' ],
    [ 'urlencoded body sent as JSON', 'application/json',
      'user=alice&password=pw-alice', '?user=alice&password=pw-alice' ],
    [ 'urlencoded body sent as multipart', 'multipart/form-data; boundary=XyZzY',
      'user=alice&password=pw-alice', '?user=alice&password=pw-alice' ],
    [ 'a 100 KB user field', 'application/x-www-form-urlencoded',
      "user=$big&password=pw-$big" ])
{
    my ($what, $type, $body, $query) = @$case;
    my $c = post_refused($what, $type, $body, $query);
    my @warn = grep { /\[warn\].*twofa_form_user/ } split /\n/, log_new();
    ok(@warn, "$what: a [warn] line names twofa_form_user") or diag(log_new());
    like($warn[0] // '', $REASON, "$what: with a reason") if @warn;
    no_app_session($c, $what);
}

# the app took the login, but the module has no usable identity
for my $case (
    [ 'no user field in the body', 'application/x-www-form-urlencoded',
      'password=pw-alice', '?user=alice' ],
    [ 'an empty user field', 'application/x-www-form-urlencoded',
      'user=&password=pw-alice', '?user=alice' ],
    [ 'a JSON user that is a number', 'application/json',
      '{"user":7,"password":"pw-alice"}', '?user=alice' ],
    [ 'a text/plain body', 'text/plain', 'user=alice&password=pw-alice',
      '?user=alice&password=pw-alice' ],
    [ 'no body', undef, '', '?user=alice&password=pw-alice' ])
{
    my ($what, $type, $body, $query) = @$case;
    my $c = post_refused($what, $type, $body, $query);
    like(log_new(), qr/\[(warn|error|crit)\]/, "$what: an error-log line");
}

# identities are UTF-8 (issue 11): what the old ASCII rule refused is held
# like any other login, the hold naming it as typed
for my $typed ('al ice', 'ali:ce', 'a|b', 'a/b', 'a\\b', 'a"b', 'a*b', 'a?b',
               'a[b', 'a]b') {
    my $c = TwofaStandin->client($t);
    $c->get('/login');
    my $before = holds();
    my $r = $c->login_form($typed);
    is($r->{status}, 303, "identity '$typed': held");
    is($loc->($r), '/2fa/enroll', "identity '$typed': for enrollment");
    my ($hold) = @{ new_holds($before) };
    is($hold ? $t->redis('HGET', $hold, 'user') : '', $typed,
       "identity '$typed': the hold names it");
}

# control characters stay refused
for my $typed ("a\tb", "a\x01b", "a\x7fb") {
    (my $shown = $typed) =~ s/([\x00-\x1f\x7f])/sprintf '\\x%02x', ord $1/ge;
    my $c = TwofaStandin->client($t);
    $c->get('/login');
    my $before = holds();
    log_mark();
    my $r = $c->login_form($typed);
    refused($r, "unusable identity '$shown'", $before);
    like(log_new(), qr/\[(warn|error|crit)\]/,
         "unusable identity '$shown': an error-log line");
}

# ---- twofa_login_success: a signal that never says passed ---------------

{
    my $c = TwofaStandin->client($t);
    $c->get('/login');
    my $before = holds();
    my $r = $c->login_form('alice', path => '/never/login');
    is($r->{status}, 302, 'success signal "0" and "": the app\'s 302 passes');
    is($r->{content}, "welcome alice\n", 'with the app\'s body');
    ok($set->($r, 'sid'), 'and its sid');
    ok(!$set->($r, 'twofa_hold') && !$set->($r, 'twofa_session'),
       'unchanged: no cookie of the module');
    is_deeply(new_holds($before), [], 'nothing held');
}

# ---- case=keep: ALICE is not alice --------------------------------------

{
    my $c = TwofaStandin->client($t);
    log_mark();
    my $r = $c->login_form(' ALICE ', path => '/keep/login');
    is($loc->($r), '/2fa/enroll',
       'case=keep: " ALICE " is an identity of its own (enrollment)');
    like(access_line(qr{^POST /keep/login HTTP/1\.1 303 }) // '',
         qr/user=ALICE org/, 'case=keep: trimmed, case kept: ALICE');
}

# ---- the header style, unchanged ----------------------------------------

{
    my $c = TwofaStandin->client($t);
    log_mark();
    my $r = $c->login_form('Ivy', path => '/hdr/login');
    is($r->{status}, 303, 'header style: held');
    is($loc->($r), '/2fa/enroll', 'header style: for enrollment');
    like(access_line(qr{^POST /hdr/login HTTP/1\.1 303 }) // '',
         qr/user=Ivy org=default result=held/,
         'header style: the identity as the header says (case kept)');

    $r = $c->login_form('Ivy', path => '/hdr/login', password => 'nope');
    is($r->{status}, 200, 'header style, wrong password: the app\'s 200');
    is($r->{content}, $page, 'header style, wrong password: its page');

    log_mark();
    $r = $c->login_form('Jo', path => '/hdr-lower/login');
    is($loc->($r), '/2fa/enroll', 'header style, case=lower: held');
    like(access_line(qr{^POST /hdr-lower/login HTTP/1\.1 303 }) // '',
         qr/user=jo org/, 'header style, case=lower: jo');
}

# ---- twofa_app_cookie: the app must give a NEW session at a held login ---

for my $case (
    [ rotate  => 303, 'a fresh sid' ],
    [ delnew  => 303, 'a deletion, then a fresh sid (the last counts)' ],
    [ fix     => 502, 'no Set-Cookie (the sid the client had is signed in)' ],
    [ fixsame => 502, 'the sid the client had, set again' ],
    [ del     => 502, 'sid=; Max-Age=0 (a deletion)' ],
    [ expired => 502, 'a new value with an Expires in the past (a deletion)' ],
    [ newdel  => 502, 'a fresh sid, then a deletion (the last counts)' ])
{
    my ($mode, $want, $what) = @$case;
    my $c = TwofaStandin->client($t);
    $c->get("/m/$mode/login");
    ok($c->cookie('sid'), "app_cookie $mode: the client carries a sid");
    my $before = holds();
    log_mark();
    my $r = $c->login_form('kim', path => "/m/$mode/login");
    my $line = access_line(qr{^POST /m/$mode/login HTTP/1\.1 });

    if ($want == 303) {
        is($r->{status}, 303, "app_cookie $mode ($what): held");
        is($loc->($r), '/2fa/enroll', "app_cookie $mode: for enrollment");
        ok(!$set->($r, 'sid'), "app_cookie $mode: the new sid is held back");
        like($line // '', qr/result=held/, "app_cookie $mode: result=held");
        is(scalar @{ new_holds($before) }, 1, "app_cookie $mode: one hold");
        no_app_session($c, "app_cookie $mode held");
    } else {
        refused($r, "app_cookie $mode ($what)", $before);
        like($line // '', qr/ 502 .*result=unsafe/,
             "app_cookie $mode: \$twofa_result is unsafe") or diag($line);
        my @lines = grep { /\[(warn|error|crit|alert)\]/ && /\bsid\b/ }
                    split /\n/, log_new();
        ok(@lines, "app_cookie $mode: an error-log line names the cookie sid")
            or diag(log_new());
    }
}
{
    # the released login of a rotating app: its sid arrives, and works
    my $c = TwofaStandin->client($t);
    $c->get('/m/rotate/login');
    my $r = $c->login_form('lee', path => '/m/rotate/login');
    is($loc->($r), '/2fa/enroll', 'app_cookie rotate: lee is held');
    my $e = TwofaStandin::enroll_held($c);
    is($e->{res}{status}, 302, 'app_cookie rotate: released');
    ok($set->($e->{res}, 'sid'), 'app_cookie rotate: with the new sid');
    is($c->get('/home')->{content}, "hello lee\n", 'app_cookie rotate: it works');
}
{
    # no second factor needed (an org that does not require it, a user not
    # enrolled): a fixating app's answer passes as usual
    my $c = TwofaStandin->client($t);
    $c->get('/relaxed/m/fix/login');
    my $before = holds();
    log_mark();
    my $r = $c->login_form('max', path => '/relaxed/m/fix/login');
    is($r->{status}, 302, 'app_cookie fix, no 2FA needed: the app\'s 302 passes');
    is($r->{content}, "welcome max\n", 'with the app\'s body');
    ok(!$set->($r, 'twofa_hold'), 'no hold cookie');
    is_deeply(new_holds($before), [], 'nothing held');
    like(access_line(qr{^POST /relaxed/m/fix/login HTTP/1\.1 }) // '',
         qr/ 302 .*result=passed/, '$twofa_result is passed');
    is($c->get('/home')->{content}, "hello max\n", 'the app knows max');
}

# ---- never a crash --------------------------------------------------------

ok($t->running('nginx'), 'nginx still runs');
my $log = $t->error_log;
unlike($log, qr/\[alert\]|\[emerg\]/, 'no [alert] or [emerg] in the error log');
unlike($log, qr/signal/, 'no worker died on a signal');

$t->memcheck_ok;

done_testing;
