package TwofaTopology;

# Real Redis topologies for the tests, from Debian's redis-server on free
# loopback ports: a primary with replicas watched by three sentinels, and
# a cluster of primaries with a replica each.  Processes are started and
# stopped through a TwofaTest object (its temporary directory, its process
# table, so its END and signal handlers stop them too) or, without one,
# through a bare host of our own; our END stops them whatever happens.
# Each process logs to NAME.out in the directory, for diagnosis.
#
#   my $s = TwofaTopology->sentinel($t, password => 'pw');
#   my $primary = $s->primary;            # "127.0.0.1:PORT", from a sentinel
#   $s->kill_primary;                     # kill -9
#   my ($new, $secs) = $s->wait_promotion;
#
#   my $c = TwofaTopology->cluster($t);
#   my $node = $c->primary_of($slot);     # the slot from twofa_slot()
#   $c->move_slot($slot, $other_primary, pause => 0.3);
#
# Timeouts are short so that failovers take seconds: down-after and
# cluster-node-timeout 1000 ms, failover-timeout 3000 ms, and the
# sentinels' periods shortened with SENTINEL DEBUG (INFO every second
# instead of every ten, hello messages every half second instead of two,
# PING every quarter second instead of every second), which is for tests
# only.

use strict;
use warnings;

use POSIX ();
use Time::HiRes qw(sleep time);
use TwofaTest;

my @ALL;
my $SEQ = 0;

# A sentinel's periods in tests (SENTINEL DEBUG); see above.  PING every
# 250 ms: by default a sentinel pings every min(1000 ms, down-after), and
# the entry it makes afresh for a new primary counts as down when no PONG
# came within down-after of its making, so that with down-after 1000 ms
# the new primary was now and then failed over again a second later.
my @SENTINEL_DEBUG = ('info-period', 1000, 'publish-period', 500,
                      'ping-period', 250);

sub addr { "127.0.0.1:$_[0]" }

# TwofaTest::free_port never gives the same port twice in a test
sub free_port { TwofaTest::free_port() }

sub port_of {
    my ($addr) = @_;
    my ($port) = $addr =~ /:(\d+)\z/ or die "not HOST:PORT: $addr\n";
    return $port;
}

# Runs a command with input (a text, or nothing) on its standard input:
# what it printed on standard output and error.  The child never returns
# into the test (its END would stop everything).
sub run {
    my ($input, @cmd) = @_;

    my $in;
    if (defined $input) {
        open $in, '+>', undef or die "temp file: $!";
        print $in $input;
        seek $in, 0, 0;
    }

    my $pid = open my $fh, '-|';
    defined $pid or die "fork: $!";
    if ($pid == 0) {
        ($in ? open(STDIN, '<&', $in) : open(STDIN, '<', '/dev/null'))
            && open(STDERR, '>&', \*STDOUT)
            && exec @cmd;
        POSIX::_exit(127);
    }
    my $out = do { local $/; <$fh> } // '';
    close $fh;
    return $out;
}

# redis-cli, an independent client, against HOST:PORT: its output,
# chomped (a list of lines in list context).  A hash first, { input =>
# TEXT }, feeds TEXT on standard input: one command a line, all on one
# connection (so that WAIT follows the writes before it).
sub cli {
    my ($addr, $password, @args) = @_;
    my %o = ref $args[0] eq 'HASH' ? %{ shift @args } : ();

    my @auth = defined $password
               ? ('--no-auth-warning', '-a', $password) : ();
    my $out = run($o{input}, 'redis-cli', '-h', '127.0.0.1',
                  '-p', port_of($addr), @auth, @args);

    $out =~ s/\n\z//;
    return wantarray ? split(/\n/, $out) : $out;
}

# polls CODE every 50 ms until it returns true: that value, or undef
sub poll {
    my ($timeout, $code) = @_;
    my $deadline = time + $timeout;
    while (1) {
        my $v = $code->();
        return $v if $v;
        return undef if time > $deadline;
        sleep 0.05;
    }
}

