#!/usr/bin/perl
# The attacks of the adversarial review, each reproduced against the real
# module: a pending secret seen by another login, concurrent guesses over
# many holds and two edges, the gate and the app's user, Redis error
# replies with fail-open, a flood of holds, other doors to the login,
# error_page inside the capture, a key rollout, late replies, resets that
# must revoke sessions on every edge, and a Redis that lost its data.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use Time::HiRes qw(sleep time);
use TwofaTest;

my $loc = \&TwofaTest::Client::location;
my $json = JSON::PP->new;

# ---- 1. a pending secret belongs to the hold that made it ----------------

{
    my $t = TwofaTest->new;
    $t->start_redis->start_app->start_nginx;
    $t->redis('HSET', 'twofa:org:acme', 'require', '1');

    my $thief = $t->client;
    is($loc->($thief->login('vic', org => 'acme')), '/2fa/enroll',
       'a password thief logs in as vic: held for enrollment');
    my $s1 = TwofaTest::secret_of($thief->get('/2fa/enroll')->{content});
    ok($s1, 'and sees a pending secret');
    is(TwofaTest::secret_of($thief->get('/2fa/enroll')->{content}), $s1,
       'a reload of the same hold shows the same secret');

    my $vic = $t->client;
    $vic->login('vic', org => 'acme');
    my $page = $vic->get('/2fa/enroll');
    my $s2 = TwofaTest::secret_of($page->{content});
    ok($s2 && $s2 ne $s1, 'vic\'s own login gets another secret');

    my $r = $vic->post('/2fa/enroll', form => {
        code => TwofaTest::totp($s1, -30),
        csrf => TwofaTest::field($page->{content}, 'csrf') });
    is($r->{status}, 401, 'a code of the thief\'s secret does not enroll vic');

    $r = $vic->post('/2fa/enroll', form => {
        code => TwofaTest::totp($s2, -30),
        csrf => TwofaTest::field($page->{content}, 'csrf') });
    is($r->{status}, 200, 'vic enrolls with the secret of his own hold');
    $vic->post('/2fa/continue', form => {
        csrf => TwofaTest::field($page->{content}, 'csrf') });

    my $later = $t->client;
    $later->login('vic', org => 'acme');
    my $csrf = TwofaTest::field($later->get('/2fa/verify')->{content}, 'csrf');
    $r = $later->post('/2fa/verify', form => {
        code => TwofaTest::totp($s1), csrf => $csrf });
    is($r->{status}, 401, 'the thief\'s secret opens nothing');
    $r = $later->post('/2fa/verify', form => {
        code => TwofaTest::totp($s2, 30), csrf => $csrf });
    is($r->{status}, 303, 'vic\'s own secret does');
    $t->memcheck_ok;
}

# ---- 2. concurrent guesses: at most the limit checked per window ---------

