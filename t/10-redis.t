#!/usr/bin/perl
# Redis on nginx's event loop: the admin API round trips (checked with
# redis-cli), tokens and bad input, requirepass, unix sockets, a Redis that
# sleeps longer than the timeout (503 at the timeout, and the worker keeps
# serving), a Redis killed and restarted (errors, then recovery without a
# reload), clients that go away mid-command, reload under load.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use IO::Socket::INET;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep time);
use TwofaTest;

my $json = JSON::PP->new;
my $loc = \&TwofaTest::Client::location;

# ---- the admin API -------------------------------------------------------

{
    my $t = TwofaTest->new;
    $t->start_redis->start_app->start_nginx;
    my $c = $t->client;
    my %auth = (Authorization => 'Bearer ' . $t->admin_token);

    my $r = $c->request('PUT', '/twofa-admin/orgs/acme',
                        body => '{"require": true}', headers => \%auth);
    is($r->{status}, 200, 'PUT org: 200');
    my $j = $json->decode($r->{content});
    is($j->{require}, JSON::PP::true, 'require: true');
    is($t->redis('HGET', 'twofa:org:acme', 'require'), '1', 'redis-cli sees require 1');
    my $updated = $t->redis('HGET', 'twofa:org:acme', 'updated');
    ok(abs($updated - time) < 5, 'and when it changed');
    is($j->{updated}, $updated, 'the API says the same time');

    $r = $c->get('/twofa-admin/orgs/acme', headers => \%auth);
    is_deeply($json->decode($r->{content}),
              { org => 'acme', require => JSON::PP::true, updated => 0 + $updated },
              'GET org');

    $r = $c->request('PUT', '/twofa-admin/orgs/acme',
                     body => " {\n \"require\" : false } ", headers => \%auth);
    is($r->{status}, 200, 'PUT require false');
    is($t->redis('HGET', 'twofa:org:acme', 'require'), '0', 'redis-cli sees 0');

    $r = $c->get('/twofa-admin/orgs/never-set', headers => \%auth);
    is($json->decode($r->{content})->{require}, JSON::PP::false,
       'an org never set requires nothing');

    # a user through the flow, then seen and reset by the API
    $t->redis('HSET', 'twofa:org:acme', 'require', '1');
    my $u = $t->client;
    my $e = $u->enroll('uma', org => 'acme');
    $r = $c->get('/twofa-admin/orgs/acme/users/uma', headers => \%auth);
    $j = $json->decode($r->{content});
    is($j->{enrolled}, JSON::PP::true, 'GET user: enrolled');
    ok(abs($j->{enrolled_at} - time) < 30, 'since now');
    is($j->{recovery_left}, 10, 'ten recovery codes');
    is($j->{locked}, JSON::PP::false, 'not locked');
    unlike($r->{content}, qr/secret|recovery"/, 'never a secret or a hash');

    $t->redis('SET', 'twofa:fail:acme:uma', '9', 'EX', '60');
    $j = $json->decode($c->get('/twofa-admin/orgs/acme/users/uma', headers => \%auth)->{content});
    is($j->{locked}, JSON::PP::true, 'locked after failures');
    ok($j->{locked_for} > 50 && $j->{locked_for} <= 60, 'for the rest of the window');

    $r = $c->request('DELETE', '/twofa-admin/orgs/acme/users/uma/totp', headers => \%auth);
    is($r->{status}, 200, 'DELETE totp');
    is($json->decode($r->{content})->{existed}, JSON::PP::true, 'it existed');
    is($t->redis('EXISTS', 'twofa:user:acme:uma', 'twofa:fail:acme:uma'), '0',
       'redis-cli: the user and the failures are gone');
    $r = $u->login('uma', org => 'acme');
    is($loc->($r), '/2fa/enroll', 'uma re-enrolls at the next login');

    like($t->error_log, qr/twofa audit: org require on org="acme" by=admin-token client=127\.0\.0\.1/,
         'audit line for the policy change');
    like($t->error_log, qr/twofa audit: user reset org="acme" user="uma" by=admin-token/,
         'audit line for the reset');

    # refused requests
    $r = $c->request('PUT', '/twofa-admin/orgs/acme', body => '{"require": true}');
    is($r->{status}, 401, 'no token: 401');
    is($r->{headers}{'www-authenticate'}, 'Bearer', 'WWW-Authenticate: Bearer');
    $r = $c->request('PUT', '/twofa-admin/orgs/acme', body => '{"require": true}',
                     headers => { Authorization => 'Bearer wrong' });
    is($r->{status}, 401, 'wrong token: 401');
    $r = $c->request('PUT', '/twofa-admin/orgs/acme', body => '{"require": true}',
                     headers => { Authorization => 'Bearer ' . $t->admin_token . 'x' });
    is($r->{status}, 401, 'a longer token: 401');
    is($t->redis('HGET', 'twofa:org:acme', 'require'), '1', 'nothing changed');

    my @bad = (
        ['{"require": yes}', qr/invalid JSON: invalid token/],
        ['{"require": "yes"}', qr/"require\\" must be true or false/],
        ['{"require": true, "extra": 1}', qr/unknown field \\"extra\\"/],
        ['{"require": true, "require": false}', qr/invalid JSON: duplicate object key/],
        ['{}', qr/"require\\" is missing/],
        ['[true]', qr/must be a JSON object/],
        ['{"require": true} x', qr/invalid JSON: end of file expected/],
        ['', qr/must be a JSON object/],
    );
    for my $b (@bad) {
        $r = $c->request('PUT', '/twofa-admin/orgs/acme', body => $b->[0], headers => \%auth);
        is($r->{status}, 400, "bad JSON '$b->[0]': 400");
        like($r->{content}, $b->[1], 'with the reason');
    }

    $r = $c->get('/twofa-admin/orgs/a%01b', headers => \%auth);
    is($r->{status}, 400, 'bad org name (a control character): 400');
    like($r->{content}, qr/"error":"bad_request"/, 'bad_request');
    $r = $c->get('/twofa-admin/orgs/a:b', headers => \%auth);
    is($r->{status}, 200, 'an org with ":" is an org like any other');
    like($r->{content}, qr/"org":"a:b"/, '... named in the answer');
    $r = $c->get('/twofa-admin/orgs/acme/users/' . ('x' x 200), headers => \%auth);
    is($r->{status}, 400, 'user name too long: 400');
    $r = $c->get('/twofa-admin/orgs/acme/nothing', headers => \%auth);
    is($r->{status}, 404, 'unknown resource: 404');
    $r = $c->request('DELETE', '/twofa-admin/orgs/acme', headers => \%auth);
    is($r->{status}, 405, 'wrong method: 405');
    is($r->{headers}{allow}, 'GET, HEAD, PUT', 'with Allow');

    # every resource of the route table: its methods, and paths beside it
    for my $case (['GET', 'init', 'POST'], ['POST', 'audit', 'GET, HEAD'],
                  ['PUT', 'orgs/acme/users/bob', 'GET, HEAD'],
                  ['GET', 'orgs/acme/users/bob/totp', 'DELETE'])
    {
        my ($method, $path, $allow) = @$case;
        $r = $c->request($method, "/twofa-admin/$path", headers => \%auth);
        is($r->{status}, 405, "$method $path: 405");
        is($r->{headers}{allow}, $allow, "... Allow: $allow");
    }
    for my $path ('', 'orgs', 'orgs/acme/users', 'init/x', 'audit/x',
                  'orgs/acme/users/bob/otp', 'orgs/acme/users/bob/totp/x',
                  'orgs/acme/members/bob', 'ORGS/acme')
    {
        $r = $c->get("/twofa-admin/$path", headers => \%auth);
        is($r->{status}, 404, "GET /$path: 404");
    }

    $t->stop('redis');
    $r = $c->get('/twofa-admin/orgs/acme', headers => \%auth);
    is($r->{status}, 503, 'Redis down: 503');
    like($r->{content}, qr/"error":"unavailable"/, 'unavailable');
    $t->memcheck_ok;
}

# ---- requirepass, and a unix socket --------------------------------------

{
    my $t = TwofaTest->new;
    $t->start_redis(password => 'hunter2-hunter2', unix => 1, init => 0)
      ->start_app;
    my $d = $t->dir;
    $t->write_file('redis-password', "hunter2-hunter2\n", 0600);
    $t->write_file('wrong-password', "nope\n", 0600);

    $t->start_nginx(twofa => <<"END");
    twofa_redis unix:$d/redis.sock db=5 password_file=$d/redis-password;
    twofa_key_file $d/key;
END

    $t->redis('-n', '5', 'HSET', 'twofa:deployment', 'created', '1');
    $t->redis('-n', '5', 'HSET', 'twofa:org:acme', 'require', '1');
    my $c = $t->client;
    my $r = $c->login('pat', org => 'acme');
    is($loc->($r), '/2fa/enroll', 'unix socket with AUTH and db=5: the login is decided');
    ok($t->redis('-n', '5', 'EXISTS', 'twofa:hold:' . $c->cookie('twofa_hold')),
       'and the hold is in database 5 of that Redis');
    is($t->redis('-n', '0', 'DBSIZE'), '0', 'nothing in database 0');
    $t->stop('nginx', 'QUIT');

    $t->start_nginx(twofa => <<"END");
    twofa_redis 127.0.0.1:${\ $t->redis_port} password_file=$d/wrong-password;
    twofa_key_file $d/key;
END
    $r = $t->client->login('pat', org => 'acme');
    is($r->{status}, 503, 'a wrong password: fail closed');
    like($t->error_log, qr/twofa redis: AUTH on "127\.0\.0\.1:\d+" failed: WRONGPASS/,
         'and the log says AUTH failed');
    unlike($t->error_log, qr/hunter2|nope/, 'no password in the log');
    $t->memcheck_ok;
}

# ---- a Redis that sleeps: timeouts, and the worker never blocks ------------

{
    my $t = TwofaTest->new;
    $t->start_redis->start_app;
    $t->start_nginx(timeout => '500ms', workers => 1);
    $t->redis('HSET', 'twofa:org:acme', 'require', '1');

    my $pid = fork // die;
    if ($pid == 0) {
        open STDOUT, '>', '/dev/null';
        exec 'redis-cli', '-p', $t->redis_port, 'DEBUG', 'SLEEP', '3';
    }
    sleep 0.3;

    # the login waits on Redis; meanwhile the same worker serves others
    my $login = fork // die;
    if ($login == 0) {
        my $t0 = time;
        my $r = $t->client->login('sly', org => 'acme');
        printf STDERR "login: %d after %.2fs\n", $r->{status}, time - $t0;
        POSIX::_exit($r->{status} == 503 && time - $t0 < 2.5 ? 0 : 1);
    }

    sleep 0.1;
    my $t0 = time;
    my $fast = $t->client->get('/fast');
    my $took = time - $t0;
    is($fast->{status}, 200, 'another location answers while Redis sleeps');
    cmp_ok($took, '<', 0.4, sprintf('at once (%.3fs), the worker is not blocked', $took));

    waitpid $login, 0;
    is($? >> 8, 0, 'the login got 503 at about the timeout, not after the sleep');
    waitpid $pid, 0;

    # the command's timer and the connection's stall check share the
    # deadline: whichever fires first fails the login, and says so
    like($t->error_log, qr/twofa redis: (no answer from "127\.0\.0\.1:\d+" within 500ms|"127\.0\.0\.1:\d+" stalled: \d+ answers? due, nothing read for 500ms: closed)/,
         'the timeout is logged');

    # after the sleep, the late reply landed on a detached record; all is well
    sleep 0.5;
    my $c = $t->client;
    is($loc->($c->login('sly', org => 'acme')), '/2fa/enroll', 'and then Redis answers again');

    # a client that goes away while its command waits
    $pid = fork // die;
    if ($pid == 0) {
        open STDOUT, '>', '/dev/null';
        exec 'redis-cli', '-p', $t->redis_port, 'DEBUG', 'SLEEP', '1';
    }
    sleep 0.2;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->port) or die;
    print $s "POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
           . "Content-Length: 31\r\n\r\nuser=abe&password=pw-abe&org=ac";
    sleep 0.2;
    close $s;
    waitpid $pid, 0;
    sleep 0.3;
    is($t->client->get('/fast')->{status}, 200, 'a client gone mid-command harms nothing');
    unlike($t->error_log, qr/exited on signal|\[alert\]|\[crit\]/, 'no crash, no alert');
    $t->memcheck_ok;
}

