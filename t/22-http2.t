#!/usr/bin/perl
# The same login hold over HTTP/2 (request bodies arrive in DATA frames),
# driven by curl: held, passed with a large body, enrolled, released.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP;
use TwofaTest;

my $t = TwofaTest->new;
# `http2 on;` since nginx 1.25.1, which deprecates `listen ... http2`
$t->start_redis->start_app->start_nginx(
    TwofaTest::nginx_version() >= 1025001 ? (server_extra => '        http2 on;')
                                          : (listen => 'http2'));
$t->redis('HSET', 'twofa:org:acme', 'require', '1');

my $jar = $t->dir . '/curl-jar';
my $base = $t->url('');

# curl: (status, headers, body), cookies in one jar
sub curl {
    my (@args) = @_;
    my $out = `curl -s --http2-prior-knowledge -b $jar -c $jar -D - @args`;
    my ($head, $body) = split /\r\n\r\n/, $out, 2;
    my ($proto, $status) = $head =~ m{^(HTTP/\S+) (\d+)};
    return ($proto // '', $status // 0, $head // '', $body // '');
}

my ($proto, $status, $head, $body) =
    curl('-X POST', '--data-urlencode user=hal', '--data-urlencode password=pw-hal',
         '--data-urlencode org=acme', "$base/login");
is($proto, 'HTTP/2', 'the client speaks HTTP/2');
is($status, 303, 'a login over HTTP/2 is held');
like($head, qr{^location: http://[^/]+/2fa/enroll\r?$}mi, 'for enrollment');

# a body of many DATA frames reaches the app whole: the credentials
# come last, so a truncated body would fail the login
my $pad = 'x' x 40000;
($proto, $status, $head, $body) =
    curl('-X POST', "--data 'pad=$pad&user=ivy&password=pw-ivy&org=other'",
         "$base/login");
is($status, 303, 'a 40 KB login body over HTTP/2 passes to the app');
like($head, qr/^set-cookie: app_session=/mi, 'the app accepted it');

($proto, $status, $head, $body) = curl('-H "Accept: application/json"', "$base/2fa/enroll");
is($status, 200, 'the enrollment step over HTTP/2');
my $step = JSON::PP->new->decode($body);
my $code = TwofaTest::totp($step->{secret});

($proto, $status, $head, $body) =
    curl("--data 'code=$code&csrf=$step->{csrf}'", "$base/2fa/enroll");
is($status, 200, 'the first code');
like($body, qr/id="twofa-recovery"/, 'recovery codes');

($proto, $status, $head, $body) =
    curl("--data 'csrf=$step->{csrf}'", "$base/2fa/continue");
is($status, 303, 'released over HTTP/2');
like($head, qr/^set-cookie: app_session=/mi, 'with the app session');
like($head, qr/^set-cookie: twofa_session=v1\./mi, 'and the session cookie');
is($body, "welcome hal\n", 'and the app\'s body');

unlike($t->error_log, qr/\[(alert|crit)\]/, 'no alerts');
# nginx warns while it reads its configuration: into the -e log
unlike(join('', map { $t->read_file($_) } qw(nginx-t.log nginx-stderr.log)),
       qr/\[warn\].*http2/, 'no warning about how HTTP/2 is enabled');

$t->memcheck_ok;

done_testing;
