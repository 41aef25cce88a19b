package TwofaTest;

# The integration harness: a temporary directory with an nginx.conf, a
# private redis-server, the stand-in app and the distribution's nginx with
# the freshly built module, each on a free loopback port, stopped whatever
# happens (END, die, signals).  Clients are HTTP::Tiny with a cookie jar
# of their own; codes come from oathtool, QR codes are read by zbarimg.

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Temp qw(tempdir);
use HTTP::Tiny;
use IO::Socket::INET;
use POSIX qw(:sys_wait_h setsid);
use Time::HiRes qw(sleep time);

our $ROOT = abs_path(dirname(__FILE__) . '/../..');
our $MODULE = $ENV{TWOFA_MODULE} // "$ROOT/build/nginx/ngx_http_twofa_module.so";
our $NGINX = $ENV{TWOFA_NGINX} // '/usr/sbin/nginx';
our $ADMIN = $ENV{TWOFA_ADMIN} // "$ROOT/build/twofa-admin";
our $PYTHON = '/usr/bin/python3';

my @ALL;

sub new {
    my ($class, %o) = @_;

    die "the module is not built: $MODULE\n"
        unless -f $MODULE || $MODULE eq 'static';

    my $dir = tempdir('twofa-t-XXXXXX', TMPDIR => 1,
                      CLEANUP => !$ENV{TWOFA_KEEP});

    # nginx's workers run as nobody when the tests run as root
    chmod 0755, $dir;

    my $self = bless {
        dir => $dir,
        procs => {},
        port => free_port(),
        app_port => free_port(),
        redis_port => free_port(),
        %o,
    }, $class;

    $self->write_file('key', random_text(48) . "\n", 0600);
    $self->write_file('key2', random_text(48) . "\n", 0600);
    $self->write_file('admin-token', random_text(32) . "\n", 0600);
    mkdir "$dir/www";
    $self->write_file('www/report', "stepped up\n", 0644);

    push @ALL, $self;

    return $self;
}

sub dir { $_[0]{dir} }
sub port { $_[0]{port} }
sub app_port { $_[0]{app_port} }
sub redis_port { $_[0]{redis_port} }
sub url { 'http://127.0.0.1:' . $_[0]{port} . ($_[1] // '/') }

sub admin_token {
    my ($self) = @_;
    my $t = $self->read_file('admin-token');
    chomp $t;
    return $t;
}

sub random_text {
    my ($n) = @_;
    open my $fh, '<', '/dev/urandom' or die "urandom: $!";
    my $raw;
    read($fh, $raw, $n);
    my @c = ('A' .. 'Z', 'a' .. 'z', '0' .. '9');
    return join '', map { $c[ord($_) % @c] } split //, $raw;
}

# A port for one of our servers.  Below the kernel's ephemeral range, so
# that no outgoing connection (a client, nginx to Redis) can take it between
# this check and the server's bind, and never the same one twice in a test.
my %GIVEN;
my ($EPHEMERAL_LOW) = do {
    open my $fh, '<', '/proc/sys/net/ipv4/ip_local_port_range';
    my $range = $fh ? <$fh> : '';
    $range =~ /^(\d+)/ ? $1 : 32768;
};

sub free_port {
    my $high = $EPHEMERAL_LOW < 32768 ? $EPHEMERAL_LOW : 32768;
    my $low = $high > 12000 ? $high - 12000 : 0;
    for (1 .. 200) {
        my $port = $low ? $low + int(rand($high - $low)) : 0;
        my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                      LocalPort => $port, Proto => 'tcp',
                                      Listen => 1, ReuseAddr => 1)
            or next;
        $port = $s->sockport;
        close $s;
        return $port unless $GIVEN{$port}++;
    }
    die "no free port: $!";
}

sub write_file {
    my ($self, $name, $text, $mode) = @_;
    my $path = "$self->{dir}/$name";
    open my $fh, '>', $path or die "$path: $!";
    print $fh $text;
    close $fh;
    chmod $mode, $path if defined $mode;
    return $path;
}

sub read_file {
    my ($self, $name) = @_;
    my $path = $name =~ m{^/} ? $name : "$self->{dir}/$name";
    open my $fh, '<', $path or return '';
    local $/;
    return scalar <$fh>;
}

# ---- processes ---------------------------------------------------------

sub spawn {
    my ($self, $name, @cmd) = @_;

    my $log = "$self->{dir}/$name.out";
    my $pid = fork // die "fork: $!";

    if ($pid == 0) {
        setsid();
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', $log;
        open STDERR, '>&', \*STDOUT;
        exec @cmd or do { print "exec @cmd: $!\n"; POSIX::_exit(127) };
    }

    $self->{procs}{$name} = $pid;
    return $pid;
}

sub stop {
    my ($self, $name, $signal) = @_;

    my $pid = delete $self->{procs}{$name} or return;

    kill $signal // 'TERM', -$pid;

    my $deadline = time + 10;
    while (time < $deadline) {
        return if waitpid($pid, WNOHANG) != 0;
        sleep 0.05;
    }

    kill 'KILL', -$pid;
    waitpid $pid, 0;
}

sub running {
    my ($self, $name) = @_;
    my $pid = $self->{procs}{$name} or return 0;
    return waitpid($pid, WNOHANG) == 0;
}

sub wait_port {
    my ($port, $timeout) = @_;
    my $deadline = time + ($timeout // 10);
    while (time < $deadline) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $port, Proto => 'tcp');
        if ($s) { close $s; return 1 }
        sleep 0.05;
    }
    return 0;
}

