#!/usr/bin/perl
# A real browser walks the demo: Debian's chromium, driven by playwright-core
# (pinned in t/browser/package-lock.json), through t/browser/walk.js.
#
# This starts demo/run (redis, the stand-in app, nginx with the module) on
# free loopback ports with a temporary state directory (DEMO_STATE; the
# developer's demo/state is never touched), runs the walk, turns its JSON
# lines into TAP and stops the demo whatever happens.  Screenshots of every
# page stay in t/browser/screenshots/ (git-ignored), failure-*.png too when a
# step fails.  A missing chromium, node or npm is a failure, not a skip:
# `make test` installs them (deps-test).  TWOFA_KEEP=1 keeps the state
# directory (logs, nginx.conf).

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Digest::SHA;
use File::Temp qw(tempdir);
use HTTP::Tiny;
use JSON::PP;
use POSIX qw(:sys_wait_h setsid);
use Time::HiRes qw(sleep time);
use TwofaTest ();

my $ROOT = $TwofaTest::ROOT;
my $BROWSER = "$ROOT/t/browser";
my $CHROMIUM = '/usr/bin/chromium';

# the demo's users (demo/users.txt, passwords printed by demo/run): an admin
# and an agent of the same org
my $ADMIN = 'alice:alice-demo';
my $USER = 'bob:bob-demo';

my %child;                     # name -> pid, each the leader of its group

# TERM to the group, up to $grace seconds, then KILL
sub stop_group {
    my ($name, $grace) = @_;
    my $pid = delete $child{$name} or return;
    kill 'TERM', -$pid;
    my $deadline = time + $grace;
    while (time < $deadline) {
        last if waitpid($pid, WNOHANG) != 0;
        sleep 0.05;
    }
    kill 'KILL', -$pid;        # whatever is left of the group
    waitpid $pid, 0;
}

sub stop_all { stop_group('walk', 2); stop_group('demo', 15) }

END { local $?; stop_all() }
$SIG{INT} = $SIG{TERM} = sub { stop_all(); exit 1 };
$SIG{PIPE} = 'IGNORE';

sub slurp {
    my ($path) = @_;
    open my $fh, '<', $path or return '';
    local $/;
    return scalar <$fh>;
}

sub tail {
    my ($text, $n) = @_;
    my @l = split /\n/, $text;
    return join "\n", @l > $n ? @l[-$n .. -1] : @l;
}

sub on_path {
    my ($cmd) = @_;
    return grep { -x "$_/$cmd" } split /:/, $ENV{PATH} // '';
}

# ---- what the walk needs: fail, never skip --------------------------------

my @missing;
for my $need (['chromium', -x $CHROMIUM], ['node', on_path('node')],
              ['npm', on_path('npm')], ['oathtool', on_path('oathtool')],
              ['zbarimg', on_path('zbarimg')],
              ['redis-server', on_path('redis-server')],
              ['the module', -f $TwofaTest::MODULE]) {
    ok($need->[1], "$need->[0] is there") or push @missing, $need->[0];
}
if (@missing) {
    diag("missing: @missing (`make deps-test` installs the packages, "
         . '`make module` builds the module)');
    done_testing;
    exit;
}

my $node_version = `node --version`;
chomp $node_version;
ok($node_version =~ /^v(\d+)\./ && $1 >= 18, "node $node_version is 18 or newer")
    or do { done_testing; exit };

# ---- node_modules from the lockfile -------------------------------------

# npm ci when node_modules is missing or was made from another lockfile
# (a stamp with the lockfile's digest, written after a good npm ci)
{
    my $digest = Digest::SHA->new(256)->addfile("$BROWSER/package-lock.json")
        ->add(slurp("$BROWSER/package.json"))->hexdigest;
    my $stamp = "$BROWSER/node_modules/.twofa-lock-sha256";
    my $fresh = -d "$BROWSER/node_modules/playwright-core"
                && slurp($stamp) eq "$digest\n";
    if ($fresh) {
        pass('node_modules matches the lockfile');
    } else {
        # the system's trust store, not only Node's own: where an admin
        # installed a proxy's CA with update-ca-certificates, npm trusts it
        local $ENV{NODE_EXTRA_CA_CERTS} = $ENV{NODE_EXTRA_CA_CERTS}
            // (-r '/etc/ssl/certs/ca-certificates.crt'
                ? '/etc/ssl/certs/ca-certificates.crt' : undef);
        delete $ENV{NODE_EXTRA_CA_CERTS} unless defined $ENV{NODE_EXTRA_CA_CERTS};
        my $out = `cd '$BROWSER' && npm ci --no-audit --no-fund 2>&1`;
        if (ok($? == 0, 'npm ci: playwright-core from the lockfile')) {
            open my $fh, '>', $stamp or die "$stamp: $!";
            print $fh "$digest\n";
            close $fh;
        } else {
            diag($out);
            done_testing;
            exit;
        }
    }
}

