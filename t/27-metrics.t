#!/usr/bin/perl
# twofa_metrics: a known workload through two workers, then the page read
# and every counter checked for its exact value; Prometheus's own promtool
# (from Debian's packages) checks the format; a reload keeps the
# counts; Redis stopped shows in the connections and the errors.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(sleep time);
use JSON::PP;
use TwofaTest;

my $ROOT = "$FindBin::Bin/..";
my $loc = \&TwofaTest::Client::location;

my ($promtool) = grep { defined && -x }
    $ENV{TWOFA_PROMTOOL}, "$ROOT/build/promtool/usr/bin/promtool",
    map { "$_/promtool" } split /:/, $ENV{PATH};
ok($promtool, 'promtool is here (make deps-test fetches it)')
    or BAIL_OUT('no promtool: run `make deps-test`');

my $t = TwofaTest->new;
$t->start_redis->start_app;

my $server = <<"END";
        location = /login {
            twofa_login on;
            twofa_user \$upstream_http_x_user_id;
            twofa_org \$upstream_http_x_org_id;
            proxy_pass http://127.0.0.1:${\ $t->app_port};
        }
        location /2fa/ { twofa_pages; }
        location /twofa-admin/ {
            twofa_admin;
            twofa_admin_token_file ${\ $t->dir}/admin-token;
        }
        location /step-up/ {
            twofa_gate;
            alias ${\ $t->dir}/www/;
        }
        location = /metrics { twofa_metrics; }
        location / { proxy_pass http://127.0.0.1:${\ $t->app_port}; }
END

$t->start_nginx(workers => 2, server => $server,
                http => "    twofa_lockout 2 window=60s;\n");

sub scrape {
    my $r = $t->client->get('/metrics');
    die "GET /metrics: $r->{status}\n" unless $r->{status} == 200;
    my %m;
    for (split /\n/, $r->{content}) {
        next if /^#/;
        my ($k, $v) = /^(\S+) (\S+)$/ or die "bad line: $_\n";
        $m{$k} = $v;
    }
    return (\%m, $r);
}

# both workers connect to Redis (commands and revocations)
my $deadline = time + 10;
my ($m, $res) = scrape();
while (time < $deadline
       && ($m->{'twofa_redis_connections{mode="command"}'} // 0) < 2
       || ($m->{'twofa_redis_connections{mode="subscriber"}'} // 0) < 2)
{
    last if time > $deadline;
    sleep 0.1;
    ($m, $res) = scrape();
}

is($res->{headers}{'content-type'}, 'text/plain; version=0.0.4; charset=utf-8',
   'the text exposition format');
is($m->{'twofa_redis_connections{mode="command"}'}, 2,
   'two workers: two command connections up');
is($m->{'twofa_redis_connections{mode="subscriber"}'}, 2,
   '... and two subscribers');
is($m->{'twofa_logins_total{result="passed"}'}, 0, 'nothing counted yet');

my $redis_before = $m->{'twofa_redis_commands_total{result="ok"}'};

# ---- the workload: each client a new connection, so both workers serve ----

my $r = $t->client->login('pat', org => 'initech');
is($r->{status}, 303, 'a login that needs no second factor');

my $admin = $t->client;
$r = $admin->request('PUT', '/twofa-admin/orgs/acme',
    body => '{"require": true}',
    headers => { Authorization => 'Bearer ' . $t->admin_token });
is($r->{status}, 200, 'an admin change');

my $c = $t->client;
my $e = $c->enroll('ann', org => 'acme', enroll_offset => -30);
is($e->{res}{status}, 303, 'an enrollment, released after continue');

$r = $t->client->verify('ann', $e->{secret}, org => 'acme', offset => 0);
is($r->{status}, 303, 'a login with a code');

$r = $t->client->verify('ann', undef, org => 'acme', code => $e->{codes}[0]);
is($r->{status}, 303, 'a login with a recovery code');

my $bad = $t->client;
$bad->login('ann', org => 'acme');
my $csrf = TwofaTest::field($bad->get('/2fa/verify')->{content}, 'csrf');
my @s = map { $bad->post('/2fa/verify', form => { code => '000000',
                                                  csrf => $csrf })->{status} }
        1 .. 3;
is_deeply(\@s, [401, 429, 401],
          'a wrong code, the one that locks, then the hold is gone');

my $late = $t->client;
$r = $late->login('ann', org => 'acme', json => 1);
my $csrf2 = JSON::PP->new->decode($r->{content})->{csrf};
$r = $late->post('/2fa/verify', json => 1, form => {
    code => TwofaTest::totp($e->{secret}, 30), csrf => $csrf2 });
is($r->{status}, 429, 'a code while locked is refused unchecked');

$r = $t->client->get('/step-up/report');
is($r->{status}, 303, 'the gate denies a request without a TOTP session');
$r = $c->get('/step-up/report');
is($r->{status}, 200, 'and passes the one who enrolled');

($m) = scrape();

my %want = (
    'twofa_logins_total{result="passed"}'   => 1,
    'twofa_logins_total{result="held"}'     => 5,
    'twofa_logins_total{result="released"}' => 3,
    'twofa_logins_total{result="refused"}'  => 0,
    'twofa_logins_total{result="error"}'    => 0,
    'twofa_logins_total{result="unsafe"}'   => 0,
    'twofa_codes_total{result="valid"}'     => 3,
    'twofa_codes_total{result="invalid"}'   => 2,
    'twofa_codes_total{result="locked"}'    => 1,
    'twofa_recovery_codes_used_total'       => 1,
    'twofa_enrollments_total'               => 1,
    'twofa_lockouts_total'                  => 1,
    'twofa_gate_total{result="passed"}'     => 1,
    'twofa_gate_total{result="denied"}'     => 1,
    'twofa_admin_changes_total'             => 1,
    'twofa_redis_commands_total{result="error"}'   => 0,
    'twofa_redis_commands_total{result="timeout"}' => 0,
);
for my $k (sort keys %want) {
    is($m->{$k}, $want{$k}, "$k = $want{$k}");
}

my $ok = $m->{'twofa_redis_commands_total{result="ok"}'};
cmp_ok($ok - $redis_before, '>=', 15,
       "Redis commands counted ($ok, one or more a step)");
is($m->{'twofa_redis_command_duration_seconds_count'}, $ok,
   'the histogram counts every answered command');
is($m->{'twofa_redis_command_duration_seconds_bucket{le="+Inf"}'}, $ok,
   '... and its +Inf bucket too');
my @le = map { $m->{"twofa_redis_command_duration_seconds_bucket{le=\"$_\"}"} }
         qw(0.0005 0.001 0.0025 0.005 0.01 0.025 0.05 0.1 0.25 0.5 1 +Inf);
is_deeply([sort { $a <=> $b } @le], \@le, 'the buckets are cumulative');
cmp_ok($m->{'twofa_redis_command_duration_seconds_sum'}, '>', 0,
       'the latency sum grows');

my @named = grep { /acme|ann|pat|initech/ } keys %$m;
is(scalar @named, 0, 'no user or org in any label');

# ---- promtool ----------------------------------------------------------------

my $page = $t->client->get('/metrics')->{content};
$t->write_file('metrics.txt', $page);
my $out = `$promtool check metrics < ${\ $t->dir}/metrics.txt 2>&1`;
is($?, 0, 'promtool check metrics accepts the page') or diag $out;
is($out, '', '... without a remark');

like($page, qr/^# HELP twofa_logins_total .+\n# TYPE twofa_logins_total counter$/m,
     'HELP and TYPE lines');

$r = $t->client->post('/metrics', form => { a => 1 });
is($r->{status}, 405, 'POST /metrics: 405');

# ---- a reload keeps the counts ------------------------------------------------

$t->reload_nginx;
$deadline = time + 15;
my $after;
do {
    sleep 0.2;
    ($after) = scrape();
} until (time > $deadline
         || ($t->error_log =~ /gracefully shutting down/
             && ($after->{'twofa_redis_connections{mode="command"}'} // 0) == 2));

is($after->{'twofa_logins_total{result="held"}'}, 5,
   'after a reload, the counts are still there');
is($after->{'twofa_codes_total{result="valid"}'}, 3, '... all of them');

# ---- Redis gone: connections down, logins in error ----------------------------

$t->stop('redis');
$deadline = time + 10;
do {
    sleep 0.1;
    ($m) = scrape();
} until (time > $deadline
         || $m->{'twofa_redis_connections{mode="command"}'} == 0);
is($m->{'twofa_redis_connections{mode="command"}'}, 0,
   'Redis stopped: no command connection up');

my $errors = $m->{'twofa_redis_commands_total{result="error"}'};
$r = $t->client->login('ann', org => 'acme');
is($r->{status}, 503, 'a login fails closed');
($m) = scrape();
is($m->{'twofa_logins_total{result="error"}'}, 1, '... counted as an error');
is($m->{'twofa_redis_commands_total{result="error"}'}, $errors + 1,
   '... and its command too');

$t->memcheck_ok;

done_testing;
