#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test: once in a normal
# build and once under AddressSanitizer + UndefinedBehaviorSanitizer (with
# LeakSanitizer). Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
hd_install_packages "${HD_PACKAGES[@]}" "${HD_TEST_PACKAGES[@]}" "${HD_PACKAGING_PACKAGES[@]}"

run_suite() {
	local dir=$1
	shift
	# A sanitizer build is two to three times slower: its timeouts scale
	# (harness.c's watchdog does the same).
	local mult=1
	case "$*" in *b_sanitize=*) mult=3 ;; esac
	# An existing directory gets the options too: run.sh sets build/ up
	# with -Dtests=false, and meson test there passes on "No tests defined".
	if [ -f "$dir/build.ninja" ]; then
		meson configure "$dir" "$@"
	else
		meson setup "$dir" "$@"
	fi
	ninja -C "$dir"
	meson test -C "$dir" --print-errorlogs --num-processes 1 --timeout-multiplier "$mult" --no-suite wireguard
	# The WireGuard tests spend their time waiting on wireguard-go's
	# handshakes and timers, each in namespaces of its own (names unique per
	# run): three at a time take a third of the wall time (4m20 -> 1m19).
	meson test -C "$dir" --print-errorlogs --num-processes 3 --timeout-multiplier "$mult" --suite wireguard
}

echo "== build and test (build/)"
run_suite build -Dtests=true

# The optional DPDK backend (docs/wireguard.md, "DPDK"): its own build, and
# only what its end-to-end test needs; everything else is the code build/ tested.
echo "== DPDK build and its WireGuard test (build-dpdk/)"
if [ ! -d build-dpdk ]; then
	meson setup build-dpdk -Ddpdk=enabled
fi
ninja -C build-dpdk src/hyper-derp tools/hdcli test/wireguard/wg_xfer
meson test -C build-dpdk --no-rebuild --suite wireguard-dpdk --print-errorlogs --num-processes 1

echo "== build and test under ASan+UBSan (build-asan/)"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
run_suite build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug

# Optimised builds see warnings (-Wformat-truncation, ...) that -O0 and -O2 miss.
echo "== release build compiles warning-free (build-release/)"
if [ ! -d build-release ]; then
	meson setup build-release -Dbuildtype=release -Dtests=false
fi
ninja -C build-release

# ARM64 (docs/arm64.md): cross-built warning-free, the unit tests (with the
# two-thread SPSC ring test and the emitted-ordering check) under qemu-user,
# the arm64 hdbench and hdcli against build/'s relay. About 45 s of CPU from
# scratch here (48 s wall on an idle machine).
echo "== arm64 cross build, unit tests under qemu-user (build-arm64/)"
./scripts/arm64.sh test

# The Debian package: built on a copy in /tmp, lintian, installed, the
# installed relay run, the unit verified, purged (docs/deploy.md). As root
# only: it installs the package on this machine.
echo "== Debian package (scripts/deb.sh check)"
if [ "$(id -u)" -eq 0 ]; then
	./scripts/deb.sh check
else
	echo "(skipped: not root)"
fi

# Each libFuzzer target runs briefly over its seed corpus (docs/fuzzing.md);
# scripts/fuzz.sh runs one for longer.
echo "== fuzz targets, short runs (build-fuzz/)"
if [ ! -d build-fuzz ]; then
	CC=clang meson setup build-fuzz -Dfuzz=true -Dfuzz_seconds=10
fi
ninja -C build-fuzz
# Two at a time, one per core: each target still runs its full time.
meson test -C build-fuzz --suite fuzz --print-errorlogs --num-processes 2

echo "== all tests passed"
