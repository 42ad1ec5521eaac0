#!/usr/bin/env bash
# `make demo`: a local MinIO and iamgate with a working identity, ready for
# curl, the aws cli and the web console. Runs in the foreground until Ctrl-C
# (or until its standard input closes, with IAMGATE_DEMO_HOLD=stdin).
# Every command it prints works when pasted into a new shell: paths are
# absolute, and the secrets the configuration reads with env: are in
# $DEMO/env (cmd/iamgate/demo_test.go pastes them all and checks the results).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

DEMO=${IAMGATE_DEMO_DIR:-$ROOT/.demo}
IAMGATE_PORT=${IAMGATE_PORT:-8080}
METRICS_PORT=${METRICS_PORT:-9090}
MINIO_PORT=${MINIO_PORT:-9000}
MINIO_CONSOLE_PORT=${MINIO_CONSOLE_PORT:-9001}
ISSUER_PORT=${ISSUER_PORT:-8089}
BIN=$(bash scripts/install-tools.sh minio)
IAMGATE=${IAMGATE_BIN:-bin/iamgate}
[ -n "${IAMGATE_BIN:-}" ] || go build -o bin/iamgate ./cmd/iamgate
IAMGATE=$(cd "$(dirname "$IAMGATE")" && pwd)/$(basename "$IAMGATE")

mkdir -p "$DEMO/minio"
DEMO=$(cd "$DEMO" && pwd)
# The secrets of the rendered configuration, which reads them with env:.
# Commands that load the configuration (iamgate explain, check, dev) need
# them: set -a; . $DEMO/env; set +a
(
	umask 077
	cat >"$DEMO/env" <<ENV
# The demo's secrets, read by $DEMO/iamgate.yaml (env:). Load with: set -a; . $DEMO/env; set +a
IAMGATE_DEMO_MINIO_USER=demo-root
IAMGATE_DEMO_MINIO_PASSWORD=demo-root-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
IAMGATE_DEMO_SESSION_KEY=demo-session-$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
IAMGATE_DEMO_CLIENT_SECRET=demo-client-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
ENV
)
set -a
# shellcheck disable=SC1091
. "$DEMO/env"
set +a
sed -e "s/@IAMGATE_PORT@/$IAMGATE_PORT/g; s/@METRICS_PORT@/$METRICS_PORT/; s/@MINIO_PORT@/$MINIO_PORT/; s/@ISSUER_PORT@/$ISSUER_PORT/" \
	-e "s#@AUDIT_FILE@#$DEMO/audit.log#" deploy/demo/iamgate.yaml.tmpl >"$DEMO/iamgate.yaml"

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

MINIO_ROOT_USER=$IAMGATE_DEMO_MINIO_USER MINIO_ROOT_PASSWORD=$IAMGATE_DEMO_MINIO_PASSWORD \
	"$BIN/minio" server "$DEMO/minio" --address "127.0.0.1:$MINIO_PORT" \
	--console-address "127.0.0.1:$MINIO_CONSOLE_PORT" >"$DEMO/minio.log" 2>&1 &
pids+=($!)
"$IAMGATE" dev --config "$DEMO/iamgate.yaml" --issuer-listen "127.0.0.1:$ISSUER_PORT" >"$DEMO/iamgate.log" 2>&1 &
pids+=($!)

# MinIO and iamgate start in a second or two; allow a minute on a busy machine.
for i in $(seq 1 300); do
	curl -fsS "http://127.0.0.1:$IAMGATE_PORT/_iamgate/readyz" >/dev/null 2>&1 && break
	if [ "$i" = 300 ]; then
		echo "demo: iamgate did not become ready; logs:" >&2
		tail -20 "$DEMO/minio.log" "$DEMO/iamgate.log" >&2
		exit 1
	fi
	sleep 0.2
done

token() { # user group
	curl -fsS -X POST "http://127.0.0.1:$ISSUER_PORT/token" \
		-d "sub=$1" -d "preferred_username=$1" -d "groups=$2" -d "aud=iamgate" -d "ttl=8h" |
		sed -E 's/.*"access_token":"([^"]+)".*/\1/'
}
token alice demo-users >"$DEMO/alice.token"
token admin demo-admins >"$DEMO/admin.token"
S3=http://127.0.0.1:$IAMGATE_PORT
auth() { echo "Authorization: Bearer $(cat "$DEMO/$1.token")"; }
# The admin creates the bucket and a shared file, through iamgate. MinIO
# may still be initializing for a moment after it answers: retry briefly.
for i in $(seq 1 50); do
	code=$(curl -sS -o "$DEMO/create-bucket.xml" -w '%{http_code}' -X PUT -H "$(auth admin)" "$S3/demo" || true)
	case "$code" in 200 | 409) break ;; esac
	if [ "$i" = 50 ]; then
		echo "demo: creating the bucket failed ($code):" >&2
		cat "$DEMO/create-bucket.xml" >&2
		exit 1
	fi
	sleep 0.2
done
echo "Quarterly numbers: all good." | curl -fsS -X PUT -H "$(auth admin)" --data-binary @- "$S3/demo/shared/report.txt" >/dev/null
echo "bob's notes" | curl -fsS -X PUT -H "$(auth admin)" --data-binary @- "$S3/demo/home/bob/notes.txt" >/dev/null

