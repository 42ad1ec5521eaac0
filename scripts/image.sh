#!/usr/bin/env bash
# Builds iamgate's container image without pulling anything: the binary is
# built here (scripts/build.sh), copied with the machine's CA bundle into a
# fresh build context, and deploy/docker/Dockerfile (FROM scratch) is built
# with the network off and the classic builder (BuildKit would look for a
# frontend and buildx).
#
#   scripts/image.sh            # tags $IMAGE:$VERSION and $IMAGE:latest
#
# Environment: IMAGE (default iamgate); VERSION, COMMIT, BUILD_DATE as for
# scripts/build.sh; DOCKER (default docker); CA_BUNDLE (default
# /etc/ssl/certs/ca-certificates.crt).
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=${IMAGE:-iamgate}
DOCKER=${DOCKER:-docker}
CA_BUNDLE=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}

. scripts/version.sh

# A Docker tag is [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}; a version such as
# v1.2.0+meta becomes v1.2.0_meta.
tag=$(printf '%s' "$VERSION" | tr -c 'A-Za-z0-9_.-' '_' | cut -c1-128)

if [ ! -r "$CA_BUNDLE" ]; then
	echo "image.sh: no CA bundle at $CA_BUNDLE (Debian: apt-get install ca-certificates)" >&2
	exit 1
fi

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
GOOS=linux bash scripts/build.sh "$ctx/iamgate"
cp "$CA_BUNDLE" "$ctx/ca-certificates.crt"
mkdir "$ctx/var-lib-iamgate"
cp deploy/docker/Dockerfile "$ctx/Dockerfile"

DOCKER_BUILDKIT=0 "$DOCKER" build --network=none --pull=false --quiet \
	--build-arg "VERSION=$VERSION" --build-arg "REVISION=$COMMIT" --build-arg "CREATED=$BUILD_DATE" \
	-t "$IMAGE:$tag" -t "$IMAGE:latest" "$ctx" >/dev/null
echo "$IMAGE:$tag"
