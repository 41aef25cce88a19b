#!/usr/bin/perl
# The module loads into the distribution's nginx, every directive parses,
# and a bad value fails `nginx -t` with a message naming the directive and
# the value.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use TwofaTest;

my $t = TwofaTest->new;
my $d = $t->dir;

$t->write_file('short-key', "0123456789\n", 0600);
$t->write_file('short-token', "abc\n", 0600);
$t->write_file('redis-password', "s3cret\n", 0600);
mkdir "$d/tpl";
$t->write_file('tpl/verify.html', "<h1>{{user}}</h1>{{#error}}{{error}}{{/error}}"
               . "<input name=csrf value=\"{{csrf}}\">\n");
mkdir "$d/tpl-unknown";
$t->write_file('tpl-unknown/enroll.html', "{{nonsense}}\n");
mkdir "$d/tpl-raw";
$t->write_file('tpl-raw/verify.html', "{{{user}}}\n");
mkdir "$d/tpl-open";
$t->write_file('tpl-open/settings.html', "{{#enabled}}on\n");

# every directive, in every context it is meant for
my $full = $t->conf(
    twofa => <<"END",
    twofa_redis 127.0.0.1:6379 db=2 timeout=250ms password_file=$d/redis-password prefix=edge:;
    twofa_key_file $d/key;
    twofa_key_file $d/key2;
    twofa_issuer "Contact Center";
    twofa_pages_url /2fa/;
    twofa_login_url /signin;
    twofa_cookie name=__Host-twofa path=/ max_age=8h samesite=Strict secure=on;
    twofa_skew 2;
    twofa_lockout 7 window=10m;
    twofa_audit_max_len 5000;
    twofa_hold_ttl 3m;
    twofa_hold_max_size 1m;
    twofa_hide_identity_headers on;
    twofa_on_redis_error open;
    twofa_templates $d/tpl;
    twofa_user \$upstream_http_x_user_id;
    twofa_org \$upstream_http_x_org_id;
    twofa_admin_token_file $d/admin-token;
END
    server_extra => <<"END",
        twofa_issuer "Server Issuer";
        twofa_on_redis_error closed;
        twofa_skew 1;
END
);

my ($rc, $out) = $t->nginx_t($full);
is($rc, 0, 'every directive parses') or diag($out);
like($out, qr/syntax is ok/, 'nginx -t says the syntax is ok');

# the module really loads and serves: a running nginx answers
$t->start_redis;
$t->start_app;
$t->start_nginx;
my $c = $t->client;
my $r = $c->get('/fast');
is($r->{status}, 200, 'nginx with the module serves requests');
is($c->get('/2fa/nope')->{status}, 404, 'the pages location answers');

# ---- bad values: (where, directive text, expected message) -------------

