package TwofaApps;

# Two real third-party web apps from Debian packages, unmodified, started
# on loopback for a test (TwofaTest gives the temp dir, the ports and the
# processes): Django's admin site (python3-django, gunicorn, a throwaway
# project made here) and DokuWiki (the dokuwiki package, PHP by a private
# php-fpm pool).  Nothing under /etc or /var is written: each app's
# configuration and data live in the test's temp dir.
#
#   my $dj = TwofaApps->django($t);                 # port => nginx's port
#   my $dw = TwofaApps->dokuwiki($t, port => $p);   # the port is in a name
#   $t->start_nginx(twofa => '', http => $dw->http,
#                   server => $dw->location);
#   my $c = $dw->client(base => "http://127.0.0.1:$p");
#   $c->login('alice');  $c->signed_in;             # 'alice' or undef
#
# What the apps really do (found against these packages: python3-django
# 3:3.2.25, dokuwiki 0.0.20220731.a-2, php8.2 8.2.36 (bookworm); checked
# against python3-django 3:4.2.30, dokuwiki 2024-02-06b, php8.4 8.4.28
# (trixie), where DokuWiki's auth cookie differs, see Rotation;
# t/45-real-apps.t asserts each point):
#
# Django admin (session cookie `sessionid`, CSRF cookie `csrftoken`)
# - Login: GET /admin/login/ (form + csrftoken cookie), then POST
#   /admin/login/?next=/admin/ with username, password,
#   csrfmiddlewaretoken (and next).  Right: 302 to next, Set-Cookie
#   sessionid (and a new csrftoken).  Wrong: 200, the form again with
#   "Please enter the correct username and password", no sessionid.
# - Success signal: $upstream_cookie_sessionid non-empty (only a passed
#   login sets it; 302 vs 200 holds too).
# - Other doors: none in the admin.  A login POST to any other admin URL
#   gets 302 to the login page and no session.  But Django decodes the
#   path: /admin/%6Cogin/ is the login view (nginx's location matching
#   decodes too, so `location = /admin/login/` catches it; a match on
#   $request_uri would not).  /admin/login (no slash) redirects, the POST
#   is lost.
# - Rotation: a NEW sessionid at each login (cycle_key; a planted or old
#   sessionid signs nothing in).  Exception: a client already signed in
#   that logs in again AS THE SAME USER gets Set-Cookie sessionid with the
#   value it already had (same key, no rotation); another user: flushed,
#   new key.  sessionid alone is the whole credential.
# - Identity: field `username`.  Surrounding white space stripped (form
#   CharField strip) and NFKC applied (UsernameField): " alice ",
#   "\talice\n", "ａｌｉｃｅ" (full width) and a decomposed "josé" (e +
#   U+0301) sign into alice / josé.  Case-SENSITIVE ("ALICE", "Пётр"
#   fail) with SQLite (and PostgreSQL); with MySQL's usual case-
#   insensitive collation Django folds case (the database decides).
#
# DokuWiki (plain auth; cookies `DokuWiki` = the PHP session, and
# `DW` . md5("/" . SERVER_PORT) = the auth cookie, see auth_cookie())
# - Login: GET /doku.php?id=start&do=login (form: sectok, empty for an
#   anonymous client, id, do=login, u, p, r), POST /doku.php with them.
#   Right: 302 to the page (absolute URL from Host), Set-Cookie DW...=
#   base64(account)|sticky|base64(encrypted password).  Wrong: "403 Login
#   failed", the form again, DW...=deleted (Max-Age=0).
# - Success signal: the DW cookie set to something other than "deleted".
#   Every anonymous response deletes it ("deleted"), so a plain non-empty
#   test is wrong: see http() (a map) and login_success().  The status
#   (302 vs 403) only holds for do=login; other doors answer 200.
# - Other doors: EVERY PHP entry point that starts a session logs in
#   from u and p in the query string or the body (urlencoded or
#   multipart), whatever `do` is and without sectok: doku.php (GET too),
#   feed.php, lib/exe/ajax.php, detail.php, fetch.php, mediamanager.php,
#   indexer.php, taskrunner.php, xmlrpc.php, index.php, install.php; and
#   HTTP Basic auth (Authorization header) on any of them.  Not
#   css.php/js.php (no session).  Cookies named u/p do not count
#   (request_order GP).
# - Rotation: the PHP session id is NOT renewed at login; even a session
#   id the client planted is kept and becomes the signed-in one (PHP's
#   session.use_strict_mode is 0 in Debian).  What signs a client in is
#   the DW cookie together with that session (the DW cookie's password
#   part is AES-CBC encrypted with a key from the wiki's secret salt and
#   the session id): the session alone, or the DW cookie alone, gets
#   nothing, and a login in another session gets another DW cookie.
#   Whether a login again in the SAME session gets a new DW cookie
#   depends on the release.  Up to 2023-04-04 (bookworm; phpseclib 2,
#   IV zero) auth_encrypt() encrypts random IV . password: new at each
#   login.  From 2024-02-06 (trixie, sid; phpseclib 3, dokuwiki/dokuwiki
#   PR 4115) it also sets that random block as the IV, so the first
#   block is E(IV xor IV) = E(0) and the whole cookie is a function of
#   the salt, the session id and the password: the same DW cookie again
#   (auth_cookie_random() says which).
#   With "remember me" (r=1) the DW cookie is not tied to the session and
#   alone signs in, for a year.
# - Identity: field `u`.  The account is cleanID(u): trimmed, lower-cased
#   (Unicode: "ПЁТР" is пётр), accents dropped (Debian's deaccent = 1:
#   "josé", "JOSÉ", "jose", a decomposed "josé" are all the account
#   jose), ':' '/' ';' and inner spaces made '_', leading/trailing
#   ':._-' removed ("alice.", "_Alice:" are alice).  No NFKC (full-width
#   "ＡＬＩＣＥ" fails).  The canonical account is the first part of the
#   DW cookie, base64.