{
    my $t = TwofaTest->new;
    my $port2 = TwofaTest::free_port();
    $t->start_redis->start_app;
    my $http = "    twofa_lockout 3 window=60s;\n";
    $t->start_nginx(http => $http, timeout => '10s');
    $t->start_nginx(name => 'nginx2', port => $port2, http => $http,
                    timeout => '10s');
    $t->redis('HSET', 'twofa:org:acme', 'require', '1');

    my $e = $t->client->enroll('gus', org => 'acme', enroll_offset => -30);
    ok($e->{secret}, 'gus is enrolled');

    # the thief's logins: JSON gives each hold's CSRF token
    my @holds;
    for (1 .. 100) {
        my $c = $t->client;
        my $r = $c->login('gus', org => 'acme', json => 1);
        push @holds, [$c->cookie('twofa_hold'),
                      $json->decode($r->{content})->{csrf}];
    }
    my @live = grep { $t->redis('EXISTS', "twofa:hold:$_->[0]") } @holds;
    is(scalar @live, 5, 'a hundred logins leave five live holds (the cap)');
    is($t->redis('ZCARD', 'twofa:holds:acme:gus'), '5',
       'and the user\'s list of holds says five');
    ok(!$t->redis('EXISTS', "twofa:hold:$holds[0][0]"),
       'the oldest holds were dropped');
    is_deeply([map { $_->[0] } @live], [map { $_->[0] } @holds[95 .. 99]],
              'the five newest are the live ones');

    # 299 wrong guesses at once over both edges: one per login, as the
    # review did, then the rest over the live holds
    my %valid = map { TwofaTest::totp($e->{secret}, 30 * $_) => 1 } -1 .. 2;
    my $right = TwofaTest::totp($e->{secret}, 30);
    my $step_before = $t->redis('HGET', 'twofa:user:acme:gus', 'last_step');
    my $d = $t->dir;
    my $guess = sub {
        my ($i, $port, $hold, $csrf, $code) = @_;
        unless (defined $code) {
            do { $code = sprintf '%06d', int rand 1e6 } while $valid{$code};
        }
        return "url = \"http://127.0.0.1:$port/2fa/verify\"\n"
             . "header = \"Accept: application/json\"\n"
             . "cookie = \"twofa_hold=$hold\"\n"
             . "data = \"code=$code&csrf=$csrf\"\n"
             . "output = \"$d/guess-$i\"\n"
             . "write-out = \"%{http_code}\\n\"\n";
    };
    $t->write_file('guesses.curl', join "next\n", map {
        $guess->($_, $_ % 2 ? $port2 : $t->port,
                 @{ $_ < 100 ? $holds[$_] : $live[$_ % @live] })
    } 0 .. 298);
    my $curl = "curl -s --parallel --parallel-immediate --parallel-max 100";
    my @status = split /\n/, `$curl -K $d/guesses.curl 2>/dev/null`;
    is(scalar @status, 299, 'curl fired 299 guesses in parallel');
    my ($checked, $locked) = (0, 0);
    for my $i (0 .. 298) {
        my $body = $t->read_file("guess-$i");
        $checked++ if $body =~ /"invalid_code"/;
        $locked++ if $body =~ /"locked"/;
    }
    cmp_ok($checked, '<=', 3,
           "at most the limit (3) answered \"wrong code\" ($checked)");
    cmp_ok($locked, '>=', 3, "the others on live holds: locked ($locked)");
    is((grep { !/^(401|429)$/ } @status), 0, 'no guess got anything else');

    # The review's race, made certain: with Redis paused, ten wrong codes
    # and then the right one reach one edge, so every state read is
    # answered (no failure counted yet) before any code is accepted; each
    # code is checked, and only the atomic steps can stop the right one.
    $t->redis('DEL', 'twofa:fail:acme:gus');
    my @race;
    for (1 .. 5) {
        my $c = $t->client;
        my $r = $c->login('gus', org => 'acme', json => 1);
        push @race, [$c->cookie('twofa_hold'),
                     $json->decode($r->{content})->{csrf}];
    }
    $t->write_file('wrong.curl', join "next\n",
                   map { $guess->("w$_", $port2, @{ $race[$_ % 4] }) } 0 .. 9);
    $t->write_file('right.curl', $guess->('right', $port2, @{ $race[4] },
                                          $right));
    my $rport = $t->redis_port;
    my $queued = sub {      # bytes waiting in the paused Redis's sockets
        my $q = 0;
        $q += $_ for `ss -Htn sport = :$rport` =~ /^\S+\s+(\d+)/mg;
        return $q;
    };
    my $settle = sub {
        my ($above) = @_;
        my ($last, $since, $t0) = (-1, time, time);
        while (time - $t0 < 10) {
            my $q = $queued->();
            ($last, $since) = ($q, time) if $q != $last;
            return $q if $q > $above && time - $since > 0.4;
            sleep 0.05;
        }
        return $last;
    };
    kill 'STOP', $t->{procs}{redis};
    my $q0 = $queued->();
    system("$curl -K $d/wrong.curl > $d/wrong.status 2>/dev/null &");
    my $q1 = $settle->($q0);
    system("$curl -K $d/right.curl > $d/right.status 2>/dev/null &");
    my $q2 = $settle->($q1);
    kill 'CONT', $t->{procs}{redis};
    ok($q1 > $q0 && $q2 > $q1,
       "the state reads queued in order ($q0, $q1, $q2 bytes)");
    my $t0 = time;
    sleep 0.1 until ((() = $t->read_file('wrong.status') =~ /\n/g) == 10
                     && $t->read_file('right.status') =~ /\n/)
                    || time - $t0 > 15;
    like($t->read_file('guess-right'), qr/"error":"locked"/,
         'the right code, checked along with ten wrong ones: locked');
    is($t->redis('HGET', 'twofa:user:acme:gus', 'last_step'), $step_before,
       'and not accepted (its step is unused)');
    my @w = map { $t->read_file("guess-w$_") } 0 .. 9;
    cmp_ok(scalar(grep { /"invalid_code"/ } @w), '<=', 3,
           'of the ten wrong ones, at most the limit answered "wrong"');

    # the right code, now: locked too, on either edge
    my ($hold, $csrf) = @{ $race[4] };
    for my $port ($t->port, $port2) {
        my $c = $t->client;
        $c->cookie('twofa_hold', $hold);
        my $r = $c->post("http://127.0.0.1:$port/2fa/verify", json => 1,
                         form => { code => TwofaTest::totp($e->{secret}),
                                   csrf => $csrf });
        is($r->{status}, 429, "the right code is refused while locked ($port)");
    }
    $t->stop('nginx2', 'QUIT');
    $t->memcheck_ok;
}

