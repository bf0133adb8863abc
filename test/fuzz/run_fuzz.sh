#!/usr/bin/env bash
# Runs one libFuzzer target for a bounded time over its seed corpus, for
# `meson test --suite fuzz`. New inputs go to a scratch corpus in the build
# directory (the seed corpus in git is only read); a crash, leak or timeout
# leaves its input in WORK/artifacts/ and fails the test.
#
# Usage: run_fuzz.sh TARGET_EXE SEED_DIR WORK_DIR SECONDS [libFuzzer flags...]
# Flags in test/fuzz/options/TARGET (one line) are added, as scripts/fuzz.sh does.
set -euo pipefail
exe=$1
seeds=$2
work=$3
seconds=$4
shift 4
target=$(basename "$exe")
options_file="$(dirname "$0")/options/${target#fuzz_}"
options=()
if [ -f "$options_file" ]; then
	read -r -a options <"$options_file"
fi

mkdir -p "$work/corpus" "$work/artifacts"
# Leaks are findings too; abort so that the input is saved.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
exec "$exe" \
	-max_total_time="$seconds" \
	-rss_limit_mb=2048 \
	-timeout=30 \
	-print_final_stats=1 \
	-error_exitcode=1 \
	-timeout_exitcode=1 \
	-artifact_prefix="$work/artifacts/" \
	"${options[@]}" "$@" \
	"$work/corpus" "$seeds"