sub stop_all {
    my ($self) = @_;
    for my $name (qw(nginx nginx2 app redis), keys %{ $self->{procs} }) {
        $self->stop($name, $name =~ /^nginx/ ? 'QUIT' : 'TERM');
    }
}

# waitpid sets $?, which END would make the test's exit status
END { local $?; $_->stop_all for @ALL }

$SIG{INT} = $SIG{TERM} = sub { $_->stop_all for @ALL; exit 1 };

# ---- redis -------------------------------------------------------------

sub start_redis {
    my ($self, %o) = @_;

    my @conf = (
        "port $self->{redis_port}",
        "bind 127.0.0.1",
        "save \"\"",
        "appendonly no",
        "dir $self->{dir}",
        "daemonize no",
        "enable-debug-command local",
    );

    if ($o{password}) {
        push @conf, "requirepass $o{password}";
        $self->{redis_password} = $o{password};
    }

    if ($o{unix}) {
        $self->{redis_socket} = "$self->{dir}/redis.sock";
        push @conf, "unixsocket $self->{redis_socket}", "unixsocketperm 777";
    }

    $self->write_file('redis.conf', join("\n", @conf) . "\n");
    $self->spawn('redis', 'redis-server', "$self->{dir}/redis.conf");

    wait_port($self->{redis_port}) or die "redis-server did not start:\n"
        . $self->read_file('redis.out');

    # a new deployment is initialised once (twofa-admin init does the same)
    $self->init_redis($o{prefix}) unless defined $o{init} && !$o{init};

    return $self;
}

