#!/usr/bin/env bash
# `make demo`: a local MinIO and iamgate with a working identity, ready for
# curl and the web console. Runs in the foreground until Ctrl-C. With
# --smoke it runs the printed commands, checks their results, and exits
# (used by the tests); with IAMGATE_DEMO_HOLD=1 as well, it keeps MinIO and
# iamgate running after "demo smoke: OK" until its standard input closes.
set -euo pipefail
cd "$(dirname "$0")/.."
SMOKE=0
[ "${1:-}" = "--smoke" ] && SMOKE=1

DEMO=${IAMGATE_DEMO_DIR:-$PWD/.demo}
IAMGATE_PORT=${IAMGATE_PORT:-8080}
METRICS_PORT=${METRICS_PORT:-9090}
MINIO_PORT=${MINIO_PORT:-9000}
MINIO_CONSOLE_PORT=${MINIO_CONSOLE_PORT:-9001}
ISSUER_PORT=${ISSUER_PORT:-8089}
BIN=$(bash scripts/install-tools.sh minio)
IAMGATE=${IAMGATE_BIN:-bin/iamgate}
[ -n "${IAMGATE_BIN:-}" ] || go build -o bin/iamgate ./cmd/iamgate

mkdir -p "$DEMO/minio"
export IAMGATE_DEMO_MINIO_USER=demo-root
export IAMGATE_DEMO_MINIO_PASSWORD=demo-root-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
export IAMGATE_DEMO_SESSION_KEY=demo-session-$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
export IAMGATE_DEMO_CLIENT_SECRET=demo-client-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
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

cat <<MSG

  iamgate is running at $S3 in front of MinIO at http://127.0.0.1:$MINIO_PORT
  DEVELOPMENT MODE: the built-in issuer at http://127.0.0.1:$ISSUER_PORT mints tokens for anyone on this machine.

  The web console: open $S3/_iamgate/ui/ in a browser. The development
  issuer's sign-in page offers alice and bob (group demo-users) and admin
  (demo-admins), no password; or type any name and groups.

  alice (group demo-users) may read and write demo/home/alice/ and read demo/shared/:

    TOKEN=\$(cat $DEMO/alice.token)
    echo hello | curl -sS -X PUT -H "Authorization: Bearer \$TOKEN" --data-binary @- $S3/demo/home/alice/hello.txt
    curl -sS -H "Authorization: Bearer \$TOKEN" $S3/demo/home/alice/hello.txt
    curl -sS -H "Authorization: Bearer \$TOKEN" "$S3/demo?list-type=2&prefix=home/alice/"
    curl -sS -H "Authorization: Bearer \$TOKEN" $S3/demo/shared/report.txt

  and is denied bob's home, with the reason:

    curl -sS -H "Authorization: Bearer \$TOKEN" $S3/demo/home/bob/notes.txt

  The aws cli, through iamgate's STS (no static key anywhere):

    export AWS_WEB_IDENTITY_TOKEN_FILE=$DEMO/alice.token AWS_ROLE_ARN=arn:aws:iam::iamgate:role/member
    export AWS_ENDPOINT_URL_STS=$S3 AWS_ENDPOINT_URL_S3=$S3 AWS_REGION=us-east-1
    aws s3 cp README.md s3://demo/home/alice/README.md
    aws s3 ls s3://demo/home/alice/
    aws s3 cp s3://demo/home/bob/notes.txt -      # denied

  A token for another user:  curl -sS -X POST http://127.0.0.1:$ISSUER_PORT/token -d sub=carol -d preferred_username=carol -d groups=demo-users -d aud=iamgate
  Audit events:  tail -f $DEMO/audit.log        Metrics:  curl -sS http://127.0.0.1:$METRICS_PORT/metrics
  Explain a decision:  bin/iamgate explain --config $DEMO/iamgate.yaml --token-file $DEMO/alice.token GET /demo/home/bob/notes.txt

MSG

if [ "$SMOKE" = 1 ]; then
	TOKEN=$(cat "$DEMO/alice.token")
	fail() { echo "demo smoke: $*" >&2; tail -5 "$DEMO/iamgate.log" >&2; exit 1; }
	echo hello | curl -fsS -X PUT -H "Authorization: Bearer $TOKEN" --data-binary @- "$S3/demo/home/alice/hello.txt" || fail "alice PUT"
	[ "$(curl -fsS -H "Authorization: Bearer $TOKEN" "$S3/demo/home/alice/hello.txt")" = hello ] || fail "alice GET"
	# Output is captured before grep -q reads it: with pipefail, a writer cut
	# off by grep -q's early exit would fail the check.
	out=$(curl -fsS -H "Authorization: Bearer $TOKEN" "$S3/demo?list-type=2&prefix=home/alice/") || fail "alice LIST"
	grep -q "<Key>home/alice/hello.txt</Key>" <<<"$out" || fail "alice LIST: $out"
	out=$(curl -fsS -H "Authorization: Bearer $TOKEN" "$S3/demo/shared/report.txt") || fail "alice shared GET"
	grep -q Quarterly <<<"$out" || fail "alice shared GET: $out"
	out=$(curl -sS -w '\n%{http_code}' -H "Authorization: Bearer $TOKEN" "$S3/demo/home/bob/notes.txt")
	case "$out" in *"<Code>AccessDenied</Code>"*"is not authorized"*403) ;; *) fail "bob's notes not denied: $out" ;; esac
	grep -q '"decision":"deny"' "$DEMO/audit.log" || fail "no deny in the audit log"
	# The aws cli commands printed above (a CLI new enough for AWS_ENDPOINT_URL_STS).
	if command -v aws >/dev/null && aws --version 2>&1 | grep -Eq 'aws-cli/(1\.(29|[3-9][0-9])|2\.(1[3-9]|[2-9][0-9]))'; then
		(
			export HOME="$DEMO/aws-home" AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
			export AWS_WEB_IDENTITY_TOKEN_FILE=$DEMO/alice.token AWS_ROLE_ARN=arn:aws:iam::iamgate:role/member
			export AWS_ENDPOINT_URL_STS=$S3 AWS_ENDPOINT_URL_S3=$S3 AWS_REGION=us-east-1
			aws s3 cp --only-show-errors README.md s3://demo/home/alice/README.md || exit 1
			listing=$(aws s3 ls s3://demo/home/alice/) || exit 1
			grep -q README.md <<<"$listing" || exit 1
			! aws s3 cp --only-show-errors s3://demo/home/bob/notes.txt - 2>/dev/null
		) || fail "aws cli through the STS"
	fi
	"$IAMGATE" explain --config "$DEMO/iamgate.yaml" --token-file "$DEMO/alice.token" GET /demo/home/bob/notes.txt >"$DEMO/explain.txt" || true
	grep -qi "deny" "$DEMO/explain.txt" || fail "explain did not explain: $(cat "$DEMO/explain.txt")"
	echo "demo smoke: OK"
	[ "${IAMGATE_DEMO_HOLD:-}" = 1 ] && cat >/dev/null
	exit 0
fi
echo "  Press Ctrl-C to stop MinIO and iamgate."
wait