use strict;
use warnings;
use utf8;

use Encode qw(encode);
use JSON::PP;
use POSIX ();
use TwofaTest;

# The accounts each app gets; the password of USER is "pw-USER".
# Character strings: HTTP::Tiny encodes form fields as UTF-8.
our @DJANGO_USERS = ('alice', 'пётр', 'josé');
our @DOKUWIKI_USERS = ('alice', 'пётр', 'josé');

sub django { my (undef, $t, %o) = @_; TwofaApps::Django->start($t, %o) }
sub dokuwiki { my (undef, $t, %o) = @_; TwofaApps::DokuWiki->start($t, %o) }

sub utf8_bytes { encode('UTF-8', $_[0]) }

sub run_or_die {
    my ($t, $what, @cmd) = @_;
    my $log = $t->dir . "/$what.out";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', $log;
        open STDERR, '>&', \*STDOUT;
        exec @cmd or POSIX::_exit(127);
    }
    waitpid $pid, 0;
    die "$what failed ($?):\n" . $t->read_file($log) if $?;
}

# ---- what every app tells the test ------------------------------------

package TwofaApps::App;

use strict;
use warnings;

sub upstream { $_[0]{upstream} }           # 127.0.0.1:PORT
sub login_url { $_[0]{login_url} }         # where the login form posts
sub fields { $_[0]{fields} }               # { user, password, csrf }
sub session_cookies { @{ $_[0]{session_cookies} } }
sub home { $_[0]{home} }                   # an authenticated page
sub location { $_[0]{location} }           # nginx locations for a server{}
sub http { $_[0]{http} // '' }             # what http{} needs for them
sub login_success { $_[0]{login_success} } # nginx: passed if non-empty, not 0
sub users { @{ $_[0]{users} } }
sub password { "pw-$_[1]" }

# the account USER signs into: the app's own spelling
sub account { $_[1] }

sub client {
    my ($self, %o) = @_;
    return $self->{client_class}->new(test => $self->{t}, app => $self, %o);
}

# ---- Django's admin site, served by gunicorn ---------------------------

package TwofaApps::Django;

use strict;
use warnings;
use utf8;

our @ISA = ('TwofaApps::App');

sub start {
    my ($class, $t, %o) = @_;

    my $port = TwofaTest::free_port();
    my $nginx_port = $o{port} // $t->port;
    my $dir = $t->dir . '/django';
    my $py = $TwofaTest::PYTHON;

    mkdir $dir or die "$dir: $!";
    TwofaApps::run_or_die($t, 'django-setup', $py, '-m', 'django',
                          'startproject', 'twofaproj', $dir);

    # nginx passes the client's Host.  Django 3.2 checks no origin on
    # plain HTTP and takes bare hosts here; 4.x checks Origin and wants
    # schemes: right for either
    open my $fh, '>>', "$dir/twofaproj/settings.py" or die "settings: $!";
    print $fh <<"END";

# ---- the twofa-edge test harness: a private site behind nginx ----
import django as _django
DEBUG = False
ALLOWED_HOSTS = ['127.0.0.1', 'localhost']
DATABASES = {'default': {'ENGINE': 'django.db.backends.sqlite3',
                         'NAME': '$dir/db.sqlite3'}}
_origins = ['127.0.0.1:$nginx_port', 'localhost:$nginx_port']
CSRF_TRUSTED_ORIGINS = (['http://' + o for o in _origins]
                        if _django.VERSION >= (4, 0) else _origins)
LOGGING = {'version': 1, 'disable_existing_loggers': False,
           'handlers': {'console': {'class': 'logging.StreamHandler'}},
           'root': {'handlers': ['console'], 'level': 'WARNING'}}
END
    close $fh;

    TwofaApps::run_or_die($t, 'django-setup', $py, "$dir/manage.py",
                          'migrate', '--noinput', '-v', '0');

    # staff accounts, made the way the app makes them (create_user hashes
    # the password with the site's hasher)
    my @users = @TwofaApps::DJANGO_USERS;
    my %accounts = map { $_ => __PACKAGE__->password($_) } @users;
    $t->write_file('django-users.json',
                   JSON::PP->new->utf8->canonical->encode(\%accounts));
    $t->write_file('django-users.py', <<"END");
import json, os, sys
sys.path.insert(0, '$dir')
os.environ['DJANGO_SETTINGS_MODULE'] = 'twofaproj.settings'
import django
django.setup()
from django.contrib.auth.models import User
with open(sys.argv[1], encoding='utf-8') as f:
    for name, password in json.load(f).items():
        User.objects.create_user(name, password=password, is_staff=True)
END
    TwofaApps::run_or_die($t, 'django-setup', $py,
                          $t->dir . '/django-users.py',
                          $t->dir . '/django-users.json');

    $t->spawn('django', $py, '/usr/bin/gunicorn', '--bind', "127.0.0.1:$port",
              '--workers', '2', '--chdir', $dir, 'twofaproj.wsgi:application');
    TwofaTest::wait_port($port, 20) or die "gunicorn did not start:\n"
        . $t->read_file('django.out');

    # the admin's CSS and scripts, which Django leaves to the web server
    # when DEBUG is off (for the browser walk)
    my $django = `$py -c 'import django; print(django.__path__[0])'`;
    chomp $django;

    return bless {
        t => $t,
        upstream => "127.0.0.1:$port",
        login_url => '/admin/login/',
        fields => { user => 'username', password => 'password',
                    csrf => 'csrfmiddlewaretoken' },
        session_cookies => ['sessionid'],
        login_success => '$upstream_cookie_sessionid',
        home => '/admin/',
        users => \@users,
        client_class => 'TwofaApps::DjangoClient',
        location => <<"END",
        location /static/admin/ {
            alias $django/contrib/admin/static/admin/;
        }
        location / {
            proxy_pass http://127.0.0.1:$port;
            proxy_set_header Host \$http_host;
            proxy_set_header X-Forwarded-Proto \$scheme;
        }
END
    }, $class;
}

# The locations of `location`, plus the admin's login view on its own
# with DIRECTIVES (twofa_login on; twofa_user $twofa_form_username; ...):
# nginx matches the decoded path, so /admin/%6Cogin/ lands here too.
sub twofa_location {
    my ($self, $directives) = @_;
    return <<"END" . $self->{location};
        location = /admin/login/ {
$directives
            proxy_pass http://$self->{upstream};
            proxy_set_header Host \$http_host;
            proxy_set_header X-Forwarded-Proto \$scheme;
        }
END
}

# ---- DokuWiki, PHP by a private php-fpm -------------------------------

package TwofaApps::DokuWiki;

use strict;
use warnings;
use utf8;

use Digest::MD5 qw(md5_hex);
use File::Copy qw(copy);
use File::Path qw(make_path);

our @ISA = ('TwofaApps::App');

our $ROOT = '/usr/share/dokuwiki';
our $MAIN_CONF = '/etc/dokuwiki';
# Debian's php-fpm carries its PHP version in its name (php-fpm8.2 on
# bookworm, php-fpm8.4 on trixie): the newest present, and the CLI of the
# same version (/usr/bin/php, the alternative, if there is none)
sub php_version { ($_[0] =~ /(\d+)\.(\d+)$/) ? $1 * 1000 + $2 : -1 }
our $FPM = (sort { php_version($b) <=> php_version($a) || $a cmp $b }
            grep { -x } glob '/usr/sbin/php-fpm*')[0] // '/usr/sbin/php-fpm';
our $PHP = do {
    my ($v) = $FPM =~ /(\d+\.\d+)$/;
    defined $v && -x "/usr/bin/php$v" ? "/usr/bin/php$v" : '/usr/bin/php';
};

# DokuWiki's plain auth stores (and looks up) the cleaned name (see the
# notes above): the account each of our users has
my %ACCOUNT = ('alice' => 'alice', 'пётр' => 'пётр', 'josé' => 'jose');
sub account { $ACCOUNT{$_[1]} // die "no DokuWiki account for $_[1]" }

sub start {
    my ($class, $t, %o) = @_;

    my $port = TwofaTest::free_port();
    my $nginx_port = $o{port} // $t->port;
    my $d = $t->dir;
    my $dir = "$d/dokuwiki";
    my @as_nobody = $> == 0 ? (scalar getpwnam('nobody'),
                               scalar getgrnam('nogroup')) : ();

    # the configuration: a copy of Debian's /etc/dokuwiki, then ours
    mkdir $dir;
    mkdir "$dir/conf";
    for my $file (glob "$MAIN_CONF/*") {
        next if -l $file || !-f $file;
        (my $name = $file) =~ s{.*/}{};
        copy($file, "$dir/conf/$name") or die "copy $file: $!";
    }

    my $self = bless {
        t => $t,
        upstream => "127.0.0.1:$port",
        login_url => '/doku.php',
        fields => { user => 'u', password => 'p', csrf => 'sectok' },
        # securecookie (on by default) puts the server port in the name
        auth_cookie => 'DW' . md5_hex("/$nginx_port"),
        home => '/doku.php?id=start',
        users => [ @TwofaApps::DOKUWIKI_USERS ],
        client_class => 'TwofaApps::DokuWikiClient',
    }, $class;
    $self->{session_cookies} = [ 'DokuWiki', $self->{auth_cookie} ];

    # the DW cookie is deleted ("deleted") on every anonymous answer
    my $var = "\$upstream_cookie_$self->{auth_cookie}";
    $self->{login_success} = '$dokuwiki_login_passed';
    $self->{http} = <<"END";
    map $var \$dokuwiki_login_passed {
        ""          0;
        "deleted"   0;
        default     1;
    }
END

    $t->write_file('dokuwiki/conf/local.php', <<"END");
<?php
\$conf['title'] = 'twofa test wiki';
\$conf['savedir'] = '$dir/data';
\$conf['useacl'] = 1;
\$conf['superuser'] = '\@admin';
END

    # every page needs a login
    $t->write_file('dokuwiki/conf/acl.auth.php', <<'END');
# acl.auth.php
# <?php exit()?>
*               @ALL        0
*               @user       8
END

    my $users = "# users.auth.php\n# <?php exit()?>\n";
    for my $user ($self->users) {
        open my $php, '-|', $PHP, '-r',
            'echo password_hash($argv[1], PASSWORD_BCRYPT);', '--',
            TwofaApps::utf8_bytes($self->password($user))
            or die "$PHP: $!";
        my $hash = <$php>;
        close $php;
        die "php password_hash failed" if $? || $hash !~ /^\$2y\$/;
        $users .= join(':', $self->account($user), $hash, "Wiki $user",
                       'user@example.org', 'user') . "\n";
    }
    $t->write_file('dokuwiki/conf/users.auth.php',
                   TwofaApps::utf8_bytes($users));

    # the data: the directories DokuWiki wants, and one page to protect
    for my $sub (qw(pages attic media media_attic media_meta meta cache
                    index locks tmp log)) {
        make_path("$dir/data/$sub");
    }
    $t->write_file('dokuwiki/data/pages/start.txt',
                   "====== Start ======\n\nsecret-wiki-marker\n");
    mkdir "$dir/sessions";
    if (@as_nobody) {
        system('chown', '-R', "$as_nobody[0]:$as_nobody[1]", "$dir/data",
               "$dir/conf", "$dir/sessions") == 0 or die "chown";
    }

    # DokuWiki reads DOKU_CONF and DOKU_MAIN_CONF (Debian's preload.php)
    # when they are already defined: the pool defines them first
    $t->write_file('dokuwiki/prepend.php', <<"END");
<?php
define('DOKU_MAIN_CONF', '$dir/conf/');
define('DOKU_CONF', '$dir/conf/');
END

    my $user = @as_nobody ? "user = nobody\ngroup = nogroup\n" : '';
    $t->write_file('php-fpm.conf', <<"END");
[global]
pid = $d/php-fpm.pid
error_log = $d/php-fpm.log
daemonize = no

[dokuwiki]
${user}listen = 127.0.0.1:$port
listen.allowed_clients = 127.0.0.1
pm = static
pm.max_children = 2
catch_workers_output = yes
php_admin_value[auto_prepend_file] = $dir/prepend.php
php_admin_value[session.save_path] = $dir/sessions
php_admin_value[error_log] = $d/php-errors.log
php_admin_flag[log_errors] = on
END

    $t->spawn('php-fpm', $FPM, '--nodaemonize', '--fpm-config',
              "$d/php-fpm.conf", '--prefix', $d);
    TwofaTest::wait_port($port, 10) or die "php-fpm did not start:\n"
        . $t->read_file('php-fpm.out') . $t->read_file('php-fpm.log');

    $self->{location} = <<"END";
        root $ROOT;
        index doku.php;
        location ~ ^/(conf|data|bin|inc|vendor)/ { deny all; }
        location ~ \\.php\$ {
${\ $self->fastcgi}        }
END
    return $self;
}

sub auth_cookie { $_[0]{auth_cookie} }

# What http{} needs for a twofa_login_success of $dokuwiki_twofa_login:
# the auth cookie set to a live value, except when a signed-in browser's
# page view made DokuWiki re-check its own cookie.  It re-checks, and sets
# the cookie again, when its session cache is older than
# auth_security_timeout (15 minutes), when the PHP session is gone or was
# signed out (an anonymous page view in it, e.g. while the login is held,
# signs it out: the first page after the code is then a re-check), and
# for every new session of a "remember me" cookie; no identity field comes
# with those, so the module would refuse them.  A re-check is told from a
# login by what DokuWiki logs in from: a GET or HEAD (PHP reads no body)
# that carried a live auth cookie, no Authorization header (Basic auth
# logs in) and no query parameter that could be u or p (anything but
# plain names; "u", "p", "U", "P").  Anything else that sets the cookie
# is a login.  conf-examples/dokuwiki.conf has the same maps.
sub twofa_http {
    my ($self) = @_;
    my $dw = $self->{auth_cookie};
    return <<"END";
    map \$upstream_cookie_$dw \$dokuwiki_cookie_set {
        ""          0;
        "deleted"   0;
        default     1;
    }
    map "\$dokuwiki_cookie_set:\$request_method:\$cookie_$dw:\$http_authorization:&\$args&"
        \$dokuwiki_twofa_login {
        "~^0:"      0;
        "~^1:(?:GET|HEAD):(?!deleted:)[^:]+::(?:&(?:(?:[A-Za-z0-9_.-]{2,}|[A-OQ-TV-Za-oq-tv-z0-9_.-])(?:=[^&]*)?)?)*&\$"
                    0;
        default     1;
    }
END
}

# `location` with DIRECTIVES (twofa_login on; ...) on every PHP entry
# point: each one logs in from u and p (see the notes above), so each is
# a login location
sub twofa_location {
    my ($self, $directives) = @_;
    return <<"END";
        root $ROOT;
        index doku.php;
        location ~ ^/(conf|data|bin|inc|vendor)/ { deny all; }
        location ~ \\.php\$ {
$directives
${\ $self->fastcgi}        }
END
}

# the release, as DokuWiki names it ("2022-07-31b", "2024-02-06b")
sub version {
    my $f = "$ROOT/VERSION";
    open my $fh, '<', $f or die "$f: $!";
    my ($v) = <$fh> =~ /^(\d{4}-\d\d-\d\d[a-z]?)\b/
        or die "$f: no DokuWiki release in it";
    return $v;
}

# whether each login makes a new auth cookie (a random IV in it): up to
# 2023-04-04.  From 2024-02-06 (phpseclib 3) the IV cancels out (see the
# notes above): the cookie is a function of the session and the password.
sub auth_cookie_random { $_[0]->version lt '2024-02-06' }

# what a location passing PHP to php-fpm needs (Debian's fastcgi.conf
# sets SCRIPT_FILENAME from the location's root)
sub fastcgi {
    my ($self) = @_;
    return <<"END";
            fastcgi_pass $self->{upstream};
            include /etc/nginx/fastcgi.conf;
END
}

# ---- clients: each app's own login dance ------------------------------

package TwofaApps::Client;

use strict;
use warnings;

our @ISA = ('TwofaTest::Client');

# paths are relative to base (default: the test's nginx)
sub request {
    my ($self, $method, $path, %o) = @_;
    $path = $self->{base} . $path if $self->{base} && $path !~ m{^http};
    return $self->SUPER::request($method, $path, %o);
}

sub app { $_[0]{app} }

package TwofaApps::DjangoClient;

use strict;
use warnings;

our @ISA = ('TwofaApps::Client');

# GET the form (csrftoken cookie, csrfmiddlewaretoken field), then POST:
# the POST's response.  A signed-in client gets no form (302 to the
# admin): its csrftoken cookie is a valid token as well.
sub login {
    my ($self, $user, %o) = @_;
    my $form = $self->get('/admin/login/?next=/admin/');
    my $csrf = TwofaTest::field($form->{content}, 'csrfmiddlewaretoken')
        // $self->cookie('csrftoken')
        // die "no Django login form: $form->{status}\n";
    return $self->post('/admin/login/?next=/admin/', form => {
        csrfmiddlewaretoken => $csrf,
        username => $user,
        password => $o{password} // $self->app->password($user),
        next => '/admin/',
    });
}

# the name the admin greets (UTF-8 bytes), or undef when signed out
sub signed_in {
    my ($self) = @_;
    my $r = $self->get('/admin/');
    return undef unless $r->{status} == 200;
    my ($name) = $r->{content} =~ m{Welcome,\s*<strong>([^<]*)</strong>};
    return $name;
}

package TwofaApps::DokuWikiClient;

use strict;
use warnings;

our @ISA = ('TwofaApps::Client');

sub login {
    my ($self, $user, %o) = @_;
    my $form = $self->get('/doku.php?id=start&do=login');
    my $sectok = TwofaTest::field($form->{content}, 'sectok')
        // die "no sectok in DokuWiki's login form: $form->{status}\n";
    return $self->post('/doku.php', form => {
        sectok => $sectok,
        id => 'start',
        do => 'login',
        u => $user,
        p => $o{password} // $self->app->password($user),
    });
}

# the account name the wiki shows (UTF-8 bytes), or undef
sub signed_in {
    my ($self) = @_;
    my $r = $self->get('/doku.php?id=start');
    return undef unless $r->{status} == 200
        && $r->{content} =~ /secret-wiki-marker/;
    my ($name) = $r->{content} =~ m{Logged in as:.*?\(<bdi>([^<]*)</bdi>\)}s;
    return $name // '';
}

1;
