# Sourced by scripts/build.sh and scripts/image.sh: sets and exports VERSION,
# COMMIT and BUILD_DATE, each kept when already set.
#   VERSION     git describe --tags --always --dirty, or "devel" outside git
#   COMMIT      the full commit hash ("" outside git)
#   BUILD_DATE  now, or SOURCE_DATE_EPOCH when set (reproducible builds), RFC 3339 UTC
if [ -z "${VERSION:-}" ]; then
	VERSION=$(git describe --tags --always --dirty 2>/dev/null || echo devel)
fi
if [ -z "${COMMIT:-}" ]; then
	COMMIT=$(git rev-parse HEAD 2>/dev/null || true)
fi
if [ -z "${BUILD_DATE:-}" ]; then
	if [ -n "${SOURCE_DATE_EPOCH:-}" ]; then
		BUILD_DATE=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)
	else
		BUILD_DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ)
	fi
fi
case "$VERSION$COMMIT$BUILD_DATE" in
*[[:space:]\'\"]*)
	echo "VERSION, COMMIT and BUILD_DATE may not contain spaces or quotes" >&2
	exit 2
	;;
esac
export VERSION COMMIT BUILD_DATE
