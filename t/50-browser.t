#!/usr/bin/perl
# A real browser walks the demo: Debian's chromium, driven by playwright-core
# (pinned in t/browser/package-lock.json), through t/browser/walk.js.
#
# This starts demo/run (redis, the stand-in app, nginx with the module) on
# free loopback ports with a temporary state directory (DEMO_STATE; the
# developer's demo/state is never touched), runs the walk, turns its JSON
# lines into TAP and stops the demo whatever happens (t/lib/TwofaBrowser.pm,
# shared with t/51-browser-django.t).  Screenshots of every
# page stay in t/browser/screenshots/ (git-ignored), failure-*.png too when a
# step fails.  A missing chromium, node or npm is a failure, not a skip:
# `make test` installs them (deps-test).  TWOFA_KEEP=1 keeps the state
# directory (logs, nginx.conf).

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use File::Temp qw(tempdir);
use HTTP::Tiny;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep);
use TwofaTest ();
use TwofaBrowser qw(slurp tail);

my $ROOT = $TwofaTest::ROOT;

# the demo's users (demo/users.txt, passwords printed by demo/run): an admin
# and an agent of the same org
my $ADMIN = 'alice:alice-demo';
my $USER = 'bob:bob-demo';

# ---- what the walk needs: fail, never skip; node_modules ---------------

TwofaBrowser::prerequisites() && TwofaBrowser::node_modules() or exit;

# ---- the demo ---------------------------------------------------------------

my $state = tempdir('twofa-browser-XXXXXX', TMPDIR => 1,
                    CLEANUP => !$ENV{TWOFA_KEEP});
my $port = TwofaTest::free_port();
my $app_port = TwofaTest::free_port();
my $redis_port = TwofaTest::free_port();
my $out = "$state/demo.out";

my $demo = TwofaBrowser::spawn('demo', $out, cmd => ["$ROOT/demo/run"],
                 grace => 15, TWOFA_MODULE => $TwofaTest::MODULE,
                 TWOFA_ADMIN => $TwofaTest::ADMIN,
                 TWOFA_NGINX => $TwofaTest::NGINX,
                 DEMO_PORT => $port, DEMO_APP_PORT => $app_port,
                 DEMO_REDIS_PORT => $redis_port, DEMO_STATE => $state);

# demo/run prints its URL once redis, the app and nginx all answer
my $url = "http://127.0.0.1:$port";
my $up = 0;
for (1 .. 300) {
    last if waitpid($demo, WNOHANG) != 0;
    if (slurp($out) =~ /twofa-edge demo: \Q$url\E\//) { $up = 1; last }
    sleep 0.1;
}
ok($up, "the demo runs on $url with its state in $state")
    or do { diag(slurp($out)); done_testing; exit };

my $res = HTTP::Tiny->new(max_redirect => 0, timeout => 5)->get("$url/");
is($res->{status} . ' ' . ($res->{headers}{location} // ''), '303 /login',
   'nginx and the app answer: / -> /login');

# ---- the walk -----------------------------------------------------------

TwofaBrowser::walk('walk.js', ['--url', $url, '--admin', $ADMIN,
                               '--user', $USER], err => "$state/walk.err");

# ---- the demo's logs, then stop it ----------------------------------------

my $errors = slurp("$state/nginx-error.log");
my @bad = grep { /\[(alert|crit|emerg)\]|exited on signal/ } split /\n/, $errors;
ok(!@bad, 'no alert, crit or crashed worker in nginx\'s error log')
    or diag(join "\n", @bad);

if (!Test::More->builder->is_passing) {
    diag("access.log:\n" . tail(slurp("$state/access.log"), 40));
    diag("nginx-error.log:\n" . tail($errors, 40));
    diag("demo/run:\n" . tail(slurp($out), 40));
    diag("walk.js and Chromium on stderr:\n"
         . tail(slurp("$state/walk.err"), 40));
}

TwofaBrowser::stop_group('demo', 15);
ok(!-e "$state/nginx.pid", 'the demo stopped (nginx removed its pid file)');

done_testing;