sub init_redis {
    my ($self, $prefix) = @_;
    $self->redis('HSET', ($prefix // 'twofa:') . 'deployment',
                 'created', time, 'by', 'test');
}

# kill -9 and start again: without persistence, the data is gone; the
# deployment is initialised again unless init => 0
sub restart_redis {
    my ($self, %o) = @_;
    $self->stop('redis', 'KILL');
    $self->spawn('redis', 'redis-server', "$self->{dir}/redis.conf");
    wait_port($self->{redis_port}) or die "redis-server did not restart";
    $self->init_redis unless defined $o{init} && !$o{init};
}

# redis-cli, an independent client: its output, chomped
sub redis {
    my ($self, @args) = @_;
    my @auth = $self->{redis_password}
               ? ('--no-auth-warning', '-a', $self->{redis_password}) : ();
    open my $fh, '-|', 'redis-cli', '-p', $self->{redis_port}, @auth, @args
        or die "redis-cli: $!";
    my $out = do { local $/; <$fh> } // '';
    close $fh;
    $out =~ s/\n\z//;
    return $out;
}

# ---- the app -----------------------------------------------------------

sub start_app {
    my ($self) = @_;
    $self->spawn('app', $PYTHON, "$ROOT/t/lib/app.py",
                 '--port', $self->{app_port});
    wait_port($self->{app_port}) or die "the app did not start:\n"
        . $self->read_file('app.out');
    return $self;
}

# ---- nginx -------------------------------------------------------------

# The http{} block our tests use: the module's directives, then `http`,
# then one server with `server` (or the default locations).
sub conf {
    my ($self, %o) = @_;

    my $d = $self->{dir};
    my $redis = $o{redis} // "127.0.0.1:$self->{redis_port}";
    my $workers = $o{workers} // 1;
    my $level = $o{log_level} // 'info';
    my $port = $o{port} // $self->{port};
    my $app = $self->{app_port};

    my $twofa = $o{twofa} // <<"END";
    twofa_redis $redis timeout=${\ ($o{timeout} // '1s')};
    twofa_key_file $d/key;
END

    my $server = $o{server} // <<"END";
        location = /login {
            twofa_login on;
            twofa_user \$upstream_http_x_user_id;
            twofa_org \$upstream_http_x_org_id;
            proxy_pass http://127.0.0.1:$app;
        }
        location /2fa/ { twofa_pages; }
        location /twofa-admin/ {
            twofa_admin;
            twofa_admin_token_file $d/admin-token;
        }
        location /step-up/ {
            twofa_gate max_age=${\ ($o{gate_max_age} // '1h')};
            alias $d/www/;
        }
        location /fast {
            return 200 "fast\\n";
        }
        location / {
            proxy_pass http://127.0.0.1:$app;
            proxy_set_header X-TwoFA \$twofa_amr;
        }
END

    # TWOFA_MODULE=static: an nginx built with --add-module
    my $load = $MODULE eq 'static' ? '' : "load_module $MODULE;";

    return <<"END";
$load
daemon off;
master_process on;
worker_processes $workers;
error_log $d/error.log $level;
pid $d/nginx${\ ($o{name} // '')}.pid;
events { worker_connections 1024; }
http {
    log_format twofa '\$request \$status user=\$twofa_user org=\$twofa_org result=\$twofa_result';
    access_log $d/access.log twofa;
    client_body_temp_path $d/body;
    proxy_temp_path $d/proxy;
    fastcgi_temp_path $d/fastcgi;
    uwsgi_temp_path $d/uwsgi;
    scgi_temp_path $d/scgi;
$twofa
${\ ($o{http} // '')}
    server {
        listen 127.0.0.1:$port${\ ($o{listen} ? " $o{listen}" : '')};
${\ ($o{server_extra} // '')}
$server
    }
}
END
}

# nginx -t of a configuration text: (exit status, what it printed)
sub nginx_t {
    my ($self, $text, $name) = @_;
    my $file = $self->write_file($name // 'test.conf', $text);
    my $out = `$NGINX -t -p $self->{dir} -c $file -e $self->{dir}/test-error.log 2>&1`;
    return ($? >> 8, $out);
}

# The nginx under test, as one comparable number: 1.25.1 is 1025001.
# Where directives differ between versions (`http2 on;` since 1.25.1).
sub nginx_version {
    my ($v) = `$NGINX -v 2>&1` =~ m{nginx/(\d+\.\d+\.\d+)}
        or die "$NGINX -v: no version";
    my ($major, $minor, $patch) = split /\./, $v;
    return $major * 1000000 + $minor * 1000 + $patch;
}

# What `nginx -V` says it was built with (--with-http_v3_module, ...)
sub nginx_has {
    my ($flag) = @_;
    return `$NGINX -V 2>&1` =~ /\Q$flag\E\b/ ? 1 : 0;
}

sub start_nginx {
    my ($self, %o) = @_;

    my $name = $o{name} // 'nginx';
    my $file = "$self->{dir}/$name.conf";

    $self->write_file("$name.conf", $o{text} // $self->conf(%o));

    my $out = `$NGINX -t -p $self->{dir} -c $file -e $self->{dir}/$name-t.log 2>&1`;
    die "nginx -t failed:\n$out" if $?;

    # TWOFA_VALGRIND=1: nginx and its workers under memcheck, one log per
    # process; the test that stops nginx then reads them (valgrind_errors)
    my @wrap = $ENV{TWOFA_VALGRIND}
        ? ('valgrind', '--trace-children=yes', '--leak-check=full',
           '--show-leak-kinds=definite', '--errors-for-leak-kinds=definite',
           '--num-callers=30', "--suppressions=$ROOT/t/valgrind.supp",
           "--log-file=$self->{dir}/vg-$name.%p.log")
        : ();

    $self->spawn($name, @wrap, $NGINX, '-p', $self->{dir}, '-c', $file,
                 '-e', "$self->{dir}/$name-stderr.log");

    wait_port($o{port} // $self->{port}, $ENV{TWOFA_VALGRIND} ? 60 : 10)
        or die "nginx did not start:\n" . $self->read_file("$name-stderr.log")
               . $self->read_file('error.log');
    return $self;
}

sub reload_nginx {
    my ($self, $name) = @_;
    my $pid = $self->{procs}{$name // 'nginx'} or die "no nginx";
    kill 'HUP', $pid;
}

sub error_log { $_[0]->read_file('error.log') }

# The access log from here on (access_mark), and its last line for a
# request that matches, once nginx wrote it (within 3 s), or undef.
sub access_mark { $_[0]{access_mark} = length $_[0]->read_file('access.log') }
sub access_line {
    my ($self, $re) = @_;
    my $deadline = Time::HiRes::time() + 3;
    while (1) {
        my ($line) = reverse grep { /$re/ } split /\n/,
            substr($self->read_file('access.log'), $self->{access_mark} // 0);
        return $line if defined $line || Time::HiRes::time() > $deadline;
        Time::HiRes::sleep(0.05);
    }
}

# With TWOFA_VALGRIND=1: stop nginx (its exit hooks run), then one test
# that memcheck found nothing.  Without it, nothing.
sub memcheck_ok {
    my ($self) = @_;
    return unless $ENV{TWOFA_VALGRIND};
    $self->stop($_, 'QUIT') for grep { /^nginx/ } keys %{ $self->{procs} };
    my @errors = $self->valgrind_errors;
    Test::More::ok(!@errors, 'valgrind: no memory errors, no leaks')
        or Test::More::diag(join "\n", @errors);
}

# memcheck's findings in every process of this test (TWOFA_VALGRIND=1)
sub valgrind_errors {
    my ($self) = @_;
    my @found;
    for my $log (glob "$self->{dir}/vg-*.log") {
        my $text = $self->read_file($log);
        push @found, "$log:\n$text"
            if $text =~ /ERROR SUMMARY: [1-9]|definitely lost: [1-9]/;
    }
    return @found;
}

# ---- clients -----------------------------------------------------------

sub client {
    my ($self, %o) = @_;
    return TwofaTest::Client->new(test => $self, %o);
}

# oathtool computes the code: TOTP SHA1, 6 digits, 30 s, at now + offset
sub totp {
    my ($secret, $offset) = @_;
    $secret =~ s/\s+//g;
    # a code of a past step is refused once the next step begins: not
    # made in the last moments of a step, or the server may see it later
    if (defined $offset && $offset < 0) {
        my $into = time() - 30 * int(time() / 30);
        sleep(30.05 - $into) if $into > 28.5;
    }
    my @at = defined $offset ? ('-N', '@' . (time() + $offset)) : ();
    my $code = `oathtool --totp -b @at $secret`;
    die "oathtool failed" if $?;
    chomp $code;
    return $code;
}

# zbarimg reads the QR code of a page: rsvg-convert rasterises the SVG
sub read_qr {
    my ($self, $html) = @_;
    my ($svg) = $html =~ m{(<svg\b[^>]*id="twofa-qr".*?</svg>)}s
        or return undef;
    my $in = $self->write_file('qr.svg', $svg);
    system("rsvg-convert -w 600 -b white $in -o $self->{dir}/qr.png"
           . ' 2>/dev/null') == 0 or return undef;
    my $uri = `zbarimg --raw -q $self->{dir}/qr.png 2>/dev/null`;
    chomp $uri;
    return $uri;
}

# every value of a response header (HTTP::Tiny gives one or an array)
sub all_headers {
    my ($res, $name) = @_;
    my $v = $res->{headers}{$name} // return ();
    return ref $v ? @$v : ($v);
}

sub field {
    my ($html, $name) = @_;
    my ($v) = $html =~ m{name="\Q$name\E"\s+value="([^"]*)"};
    return $v;
}

sub secret_of {
    my ($html) = @_;
    my ($v) = $html =~ m{<code[^>]*id="twofa-secret"[^>]*>([^<]*)</code>};
    return $v;
}

package TwofaTest::Client;

use strict;
use warnings;

use HTTP::Tiny;

sub new {
    my ($class, %o) = @_;
    return bless {
        http => HTTP::Tiny->new(max_redirect => 0, timeout => 15,
                                agent => 'twofa-test',
                                keep_alive => $o{keep_alive} // 1),
        jar => {},
        %o,
    }, $class;
}

sub cookie {
    my ($self, $name, $value) = @_;
    $self->{jar}{$name} = $value if @_ > 2;
    return $self->{jar}{$name};
}

sub forget { my ($self, $name) = @_; delete $self->{jar}{$name} }

# request(METHOD, PATH, form => {...} | body => ..., json => 1, headers)
sub request {
    my ($self, $method, $path, %o) = @_;

    my %h = %{ $o{headers} // {} };
    $h{Accept} = 'application/json' if $o{json};

    my $cookies = join '; ', map { "$_=$self->{jar}{$_}" }
                             sort keys %{ $self->{jar} };
    $h{Cookie} = $cookies if length $cookies;

    my $content = $o{body};
    if ($o{form}) {
        $content = $self->{http}->www_form_urlencode($o{form});
        $h{'Content-Type'} = 'application/x-www-form-urlencoded';
    }

    my $url = $path =~ m{^http} ? $path : $self->{test}->url($path);
    my $res = $self->{http}->request($method, $url,
        { headers => \%h, defined $content ? (content => $content) : () });

    my $set = $res->{headers}{'set-cookie'} // [];
    for my $c (ref $set ? @$set : ($set)) {
        my ($name, $value) = $c =~ /^([^=]+)=([^;]*)/ or next;
        if ($c =~ /Max-Age=0\b/i) { delete $self->{jar}{$name} }
        else { $self->{jar}{$name} = $value }
        # every value ever sent, deletions included (seen)
        push @{ $self->{seen}{$name} }, $value
            unless grep { $_ eq $value } @{ $self->{seen}{$name} // [] };
    }

    return $res;
}

sub escape {
    my ($s) = @_;
    $s =~ s/([^A-Za-z0-9\-._~])/sprintf('%%%02X', ord $1)/ge;
    return $s;
}

# every value of cookie NAME the client was ever sent, in order
sub seen { @{ $_[0]{seen}{$_[1]} // [] } }

sub get { my ($self, $path, %o) = @_; $self->request('GET', $path, %o) }
sub post { my ($self, $path, %o) = @_; $self->request('POST', $path, %o) }

sub location {
    my ($res) = @_;
    my $l = $res->{headers}{location} // '';
    $l =~ s{^https?://[^/]+}{};
    return $l;
}

# A whole first login with enrollment: login, enrollment page, first code
# (at now + enroll_offset: -30 leaves two later steps for the test, as skew
# 1 accepts three), recovery codes, continue.  Returns { secret, codes, res (the release),
# page (the enrollment page), step_offset }.
sub enroll {
    my ($self, $user, %o) = @_;
    my $r = $self->login($user, %o);
    die "login of $user was not held for enrollment: $r->{status} "
        . location($r) . "\n" unless $r->{status} == 303
        && location($r) eq '/2fa/enroll';
    my $page = $self->get('/2fa/enroll');
    die "no enrollment page: $r->{status}\n" unless $page->{status} == 200;
    my $secret = TwofaTest::secret_of($page->{content});
    my $csrf = TwofaTest::field($page->{content}, 'csrf');
    $r = $self->post('/2fa/enroll', form => {
        code => TwofaTest::totp($secret, $o{enroll_offset}), csrf => $csrf });
    die "enrollment failed: $r->{status}\n" unless $r->{status} == 200;
    my @codes = $r->{content} =~ m{<li><code>([a-z2-7]{5}-[a-z2-7]{5})</code></li>}g;
    my $rel = $self->post('/2fa/continue', form => { csrf => $csrf });
    return { secret => $secret, codes => \@codes, res => $rel,
             page => $page->{content} };
}

# A login of an enrolled user, verified with a code: the release.
sub verify {
    my ($self, $user, $secret, %o) = @_;
    my $r = $self->login($user, %o);
    die "login of $user was not held for a code: $r->{status}\n"
        unless $r->{status} == 303 && location($r) eq '/2fa/verify';
    my $page = $self->get('/2fa/verify');
    my $csrf = TwofaTest::field($page->{content}, 'csrf');
    return $self->post('/2fa/verify', form => {
        code => $o{code} // TwofaTest::totp($secret, $o{offset} // 30),
        csrf => $csrf });
}

# the app's login; password is "pw-USER" for the stand-in app
sub login {
    my ($self, $user, %o) = @_;
    my %form = (user => $user, password => $o{password} // "pw-$user");
    $form{org} = $o{org} if $o{org};
    $form{id} = $o{id} if defined $o{id};
    my $path = '/login' . ($o{size} ? "?size=$o{size}" : '');
    return $self->post($path, form => \%form, json => $o{json});
}

1;
