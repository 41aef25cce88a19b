package TwofaFailover;

# What the failover tests (t/41 Sentinel, t/42 Cluster) do around the kill
# of a primary, whatever the topology: a code accepted and a hold taken
# just before it, which must not be accepted or released again after it;
# and a code posted while the primary is frozen and then killed, which
# must fail closed (503, nothing released).

use strict;
use warnings;
use POSIX ();
use Test::More;
use Time::HiRes qw(time);
use TwofaTest;

my $loc = \&TwofaTest::Client::location;

sub held {
    my ($r) = @_;
    return $r->{status} == 303 && $loc->($r) =~ m{^/2fa/(verify|enroll)\z};
}

# $user of $org, enrolled with $secret, logs in and presents a code: it
# is accepted and the login released.  The code, the hold and its CSRF
# token are kept for replay_refused.
sub accepted_before {
    my ($t, $org, $user, $secret) = @_;
    my %b = (org => $org, user => $user, secret => $secret,
             code => TwofaTest::totp($secret, 30), client => $t->client);
    my $c = $b{client};
    ok(held($c->login($user, org => $org)), "$user held");
    $b{hold} = $c->cookie('twofa_hold');
    $b{csrf} = TwofaTest::field($c->get('/2fa/verify')->{content}, 'csrf');
    my $r = $c->post('/2fa/verify',
                     form => { code => $b{code}, csrf => $b{csrf} });
    is($r->{status}, 303, 'a code accepted just before the failover');
    is($loc->($r), '/home', 'released');
    $b{at} = time;
    return \%b;
}

# After the failover: that code is refused as a used one while it is
# still within its time window ($window s), and that hold is gone.
sub replay_refused {
    my ($t, $b, $window) = @_;
    my $r = $t->client->verify($b->{user}, $b->{secret}, org => $b->{org},
                               code => $b->{code});
    isnt($loc->($r), '/home', 'the code accepted before the failover is '
                              . 'refused after it: no replay');
    is($r->{status}, 401, 'as a used code');
    ok(time - $b->{at} < $window, 'while it was still in the time window');

    $b->{client}->cookie('twofa_hold', $b->{hold});
    $r = $b->{client}->post('/2fa/continue', form => { csrf => $b->{csrf} });
    is($r->{status}, 401, 'the hold released before the failover cannot '
                          . 'be released after it');
    like($r->{content}, qr/Sign-in expired/, 'it has expired');
}

# $user of $org enrolled and held at the code box, for a code in flight
sub held_for_code {
    my ($t, $org, $user) = @_;
    my $e = $t->client->enroll($user, org => $org, enroll_offset => -30);
    is($e->{res}{status}, 303, "$user enrolled");
    my $c = $t->client;
    ok(held($c->login($user, org => $org)), "$user held");
    return { %$e, client => $c, org => $org,
             csrf => TwofaTest::field($c->get('/2fa/verify')->{content},
                                      'csrf') };
}

# The held user's code, posted by a forked client; in_flight_refused
# waits for its answer once the primary is killed.
sub post_in_flight {
    my ($t, $h) = @_;
    my $pid = fork // die "fork: $!";
    return $pid if $pid;
    my $r = $h->{client}->post('/2fa/verify', form => {
        code => TwofaTest::totp($h->{secret}, 30), csrf => $h->{csrf} });
    $t->write_file('inflight.txt', sprintf "%d %s %d", $r->{status},
                   $loc->($r) || '-',
                   scalar grep { /app_session/ }
                       TwofaTest::all_headers($r, 'set-cookie'));
    POSIX::_exit(0);
}

sub in_flight_refused {
    my ($t, $pid) = @_;
    waitpid($pid, 0);
    my ($code, $where, $cookies) = split / /, $t->read_file('inflight.txt');
    is($code, 503, 'the code in flight when the primary died: 503');
    isnt($where, '/home', 'not released');
    is($cookies, 0, 'no app session cookie');
}

1;
