#!/usr/bin/perl
# Every configuration in conf-examples/ and the Docker image's nginx.conf
# passes `nginx -t` with the freshly built module, once the paths that only
# exist on a real server point into a temporary directory.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use TwofaTest;

my $t = TwofaTest->new;
my $d = $t->dir;
my $root = $TwofaTest::ROOT;

mkdir "$d/$_" for qw(tls log run);
$t->write_file('twofa-redis.pass', "redis-password\n", 0600);
$t->write_file('twofa-admin.token', TwofaTest::random_text(32) . "\n", 0600);
$t->write_file('twofa-2025.key', TwofaTest::random_text(48) . "\n", 0600);
$t->write_file('twofa-2026.key', TwofaTest::random_text(48) . "\n", 0600);

# one self-signed certificate serves every example
system("openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=test "
       . "-keyout $d/tls/test.key -out $d/tls/test.crt >/dev/null 2>&1") == 0
    or BAIL_OUT('openssl cannot make a test certificate');

sub localise {
    my ($text) = @_;
    $text =~ s{^load_module \S+;}{load_module $TwofaTest::MODULE;}m;
    $text =~ s{/etc/nginx/tls/\S+\.crt}{$d/tls/test.crt}g;
    $text =~ s{/etc/nginx/tls/\S+\.key}{$d/tls/test.key}g;
    $text =~ s{/etc/nginx/twofa\.key}{$d/key}g;
    $text =~ s{/etc/nginx/(twofa-[\w.-]+)}{$d/$1}g;
    $text =~ s{/etc/twofa/key}{$d/key}g;
    $text =~ s{/etc/twofa/admin-token}{$d/admin-token}g;
    $text =~ s{/var/log/nginx/}{$d/log/}g;
    $text =~ s{/run/nginx\.pid}{$d/run/nginx.pid}g;
    $text =~ s{/run/redis/redis-server\.sock}{$d/run/redis.sock}g;
    $text =~ s{redis\.internal}{127.0.0.1}g;
    $text =~ s{\b(redis|app):(\d+)}{127.0.0.1:$2}g;
    return $text;
}

my @files = sort glob "$root/conf-examples/*.conf";
ok(@files >= 5, 'five or more example configurations') or diag("@files");

for my $file (@files, "$root/docker/nginx.conf") {
    (my $name = $file) =~ s{.*/}{};
    my $text = $t->read_file($file);
    ok(length $text, "$name exists");
    like($text, qr/^# /m, "$name explains itself in comments");

    my ($rc, $out) = $t->nginx_t(localise($text), "example-$name");
    is($rc, 0, "nginx -t passes: $name") or diag($out);
    unlike($out, qr/\[warn\]/, "without warnings: $name") or diag($out);
}

# the HTTP/2 and HTTP/3 advice of tls-host-cookie.conf's comments, followed
# as this nginx's version asks: valid, and without warnings, here too
{
    my $text = localise($t->read_file("$root/conf-examples/tls-host-cookie.conf"));
    my @did;
    if (TwofaTest::nginx_version() >= 1025001) {
        push @did, 'http2 on' if $text =~ s/^(\s*)#(http2 on;)/$1$2/m;
    } else {
        push @did, 'listen ssl http2'
            if $text =~ s/^(\s*listen 443 ssl);/$1 http2;/m;
    }
    if (TwofaTest::nginx_has('--with-http_v3_module')) {
        push @did, 'quic' if $text =~ s/^(\s*)#(listen 443 quic\b)/$1$2/m;
        push @did, 'alt-svc' if $text =~ s/^(\s*)#(add_header Alt-Svc\b)/$1$2/m;
        is(scalar @did, 3, 'the comments say how to enable HTTP/2 and HTTP/3');
    } else {
        is(scalar @did, 1, 'the comments say how to enable HTTP/2');
    }
    my ($rc, $out) = $t->nginx_t($text, 'example-h2-h3.conf');
    is($rc, 0, "nginx -t passes with the advice followed (@did)") or diag($out);
    unlike($out, qr/\[warn\]/, 'without warnings') or diag($out);
}

# the image's build steps, run here outside Docker
{
    my $dest = "$d/image";
    my $out = `$root/docker/build-module.sh $dest 2>&1`;
    is($?, 0, 'docker/build-module.sh builds') or diag($out);
    ok(-f "$dest/usr/lib/nginx/modules/ngx_http_twofa_module.so",
       'and installs the module where the image loads it');
    ok(-x "$dest/usr/local/bin/twofa-admin", 'and the admin CLI');

    my $conf = localise($t->read_file("$root/docker/nginx.conf"));
    $conf =~ s{^load_module \S+;}{load_module $dest/usr/lib/nginx/modules/ngx_http_twofa_module.so;}m;
    my ($rc, $nt) = $t->nginx_t($conf, 'image.conf');
    is($rc, 0, "the image's nginx.conf passes nginx -t with the module it built")
        or diag($nt);

    my $dockerfile = $t->read_file("$root/docker/Dockerfile");
    like($dockerfile, qr/^FROM debian:bookworm\b/m, 'the image is Debian bookworm');
    like($dockerfile, qr/RUN docker\/build-module\.sh/, 'and builds with that script');
    like($dockerfile, qr/nginx-dev/, 'against nginx-dev');
    like($t->read_file("$root/docker/compose.yaml"),
         qr/redis:.*app:.*edge:/s, 'compose runs Redis, the demo app and the edge');
}

# the examples use what they say they show
my %shows = (
    'single-edge.conf'     => qr/twofa_login on;.*twofa_pages;/s,
    'multi-edge.conf'      => qr/twofa_key_file .*\n\s*twofa_key_file /,
    'tls-host-cookie.conf' => qr/twofa_cookie name=__Host-/,
    'spa-json.conf'        => qr/twofa_pages_url \/auth\/2fa\/;.*location \/auth\/2fa\/ \{\s*twofa_pages;/s,
    'step-up-admin.conf'   => qr/location \/admin\/ \{\s*twofa_gate max_age=/,
    'cluster-edge.conf'    => qr/twofa_redis cluster=[\d.:,]+\s/,
);

for my $name (sort keys %shows) {
    like($t->read_file("$root/conf-examples/$name"), $shows{$name},
         "$name shows what it is for");
}

done_testing;