# The aws cli reads AWS_ENDPOINT_URL_STS and AWS_ENDPOINT_URL_S3 from v1.29
# and v2.13 on; an older one would send the STS call to AWS. It then gets
# its credentials through `iamgate credentials` (credential_process) and
# the endpoint on the command line.
AWS_VERSION=""
AWS_MODERN=0
if command -v aws >/dev/null; then
	AWS_VERSION=$(aws --version 2>&1 | awk '{print $1}')
	if grep -Eq '^aws-cli/(1\.(29|[3-9][0-9]|[1-9][0-9][0-9])|2\.(1[3-9]|[2-9][0-9]|[1-9][0-9][0-9]))\.' <<<"$AWS_VERSION"; then
		AWS_MODERN=1
	fi
fi
# Paths as a shell reads them back (unchanged unless they hold special characters).
D=$(printf %q "$DEMO")
R=$(printf %q "$ROOT")
I=$(printf %q "$IAMGATE")
cat >"$DEMO/aws-config" <<CFG
# alice's profile for an aws cli that predates AWS_ENDPOINT_URL_* (see make demo's output)
[profile demo-alice]
region = us-east-1
credential_process = $I credentials --endpoint $S3 --role member --token-file $D/alice.token --cache-dir $D/credentials-cache
CFG

cat <<MSG

  iamgate is running at $S3 in front of MinIO at http://127.0.0.1:$MINIO_PORT
  DEVELOPMENT MODE: the built-in issuer at http://127.0.0.1:$ISSUER_PORT mints tokens for anyone on this machine.

  The web console: open $S3/_iamgate/ui/ in a browser. The development
  issuer's sign-in page offers alice and bob (group demo-users) and admin
  (demo-admins), no password; or type any name and groups.

  Each block of commands below works when pasted into a new shell.

  alice (group demo-users) may read and write demo/home/alice/ and read demo/shared/:

    TOKEN=\$(cat $D/alice.token)
    echo hello | curl -sS -X PUT -H "Authorization: Bearer \$TOKEN" --data-binary @- $S3/demo/home/alice/hello.txt
    curl -sS -H "Authorization: Bearer \$TOKEN" $S3/demo/home/alice/hello.txt
    curl -sS -H "Authorization: Bearer \$TOKEN" "$S3/demo?list-type=2&prefix=home/alice/"
    curl -sS -H "Authorization: Bearer \$TOKEN" $S3/demo/shared/report.txt

  and is denied bob's home, with the reason:

    TOKEN=\$(cat $D/alice.token)
    curl -sS -H "Authorization: Bearer \$TOKEN" $S3/demo/home/bob/notes.txt

MSG

if [ "$AWS_MODERN" = 1 ]; then
	cat <<MSG
  The aws cli ($AWS_VERSION), through iamgate's STS (no static key anywhere):

    export AWS_WEB_IDENTITY_TOKEN_FILE=$D/alice.token AWS_ROLE_ARN=arn:aws:iam::iamgate:role/member
    export AWS_ENDPOINT_URL_STS=$S3 AWS_ENDPOINT_URL_S3=$S3 AWS_REGION=us-east-1
    aws s3 cp $R/README.md s3://demo/home/alice/README.md
    aws s3 ls s3://demo/home/alice/
    aws s3 cp s3://demo/home/bob/notes.txt -      # denied

MSG
elif [ -n "$AWS_VERSION" ]; then
	cat <<MSG
  The aws cli: $AWS_VERSION ignores AWS_ENDPOINT_URL_STS and AWS_ENDPOINT_URL_S3 (read
  from v1.29 and v2.13 on), so it gets its credentials from iamgate's STS through
  iamgate credentials (credential_process, profile demo-alice in $D/aws-config)
  and the endpoint from --endpoint-url:

    export AWS_CONFIG_FILE=$D/aws-config AWS_PROFILE=demo-alice
    aws --endpoint-url $S3 s3 cp $R/README.md s3://demo/home/alice/README.md
    aws --endpoint-url $S3 s3 ls s3://demo/home/alice/
    aws --endpoint-url $S3 s3 cp s3://demo/home/bob/notes.txt -      # denied

MSG
else
	cat <<MSG
  The aws cli is not installed; docs/clients.md shows how it, mc, s3cmd,
  rclone, s3fs and the SDKs connect.

MSG
fi

cat <<MSG
  A token for another user:

    curl -sS -X POST http://127.0.0.1:$ISSUER_PORT/token -d sub=carol -d preferred_username=carol -d groups=demo-users -d aud=iamgate

  The latest audit events, and the request counters:

    tail -n 3 $D/audit.log
    curl -sS http://127.0.0.1:$METRICS_PORT/metrics | grep '^iamgate_requests_total'

  Why was bob's file denied? (exit status 1: DENY; the configuration's secrets are in $D/env)

    set -a; . $D/env; set +a
    $I explain --config $D/iamgate.yaml --token-file $D/alice.token GET /demo/home/bob/notes.txt

  Press Ctrl-C to stop MinIO and iamgate.
MSG

if [ "${IAMGATE_DEMO_HOLD:-}" = stdin ]; then
	cat >/dev/null
	exit 0
fi
wait
