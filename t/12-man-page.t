#!/usr/bin/perl
# The man page of the admin CLI (tools/twofa-admin.1, in the twofa-admin
# package) against the CLI itself: groff formats it without a warning, and
# every command and every option that `twofa-admin --help` lists is in it,
# so a new command cannot ship undocumented.

use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use TwofaTest;

my $page = "$TwofaTest::ROOT/tools/twofa-admin.1";
open my $fh, '<', $page or BAIL_OUT("$page: $!");
my $roff = do { local $/; <$fh> };
close $fh;
ok(length $roff, 'tools/twofa-admin.1 exists');

my $warnings = `groff -man -ww -z $page 2>&1`;
is($?, 0, 'groff formats it');
is($warnings, '', 'without a warning');

my $help = `$TwofaTest::ADMIN --help 2>&1`;
is($?, 0, "$TwofaTest::ADMIN --help");

# the page as man shows it, on long lines, spaces squeezed
my $text = `groff -man -Tascii -P-cbou -rLL=1000n $page 2>/dev/null`;
$text =~ s/\s+/ /g;

my @commands = $help =~ /^\s*twofa-admin \[OPTIONS\] ([a-z][a-z ]*[a-z])/mg;
ok(@commands >= 5, 'the help lists the commands') or diag($help);
for my $command (@commands) {
    like($text, qr/twofa-admin \[options\] \Q$command\E\b/,
         "the synopsis has \"$command\"");
}

my ($options) = $help =~ /^OPTIONS\n(.*?)^\S/ms;
my @options = ($options // '') =~ /^\s+(?:-\w, )?(--[a-z][a-z-]*)/mg;
ok(@options >= 7, 'the help lists the options') or diag($help);
my %seen;
for my $option (grep { !$seen{$_}++ } @options) {
    like($text, qr/\Q$option\E\b/, "the page has $option");
}

done_testing;
