#!/usr/bin/env bash
# Installs the real components the integration tests and the demo run against:
# MinIO and Ory Hydra, pinned, built from the Go module proxy into $IAMGATE_TOOLS/bin.
# Idempotent: a tool already built at the pinned version is kept.
set -euo pipefail

MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
HYDRA_VERSION=v2.3.0

TOOLS=${IAMGATE_TOOLS:-$HOME/.cache/iamgate-tools}
BIN=$TOOLS/bin
mkdir -p "$BIN"

want=${*:-minio hydra}

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

for t in $want; do
	case $t in
	minio) install_minio ;;
	hydra) install_hydra ;;
	*) echo "install-tools: unknown tool $t" >&2; exit 2 ;;
	esac
done
echo "$BIN"