# ---- 3. the gate and the variables name the session's user ---------------

{
    my $t = TwofaTest->new;
    $t->start_redis->start_app;
    my $app = $t->app_port;
    $t->start_nginx(server_extra => <<"END");
        location /gated-echo {
            twofa_gate;
            proxy_set_header X-Twofa-User \$twofa_user;
            proxy_set_header X-Twofa-Org \$twofa_org;
            proxy_set_header X-Twofa-Amr \$twofa_amr;
            proxy_pass http://127.0.0.1:$app/echo;
        }
        location /open-echo {
            proxy_set_header X-Twofa-User \$twofa_user;
            proxy_pass http://127.0.0.1:$app/echo;
        }
END
    $t->redis('HSET', 'twofa:org:acme', 'require', '1');
    my $c = $t->client;
    my $e = $c->enroll('bob', org => 'acme');
    is($e->{res}{status}, 303, 'bob passed the second factor');
    my $r = $c->get('/gated-echo');
    is($r->{status}, 200, 'the gate lets bob\'s session through');
    my $h = $json->decode($r->{content});
    is($h->{'X-Twofa-User'}, 'bob', '$twofa_user names the session\'s user');
    is($h->{'X-Twofa-Org'}, 'acme', '$twofa_org its org');
    is($h->{'X-Twofa-Amr'}, 'totp', '$twofa_amr how it was made');
    $h = $json->decode($c->get('/open-echo')->{content});
    is($h->{'X-Twofa-User'}, 'bob', 'on requests without the gate too');
    $h = $json->decode($t->client->get('/open-echo')->{content});
    ok(!$h->{'X-Twofa-User'}, 'no session, no user');
    $t->memcheck_ok;
}

# ---- 4. error replies fail closed; holds are capped; eviction warned -----