# ---- Redis killed and restarted: errors, then recovery, without reload ------

{
    my $t = TwofaTest->new;
    $t->start_redis->start_app->start_nginx(workers => 2);
    $t->redis('HSET', 'twofa:org:acme', 'require', '1');
    my $c = $t->client;

    is($loc->($c->login('kim', org => 'acme')), '/2fa/enroll', 'works');
    $t->stop('redis', 'KILL');

    my @down = map { $c->login('kim', org => 'acme')->{status} } 1 .. 4;
    is_deeply(\@down, [503, 503, 503, 503], 'Redis gone: every login fails closed at once');

    $t->restart_redis;
    $t->redis('HSET', 'twofa:org:acme', 'require', '1');

    my $ok = 0;
    my $t0 = time;
    while (time - $t0 < 15) {
        my @s = map { $c->login('kim', org => 'acme')->{status} } 1 .. 4;
        if (!grep { $_ != 303 } @s) { $ok = 1; last }
        sleep 0.25;
    }
    ok($ok, sprintf('both workers reconnect by themselves (%.1fs)', time - $t0));
    like($t->error_log, qr/connected to "127\.0\.0\.1:\d+" again after \d+ attempts/,
         'the reconnect is logged');
    my $lost = () = $t->error_log =~ /connection to "127\.0\.0\.1:\d+" lost/g;
    # two connections per worker: commands, and the revocation feed
    cmp_ok($lost, '<=', 4, 'one "lost" line per connection, no storm of them');
    $t->memcheck_ok;
}

