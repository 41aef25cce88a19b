package TwofaBrowser;

# What the real-browser tests share (t/50-browser.t: the demo,
# t/51-browser-django.t: Django's admin): Debian's chromium driven by
# playwright-core (pinned in t/browser/package-lock.json) through a walk in
# t/browser/ (its shared parts in t/browser/common.js).
#
#   TwofaBrowser::prerequisites() or exit;   # fail, never skip
#   TwofaBrowser::node_modules() or exit;    # npm ci from the lockfile
#   my $pid = TwofaBrowser::spawn('demo', $log, cmd => [...], ENV => ...);
#   TwofaBrowser::walk('walk.js', [args], err => "$dir/walk.err");
#   TwofaBrowser::stop_group('demo', 15);
#
# Every process spawned here leads a process group of its own (Chromium
# and its helpers, a script's children): one kill stops all of it, at the
# end of the test whatever happens (END, INT, TERM).  A missing chromium,
# node or npm is a failure, not a skip: `make test` installs them
# (deps-test).  Screenshots stay in t/browser/screenshots/ (git-ignored).

use strict;
use warnings;

use Digest::SHA;
use Exporter qw(import);
use JSON::PP;
use POSIX qw(:sys_wait_h setsid);
use Test::More;
use Time::HiRes qw(sleep time);
use TwofaTest ();

our @EXPORT_OK = qw(slurp tail);

our $ROOT = $TwofaTest::ROOT;
our $BROWSER = "$ROOT/t/browser";
our $SCREENSHOTS = "$BROWSER/screenshots";
our $CHROMIUM = '/usr/bin/chromium';

my %child;                     # name -> pid, each the leader of its group
my @order;                     # names, the first spawned last stopped
my %grace;                     # name -> seconds TERM may take

# TERM to the group, up to $grace seconds, then KILL
sub stop_group {
    my ($name, $grace) = @_;
    my $pid = delete $child{$name} or return;
    @order = grep { $_ ne $name } @order;
    kill 'TERM', -$pid;
    my $deadline = time + ($grace // $grace{$name} // 10);
    while (time < $deadline) {
        last if waitpid($pid, WNOHANG) != 0;
        sleep 0.05;
    }
    kill 'KILL', -$pid;        # whatever is left of the group
    waitpid $pid, 0;
}

sub stop_all { stop_group($_) for reverse @order }

# waitpid sets $?, which END would make the test's exit status.  A
# signal: ours, then the handler that was there (TwofaTest's stops its
# processes), then out.
END { local $?; stop_all() }
{
    my %before = map { $_ => $SIG{$_} } qw(INT TERM);
    for my $sig (qw(INT TERM)) {
        $SIG{$sig} = sub {
            stop_all();
            $before{$sig}->(@_) if ref $before{$sig} eq 'CODE';
            exit 1;
        };
    }
}
$SIG{PIPE} = 'IGNORE';

# a file's text, '' if it cannot be read
sub slurp {
    open my $fh, '<', $_[0] or return '';
    return do { local $/; <$fh> };
}

# the last $n lines
sub tail {
    my ($text, $n) = @_;
    my @l = split /\n/, $text;
    return join "\n", @l > $n ? @l[-$n .. -1] : @l;
}

sub on_path {
    my ($cmd) = @_;
    return grep { -x "$_/$cmd" } split /:/, $ENV{PATH} // '';
}

# ---- what a walk needs: fail, never skip --------------------------------

# One test each: chromium, node 18 or newer, npm, oathtool, zbarimg,
# redis-server, the module, and what @more names: commands on the PATH, or
# [name, whether it is there].  False (after
# done_testing) when one is missing: the test then exits.
sub prerequisites {
    my (@more) = @_;
    my @missing;
    for my $need (['chromium', -x $CHROMIUM], ['node', on_path('node')],
                  ['npm', on_path('npm')],
                  map({ ref $_ ? $_ : [$_, on_path($_)] }
                      qw(oathtool zbarimg redis-server), @more),
                  ['the module', -f $TwofaTest::MODULE]) {
        ok($need->[1], "$need->[0] is there") or push @missing, $need->[0];
    }
    if (@missing) {
        diag("missing: @missing (`make deps-test` installs the packages, "
             . '`make module` builds the module)');
        done_testing;
        return 0;
    }

    my $node_version = `node --version`;
    chomp $node_version;
    ok($node_version =~ /^v(\d+)\./ && $1 >= 18,
       "node $node_version is 18 or newer") or do { done_testing; return 0 };
    return 1;
}

# ---- node_modules from the lockfile -------------------------------------

# npm ci when node_modules is missing or was made from another lockfile
# (a stamp with the lockfile's digest, written after a good npm ci).  One
# test; false (after done_testing) when npm ci failed.
sub node_modules {
    my $digest = Digest::SHA->new(256)->addfile("$BROWSER/package-lock.json")
        ->add(slurp("$BROWSER/package.json"))->hexdigest;
    my $stamp = "$BROWSER/node_modules/.twofa-lock-sha256";
    if (-d "$BROWSER/node_modules/playwright-core"
        && slurp($stamp) eq "$digest\n") {
        pass('node_modules matches the lockfile');
        return 1;
    }

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
        return 1;
    }
    diag($out);
    done_testing;
    return 0;
}