{
    my $t = TwofaTest->new;
    $t->start_redis->start_app;
    $t->redis('CONFIG', 'SET', 'maxmemory-policy', 'allkeys-lru');
    $t->start_nginx(http => "    twofa_on_redis_error open;\n");
    $t->redis('HSET', 'twofa:org:acme', 'require', '1');

    my $deadline = time + 5;
    sleep 0.1 until $t->error_log =~ /maxmemory-policy/ || time > $deadline;
    like($t->error_log,
         qr/\[warn\].*"127\.0\.0\.1:\d+" runs with maxmemory-policy "allkeys-lru".*noeviction/,
         'an evicting Redis is named in the error log at connect');
    $t->redis('CONFIG', 'SET', 'maxmemory-policy', 'noeviction');

    my $e = $t->client->enroll('ola', org => 'acme');
    ok($e->{secret}, 'ola is enrolled');

    # an error reply (here READONLY: the primary became a replica) is an
    # answer, and no answer to let anyone in
    $t->redis('REPLICAOF', '127.0.0.1', TwofaTest::free_port());
    my $c = $t->client;
    my $r = $c->login('ola', org => 'acme');
    is($r->{status}, 503, 'an error reply: fail closed, even with open');
    ok(!$c->cookie('app_session'), 'no app session');
    like($t->error_log, qr/redis error: READONLY/, 'the error reply is logged');
    like($t->error_log, qr/an error reply always fails closed/,
         'and why the login was refused');
    $t->redis('REPLICAOF', 'NO', 'ONE');

    # OOM: a script refused before it writes is an error reply too
    $t->redis('CONFIG', 'SET', 'maxmemory', '1');
    $c = $t->client;
    $r = $c->login('newbie', org => 'acme');
    my $page = $c->get('/2fa/enroll');
    is($page->{status}, 503, 'OOM when a pending secret is saved: 503');
    $t->redis('CONFIG', 'SET', 'maxmemory', '0');

    # a Redis that answers nothing in time: only then may it fall open
    kill 'STOP', $t->{procs}{redis};
    $r = $t->client->login('ola', org => 'acme');
    kill 'CONT', $t->{procs}{redis};
    is($r->{status}, 303, 'no answer at all: open lets the login pass');
    $t->memcheck_ok;
}

# ---- 5. other doors to the login ----------------------------------------

{
    my $t = TwofaTest->new;
    $t->start_redis->start_app->start_nginx;
    $t->redis('HSET', 'twofa:org:acme', 'require', '1');

    for my $door ('/Login', '/login/', '/LOGIN/') {
        my $c = $t->client;
        my $r = $c->post($door, form => { user => 'dora', password => 'pw-dora',
                                          org => 'acme' });
        is($r->{status}, 502, "a login through $door is refused");
        ok(!exists $r->{headers}{'x-user-id'}, "$door: no identity header");
        ok(!$c->cookie('app_session'), "$door: no app session");
    }
    like($t->error_log,
         qr/identity header "X-User-Id" outside a twofa_login location \("\/Login"\)/,
         'the refusal names the header and the door');
    my $r = $t->client->login('dora', org => 'acme');
    is($loc->($r), '/2fa/enroll', 'the real door still holds the login');
    my $c = $t->client;
    $c->enroll('dora', org => 'acme');
    is($c->get('/home')->{status}, 200,
       'a release goes out whole through the pages (not refused)');
    $t->memcheck_ok;
}

# ---- 6. error_page inside the capture -------------------------------------

{
    my $t = TwofaTest->new;
    $t->start_redis->start_app;
    $t->write_file('www/50x.html', "<p>app down</p>\n", 0644);
    my $d = $t->dir;
    $t->start_nginx(server_extra => <<"END");
        error_page 500 502 503 504 /50x.html;
        location = /50x.html { root $d/www; }
END
    $t->redis('HSET', 'twofa:org:acme', 'require', '1');
    $t->stop('app');

    my $c = $t->client;
    my $r = $c->login('eli', org => 'acme');
    is($r->{status}, 502, 'the app down: the error page\'s status');
    is($r->{content}, "<p>app down</p>\n", 'and the error page, whole');

    my $h2 = TwofaTest::free_port();
    # `http2 on;` since nginx 1.25.1, which deprecates `listen ... http2`
    my $new = TwofaTest::nginx_version() >= 1025001;
    $t->start_nginx(name => 'nginx2', port => $h2,
                    $new ? () : (listen => 'http2'),
                    server_extra => ($new ? "        http2 on;\n" : '') . <<"END");
        error_page 500 502 503 504 /50x.html;
        location = /50x.html { root $d/www; }
END
    my $out = `curl -s -o $d/h2.body -w '%{http_code}' --http2-prior-knowledge -d user=eli -d password=pw-eli -d org=acme http://127.0.0.1:$h2/login; echo " rc=\$?"`;
    like($out, qr/^502 rc=0$/, 'over HTTP/2 too: a well-formed answer')
        or diag($out);
    is($t->read_file('h2.body'), "<p>app down</p>\n", 'with the error page');
    $t->stop('nginx2', 'QUIT');
    $t->memcheck_ok;
}

