package TwofaStandin;

# The stand-in app of t/46-any-app.t (t/lib/standin_app.py: an app that
# never names the user in a header), its clients, and the steps of the
# 2FA pages that follow a held login, whatever made the login.
#
#   my $port = TwofaStandin->start($t);
#   my $c = TwofaStandin->client($t);
#   $c->login_form('alice');  $c->login_multipart('bob');
#   $c->login_json('carol');  $c->post_raw($path, $type, $body);
#   my $e = TwofaStandin::enroll_held($c);    # after a 303 to enroll
#   TwofaStandin::verify_held($c, $secret);   # after a 303 to verify
#   $c->seen('sid');                          # every value ever received

use strict;
use warnings;

use JSON::PP;
use TwofaTest;

# For http{}: $standin_passed is 1 when the app's answer says the
# password passed (its 302: the fixation modes set no cookie at all, so a
# cookie cannot be the signal)
our $PASSED_MAP = <<'END';
    map $upstream_status $standin_passed {
        302      1;
        default  0;
    }
END

sub start {
    my ($class, $t) = @_;
    my $port = TwofaTest::free_port();
    $t->spawn('standin', $TwofaTest::PYTHON,
              "$TwofaTest::ROOT/t/lib/standin_app.py", '--port', $port);
    TwofaTest::wait_port($port) or die "the stand-in app did not start:\n"
        . $t->read_file('standin.out');
    return $port;
}

sub client {
    my ($class, $t, %o) = @_;
    return TwofaStandin::Client->new(test => $t, %o);
}

# After a login held for enrollment (303 to /2fa/enroll): the page, the
# first code (at now + offset), the recovery codes, before_continue->()
# if given, continue.
sub enroll_held {
    my ($c, %o) = @_;
    my $page = $c->get('/2fa/enroll');
    die "no enrollment page: $page->{status}\n" unless $page->{status} == 200;
    my $secret = TwofaTest::secret_of($page->{content})
        // die "no key on the enrollment page\n";
    my $csrf = TwofaTest::field($page->{content}, 'csrf');
    my $r = $c->post('/2fa/enroll', form => {
        code => TwofaTest::totp($secret, $o{offset}), csrf => $csrf });
    my @codes = $r->{content}
        =~ m{<li><code>([a-z2-7]{5}-[a-z2-7]{5})</code></li>}g;
    $o{before_continue}->($r) if $o{before_continue};
    my $rel = $r->{status} == 200
        ? $c->post('/2fa/continue', form => { csrf => $csrf }) : undef;
    return { secret => $secret, codes => \@codes, enrolled => $r,
             res => $rel, page => $page->{content} };
}

# After a login held for a code (303 to /2fa/verify): the code (code =>,
# or TOTP at now + offset, default +30 s) posted; the release.
sub verify_held {
    my ($c, $secret, %o) = @_;
    my $page = $c->get('/2fa/verify');
    die "no code page: $page->{status}\n" unless $page->{status} == 200;
    my $csrf = TwofaTest::field($page->{content}, 'csrf');
    return $c->post('/2fa/verify', form => {
        code => $o{code} // TwofaTest::totp($secret, $o{offset} // 30),
        csrf => $csrf });
}

# the Set-Cookie lines of a response for NAME
sub set_cookies {
    my ($res, $name) = @_;
    return grep { /^\Q$name\E=/i } TwofaTest::all_headers($res, 'set-cookie');
}

package TwofaStandin::Client;

use strict;
use warnings;

use JSON::PP;

our @ISA = ('TwofaTest::Client');


# a POST of a body as given (the client's cookies go along)
sub post_raw {
    my ($self, $path, $type, $body, %o) = @_;
    return $self->post($path, body => $body,
        headers => { %{ $o{headers} // {} },
                     defined $type ? ('Content-Type' => $type) : () });
}

sub credentials {
    my ($user, %o) = @_;
    my $account = $user;
    $account =~ s/^\s+|\s+$//g;
    return (user => $user, password => $o{password} // 'pw-' . lc $account);
}

sub login_form {
    my ($self, $user, %o) = @_;
    my %f = credentials($user, %o);
    return $self->post($o{path} // '/login',
                       form => { %f, %{ $o{extra} // {} } });
}

sub login_multipart {
    my ($self, $user, %o) = @_;
    my %f = credentials($user, %o);
    my ($type, $body) = multipart([ %f, %{ $o{extra} // {} } ]);
    return $self->post_raw($o{path} // '/login', $type, $body);
}

sub login_json {
    my ($self, $user, %o) = @_;
    my %f = credentials($user, %o);
    return $self->post_raw($o{path} // '/login',
                           $o{type} // 'application/json',
                           JSON::PP->new->canonical->encode(
                               { %f, %{ $o{extra} // {} } }));
}

# multipart/form-data of [name, value, ...]: (Content-Type, body)
sub multipart {
    my ($fields, $boundary) = @_;
    $boundary //= '----twofa' . TwofaTest::random_text(16);
    my $body = '';
    my @f = @$fields;
    while (my ($name, $value) = splice @f, 0, 2) {
        $body .= "--$boundary\r\n"
               . "Content-Disposition: form-data; name=\"$name\"\r\n\r\n"
               . "$value\r\n";
    }
    $body .= "--$boundary--\r\n";
    return ("multipart/form-data; boundary=$boundary", $body);
}

1;
