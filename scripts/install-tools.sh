#!/usr/bin/env bash
# Installs the real components the integration tests and the demo run against:
# MinIO and Ory Hydra, pinned, built from the Go module proxy into $IAMGATE_TOOLS/bin;
# the MinIO client mc, pinned, built the same way; and ("clients") the clients
# the tests drive: curl, the AWS CLI v2, rclone, s3cmd, s3fs, Chromium with its
# driver (for the browser tests of the web console), OpenLDAP's slapd and
# ldap-utils (the directory of the LDAP tests), redis-server (the shared state
# of the replicated tests), HAProxy (the load balancer of the three-replica
# test) and docker.io (the daemon and client that build and run the container
# image; the tests start dockerd when none is running) from Debian (the AWS
# CLI v1 and boto3 come with the machine's Python).
# Idempotent: what is already installed is kept.
set -euo pipefail

MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
HYDRA_VERSION=v2.3.0
MC_VERSION=v0.0.0-20250313080218-cf909e1063a9

TOOLS=${IAMGATE_TOOLS:-$HOME/.cache/iamgate-tools}
BIN=$TOOLS/bin
mkdir -p "$BIN"

want=${*:-minio hydra mc clients}

stamp_ok() { [ -x "$BIN/$1" ] && [ "$(cat "$BIN/.$1.version" 2>/dev/null)" = "$2" ]; }

install_minio() {
	if stamp_ok minio "$MINIO_VERSION"; then return; fi
	echo "install-tools: building minio $MINIO_VERSION (a few minutes)" >&2
	GOBIN=$BIN GOFLAGS=-buildvcs=false go install "github.com/minio/minio@$MINIO_VERSION"
	echo "$MINIO_VERSION" >"$BIN/.minio.version"
}

install_hydra() {
	if stamp_ok hydra "$HYDRA_VERSION"; then return; fi
	echo "install-tools: building hydra $HYDRA_VERSION (a few minutes)" >&2
	local dir
	dir=$(mktemp -d)
	(
		cd "$dir"
		go mod init hydratool >/dev/null 2>&1
		go get -tool "github.com/ory/hydra/v2@$HYDRA_VERSION" >/dev/null 2>&1 || true
		go mod edit -replace github.com/gobuffalo/pop/v6=github.com/ory/pop/v6@v6.2.1-0.20241121111754-e5dfc0f3344b
		go mod edit -replace github.com/ory/hydra-client-go/v2=github.com/ory/hydra-client-go/v2@v2.2.1
		go mod tidy
		GOFLAGS=-buildvcs=false go build -tags sqlite,sqlite_omit_load_extension -o "$BIN/hydra" github.com/ory/hydra/v2
	)
	rm -rf "$dir"
	echo "$HYDRA_VERSION" >"$BIN/.hydra.version"
}

install_mc() {
	if stamp_ok mc "$MC_VERSION"; then return; fi
	echo "install-tools: building mc $MC_VERSION" >&2
	GOBIN=$BIN GOFLAGS=-buildvcs=false go install "github.com/minio/mc@$MC_VERSION"
	echo "$MC_VERSION" >"$BIN/.mc.version"
}

install_clients() {
	local need=()
	command -v curl >/dev/null || need+=(curl)
	[ -x /usr/bin/aws ] || need+=(awscli)
	command -v rclone >/dev/null || need+=(rclone)
	command -v s3cmd >/dev/null || need+=(s3cmd)
	command -v s3fs >/dev/null || need+=(s3fs)
	command -v chromium >/dev/null || need+=(chromium)
	command -v chromedriver >/dev/null || need+=(chromium-driver)
	[ -x /usr/sbin/slapd ] || need+=(slapd)
	command -v ldapadd >/dev/null || need+=(ldap-utils)
	[ -x /usr/sbin/dockerd ] || need+=(docker.io)
	# The CA bundle the image carries (scripts/image.sh).
	[ -r /etc/ssl/certs/ca-certificates.crt ] || need+=(ca-certificates)
	[ -x /usr/bin/redis-server ] || need+=(redis-server)
	[ -x /usr/sbin/haproxy ] || need+=(haproxy)
	if [ ${#need[@]} -gt 0 ]; then
		if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
			echo "install-tools: please install ${need[*]} (Debian: apt-get install ${need[*]})" >&2
			exit 1
		fi
		echo "install-tools: installing ${need[*]} from Debian" >&2
		# policy-rc.d keeps the packages from starting their daemons (Debian's
		# slapd, redis-server, haproxy and docker.io would start system services); the
		# tests start their own.
		local prc=/usr/sbin/policy-rc.d had_prc=
		[ -e "$prc" ] && had_prc=1
		[ -n "$had_prc" ] || { printf '#!/bin/sh\nexit 101\n' >"$prc" && chmod +x "$prc"; }
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null || {
			[ -n "$had_prc" ] || rm -f "$prc"
			exit 1
		}
		[ -n "$had_prc" ] || rm -f "$prc"
	fi
	python3 -c 'import boto3' 2>/dev/null || { echo "install-tools: python3 with boto3 is required" >&2; exit 1; }
	command -v aws >/dev/null || { echo "install-tools: the AWS CLI is required" >&2; exit 1; }
	command -v chromium >/dev/null || { echo "install-tools: Chromium is required" >&2; exit 1; }
	command -v s3cmd >/dev/null || { echo "install-tools: s3cmd is required" >&2; exit 1; }
	[ -x /usr/sbin/slapd ] || { echo "install-tools: slapd is required" >&2; exit 1; }
	[ -x /usr/bin/redis-server ] || { echo "install-tools: redis-server is required" >&2; exit 1; }
	command -v s3fs >/dev/null || { echo "install-tools: s3fs is required" >&2; exit 1; }
	[ -x /usr/sbin/dockerd ] && command -v docker >/dev/null || { echo "install-tools: docker.io (dockerd and docker) is required" >&2; exit 1; }
	[ -x /usr/sbin/haproxy ] || { echo "install-tools: haproxy is required" >&2; exit 1; }
}

for t in $want; do
	case $t in
	minio) install_minio ;;
	mc) install_mc ;;
	hydra) install_hydra ;;
	clients) install_clients ;;
	*) echo "install-tools: unknown tool $t" >&2; exit 2 ;;
	esac
done
echo "$BIN"
