package TwofaLoad;

# A login load in the background, for the failover and slot-move tests:
# clients forked, each logging in as load1, load2, ... of an org in a loop
# and writing one line per login ("time status location") to a file of
# the test's directory, until stopped (or 90 s).  A login the load counts
# as decided is one held for a code or an enrollment (303 to /2fa/verify
# or /2fa/enroll); 503 is failing closed; anything else is let through.

use strict;
use warnings;
use POSIX ();
use Time::HiRes qw(time);
use TwofaTest;

my $count = 0;

# $t: the test (its directory); $edge: the nginx the clients log in
# through, $t's own by default
sub start {
    my ($class, $t, $org, $n, $edge) = @_;
    my $self = bless { t => $t, name => 'load.' . ++$count, pids => [] },
        $class;
    my $dir = $t->dir;
    unlink "$dir/$self->{name}.stop";
    for my $i (1 .. $n) {
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            open my $out, '>', "$dir/$self->{name}.$i" or POSIX::_exit(1);
            select((select($out), $| = 1)[0]);
            my $c = TwofaTest::Client->new(test => $edge // $t);
            my $stop = time + 90;
            while (time < $stop && !-e "$dir/$self->{name}.stop") {
                my $r = $c->login("load$i", org => $org);
                printf $out "%.3f %d %s\n", time, $r->{status},
                       TwofaTest::Client::location($r) || '-';
            }
            close $out;
            POSIX::_exit(0);
        }
        push @{ $self->{pids} }, $pid;
    }
    return $self;
}

# Stops the clients: (status counts, the lines neither decided nor 503,
# the time of the first login decided after $after, or undef)
sub stop {
    my ($self, $after) = @_;
    my $t = $self->{t};
    $t->write_file("$self->{name}.stop", '');
    waitpid($_, 0) for @{ $self->{pids} };
    my (%status, @bad, $first);
    for my $i (1 .. @{ $self->{pids} }) {
        for my $line (split /\n/, $t->read_file("$self->{name}.$i")) {
            my ($when, $code, $where) = split / /, $line;
            my $decided = $code == 303
                          && $where =~ m{^/2fa/(verify|enroll)\z};
            $status{$code}++;
            push @bad, $line unless $decided || $code == 503;
            $first = $when if $decided && defined $after && $when > $after
                              && (!defined $first || $when < $first);
        }
    }
    return (\%status, \@bad, $first);
}

1;