# "name:value" lines (INFO, CLUSTER INFO) as a hash
sub fields {
    my %h = map { /^(\w+):(.*?)\r?$/ ? ($1, $2) : () } @_;
    return \%h;
}

sub sentinel { shift; TwofaTopology::Sentinel->new(@_) }
sub cluster { shift; TwofaTopology::Cluster->new(@_) }

# ---- common to both ----------------------------------------------------

sub _init {
    my ($class, $test, %o) = @_;

    my $self = bless {
        host => $test // TwofaTopology::Host->new,
        name => ($o{name} // 'topo') . ++$SEQ,
        password => $o{password},
        nodes => {},        # port => { name, dir, port, bus (cluster) }
        %o,
    }, $class;

    push @ALL, $self;
    return $self;
}

sub dir { $_[0]{host}->dir }

sub log_of {
    my ($self, $addr) = @_;
    my $node = $self->{nodes}{ port_of($addr) } or return '';
    return $self->{host}->read_file("$node->{name}.out");
}

# redis-cli against one of our data nodes, with the password if any
sub node_cli {
    my ($self, $addr, @args) = @_;
    return cli($addr, $self->{password}, @args);
}

# INFO section of a data node, as a hash
sub info {
    my ($self, $addr, $section) = @_;
    return fields($self->node_cli($addr, 'INFO', $section));
}

# replicas of the primary at ADDR that are in sync (state=online: a replica
# still loading its first copy is connected, yet acknowledges no WAIT)
sub online_replicas {
    my ($self, $addr) = @_;
    my $i = $self->info($addr, 'replication');
    return scalar grep { /^slave\d+$/ && $i->{$_} =~ /(^|,)state=online(,|$)/ }
                       keys %$i;
}

sub role {
    my ($self, $addr) = @_;
    my @r = $self->node_cli($addr, 'ROLE');
    return $r[0] // '';
}

sub alive {
    my ($self, $addr) = @_;
    my $node = $self->{nodes}{ port_of($addr) } or return 0;
    return $self->{host}->running($node->{name});
}

sub node_addrs {
    my ($self) = @_;
    return map { addr($_) } sort { $a <=> $b } keys %{ $self->{nodes} };
}

sub live_addrs {
    my ($self) = @_;
    return grep { $self->alive($_) } $self->node_addrs;
}

# a data node's redis.conf; extra lines after the common ones
sub _node_conf {
    my ($self, $port, @extra) = @_;
    my $node = $self->{nodes}{$port};
    my @conf = (
        "port $port",
        'bind 127.0.0.1',
        "dir $node->{dir}",
        'daemonize no',
        'save ""',
        'appendonly no',
        'repl-diskless-sync yes',
        'repl-diskless-sync-delay 0',
        'enable-debug-command local',
    );
    push @conf, "requirepass $self->{password}", "masterauth $self->{password}"
        if defined $self->{password};
    return join("\n", @conf, @extra) . "\n";
}

# starts (or restarts) the data node on port with the given configuration
sub _start_node {
    my ($self, $port, $conf) = @_;
    my $node = $self->{nodes}{$port};
    my $file = "$node->{dir}/redis.conf";

    open my $fh, '>', $file or die "$file: $!";
    print $fh $conf;
    close $fh;

    $self->{host}->spawn($node->{name}, 'redis-server', $file);
    TwofaTest::wait_port($port, 10)
        or die "redis-server on $port did not start:\n"
               . $self->log_of(addr($port));
}

sub _add_node {
    my ($self, $kind) = @_;
    my $port = free_port();
    my $name = "$self->{name}-$kind-$port";
    my $dir = $self->dir . "/$name";
    mkdir $dir or die "$dir: $!";
    $self->{nodes}{$port} = { name => $name, dir => $dir, port => $port };
    return $port;
}

# kill -9 of a data node; returns when it is gone
sub kill_node {
    my ($self, $addr) = @_;
    my $node = $self->{nodes}{ port_of($addr) } or die "not ours: $addr\n";
    delete $self->{frozen}{$addr};
    $self->{host}->stop($node->{name}, 'KILL');
}

# SIGSTOP of a data node: a black-holed peer, its connections open and
# silent, until thaw (SIGCONT).  Thaw before the end: TwofaTest's own
# stop sends TERM, which a stopped process only meets after 10 s, as KILL.
sub freeze { $_[0]{frozen}{$_[1]} = 1; $_[0]->_signal($_[1], 'STOP') }
sub thaw { delete $_[0]{frozen}{$_[1]}; $_[0]->_signal($_[1], 'CONT') }

# the live nodes that answer: not frozen (redis-cli would wait for ever)
sub answering_addrs {
    my ($self) = @_;
    return grep { !$self->{frozen}{$_} } $self->live_addrs;
}

sub _signal {
    my ($self, $addr, $signal) = @_;
    my $node = $self->{nodes}{ port_of($addr) } or die "not ours: $addr\n";
    my $pid = $self->{host}{procs}{ $node->{name} }
        or die "$addr is not running\n";
    kill $signal, $pid or die "kill $signal $pid: $!\n";
}

# the last lines of every process's log, for a failure's diagnosis
sub logs {
    my ($self) = @_;
    my $text = '';
    for my $n (sort map { $_->{name} } values %{ $self->{nodes} },
                                       values %{ $self->{sentinels} // {} }) {
        my @lines = split /\n/, $self->{host}->read_file("$n.out");
        splice @lines, 0, -15 if @lines > 15;
        $text .= "--- $n.out\n" . join("\n", @lines) . "\n";
    }
    return $text;
}

sub stop_all {
    my ($self) = @_;
    my @names = map { $_->{name} } values %{ $self->{nodes} };
    push @names, map { $_->{name} } values %{ $self->{sentinels} // {} };
    $self->{host}->stop($_, 'KILL') for @names;
}

END { local $?; $_->stop_all for @ALL }

# ---- a host of our own when the test has no TwofaTest ------------------

package TwofaTopology::Host;

# TwofaTest's process and file helpers without its nginx and module: the
# same spawn, stop, running, read_file, write_file on a directory of ours.
use parent -norequire, 'TwofaTest';

use File::Temp qw(tempdir);

sub new {
    my ($class) = @_;
    my $dir = tempdir('twofa-topo-XXXXXX', TMPDIR => 1,
                      CLEANUP => !$ENV{TWOFA_KEEP});
    return bless { dir => $dir, procs => {} }, $class;
}

# ---- Sentinel ----------------------------------------------------------

package TwofaTopology::Sentinel;

# One primary, `replicas` replicas (2) and `sentinels` sentinels (3, quorum
# 2), all redis-server (sentinels as `redis-server FILE --sentinel`, the
# same program Debian's redis-sentinel package runs).  Options: service
# (the name, "twofa"), password (requirepass and masterauth of the data
# nodes, auth-pass of the sentinels), sentinel_password (requirepass of
# the sentinels and the password they use with each other).

use parent -norequire, 'TwofaTopology';

use Time::HiRes qw(sleep time);

sub new {
    my ($class, $test, %o) = @_;
    my $self = $class->TwofaTopology::_init($test, name => 'sentinel',
                                            service => 'twofa', %o);
    my $replicas = $o{replicas} // 2;
    my $sentinels = $o{sentinels} // 3;

    my $primary = $self->_add_node('primary');
    $self->{first_primary} = TwofaTopology::addr($primary);
    $self->_start_node($primary, $self->_node_conf($primary));

    for (1 .. $replicas) {
        my $port = $self->_add_node('replica');
        $self->_start_node($port, $self->_node_conf($port,
            "replicaof 127.0.0.1 $primary"));
    }

    # replicas in sync before the sentinels look, so that they learn them
    TwofaTopology::poll(20, sub {
        ($self->info($self->{first_primary}, 'replication')
             ->{connected_slaves} // -1) == $replicas
        && !grep { ($self->info($_, 'replication')->{master_link_status}
                     // '') ne 'up' }
                 $self->replica_addrs_of($self->{first_primary})
    }) or die "the replicas did not sync:\n" . $self->logs;

    $self->{sentinels} = {};
    for (1 .. $sentinels) {
        my $port = TwofaTopology::free_port();
        my $name = "$self->{name}-sentinel-$port";
        my $dir = $self->dir . "/$name";
        mkdir $dir or die "$dir: $!";
        $self->{sentinels}{$port} = { name => $name, dir => $dir };
        $self->_start_sentinel($port);
    }

    $self->wait_ready;
    return $self;
}

sub service { $_[0]{service} }
sub first_primary { $_[0]{first_primary} }

sub sentinel_addrs {
    my ($self) = @_;
    return map { TwofaTopology::addr($_) }
           sort { $a <=> $b } keys %{ $self->{sentinels} };
}

sub live_sentinels {
    my ($self) = @_;
    return grep {
        $self->{host}->running(
            $self->{sentinels}{ TwofaTopology::port_of($_) }{name})
    } $self->sentinel_addrs;
}

# "sentinel=127.0.0.1:P1,127.0.0.1:P2,... service=NAME", for twofa_redis
sub spec {
    my ($self) = @_;
    return 'sentinel=' . join(',', $self->sentinel_addrs)
           . " service=$self->{service}";
}

sub _start_sentinel {
    my ($self, $port) = @_;
    my $s = $self->{sentinels}{$port};
    my $svc = $self->{service};
    my ($primary_port) = TwofaTopology::port_of($self->{first_primary});

    my @conf = (
        "port $port",
        'bind 127.0.0.1',
        "dir $s->{dir}",
        'daemonize no',
        "sentinel monitor $svc 127.0.0.1 $primary_port 2",
        "sentinel down-after-milliseconds $svc 1000",
        "sentinel failover-timeout $svc 3000",
        "sentinel parallel-syncs $svc 1",
    );
    push @conf, "sentinel auth-pass $svc $self->{password}"
        if defined $self->{password};
    push @conf, "requirepass $self->{sentinel_password}",
                "sentinel sentinel-pass $self->{sentinel_password}"
        if defined $self->{sentinel_password};

    # the sentinel rewrites its file: it must be its own, and writable
    my $file = "$s->{dir}/sentinel.conf";
    open my $fh, '>', $file or die "$file: $!";
    print $fh join("\n", @conf), "\n";
    close $fh;

    $self->{host}->spawn($s->{name}, 'redis-server', $file, '--sentinel');
    TwofaTest::wait_port($port, 10)
        or die "redis-sentinel on $port did not start:\n"
               . $self->{host}->read_file("$s->{name}.out");

    $self->sentinel_cli(TwofaTopology::addr($port), 'SENTINEL', 'DEBUG',
                        @SENTINEL_DEBUG) eq 'OK'
        or die "SENTINEL DEBUG refused on $port\n";
}

sub sentinel_cli {
    my ($self, $addr, @args) = @_;
    return TwofaTopology::cli($addr, $self->{sentinel_password}, @args);
}

# SENTINEL MASTER of our service as asked of one sentinel: a hash
sub sentinel_master {
    my ($self, $addr) = @_;
    my @kv = $self->sentinel_cli($addr, 'SENTINEL', 'MASTER',
                                 $self->{service});
    return @kv % 2 ? {} : {@kv};
}

# what one sentinel names as the primary: "127.0.0.1:PORT" or ''
sub primary_per {
    my ($self, $addr) = @_;
    my @r = $self->sentinel_cli($addr, 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME',
                                $self->{service});
    return @r == 2 && $r[1] =~ /^\d+$/ ? "$r[0]:$r[1]" : '';
}

# the current primary, asked of the first sentinel that answers
sub primary {
    my ($self) = @_;
    for my $s ($self->live_sentinels) {
        my $p = $self->primary_per($s);
        return $p if $p;
    }
    return '';
}

sub replica_addrs_of {
    my ($self, $primary) = @_;
    my $pport = TwofaTopology::port_of($primary);
    return grep {
        my $i = $self->info($_, 'replication');
        ($i->{role} // '') eq 'slave' && ($i->{master_port} // 0) == $pport
    } grep { $_ ne $primary } $self->live_addrs;
}

# every sentinel sees the primary up, the replicas and the other sentinels,
# and a quorum can be reached (at the start: after a failover a sentinel
# also counts the dead old primary among the replicas)
sub wait_ready {
    my ($self, $timeout) = @_;
    my $replicas = grep { $_ ne $self->primary } $self->live_addrs;
    my $others = $self->live_sentinels - 1;

    TwofaTopology::poll($timeout // 20, sub {
        for my $s ($self->live_sentinels) {
            my $m = $self->sentinel_master($s);
            return 0 unless ($m->{flags} // '') eq 'master'
                && ($m->{'num-slaves'} // -1) == $replicas
                && ($m->{'num-other-sentinels'} // -1) == $others;
            return 0 unless $self->sentinel_cli($s, 'SENTINEL', 'CKQUORUM',
                                                $self->{service}) =~ /^OK/;
        }
        return 1;
    }) or die "the sentinels did not settle:\n" . $self->logs;
}

# kill -9 of the current primary; returns its address
sub kill_primary {
    my ($self) = @_;
    my $primary = $self->primary or die "no sentinel names a primary\n";
    $self->kill_node($primary);
    $self->{killed} = $primary;
    $self->{killed_at} = time;
    return $primary;
}

# After kill_primary: waits until a sentinel names another primary and
# that node says ROLE master, then until every live sentinel names it.
# Returns (its address, seconds from the kill until the first sentinel
# named it).  Dies after timeout seconds (30).
sub wait_promotion {
    my ($self, %o) = @_;
    my $old = $self->{killed} or die "no primary was killed\n";
    my ($new, $took);

    TwofaTopology::poll($o{timeout} // 30, sub {
        for my $s ($self->live_sentinels) {
            my $p = $self->primary_per($s);
            if ($p && $p ne $old && $self->role($p) eq 'master') {
                $new = $p;
                $took = time - $self->{killed_at};
                return 1;
            }
        }
        return 0;
    }) or die "no replica was promoted:\n" . $self->logs;

    TwofaTopology::poll($o{timeout} // 30, sub {
        !grep { $self->primary_per($_) ne $new } $self->live_sentinels
    }) or die "the sentinels do not agree on $new:\n" . $self->logs;

    return ($new, $took);
}

# Restarts a killed data node (the last primary killed by default) empty:
# as => 'replica' (the default) starts it as a replica of the current
# primary, as => 'empty' as a primary with no data, as the old primary
# restarted by a supervisor comes back, until a sentinel turns it into a
# replica (+convert-to-slave, a few seconds later).
sub restart {
    my ($self, %o) = @_;
    my $addr = $o{addr} // $self->{killed} // die "nothing to restart\n";
    my $port = TwofaTopology::port_of($addr);
    my $node = $self->{nodes}{$port};
    my $as = $o{as} // 'replica';

    die "$addr is running\n" if $self->alive($addr);
    unlink "$node->{dir}/dump.rdb";

    my @extra;
    if ($as eq 'replica') {
        my $primary = $self->primary or die "no sentinel names a primary\n";
        push @extra, 'replicaof 127.0.0.1 ' . TwofaTopology::port_of($primary);
    } elsif ($as ne 'empty') {
        die "restart as 'replica' or 'empty', not '$as'\n";
    }

    $self->_start_node($port, $self->_node_conf($port, @extra));
    return $addr;
}

sub restart_old_primary { my ($self, %o) = @_; $self->restart(%o) }

# ---- Cluster -----------------------------------------------------------

package TwofaTopology::Cluster;

# `primaries` primaries (3) with `replicas` replicas each (1), created with
# redis-cli --cluster create, cluster-node-timeout 1000 ms.  Option:
# password (requirepass and masterauth of every node).

use parent -norequire, 'TwofaTopology';

use Time::HiRes qw(sleep time);

sub new {
    my ($class, $test, %o) = @_;
    my $self = $class->TwofaTopology::_init($test, name => 'cluster', %o);
    my $primaries = $o{primaries} // 3;
    my $replicas = $o{replicas} // 1;

    my @ports = map { $self->_add_node('node') }
                1 .. $primaries * (1 + $replicas);

    for my $port (@ports) {
        # the bus port is given: port + 10000 may not be a valid port
        $self->{nodes}{$port}{bus} = TwofaTopology::free_port();
        $self->_start_node($port, $self->_cluster_conf($port));
    }

    my @out = $self->_cli_tool('--cluster', 'create',
        (map { TwofaTopology::addr($_) } @ports),
        '--cluster-replicas', $replicas, '--cluster-yes');
    die "redis-cli --cluster create failed:\n" . join("\n", @out) . "\n"
        unless grep { /All 16384 slots covered/ } @out;

    $self->wait_ok;
    return $self;
}

sub _cluster_conf {
    my ($self, $port) = @_;
    return $self->_node_conf($port,
        'cluster-enabled yes',
        'cluster-config-file nodes.conf',
        'cluster-node-timeout 1000',
        "cluster-port $self->{nodes}{$port}{bus}");
}

# redis-cli's cluster manager (--cluster ...): its output lines
sub _cli_tool {
    my ($self, @args) = @_;
    my @auth = defined $self->{password}
               ? ('--no-auth-warning', '-a', $self->{password}) : ();
    my $out = TwofaTopology::run(undef, 'redis-cli', @auth, @args);
    $out =~ s/\e\[[0-9;]*m//g;
    return split /\n/, $out;
}

sub seeds { $_[0]->live_addrs }

# "cluster=127.0.0.1:P1,...", for twofa_redis
sub spec { 'cluster=' . join(',', $_[0]->seeds) }

# CLUSTER NODES as one live node sees them: a list of hashes (id, addr,
# port, flags (a hash), master (an id or '-'), slots ([FIRST, LAST]...))
sub nodes {
    my ($self, $from) = @_;
    $from //= ($self->answering_addrs)[0] // die "no live node\n";
    my @nodes;
    for my $line ($self->node_cli($from, 'CLUSTER', 'NODES')) {
        my ($id, $addr, $flags, $master, undef, undef, undef, $link, @slots)
            = split ' ', $line;
        next unless defined $link;
        $addr =~ s/@.*//;
        my %flags = map { $_ => 1 } split /,/, $flags;
        push @nodes, {
            id => $id, addr => $addr, port => TwofaTopology::port_of($addr),
            flags => \%flags, master => $master, link => $link,
            slots => [ map { /^(\d+)(?:-(\d+))?\z/ ? [$1, $2 // $1] : () }
                       @slots ],
        };
    }
    return @nodes;
}

sub node_id {
    my ($self, $addr) = @_;
    my @me = grep { $_->{flags}{myself} } $self->nodes($addr);
    return @me ? $me[0]{id} : die "no CLUSTER NODES from $addr\n";
}

# the primaries that serve slots (not failed), by address
sub primaries {
    my ($self, $from) = @_;
    return map { $_->{addr} }
           sort { $a->{slots}[0][0] <=> $b->{slots}[0][0] }
           grep { $_->{flags}{master} && !$_->{flags}{fail}
                  && @{ $_->{slots} } } $self->nodes($from);
}

sub replicas_of {
    my ($self, $primary, $from) = @_;
    my @nodes = $self->nodes($from);
    my ($p) = grep { $_->{addr} eq $primary } @nodes or return ();
    return map { $_->{addr} }
           grep { $_->{master} eq $p->{id} && !$_->{flags}{fail} } @nodes;
}

# the primary serving slot, as one live node (or `from`) sees it
sub primary_of {
    my ($self, $slot, $from) = @_;
    for my $n ($self->nodes($from)) {
        next unless $n->{flags}{master} && !$n->{flags}{fail};
        for my $r (@{ $n->{slots} }) {
            return $n->{addr} if $slot >= $r->[0] && $slot <= $r->[1];
        }
    }
    return '';
}

sub cluster_info {
    my ($self, $addr) = @_;
    return TwofaTopology::fields($self->node_cli($addr, 'CLUSTER', 'INFO'));
}

# How one node sees the live nodes: "ADDR master SLOTS" or "ADDR slave
# OF", one line each; undef when a live node is missing from its view,
# is flagged failing or still in a handshake, or a replica follows
# anything but a live primary.
sub _view {
    my ($self, $from) = @_;
    my %live = map { $_ => 1 } $self->live_addrs;
    my @nodes = $self->nodes($from);
    my %by_id = map { $_->{id} => $_ } @nodes;
    my @view;

    for my $n (grep { $live{ $_->{addr} } } @nodes) {
        return undef if grep { $n->{flags}{$_} } qw(fail fail? handshake
                                                      noaddr);
        if ($n->{flags}{master}) {
            push @view, "$n->{addr} master "
                        . join(',', map { "$_->[0]-$_->[1]" }
                                    @{ $n->{slots} });
        } else {
            my $m = $by_id{ $n->{master} } or return undef;
            return undef unless $live{ $m->{addr} } && $m->{flags}{master};
            push @view, "$n->{addr} slave $m->{addr}";
        }
    }

    return undef unless @view == keys %live;
    return join "\n", sort @view;
}

# Every live node says cluster_state:ok and sees the same live nodes in
# the same roles with the same slots (a replica's master included, which
# redis-cli --cluster check does not compare), and the check agrees.
sub wait_ok {
    my ($self, $timeout) = @_;
    TwofaTopology::poll($timeout // 20, sub {
        my %views;
        for my $a ($self->live_addrs) {
            return 0 unless ($self->cluster_info($a)->{cluster_state} // '')
                            eq 'ok';
            my $v = $self->_view($a) // return 0;
            $views{$v} = 1;
        }
        return 0 unless keys %views == 1;
        my @out = $self->_cli_tool('--cluster', 'check',
                                   ($self->live_addrs)[0]);
        return (grep { /All nodes agree about slots configuration/ } @out)
            && (grep { /All 16384 slots covered/ } @out)
            && !grep { /\[(ERR|WARNING)\]/ } @out;
    }) or die "the cluster is not ok:\n" . $self->logs;
}

# kill -9 of a primary (the one of slot 0 by default); returns its address
sub kill_primary {
    my ($self, $addr) = @_;
    $addr //= $self->primary_of(0);
    my @replicas = $self->replicas_of($addr)
        or die "$addr has no replica to take over\n";
    my @slots = map { @$_ } map { @{ $_->{slots} } }
                grep { $_->{addr} eq $addr } $self->nodes;
    die "$addr serves no slot\n" unless @slots;
    $self->kill_node($addr);
    $self->{killed} = $addr;
    $self->{killed_at} = time;
    $self->{killed_replicas} = \@replicas;
    $self->{killed_slot} = $slots[0];
    return $addr;
}

# After kill_primary: waits until one of its replicas serves its slots in
# the view of every live node, and the cluster is ok.  Returns (the new
# primary, seconds from the kill until then).
sub wait_failover {
    my ($self, %o) = @_;
    my $old = $self->{killed} or die "no primary was killed\n";
    my %candidates = map { $_ => 1 } @{ $self->{killed_replicas} };
    my $slot = $self->{killed_slot};
    my ($new, $took);

    TwofaTopology::poll($o{timeout} // 30, sub {
        my %seen;
        for my $a ($self->live_addrs) {
            my $p = $self->primary_of($slot, $a);
            return 0 unless $candidates{$p};
            return 0 unless ($self->cluster_info($a)->{cluster_state} // '')
                            eq 'ok';
            $seen{$p} = 1;
        }
        return 0 unless keys %seen == 1;
        ($new) = keys %seen;
        $took = time - $self->{killed_at};
        return 1;
    }) or die "no replica of $old took over:\n" . $self->logs;

    return ($new, $took);
}

# restarts a killed node with its old nodes.conf: it rejoins, as a replica
# of whoever serves its old slots now
sub restart {
    my ($self, %o) = @_;
    my $addr = $o{addr} // $self->{killed} // die "nothing to restart\n";
    my $port = TwofaTopology::port_of($addr);
    die "$addr is running\n" if $self->alive($addr);
    unlink "$self->{nodes}{$port}{dir}/dump.rdb";
    $self->_start_node($port, $self->_cluster_conf($port));
    return $addr;
}

# Moves one slot to the primary `to` by hand, as redis-cli --cluster
# reshard does: SETSLOT IMPORTING on the target, MIGRATING on the source,
# MIGRATE of its keys in batches, SETSLOT NODE on both and on every other
# primary; then waits until every node agrees.  pause => SECONDS waits
# after each step, so that traffic meets the slot half moved (ASK
# redirections); batch => N keys per MIGRATE (10).  Returns the keys
# moved.
sub move_slot {
    my ($self, $slot, $to, %o) = @_;
    my $from = $self->primary_of($slot) or die "nobody serves slot $slot\n";
    die "slot $slot is already on $to\n" if $from eq $to;
    my $pause = $o{pause} // 0;
    my $batch = $o{batch} // 10;
    my ($from_id, $to_id) = ($self->node_id($from), $self->node_id($to));

    my $check = sub {
        my ($addr, @cmd) = @_;
        my $r = $self->node_cli($addr, @cmd);
        die "@cmd on $addr: $r\n" unless $r eq 'OK' || $r eq 'NOKEY';
    };

    $check->($to, 'CLUSTER', 'SETSLOT', $slot, 'IMPORTING', $from_id);
    $check->($from, 'CLUSTER', 'SETSLOT', $slot, 'MIGRATING', $to_id);
    sleep $pause;

    my @auth = defined $self->{password} ? ('AUTH', $self->{password}) : ();
    my $moved = 0;
    while (1) {
        my @keys = grep { length }
                   $self->node_cli($from, 'CLUSTER', 'GETKEYSINSLOT',
                                   $slot, $batch);
        last unless @keys;
        $check->($from, 'MIGRATE', '127.0.0.1', TwofaTopology::port_of($to),
                 '', 0, 5000, @auth, 'KEYS', @keys);
        $moved += @keys;
        sleep $pause;
    }

    $check->($to, 'CLUSTER', 'SETSLOT', $slot, 'NODE', $to_id);
    $check->($from, 'CLUSTER', 'SETSLOT', $slot, 'NODE', $to_id);
    for my $p (grep { $_ ne $from && $_ ne $to } $self->primaries) {
        $check->($p, 'CLUSTER', 'SETSLOT', $slot, 'NODE', $to_id);
    }

    $self->wait_ok;
    return $moved;
}

# Moves n slots from one primary to another with redis-cli --cluster
# reshard; returns when every node agrees.
sub reshard {
    my ($self, %o) = @_;
    my ($from, $to, $n) = @o{qw(from to slots)};
    my @out = $self->_cli_tool('--cluster', 'reshard', $to,
        '--cluster-from', $self->node_id($from),
        '--cluster-to', $self->node_id($to),
        '--cluster-slots', $n, '--cluster-yes');
    die "redis-cli --cluster reshard failed:\n" . join("\n", @out) . "\n"
        if grep { /\[ERR\]/ } @out;
    $self->wait_ok;
}

1;
