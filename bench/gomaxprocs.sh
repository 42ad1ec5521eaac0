#!/usr/bin/env bash
# What Go's default GOMAXPROCS is under a cgroup CPU limit (a container's
# --cpus, a Kubernetes CPU limit): builds bench/gomaxprocs and runs it in a
# cgroup made for the purpose, with CPU limits of 0.5, 1, 1.5 and 3 CPUs,
# then removes the cgroup. Uses cgroup v2 (cpu.max) where the cpu controller
# is in the unified hierarchy, cgroup v1 (cpu.cfs_quota_us) otherwise. Needs
# root. Run from the repository root: bash bench/gomaxprocs.sh
set -euo pipefail

bin=$(mktemp -d)/gomaxprocs
go build -o "$bin" ./bench/gomaxprocs
trap 'rm -rf "$(dirname "$bin")"; [ -n "${cg:-}" ] && rmdir "$cg" 2>/dev/null || true' EXIT

if [ -f /sys/fs/cgroup/cgroup.controllers ] && grep -qw cpu /sys/fs/cgroup/cgroup.controllers; then
	v=2 root=/sys/fs/cgroup
elif [ -f /sys/fs/cgroup/unified/cgroup.controllers ] && grep -qw cpu /sys/fs/cgroup/unified/cgroup.controllers; then
	v=2 root=/sys/fs/cgroup/unified
elif [ -f /sys/fs/cgroup/cpu/cpu.cfs_quota_us ]; then
	v=1 root=/sys/fs/cgroup/cpu
else
	echo "no cgroup cpu controller found" >&2
	exit 1
fi
cg=$root/gomaxprocs-demo-$$
mkdir "$cg"
echo "cgroup v$v at $cg; $(nproc) CPUs on this machine; $(go version)"
echo "no limit:                         $("$bin")"
for quota in 50000 100000 150000 300000; do
	if [ $v = 2 ]; then
		echo "$quota 100000" >"$cg/cpu.max"
	else
		echo 100000 >"$cg/cpu.cfs_period_us"
		echo "$quota" >"$cg/cpu.cfs_quota_us"
	fi
	limit=$(awk -v q=$quota 'BEGIN { printf "%.1f", q / 100000 }')
	# A shell in the cgroup starts the program, which inherits it.
	out=$(sh -c 'echo $$ >"$1/cgroup.procs"; exec "$2"' sh "$cg" "$bin")
	printf 'limit %s CPUs:                 %s\n' "$limit" "$out"
	out=$(sh -c 'echo $$ >"$1/cgroup.procs"; GODEBUG=containermaxprocs=0 exec "$2"' sh "$cg" "$bin")
	printf 'limit %s CPUs, cgroup ignored: %s\n' "$limit" "$out"
done
echo "one CPU by affinity (taskset -c 0): $(taskset -c 0 "$bin")"