# ---- processes ------------------------------------------------------------

# fork, a process group of its own, exec cmd => [...] with the other
# pairs added to its environment; stdin from /dev/null, stdout and stderr
# appended to $log (undef: inherited), stdout => FH instead for stdout.
# grace => seconds TERM may take when everything stops.
sub spawn {
    my ($name, $log, %env) = @_;
    my @cmd = @{ delete $env{cmd} };
    my $stdout = delete $env{stdout};
    my $grace = delete $env{grace};
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        setsid();              # its own group: one kill stops all of it
        @ENV{ keys %env } = values %env;
        open STDIN, '<', '/dev/null';
        if ($stdout) {
            open STDOUT, '>&', $stdout;
            open STDERR, '>>', $log if $log;
        } elsif ($log) {
            open STDOUT, '>>', $log;
            open STDERR, '>&', \*STDOUT;
        }
        exec @cmd or do { print STDERR "exec @cmd: $!\n"; POSIX::_exit(127) };
    }
    $child{$name} = $pid;
    push @order, $name;
    $grace{$name} = $grace if defined $grace;
    return $pid;
}

# ---- the walk -----------------------------------------------------------

# node t/browser/SCRIPT ARGS... --screenshots DIR (screenshots =>, by
# default t/browser/screenshots; the walk empties it of PNGs first), in
# its own process group (stderr, Chromium's chatter, to err =>), its JSON
# lines (see t/browser/common.js) as TAP, then one test that it went to
# the end.  The walk has its own watchdog; this one (timeout => seconds,
# 200) is for a walk that hangs anyway.  True if the walk passed.
sub walk {
    my ($script, $args, %o) = @_;
    my $json = JSON::PP->new;
    my $done;

    pipe(my $rd, my $wr) or die "pipe: $!";
    my $pid = spawn('walk', $o{err}, stdout => $wr, grace => 2,
                    cmd => ['node', "$BROWSER/$script", @$args,
                            '--screenshots', $o{screenshots} // $SCREENSHOTS]);
    close $wr;

    my $timeout = $o{timeout} // 200;
    local $SIG{ALRM} = sub { diag("the walk hangs: stopped after $timeout s");
                             stop_group('walk', 2) };
    alarm $timeout;

    while (my $line = <$rd>) {
        chomp $line;
        my $m = eval { $json->decode($line) };
        if (!$m || ref $m ne 'HASH') {
            note($line);       # not ours (a warning of node's, say)
        } elsif (exists $m->{ok}) {
            # names repeat (each sign-in checks the page): TAP does not mind
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
    waitpid $pid, 0;
    my $status = $?;
    stop_group('walk', 0);     # the group outlives node: a Chromium left behind

    my $went = $done && $done->{done} && $status == 0;
    ok($went, 'the walk went to the end' . ($done ? " ($done->{checks} checks in "
              . sprintf('%.1f', $done->{seconds}) . ' s)' : ''))
        or diag("$script exit status " . ($status >> 8)
                . ($status & 127 ? ', signal ' . ($status & 127) : '')
                . '; screenshots in ' . ($o{screenshots} // $SCREENSHOTS));
    return $went;
}

1;
