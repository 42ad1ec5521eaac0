#!/usr/bin/env bash
# Installs the peers that bench/ compares iamgate with: nginx (Debian's
# package) and oauth2-proxy (pinned, built from the Go module proxy into
# $IAMGATE_TOOLS/bin, like scripts/install-tools.sh does for MinIO).
# Idempotent: a tool already present at the pinned version is kept.
# The bench starts its own nginx with a generated config; the system
# service is never started or used.
set -euo pipefail

OAUTH2_PROXY_VERSION=v7.15.6

TOOLS=${IAMGATE_TOOLS:-$HOME/.cache/iamgate-tools}
BIN=$TOOLS/bin
mkdir -p "$BIN"

want=${*:-nginx oauth2-proxy}

stamp_ok() { [ -x "$BIN/$1" ] && [ "$(cat "$BIN/.$1.version" 2>/dev/null)" = "$2" ]; }

install_nginx() {
	if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then return; fi
	echo "install-peers: installing Debian's nginx" >&2
	if [ "$(id -u)" -ne 0 ]; then
		echo "install-peers: nginx is missing; run as root or: apt-get install -y nginx" >&2
		exit 1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nginx >/dev/null ||
		{ apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nginx >/dev/null; }
}

install_oauth2_proxy() {
	if stamp_ok oauth2-proxy "$OAUTH2_PROXY_VERSION"; then return; fi
	echo "install-peers: building oauth2-proxy $OAUTH2_PROXY_VERSION (a few minutes)" >&2
	GOBIN=$BIN GOFLAGS=-buildvcs=false go install "github.com/oauth2-proxy/oauth2-proxy/v7@$OAUTH2_PROXY_VERSION"
	echo "$OAUTH2_PROXY_VERSION" >"$BIN/.oauth2-proxy.version"
}

for t in $want; do
	case $t in
	nginx) install_nginx ;;
	oauth2-proxy) install_oauth2_proxy ;;
	*) echo "install-peers: unknown tool $t" >&2; exit 2 ;;
	esac
done
echo "$BIN"
