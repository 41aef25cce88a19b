#!/usr/bin/perl
# The Debian packages as installed (`apt-get install ./*.deb`) in a clean
# root of their release: tools/test-dist runs this there, as root, before
# the integration tests.  Not part of `make test` (it changes /etc/nginx).
#
# The module sits in /usr/lib/nginx/modules, its modules-available snippet
# is enabled in modules-enabled as Debian's own libnginx-mod-* are, the
# package depends on the ABI the installed nginx provides; the distribution's
# nginx, with its own nginx.conf and a twofa configuration in conf.d, passes
# `nginx -t` without a warning, starts, and its admin API answers what the
# installed twofa-admin (which has its man page) wrote to Redis.
# Removing the package disables the module the Debian way; installing it
# again enables it again.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use Test::More;
use HTTP::Tiny;
use TwofaTest;

my $MOD = '/usr/lib/nginx/modules/ngx_http_twofa_module.so';
my $AVAILABLE = '/usr/share/nginx/modules-available/mod-http-twofa.conf';
my $ENABLED = '/etc/nginx/modules-enabled/50-mod-http-twofa.conf';
my $debs = $ENV{TWOFA_DEBS} // '/root/debs';

sub slurp {
    my ($path) = @_;
    open my $fh, '<', $path or return '';
    local $/;
    return scalar <$fh>;
}

sub field {
    my ($pkg, $f) = @_;
    my $v = `dpkg-query -W -f='\${$f}' $pkg 2>/dev/null`;
    return $v;
}

# ---- what the packages put where ----------------------------------------

is(field('libnginx-mod-http-twofa', 'Status'), 'install ok installed',
   'libnginx-mod-http-twofa is installed');
is(field('twofa-admin', 'Status'), 'install ok installed',
   'twofa-admin is installed');

my ($release) = `. /etc/os-release; echo \$VERSION_ID` =~ /(\S+)/;
like(field('libnginx-mod-http-twofa', 'Version'), qr/\+deb\Q$release\E$/,
     "the package is the build for this release (Debian $release)");

my ($abi) = field('nginx', 'Provides') =~ /(nginx-abi-[\w.~+-]+)/;
ok($abi, "the installed nginx provides an ABI ($abi)");
like(field('libnginx-mod-http-twofa', 'Depends'), qr/(^|, )\Q$abi\E(,|$)/,
     'and the module depends on exactly that ABI');

ok(-f $MOD, "the module is $MOD");
is(slurp($AVAILABLE), "load_module modules/ngx_http_twofa_module.so;\n",
   "$AVAILABLE loads it");
is(readlink($ENABLED), $AVAILABLE, "enabled on install: $ENABLED");

ok(-x '/usr/bin/twofa-admin', 'the CLI is /usr/bin/twofa-admin');
like(`/usr/bin/twofa-admin --help 2>&1`, qr/^SYNOPSIS/m, 'and runs');
like(scalar `gzip -dc /usr/share/man/man1/twofa-admin.1.gz 2>/dev/null`,
     qr/^\.TH TWOFA-ADMIN 1 /m, 'with its man page');

# ---- the distribution's nginx with a twofa configuration ----------------

my $t = TwofaTest->new;
my $d = $t->dir;
$t->start_redis(init => 0);
my $port = TwofaTest::free_port();
my $rport = $t->redis_port;

my $conf = '/etc/nginx/conf.d/twofa-test.conf';
open my $fh, '>', $conf or die "$conf: $!";
print $fh <<"END";
twofa_redis 127.0.0.1:$rport timeout=1s;
twofa_key_file $d/key;

server {
    listen 127.0.0.1:$port;
    location /2fa/ { twofa_pages; }
    location /twofa-admin/ {
        twofa_admin;
        twofa_admin_token_file $d/admin-token;
    }
    location / { return 200 "app\\n"; }
}
END
close $fh;

my $out = `nginx -t 2>&1`;
is($?, 0, 'nginx -t passes with the packaged module and a twofa server')
    or diag($out);
unlike($out, qr/\[(warn|emerg|alert)\]/, 'without warnings') or diag($out);
like(`nginx -T 2>/dev/null`,
     qr{^load_module modules/ngx_http_twofa_module\.so;}m,
     'the module is loaded through modules-enabled');

# Debian's nginx.conf as it is (user www-data, its logs), in the
# foreground; without the default site, which would listen on port 80
unlink '/etc/nginx/sites-enabled/default';
$t->spawn('nginx', 'nginx', '-g', 'daemon off;');
ok(TwofaTest::wait_port($port), 'the distribution\'s nginx starts with it')
    or diag($t->read_file('nginx.out'));

my $admin = `/usr/bin/twofa-admin --redis 127.0.0.1:$rport init 2>&1`;
is($?, 0, 'the installed CLI initialises the deployment') or diag($admin);
$admin = `/usr/bin/twofa-admin --redis 127.0.0.1:$rport org require acme on 2>&1`;
is($?, 0, 'and requires 2FA for acme') or diag($admin);

my $http = HTTP::Tiny->new(timeout => 10);
my $res = $http->get("http://127.0.0.1:$port/twofa-admin/orgs/acme",
    { headers => { Authorization => 'Bearer ' . $t->admin_token } });
is($res->{status}, 200, 'the module answers its admin API');
like($res->{content}, qr/"require":\s*true/, 'with what the CLI wrote to Redis');

$t->stop('nginx', 'QUIT');
unlink $conf;

# ---- removed, the module is disabled; installed again, enabled ----------

system('apt-get remove -y -qq libnginx-mod-http-twofa >/dev/null 2>&1');
is($?, 0, 'apt-get remove libnginx-mod-http-twofa');
ok(!-e $ENABLED && -l "$ENABLED.removed",
   'the link is set aside (.removed), as for Debian\'s modules');
is(system('nginx -t -q'), 0, 'nginx -t passes without it');

my ($deb) = glob "$debs/libnginx-mod-http-twofa_*.deb";
system("apt-get install -y -qq $deb >/dev/null 2>&1");
is($?, 0, 'installed again');
is(readlink($ENABLED), $AVAILABLE, 'and enabled again');

done_testing;