# ---- 7. a rolling key rotation loses no login ----------------------------

{
    my $t = TwofaTest->new;
    my $d = $t->dir;
    my $port2 = TwofaTest::free_port();
    $t->start_redis->start_app;
    # edge 1 got the new key first; edge 2 has only the old one
    $t->start_nginx(twofa => <<"END");
    twofa_redis 127.0.0.1:${\ $t->redis_port};
    twofa_key_file $d/key2;
    twofa_key_file $d/key;
END
    $t->start_nginx(name => 'nginx2', port => $port2);
    $t->redis('HSET', 'twofa:org:acme', 'require', '1');
    my $base2 = "http://127.0.0.1:$port2";

    my $c = $t->client;
    my $r = $c->post("$base2/login", form => { user => 'rot', password => 'pw-rot', org => 'acme' });
    my $page = $c->get("$base2/2fa/enroll");
    my $secret = TwofaTest::secret_of($page->{content});
    my $csrf = TwofaTest::field($page->{content}, 'csrf');
    $c->post("$base2/2fa/enroll", form => { code => TwofaTest::totp($secret, -30), csrf => $csrf });
    is($c->post("$base2/2fa/continue", form => { csrf => $csrf })->{status}, 303,
       'rot enrolled through the edge with the old key');

    $c = $t->client;
    $r = $c->login('rot', org => 'acme');
    is($loc->($r), '/2fa/verify', 'held on the edge with the new key');
    my $hold = $c->cookie('twofa_hold');
    $page = $c->get("$base2/2fa/verify");
    my $code = TwofaTest::totp($secret, 30);
    $r = $c->post("$base2/2fa/verify", form => {
        code => $code, csrf => TwofaTest::field($page->{content}, 'csrf') });
    is($r->{status}, 409, 'an edge without that key: 409');
    like($r->{content}, qr/newer key/, 'with a page that says why');
    is($t->redis('EXISTS', "twofa:hold:$hold"), '1', 'the hold is not taken');
    $c->cookie('twofa_hold', $hold);
    $page = $c->get('/2fa/verify');
    $r = $c->post('/2fa/verify', form => {
        code => $code, csrf => TwofaTest::field($page->{content}, 'csrf') });
    is($r->{status}, 303, 'the same code then works on the edge with the key');
    $t->stop('nginx2', 'QUIT');
    $t->memcheck_ok;
}

# ---- 8. late replies never leave a user unable to finish -----------------