# ---- the demo ---------------------------------------------------------------

my $state = tempdir('twofa-browser-XXXXXX', TMPDIR => 1,
                    CLEANUP => !$ENV{TWOFA_KEEP});
my $port = TwofaTest::free_port();
my $app_port = TwofaTest::free_port();
my $redis_port = TwofaTest::free_port();
my $out = "$state/demo.out";

sub spawn {
    my ($name, $log, %env) = @_;
    my @cmd = @{ delete $env{cmd} };
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        setsid();              # its own group: one kill stops all of it
        @ENV{ keys %env } = values %env;
        open STDIN, '<', '/dev/null';
        if ($log) {
            open STDOUT, '>>', $log;
            open STDERR, '>&', \*STDOUT;
        }
        exec @cmd or do { print STDERR "exec @cmd: $!\n"; POSIX::_exit(127) };
    }
    $child{$name} = $pid;
    return $pid;
}

my $demo = spawn('demo', $out, cmd => ["$ROOT/demo/run"],
                 TWOFA_MODULE => $TwofaTest::MODULE,
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

my $json = JSON::PP->new;
my ($done, %seen);

pipe(my $rd, my $wr) or die "pipe: $!";
my $walk = fork // die "fork: $!";
if ($walk == 0) {
    setsid();                  # Chromium and its helpers in one group
    close $rd;
    open STDOUT, '>&', $wr;
    open STDIN, '<', '/dev/null';
    open STDERR, '>', "$state/walk.err";     # Chromium's chatter (D-Bus...)
    exec 'node', "$BROWSER/walk.js", '--url', $url, '--admin', $ADMIN,
         '--user', $USER, '--screenshots', "$BROWSER/screenshots"
        or do { print STDERR "exec node: $!\n"; POSIX::_exit(127) };
}
$child{walk} = $walk;
close $wr;

# the walk has its own watchdog; this one is for a walk that hangs anyway
local $SIG{ALRM} = sub { diag('the walk hangs: stopped after 200 s');
                         stop_group('walk', 2) };
alarm 200;

while (my $line = <$rd>) {
    chomp $line;
    my $m = eval { $json->decode($line) };
    if (!$m || ref $m ne 'HASH') {
        note($line);           # not ours (a warning of node's, say)
    } elsif (exists $m->{ok}) {
        # names repeat (each sign-in checks the dashboard): TAP does not mind
        (my $why = $m->{diag} // '') =~ s/\e\[[0-9;]*m//g;   # playwright's colours
        ok($m->{ok}, $m->{name}) or diag($why);
    } elsif (exists $m->{step}) {
        note("-- $m->{step}");
    } elsif (exists $m->{note}) {
        diag($m->{note});
    } elsif (exists $m->{done}) {
        $done = $m;
    }
}
alarm 0;
close $rd;
waitpid $walk, 0;
my $walk_status = $?;
delete $child{walk};
stop_group('walk', 0);        # a Chromium left behind, if any

ok($done && $done->{done} && $walk_status == 0,
   'the walk went to the end' . ($done ? " ($done->{checks} checks in "
                                . sprintf('%.1f', $done->{seconds}) . ' s)' : ''))
    or diag("walk.js exit status " . ($walk_status >> 8)
            . ($walk_status & 127 ? ", signal " . ($walk_status & 127) : '')
            . "; screenshots in t/browser/screenshots/");

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

stop_group('demo', 15);
ok(!-e "$state/nginx.pid", 'the demo stopped (nginx removed its pid file)');

done_testing;
