#!/usr/bin/env bash
# Builds the iamgate binary as releases are built: static (CGO_ENABLED=0),
# -trimpath, the IANA time zone database embedded (-tags timetzdata), and the
# version, commit and build time stamped in (iamgate version prints them).
#
#   scripts/build.sh OUTPUT
#
# Environment: VERSION, COMMIT, BUILD_DATE (see scripts/version.sh; computed
# from the git checkout when unset); GOOS, GOARCH; GO (default go).
set -euo pipefail
cd "$(dirname "$0")/.."

out=${1:?usage: scripts/build.sh OUTPUT}
GO=${GO:-go}

. scripts/version.sh

CGO_ENABLED=0 "$GO" build -trimpath -tags timetzdata \
	-ldflags "-s -w -X main.version=$VERSION -X main.commit=$COMMIT -X main.date=$BUILD_DATE" \
	-o "$out" ./cmd/iamgate
