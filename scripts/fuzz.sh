#!/usr/bin/env bash
# Runs one libFuzzer target for a while (docs/fuzzing.md).
#
#   scripts/fuzz.sh TARGET MINUTES [libFuzzer flags...]
#   scripts/fuzz.sh coverage TARGET
#   scripts/fuzz.sh list
#
# Builds the targets with clang in build-fuzz/ (FUZZ_BUILD_DIR to change it),
# then fuzzes TARGET starting from its seed corpus test/fuzz/corpus/TARGET.
# New inputs go to a scratch corpus, never into git: FUZZ_WORK_DIR, by
# default ${TMPDIR:-/tmp}/hd-fuzz/TARGET (kept between runs, so a second run
# goes on where the first stopped). Crashes, leaks and timeouts are written
# to WORK/artifacts/ and make the script exit non-zero. FUZZ_FORK=N runs N
# fuzzing processes (libFuzzer -fork=N) instead of one. The flags in
# test/fuzz/options/TARGET (one line, e.g. -max_len=70000), if any, are
# always added.
#
# `coverage TARGET` runs the seeds and the scratch corpus once through a
# build with clang's source coverage (build-fuzz-cov/) and prints the line
# and branch coverage of the project files the target links (per line in
# WORK/coverage/lines.txt).
set -euo pipefail
cd "$(dirname "$0")/.."

build=${FUZZ_BUILD_DIR:-build-fuzz}
targets=$(sed -n "s/^  '\([a-z_]*\)' : \[.*/\1/p" test/fuzz/meson.build | tr '\n' ' ')

usage() {
	echo "usage: $0 TARGET MINUTES [libFuzzer flags...] | coverage TARGET | list" >&2
	echo "targets:" $targets >&2
	exit 2
}

[ $# -ge 1 ] || usage
if [ "$1" = list ]; then
	echo $targets
	exit 0
fi
if [ "$1" = coverage ]; then
	[ $# -eq 2 ] || usage
	target=$2
	echo " $targets " | grep -q " $target " || usage
	cov=${FUZZ_COV_BUILD_DIR:-build-fuzz-cov}
	if [ ! -f "$cov/build.ninja" ]; then
		CC=clang meson setup "$cov" -Dfuzz=true -Dfuzz_coverage=true -Dwerror=false
	fi
	ninja -C "$cov" "test/fuzz/fuzz_$target"
	work=${FUZZ_WORK_DIR:-${TMPDIR:-/tmp}/hd-fuzz/$target}
	mkdir -p "$work/corpus" "$work/coverage"
	rm -f "$work/coverage/"*.profraw
	LLVM_PROFILE_FILE="$work/coverage/%p.profraw" "$cov/test/fuzz/fuzz_$target" -runs=0 \
		"$work/corpus" "test/fuzz/corpus/$target" >"$work/coverage/run.log" 2>&1
	llvm-profdata merge -sparse "$work/coverage/"*.profraw -o "$work/coverage/merged.profdata"
	llvm-cov report "$cov/test/fuzz/fuzz_$target" -instr-profile="$work/coverage/merged.profdata" \
		-ignore-filename-regex='(test/fuzz/|^/usr/)'
	llvm-cov show "$cov/test/fuzz/fuzz_$target" -instr-profile="$work/coverage/merged.profdata" \
		-ignore-filename-regex='(test/fuzz/|^/usr/)' -show-branches=count \
		>"$work/coverage/lines.txt"
	echo "== line by line: $work/coverage/lines.txt"
	exit 0
fi
[ $# -ge 2 ] || usage
target=$1
minutes=$2
shift 2
echo " $targets " | grep -q " $target " || usage
[[ $minutes =~ ^[0-9]+$ ]] && [ "$minutes" -gt 0 ] || usage

if [ ! -f "$build/build.ninja" ]; then
	# Warnings stay errors in the fuzz targets (their own -Werror); the
	# rest of the tree is built too, and clang warns about more than gcc.
	CC=clang meson setup "$build" -Dfuzz=true -Dwerror=false
fi
ninja -C "$build" "test/fuzz/fuzz_$target"

work=${FUZZ_WORK_DIR:-${TMPDIR:-/tmp}/hd-fuzz/$target}
mkdir -p "$work/corpus" "$work/artifacts"
exe=$build/test/fuzz/fuzz_$target
options=()
if [ -f "test/fuzz/options/$target" ]; then
	read -r -a options <"test/fuzz/options/$target"
fi
fork=()
if [ -n "${FUZZ_FORK:-}" ]; then
	fork=(-fork="$FUZZ_FORK" -ignore_crashes=0)
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
echo "== fuzzing $target for $minutes min; corpus $work/corpus, log $work/log"
set +e
"$exe" -max_total_time=$((minutes * 60)) -rss_limit_mb=2048 -timeout=30 \
	-print_final_stats=1 -artifact_prefix="$work/artifacts/" "${options[@]}" "${fork[@]}" "$@" \
	"$work/corpus" "test/fuzz/corpus/$target" 2>&1 | tee "$work/log"
rc=${PIPESTATUS[0]}
set -e
if [ "$rc" -ne 0 ]; then
	echo "== $target failed (exit $rc); inputs in $work/artifacts/:" >&2
	ls -l "$work/artifacts/" >&2
	echo "== reproduce with: $exe $work/artifacts/FILE" >&2
	exit "$rc"
fi
echo "== $target: no failure in $minutes min"