# ---- twofa_on_redis_error open ------------------------------------------

{
    my $t = TwofaTest->new;
    $t->start_redis->start_app;
    $t->start_nginx(http => '    twofa_on_redis_error open;');
    $t->stop('redis', 'KILL');
    my $c = $t->client;
    my $r = $c->login('opal', org => 'acme');
    is($r->{status}, 303, 'open: the login passes when Redis cannot decide');
    is($loc->($r), '/home', 'the app\'s response');
    ok($c->cookie('app_session'), 'with the app session');
    like($t->error_log, qr/\[warn\].*login of "opal" passed without a second factor \(twofa_on_redis_error open\)/,
         'and a warning in the log');
    $t->memcheck_ok;
}

# ---- reload under load ---------------------------------------------------

{
    my $t = TwofaTest->new;
    $t->start_redis->start_app->start_nginx(workers => 2);
    $t->redis('HSET', 'twofa:org:acme', 'require', '1');

    my @kids;
    for my $n (1 .. 4) {
        my $pid = fork // die;
        if ($pid == 0) {
            # a connection per request: a reused keep-alive connection that
            # an old worker closes as idle is a race of HTTP/1.1 itself
            # (clients retry idempotent requests); a reset here would mean
            # nginx dropped a request it had accepted
            my $c = $t->client(keep_alive => 0);
            my ($ok, $bad) = (0, 0);
            my $end = time + 4;
            while (time < $end) {
                my $r = $c->login("load$n", org => 'acme');
                if ($r->{status} == 303 && $loc->($r) eq '/2fa/enroll') { $ok++ }
                else { $bad++; print STDERR "bad: $r->{status} $r->{content}\n" }
            }
            print STDERR "client $n: $ok ok, $bad bad\n";
            POSIX::_exit($bad == 0 && $ok > 10 ? 0 : 1);
        }
        push @kids, $pid;
    }

    for (1 .. 3) {
        sleep 0.8;
        $t->reload_nginx;
    }

    my $fails = 0;
    for my $pid (@kids) { waitpid $pid, 0; $fails++ if $? }
    is($fails, 0, 'logins held correctly all through three reloads');

    sleep 1;
    my @workers = `pgrep -P $t->{procs}{nginx}`;
    is(scalar @workers, 2, 'the old workers are gone, two new ones serve');
    unlike($t->error_log, qr/\[alert\]|\[crit\]|exited on signal|open socket/,
           'no alerts, no leaked sockets');
    $t->memcheck_ok;
}