{
    my $t = TwofaTest->new;
    $t->start_redis->start_app;
    my $d = $t->dir;
    my $proxy = TwofaTest::free_port();
    $t->spawn('proxy', $TwofaTest::PYTHON, "$TwofaTest::ROOT/t/lib/delayproxy.py",
              '--listen', $proxy, '--to', $t->redis_port,
              '--control', "$d/delay");
    TwofaTest::wait_port($proxy) or die 'the delay proxy did not start';
    $t->start_nginx(twofa => <<"END");
    twofa_redis 127.0.0.1:$proxy timeout=300ms;
    twofa_key_file $d/key;
END
    $t->redis('HSET', 'twofa:org:acme', 'require', '1');

    # the scripts go out as EVALSHA: the proxy knows them by their SHA1
    my %sha;
    for my $name (qw(enable accept)) {
        $sha{$name} = $t->redis('SCRIPT', 'LOAD',
                                $t->read_file("$TwofaTest::ROOT/lua/$name.lua"));
        like($sha{$name}, qr/^[0-9a-f]{40}$/, "$name.lua loaded");
    }

    # enable answered late: the retry shows the codes of that enrollment
    my $c = $t->client;
    $c->login('lea', org => 'acme');
    my $page = $c->get('/2fa/enroll');
    my $secret = TwofaTest::secret_of($page->{content});
    my $csrf = TwofaTest::field($page->{content}, 'csrf');
    my %form = (code => TwofaTest::totp($secret, -30), csrf => $csrf);
    $t->write_file('delay', "$sha{enable} 900\n");
    my $r = $c->post('/2fa/enroll', form => \%form);
    is($r->{status}, 503, 'enable answered too late: 503');
    sleep 1;
    is($t->redis('HGET', 'twofa:user:acme:lea', 'enabled'), '1',
       'yet it was applied in Redis');
    $r = $c->post('/2fa/enroll', form => \%form);
    is($r->{status}, 200, 'the retry answers');
    my @codes = $r->{content} =~ m{<li><code>([a-z2-7]{5}-[a-z2-7]{5})</code></li>}g;
    is(scalar @codes, 10, 'with the ten recovery codes of that enrollment');
    $r = $c->post('/2fa/continue', form => { csrf => $csrf });
    is($r->{status}, 303, 'continue releases the login');
    is($c->get('/home')->{status}, 200, 'and the app session works');

    # a recovery code from that page works: they were the real ones
    my $c2 = $t->client;
    $c2->login('lea', org => 'acme');
    my $csrf2 = TwofaTest::field($c2->get('/2fa/verify')->{content}, 'csrf');
    is($c2->post('/2fa/verify', form => { code => $codes[0], csrf => $csrf2 })->{status},
       303, 'a recovery code shown by the retry is accepted');

    # accept answered late: the retry releases what was accepted
    my $c3 = $t->client;
    $c3->login('lea', org => 'acme');
    my $csrf3 = TwofaTest::field($c3->get('/2fa/verify')->{content}, 'csrf');
    my $hold3 = $c3->cookie('twofa_hold');
    my %vform = (code => TwofaTest::totp($secret, 30), csrf => $csrf3);
    $t->write_file('delay', "$sha{accept} 900\n");
    $r = $c3->post('/2fa/verify', form => \%vform);
    is($r->{status}, 503, 'accept answered too late: 503');
    sleep 1;
    $r = $c3->post('/2fa/verify', form => \%vform);
    is($r->{status}, 303, 'the retry with the same hold releases the login');
    is($c3->get('/home')->{status}, 200, 'with a working app session');
    my $c4 = $t->client;
    $c4->cookie('twofa_hold', $hold3);
    $r = $c4->post('/2fa/verify', form => \%vform);
    is($r->{status}, 401, 'and only once: the hold is gone now');
    $t->memcheck_ok;
}

# ---- 9. resets and disables revoke sessions on every edge -----------------