my @bad = (
    [http => 'twofa_redis 127.0.0.1:99999;',
     qr/"twofa_redis" cannot use "127\.0\.0\.1:99999"/],
    [http => 'twofa_redis 127.0.0.1:6379 db=x;',
     qr/"twofa_redis" has an invalid parameter "db=x"/],
    [http => 'twofa_redis 127.0.0.1:6379 timeout=0;',
     qr/"twofa_redis" has an invalid parameter "timeout=0"/],
    [http => 'twofa_redis 127.0.0.1:6379 colour=blue;',
     qr/"twofa_redis" has an invalid parameter "colour=blue"/],
    [http => 'twofa_redis unix:relative.sock;',
     qr/"twofa_redis" has an invalid unix socket path in "unix:relative\.sock"/],
    [http => "twofa_redis 127.0.0.1:6379 password_file=$d/missing;",
     qr/"twofa_redis" cannot open "\Q$d\E\/missing"/],
    [http => "twofa_key_file $d/short-key;",
     qr/"twofa_key_file" file "\Q$d\E\/short-key" holds 10 bytes, at least 32/],
    [http => "twofa_key_file $d/no-such-key;",
     qr/"twofa_key_file" cannot open "\Q$d\E\/no-such-key"/],
    [http => "twofa_key_file $d/key;",
     qr/"twofa_key_file" "\Q$d\E\/key" holds a key that is already loaded/],
    [http => 'twofa_cookie name=__Host-x path=/app;',
     qr/"twofa_cookie" name "__Host-x" needs secure=on, path=\/ and no domain/],
    [http => 'twofa_cookie name=x samesite=sometimes;',
     qr/"twofa_cookie" has an invalid parameter "samesite=sometimes"/],
    [http => 'twofa_cookie name=x samesite=None secure=off;',
     qr/"twofa_cookie" samesite=None needs secure=on/],
    [http => 'twofa_cookie name=a;b;',
     qr/./],
    [http => 'twofa_cookie name=a,b;',
     qr/"twofa_cookie" has an invalid parameter "name=a,b"/],
    [http => 'twofa_cookie domain=example.com;',
     qr/"twofa_cookie" needs name=/],
    [http => 'twofa_skew 11;',
     qr/"twofa_skew" takes a number of steps from 0 to 10, not "11"/],
    [http => 'twofa_skew one;',
     qr/"twofa_skew" takes a number of steps from 0 to 10, not "one"/],
    [http => 'twofa_lockout 0;',
     qr/"twofa_lockout" takes a number of failures from 1 to 99, not "0"/],
    [http => 'twofa_lockout 5 window=soon;',
     qr/"twofa_lockout" has an invalid parameter "window=soon"/],
    [http => 'twofa_audit_max_len 0;',
     qr/"twofa_audit_max_len" must keep at least one entry/],
    [http => 'twofa_audit_max_len many;',
     qr/"twofa_audit_max_len" has an invalid value "many" \(a number\)/],
    [server => 'twofa_audit_max_len 10;',
     qr/"twofa_audit_max_len" directive is not allowed here/],
    [http => 'twofa_hold_ttl forever;',
     qr/"twofa_hold_ttl" has an invalid value "forever"/],
    [http => 'twofa_hold_ttl 2d;',
     qr/"twofa_hold_ttl" must be between 1s and 1d/],
    [http => 'twofa_hold_max_size lots;',
     qr/"twofa_hold_max_size" has an invalid value "lots"/],
    [http => 'twofa_on_redis_error maybe;',
     qr/"twofa_on_redis_error" takes "closed" or "open", not "maybe"/],
    [http => 'twofa_hide_identity_headers perhaps;',
     qr/invalid value "perhaps" in "twofa_hide_identity_headers"/],
    [http => 'twofa_issuer "a:b";',
     qr/"twofa_issuer" takes 1 to 64 printable characters without ":", not "a:b"/],
    [http => 'twofa_pages_url 2fa/;',
     qr/"twofa_pages_url" needs a local path starting with "\/", not "2fa\/"/],
    [http => 'twofa_pages_url //evil.example/;',
     qr/"twofa_pages_url" needs a local path starting with "\/", not "\/\/evil\.example\/"/],
    [http => 'twofa_pages_url /two-factor;',
     qr/"twofa_pages_url" must end with "\/", not "\/two-factor"/],
    [http => 'twofa_login_url https://evil.example/;',
     qr/"twofa_login_url" needs a local path starting with "\/", not "https:\/\/evil\.example\/"/],
    [http => "twofa_admin_token_file $d/short-token;",
     qr/"twofa_admin_token_file" file "\Q$d\E\/short-token" holds 3 bytes, at least 16/],
    [http => "twofa_templates $d/no-such-dir;",
     qr/"twofa_templates" "\Q$d\E\/no-such-dir" is not a directory/],
    [http => "twofa_templates $d/tpl-unknown;",
     qr/template "\Q$d\E\/tpl-unknown\/enroll\.html": unknown placeholder "nonsense"/],
    [http => "twofa_templates $d/tpl-raw;",
     qr/template "\Q$d\E\/tpl-raw\/verify\.html": "\{\{\{user\}\}\}" would not be escaped/],
    [http => "twofa_templates $d/tpl-open;",
     qr/template "\Q$d\E\/tpl-open\/settings\.html": section "enabled" is not closed/],
    [location => 'twofa_login maybe; proxy_pass http://127.0.0.1:1;',
     qr/invalid value "maybe" in "twofa_login"/],
    [location => 'twofa_gate max_age=forever;',
     qr/"twofa_gate" has an invalid parameter "max_age=forever"/],
    [location => 'twofa_login on; proxy_pass http://127.0.0.1:1;',
     qr/"twofa_login on" needs "twofa_user"/],
    [location => 'twofa_login on; twofa_user $upstream_http_x;',
     qr/"twofa_login on" needs the location's own proxy_pass/],
    [location => 'twofa_pages; proxy_pass http://127.0.0.1:1;',
     qr/"twofa_pages" cannot share a location with another content handler/],
    [location => 'twofa_admin; proxy_pass http://127.0.0.1:1;',
     qr/"twofa_admin" cannot share a location with another content handler/],
    [location => 'proxy_pass http://127.0.0.1:1; twofa_pages;',
     qr/"twofa_pages" cannot share a location with another content handler/],
    [location => 'twofa_admin; twofa_pages;',
     qr/"twofa_pages" and "twofa_admin" cannot share a location/],
    [location => 'twofa_metrics; proxy_pass http://127.0.0.1:1;',
     qr/"twofa_metrics" cannot share a location with another content handler/],
    [location => 'twofa_pages; twofa_metrics;',
     qr/"twofa_metrics" and "twofa_pages" cannot share a location/],
    [location => 'twofa_metrics x;',
     qr/invalid number of arguments in "twofa_metrics" directive/],
    [location => 'twofa_user $upstream_http_x; twofa_metrics; twofa_login on;',
     qr/"twofa_login" and "twofa_metrics" cannot be used in the same location/],
    [location => 'twofa_gate; twofa_admin;',
     qr/"twofa_gate" cannot protect the location of "twofa_admin"/],
    [server => 'location /auth/ { twofa_pages; }',
     qr/"twofa_pages" is in location "\/auth\/" but "twofa_pages_url" is "\/2fa\/"/],
    [server => 'location ~ ^/adm { twofa_admin; }',
     qr/"twofa_admin" needs a prefix location/],
    [server => 'twofa_redis 127.0.0.1:6379;',
     qr/"twofa_redis" directive is not allowed here/],
    [server => 'location /x/ { twofa_login on; }',
     qr/"twofa_login" directive is not allowed here|needs/],
);

for my $case (@bad) {
    my ($where, $text, $expect) = @$case;
    my $conf;

    if ($where eq 'http' && $text =~ /^twofa_redis /) {
        $conf = $t->conf(twofa => "    $text\n    twofa_key_file $d/key;");
    } elsif ($where eq 'http') {
        $conf = $t->conf(http => "    $text");
    } elsif ($where eq 'server') {
        $conf = $t->conf(server_extra => "        $text");
    } else {
        $conf = $t->conf(server_extra => "        location /case/ { $text }");
    }

    my ($rc, $out) = $t->nginx_t($conf);
    isnt($rc, 0, "nginx -t fails: $text");
    like($out, $expect, "and says why: $text");
}

# what needs Redis or keys says so

my $no_redis = $t->conf(twofa => "    twofa_key_file $d/key;",
                        server => '        location /2fa/ { twofa_pages; }');
($rc, $out) = $t->nginx_t($no_redis);
like($out, qr/"twofa_pages" needs "twofa_redis"/, 'pages need twofa_redis');

my $no_key = $t->conf(twofa => "    twofa_redis 127.0.0.1:6379;",
                      server => '        location /x/ { twofa_gate; }');
($rc, $out) = $t->nginx_t($no_key);
like($out, qr/"twofa_gate" needs "twofa_key_file"/, 'the gate needs a key');

# the gate alone needs no Redis
my $gate_only = $t->conf(twofa => "    twofa_key_file $d/key;",
                         server => '        location /x/ { twofa_gate; }');
($rc, $out) = $t->nginx_t($gate_only);
is($rc, 0, 'twofa_gate works without twofa_redis') or diag($out);

# a unix socket address parses
($rc, $out) = $t->nginx_t($t->conf(redis => "unix:$d/redis.sock"));
is($rc, 0, 'twofa_redis unix:/path parses') or diag($out);

# warnings that are not errors
($rc, $out) = $t->nginx_t($t->conf(server => '        location /adm/ { twofa_admin; }'));
is($rc, 0, 'twofa_admin without a token file is allowed');
like($out, qr/"twofa_admin" without "twofa_admin_token_file": only allow\/deny protect it/,
     'but nginx -t warns about it');

done_testing;
