#!/usr/bin/env bash
# Assembles the local replaces Traefik's cmd/traefik needs to build from the
# module proxy (see go.mod): lego v5 with its DNS provider registry stubbed,
# go-http-auth v0.4.0 with the two functions Traefik's fork adds, and an
# empty dynamic/ext. Third-party sources are copied from the module cache
# into build/ (not committed) and only our stubs are added to them.
set -euo pipefail
cd "$(dirname "$0")"
rm -rf build && mkdir -p build
go mod download github.com/go-acme/lego/v5@v5.4.1 github.com/abbot/go-http-auth@v0.4.0
modcache=$(go env GOMODCACHE)
cp -r "$modcache/github.com/go-acme/lego/v5@v5.4.1" build/lego
cp -r "$modcache/github.com/abbot/go-http-auth@v0.4.0" build/goauth
chmod -R u+w build
rm -rf build/lego/providers/dns && mkdir -p build/lego/providers/dns
cp stubs/lego_dns.go build/lego/providers/dns/
[ -f build/goauth/go.mod ] || printf 'module github.com/abbot/go-http-auth\n\ngo 1.16\n' > build/goauth/go.mod
cp stubs/goauth_extra.go build/goauth/
cp -r stubs/ext build/ext
