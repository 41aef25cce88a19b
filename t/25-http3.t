#!/usr/bin/perl
# The login hold over HTTP/3 (QUIC, nginx 1.25 and newer built with
# --with-http_v3_module, as Debian 13's and sid's), driven by curl's
# --http3-only: held, passed with a large body, enrolled, released.
#
# Where nginx has no HTTP/3 (Debian 12's 1.22) there is nothing to test and
# the test says so; TWOFA_REQUIRE_HTTP3=1 (make test-dist sets it where the
# release's nginx has it) turns that into a failure.  An nginx with HTTP/3
# and a curl without it is a failure, not a skip.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use TwofaTest;

unless (TwofaTest::nginx_has('--with-http_v3_module')) {
    my ($v) = `$TwofaTest::NGINX -v 2>&1` =~ m{nginx/(\S+)};
    my $why = 'nginx ' . ($v // '?') . ' has no HTTP/3 (built without '
            . '--with-http_v3_module)';
    if ($ENV{TWOFA_REQUIRE_HTTP3}) {
        fail($why);
        done_testing;
        exit;
    }
    plan skip_all => $why;
}

like(`curl -V 2>&1`, qr/^Features:.*\bHTTP3\b/m,
     'curl speaks HTTP/3 (Debian 13 and newer build it so)')
    or BAIL_OUT('nginx has HTTP/3 but curl has not: a curl with HTTP/3 is needed');

my $t = TwofaTest->new;
my $d = $t->dir;

system("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
       . "-days 2 -subj /CN=127.0.0.1 -keyout $d/tls.key -out $d/tls.crt "
       . '>/dev/null 2>&1') == 0
    or BAIL_OUT('openssl cannot make a test certificate');

# TCP with TLS (what start_nginx waits for) and QUIC on the same port
my $port = $t->port;
$t->start_redis->start_app->start_nginx(listen => 'ssl', server_extra => <<"END");
        listen 127.0.0.1:$port quic;
        http3 on;
        ssl_certificate $d/tls.crt;
        ssl_certificate_key $d/tls.key;
        ssl_protocols TLSv1.3;
END
$t->redis('HSET', 'twofa:org:acme', 'require', '1');

my $jar = "$d/curl-jar";
my $base = "https://127.0.0.1:$port";

# curl over QUIC only: (protocol, status, headers, body), cookies in a jar
sub curl {
    my (@args) = @_;
    my $out = `curl -s -k --http3-only -b $jar -c $jar -D - @args`;
    my ($head, $body) = split /\r\n\r\n/, $out, 2;
    my ($proto, $status) = ($head // '') =~ m{^(HTTP/\S+) (\d+)};
    return ($proto // '', $status // 0, $head // '', $body // '');
}

my ($proto, $status, $head, $body) =
    curl('-X POST', '--data-urlencode user=hal', '--data-urlencode password=pw-hal',
         '--data-urlencode org=acme', "$base/login");
is($proto, 'HTTP/3', 'the client speaks HTTP/3');
is($status, 303, 'a login over HTTP/3 is held');
like($head, qr{^location: https?://[^/]+/2fa/enroll\r?$}mi, 'for enrollment');

# a body of many QUIC stream frames reaches the app whole: the credentials
# come last, so a truncated body would fail the login
my $pad = 'x' x 40000;
($proto, $status, $head, $body) =
    curl("--data 'pad=$pad&user=ivy&password=pw-ivy&org=other'", "$base/login");
is($status, 303, 'a 40 KB login body over HTTP/3 passes to the app');
like($head, qr/^set-cookie: app_session=/mi, 'the app accepted it');

($proto, $status, $head, $body) =
    curl('-H "Accept: application/json"', "$base/2fa/enroll");
is($status, 200, 'the enrollment step over HTTP/3');
my $step = eval { JSON::PP->new->decode($body) } // {};
ok($step->{secret} && $step->{csrf}, 'with a secret and a CSRF token')
    or diag($body);
my $code = TwofaTest::totp($step->{secret} // '');

($proto, $status, $head, $body) =
    curl("--data 'code=$code&csrf=$step->{csrf}'", "$base/2fa/enroll");
is($status, 200, 'the first code');
like($body, qr/id="twofa-recovery"/, 'recovery codes');

($proto, $status, $head, $body) =
    curl("--data 'csrf=$step->{csrf}'", "$base/2fa/continue");
is($proto, 'HTTP/3', 'still over HTTP/3');
is($status, 303, 'released over HTTP/3');
like($head, qr/^set-cookie: app_session=/mi, 'with the app session');
like($head, qr/^set-cookie: twofa_session=v1\./mi, 'and the session cookie');
is($body, "welcome hal\n", 'and the app\'s body');

like($t->read_file('access.log'), qr{^POST /2fa/continue HTTP/3\.0 303 }m,
     'nginx logged the release as an HTTP/3 request');
unlike($t->error_log, qr/\[(alert|crit)\]/, 'no alerts');

$t->memcheck_ok;

done_testing;