# ---- scripts go out as EVALSHA; SCRIPT FLUSH mid-load loses nothing -----

{
    my $t = TwofaTest->new;
    $t->start_redis->start_app->start_nginx(workers => 2);
    $t->redis('HSET', 'twofa:org:acme', 'require', '1');
    $t->redis('CONFIG', 'RESETSTAT');

    my @kids;
    for my $n (1 .. 3) {
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            my $c = $t->client;
            my ($ok, $bad) = (0, 0);
            my $end = time + 3;
            while (time < $end) {
                my $r = $c->login("flush$n", org => 'acme');
                if ($r->{status} == 303 && $loc->($r) eq '/2fa/enroll') { $ok++ }
                else { $bad++ }
            }
            POSIX::_exit($bad == 0 && $ok > 10 ? 0 : 1);
        }
        push @kids, $pid;
    }
    for (1 .. 5) {
        sleep 0.5;
        $t->redis('SCRIPT', 'FLUSH');
    }
    my $fails = 0;
    for my $pid (@kids) { waitpid $pid, 0; $fails++ if $? }
    is($fails, 0, 'every login decided while the scripts were flushed 5 times');

    my $stats = $t->redis('INFO', 'commandstats');
    my ($evalsha) = $stats =~ /cmdstat_evalsha:calls=(\d+)/;
    my ($eval) = $stats =~ /cmdstat_eval:calls=(\d+)/;
    ok(($evalsha // 0) > 30, "the scripts went out as EVALSHA (${\ ($evalsha // 0)})");
    ok(($eval // 0) >= 1 && ($eval // 0) <= 5 * 2 * 2 + 2,
       "and as EVAL only after a flush (${\ ($eval // 0)})");
    unlike($t->error_log, qr/NOSCRIPT|redis error/, 'no error reached a request');
    $t->memcheck_ok;
}

done_testing;
