#!/bin/sh
# Makes the master key and the admin token on the first start (kept in the
# /etc/twofa volume), checks the configuration, then runs the command.
set -eu

umask 077
mkdir -p /etc/twofa

[ -s /etc/twofa/key ] || openssl rand -base64 48 > /etc/twofa/key
[ -s /etc/twofa/admin-token ] || openssl rand -base64 32 > /etc/twofa/admin-token

# the demo app reads the token from the same volume
chmod 0644 /etc/twofa/admin-token

nginx -t
exec "$@"
