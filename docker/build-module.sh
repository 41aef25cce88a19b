#!/bin/sh
# Builds the module and the admin CLI exactly as the image does, and
# installs them under DESTDIR (default /): the Dockerfile runs it, and so
# do the tests, outside Docker.
#
#   docker/build-module.sh [DESTDIR]
#
# It needs what `make` needs (Debian's nginx-dev, libhiredis-dev,
# libqrencode-dev, libssl-dev); `make` installs the missing ones.
set -eu

cd "$(dirname "$0")/.."
dest=${1:-}

make module admin

install -d "$dest/usr/lib/nginx/modules" "$dest/usr/local/bin"
install -m 0644 build/nginx/ngx_http_twofa_module.so "$dest/usr/lib/nginx/modules/"
install -m 0755 build/twofa-admin "$dest/usr/local/bin/"
