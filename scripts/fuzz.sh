#!/usr/bin/env bash
# Runs every fuzz target in the module with -fuzztime $FUZZTIME (default 20000x:
# a count, not a duration, because a duration that runs out while the fuzzer
# minimizes a new input is reported as a failure with nothing to reproduce).
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-20000x}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
n=0
while IFS=: read -r file _ text; do
	name=$(sed -E 's/^func (Fuzz[A-Za-z0-9_]+)\(.*/\1/' <<<"$text")
	pkg=./$(dirname "${file#./}")
	if ! go test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "$pkg" >"$log" 2>&1; then
		cat "$log"
		echo "fuzz: $pkg $name FAILED (a failing input is saved under $pkg/testdata/fuzz/$name)"
		exit 1
	fi
	# A run that matched no target would pass without fuzzing anything.
	grep -q "fuzz: elapsed" "$log" || { cat "$log"; echo "fuzz: $pkg $name did not run"; exit 1; }
	echo "fuzz: $pkg $name: $(grep -o 'execs: [0-9]*' "$log" | tail -1) in $FUZZTIME"
	n=$((n + 1))
done < <(grep -rn --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]+\(f \*testing\.F\)' . | sort)
[ "$n" -gt 0 ] || { echo "fuzz: no targets found"; exit 1; }
echo "fuzz: $n targets passed"