{
    my $t = TwofaTest->new;
    my $port2 = TwofaTest::free_port();
    $t->start_redis->start_app->start_nginx(workers => 2);
    $t->start_nginx(name => 'nginx2', port => $port2, workers => 2);
    my $base2 = "http://127.0.0.1:$port2";
    my %auth = (Authorization => 'Bearer ' . $t->admin_token);
    $t->redis('HSET', 'twofa:org:acme', 'require', '1');
    $t->redis('HSET', 'twofa:org:globex', 'require', '1');

    my $c = $t->client;
    my $e = $c->enroll('rex', org => 'acme');
    is($c->get("$base2/step-up/report")->{status}, 200,
       'rex\'s totp session passes the gate of the second edge');

    my $admin = $t->client;
    my $r = $admin->request('DELETE', '/twofa-admin/orgs/acme/users/rex/totp',
                            headers => \%auth);
    is($r->{status}, 200, 'an admin resets rex on the first edge');
    my $t0 = time;
    my $gone = 0;
    while (time - $t0 < 3) {
        # every worker of the second edge, over fresh connections
        my @s = map { $c->request('GET', "$base2/step-up/report",
                                  headers => { Connection => 'close' })->{status} } 1 .. 4;
        if (!grep { $_ == 200 } @s) { $gone = 1; last }
        sleep 0.05;
    }
    my $took = time - $t0;
    ok($gone, sprintf('the second edge refuses the old session (%.2fs)', $took));
    cmp_ok($took, '<', 1, 'within a second');
    is($loc->($c->get('/step-up/report')), '/2fa/verify?return=%2Fstep-up%2Freport',
       'the first edge too: sent to the code page');

    # a user's own disable (allowed once the org no longer requires it)
    my $d = $t->client;
    my $de = $d->enroll('dee', org => 'globex', enroll_offset => -30);
    $t->redis('HSET', 'twofa:org:globex', 'require', '0');
    is($d->get("$base2/step-up/report")->{status}, 200, 'dee passes the gate');
    my $old = $d->cookie('twofa_session');
    my $settings = $d->get('/2fa/settings');
    $r = $d->post('/2fa/settings/disable', form => {
        code => TwofaTest::totp($de->{secret}, 30),
        csrf => TwofaTest::field($settings->{content}, 'csrf') });
    is($r->{status}, 200, 'dee turns 2FA off');
    my $again = $t->client;
    $again->login('dee', org => 'globex');
    is($again->get('/home')->{content}, "home of dee (globex) via pwd\n",
       'a login right after it (the same second) keeps its new session');
    sleep 0.5;
    my $x = $t->client;
    $x->cookie('twofa_session', $old);
    is($x->get("$base2/step-up/report")->{status}, 303,
       'dee\'s earlier totp session is refused on the other edge');
    is($d->get("$base2/home")->{status}, 200,
       'the app session is the app\'s business: untouched');

    # the feed lost and back: what was missed is read again
    $t->stop('nginx2', 'QUIT');
    $t->start_nginx(name => 'nginx2', port => $port2, workers => 2);
    $x = $t->client;
    $x->cookie('twofa_session', $old);
    sleep 0.5;
    is($x->get("$base2/step-up/report")->{status}, 303,
       'a new edge reads the revocations it missed');
    $t->stop('nginx2', 'QUIT');
    $t->memcheck_ok;
}

# ---- 10. a Redis that lost its data never means "2FA off" -----------------

{
    my $t = TwofaTest->new;
    $t->start_redis->start_app->start_nginx;
    my %auth = (Authorization => 'Bearer ' . $t->admin_token);
    $t->redis('HSET', 'twofa:org:acme', 'require', '1');
    my $e = $t->client->enroll('fay', org => 'acme');
    ok($e->{secret}, 'fay is enrolled');

    $t->redis('FLUSHALL');
    my $c = $t->client;
    my $r = $c->login('fay', org => 'acme');
    is($r->{status}, 503, 'a flushed Redis: the login fails closed');
    ok(!$c->cookie('app_session'), 'no app session');
    like($t->error_log, qr/\[alert\].*holds no twofa state.*twofa-admin init/,
         'the error log says what happened and what to do');
    $r = $t->client->request('PUT', '/twofa-admin/orgs/acme',
                             body => '{"require": true}', headers => \%auth);
    is($r->{status}, 409, 'the admin API writes no policy into it');

    $t->restart_redis(init => 0);

    # once the worker is connected again (backoff), the answer is the same
    my $t0 = time;
    do {
        sleep 0.2;
        $r = $t->client->request('GET', '/twofa-admin/orgs/acme',
                                 headers => \%auth);
    } while ($r->{status} == 503 && time - $t0 < 10);
    is($r->{status}, 200, 'the edge is connected to the restarted Redis');
    is($t->client->login('fay', org => 'acme')->{status}, 503,
       'restarted without its data: logins fail closed the same');

    $r = $t->client->request('POST', '/twofa-admin/init', headers => \%auth);
    is($r->{status}, 200, 'the admin initialises it again');
    is_deeply($json->decode($r->{content}), { initialised => JSON::PP::true,
                                              created => JSON::PP::true },
              'and is told it was created');
    $r = $t->client->request('PUT', '/twofa-admin/orgs/acme',
                             body => '{"require": true}', headers => \%auth);
    is($r->{status}, 200, 'then policy works');
    is($loc->($t->client->login('fay', org => 'acme')), '/2fa/enroll',
       'and logins are decided again');
    $t->memcheck_ok;
}

done_testing;
