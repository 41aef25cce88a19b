#!/usr/bin/perl
# A real browser walks Django's admin behind nginx with the module: Debian's
# chromium, driven by playwright-core (pinned in t/browser/package-lock.json),
# through t/browser/walk-django.js.
#
# Django's admin (python3-django under gunicorn, TwofaApps.pm) behind nginx
# with twofa_login on its login view, /admin/login/ (as t/47-real-apps-2fa.t
# and conf-examples/django.conf): the identity from the form's username, the
# password step's result from Django's own sessionid.  The default org
# requires two-factor authentication, so the first login meets enrollment.
# The walk's JSON lines become TAP (t/lib/TwofaBrowser.pm, shared with
# t/50-browser.t); screenshots of every page stay in
# t/browser/screenshots/django/ (git-ignored; t/50's walk empties the
# directory above), failure-*.png too when a step fails.  A missing chromium,
# node or npm is a failure, not a skip.  TWOFA_KEEP=1 keeps the temporary
# directory (logs, nginx.conf).

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use HTTP::Tiny;
use TwofaTest;
use TwofaApps;
use TwofaBrowser qw(tail);

# ---- what the walk needs: fail, never skip; node_modules ---------------

TwofaBrowser::prerequisites(
    'gunicorn',
    ['python3-django', system($TwofaTest::PYTHON, '-c', 'import django') == 0],
) && TwofaBrowser::node_modules() or exit;

# ---- Django's admin behind nginx with the module ----------------------------

my $t = TwofaTest->new;
$t->start_redis;
my $dj = eval { TwofaApps->django($t) };
ok($dj, 'Django\'s admin runs under gunicorn') or do {
    diag($@); done_testing; exit };

# the admin's CSS and scripts come from nginx (TwofaApps.pm): with their
# types, or Chromium does not apply the stylesheets
$t->start_nginx(http => "    include /etc/nginx/mime.types;\n",
                server => "        location /2fa/ { twofa_pages; }\n"
                          . $dj->twofa_location(<<"END"));
            twofa_login on;
            twofa_user \$twofa_form_$dj->{fields}{user};
            twofa_login_success ${\ $dj->login_success};
            twofa_app_cookie ${\ join ' ', $dj->session_cookies};
END
$t->redis('HSET', 'twofa:org:default', 'require', '1');

my $user = ($dj->users)[0];
my $res = HTTP::Tiny->new(max_redirect => 0, timeout => 5)->get($t->url('/admin/'));
is($res->{status} . ' ' . ($res->{headers}{location} // ''),
   '302 /admin/login/?next=/admin/', 'nginx and Django answer: /admin/ -> the login view');

# ---- the walk -----------------------------------------------------------

TwofaBrowser::walk('walk-django.js',
                   ['--url', $t->url(''), '--user', "$user:" . $dj->password($user)],
                   err => $t->dir . '/walk.err', timeout => 90,
                   screenshots => "$TwofaBrowser::SCREENSHOTS/django");

# ---- what the module saw ---------------------------------------------------

is($t->redis('--scan', '--pattern', 'twofa:user:*'), "twofa:user:default:$user",
   "one enrollment, $user\'s in the default org");

my $access = $t->read_file('access.log');
like($access, qr{^POST /admin/login/\?next=/admin/ HTTP/1\.1 303 user=\Q$user\E org=default result=held$}m,
     'the access log: a login held for the user');

ok($t->running('nginx'), 'nginx still runs');
my @bad = grep { /\[(alert|crit|emerg)\]|exited on signal/ } split /\n/, $t->error_log;
ok(!@bad, 'no alert, crit or crashed worker in nginx\'s error log')
    or diag(join "\n", @bad);

if (!Test::More->builder->is_passing) {
    diag("access.log:\n" . tail($access, 40));
    diag("error.log:\n" . tail($t->error_log, 40));
    diag("gunicorn:\n" . tail($t->read_file('django.out'), 40));
    diag("walk-django.js and Chromium on stderr:\n"
         . tail($t->read_file('walk.err'), 40));
}

done_testing;
