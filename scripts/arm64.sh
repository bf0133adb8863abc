#!/usr/bin/env bash
# The 64-bit ARM target (docs/arm64.md): a cross build on this x86-64 host
# with Debian's gcc-aarch64-linux-gnu and the arm64 libraries through
# multiarch, and the tests that can run under qemu-user.
#
#   scripts/arm64.sh deps         add the arm64 architecture to dpkg and install
#                                 HD_ARM64_PACKAGES (scripts/deps.sh)
#   scripts/arm64.sh build        cross-build everything in build-arm64/
#                                 (daemon, hdcli, hdbench, BPF objects, tests)
#   scripts/arm64.sh build-dpdk   the same with -Ddpdk=enabled in build-arm64-dpdk/
#                                 (installs libdpdk-dev:arm64 first, which
#                                 removes libdpdk-dev:amd64: see below)
#   scripts/arm64.sh test         what scripts/test.sh runs: build the daemon,
#                                 hdcli, hdbench and the unit tests, run the
#                                 unit tests under qemu-aarch64-static, and the
#                                 arm64 hdbench and hdcli against this machine's
#                                 relay (test/arm64/interop.sh)
#   scripts/arm64.sh deb OUTDIR   the arm64 .deb into OUTDIR (scripts/deb.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh

CROSS_FILE=cross/aarch64-linux-gnu.ini

arm64_deps() {
	if ! dpkg --print-foreign-architectures | grep -qx arm64; then
		echo "arm64.sh: dpkg --add-architecture arm64" >&2
		local sudo=()
		[ "$(id -u)" -ne 0 ] && sudo=(sudo)
		"${sudo[@]}" dpkg --add-architecture arm64
	fi
	# The arm64 packages come from the same archive: only their index is
	# new, and hd_install_packages runs apt-get update when anything is missing.
	hd_install_packages "$@"
}

# Sets DIR up as a cross build with the remaining arguments as options.
# An existing one is reconfigured: meson keeps a copy of the cross file and
# reads the file again only then.
arm64_setup() {
	local dir=$1
	shift
	local again=()
	[ -f "$dir/build.ninja" ] && again=(--reconfigure)
	meson setup "${again[@]}" "$dir" --cross-file "$CROSS_FILE" "$@"
}

arm64_test() {
	local t0=$SECONDS
	if [ "$(uname -m)" = aarch64 ]; then
		# test.sh's own builds are arm64 builds here, arm64_ordering included.
		echo "arm64.sh test: this machine is arm64; test.sh's native run covers it"
		return 0
	fi
	arm64_deps "${HD_ARM64_PACKAGES[@]}"
	arm64_setup build-arm64 -Dtests=true
	# Only what the run needs and what must build warning-free: the
	# integration and fuzz programs cannot run under qemu-user (docs/arm64.md),
	# and building them would double the time.
	local targets=(src/hyper-derp tools/hdcli tools/hdbench)
	local name
	# The unit tests' programs (arm64_ordering is a script: it reads the
	# libraries the daemon links).
	for name in $(meson introspect build-arm64 --tests | python3 -c '
import json, os, sys
build = os.path.realpath("build-arm64") + "/"
for t in json.load(sys.stdin):
    if "hyper-derp:unit" in t["suite"] and t["cmd"][0].startswith(build):
        print(t["cmd"][0][len(build):])'); do
		targets+=("$name")
	done
	ninja -C build-arm64 "${targets[@]}"
	# The unit tests, and what they exercise that is arm64-sensitive: the
	# SPSC ring (acquire/release, and its two-thread test), the frame codec
	# and the handshake (byte order, unaligned fields), the WireGuard
	# classifier and header rewrite (unaligned loads, checksums), buffers
	# and queues. The cross file's exe_wrapper runs them in qemu.
	echo "arm64.sh: cross build done in $((SECONDS - t0)) s"
	meson test -C build-arm64 --no-rebuild --suite unit --print-errorlogs --num-processes 2
	# The relay cannot run under qemu-user (no io_uring), but the arm64
	# hdbench and hdcli can, against this machine's relay: build/ as
	# run.sh sets it up, unless test.sh has built it already.
	[ -f build/build.ninja ] || meson setup build -Dtests=false
	ninja -C build src/hyper-derp
	test/arm64/interop.sh build/src/hyper-derp build-arm64/tools/hdbench build-arm64/tools/hdcli
	echo "arm64.sh: unit tests and clients under qemu-aarch64-static passed; $((SECONDS - t0)) s in all"
}

# Debian 12's libdpdk-dev:arm64 and libdpdk-dev:amd64 cannot be installed
# together (rdma-core and libfdt-dev are not Multi-Arch: same), so apt
# installing the one removes the other, and with it test.sh's DPDK build.
# Only with HD_ARM64_DPDK_REPLACE=1, then.
arm64_dpdk_allowed() {
	local status
	status=$(dpkg-query -W -f='${Status}' libdpdk-dev:amd64 2>/dev/null || true)
	case "$status" in
	*"install ok installed"*) ;;
	*) return 0 ;;
	esac
	[ "${HD_ARM64_DPDK_REPLACE:-0}" = 1 ] && return 0
	echo "arm64.sh build-dpdk: installing libdpdk-dev:arm64 would remove libdpdk-dev:amd64" \
		"(Debian 12 cannot have both), which the amd64 DPDK build needs. Use a machine" \
		"or chroot without it, or set HD_ARM64_DPDK_REPLACE=1 to swap them." >&2
	return 1
}

# Builds the arm64 .deb into OUT and checks what can be checked on this
# machine: its architecture, that its programs are arm64 and start (under
# qemu, with the arm64 libraries apt would pull in), and lintian.
arm64_deb() {
	local out=$1 deb x f
	deb=$(./scripts/deb.sh build "$out" arm64)
	[ "$(dpkg-deb -f "$deb" Architecture)" = arm64 ] ||
		{ echo "arm64.sh deb: $deb is not Architecture: arm64" >&2; return 1; }
	x=$(mktemp -d /tmp/hd-arm64deb.XXXXXX)
	dpkg-deb -x "$deb" "$x"
	for f in hyper-derp hdcli hdbench; do
		if ! readelf -h "$x/usr/bin/$f" | grep -q 'Machine: *AArch64'; then
			echo "arm64.sh deb: usr/bin/$f is not an arm64 program" >&2
			rm -rf "$x"
			return 1
		fi
	done
	qemu-aarch64-static "$x/usr/bin/hyper-derp" --version
	rm -rf "$x"
	local lint lint_rc=0
	lint=$(lintian --fail-on error "$out"/hyper-derp_*_arm64.changes 2>&1) || lint_rc=$?
	grep -v '^running with root privileges' <<<"$lint" || true
	if [ "$lint_rc" -ne 0 ]; then
		echo "arm64.sh deb: lintian reports errors" >&2
		return 1
	fi
	echo "$deb"
}

case "${1:-}" in
deps) arm64_deps "${HD_ARM64_PACKAGES[@]}" ;;
build)
	arm64_deps "${HD_ARM64_PACKAGES[@]}"
	arm64_setup build-arm64 -Dtests=true
	ninja -C build-arm64
	;;
build-dpdk)
	arm64_dpdk_allowed
	arm64_deps "${HD_ARM64_PACKAGES[@]}" "${HD_ARM64_DPDK_PACKAGES[@]}"
	arm64_setup build-arm64-dpdk -Ddpdk=enabled -Dtests=false
	ninja -C build-arm64-dpdk
	;;
test) arm64_test ;;
deb)
	arm64_deps "${HD_ARM64_PACKAGES[@]}" "${HD_ARM64_DEB_PACKAGES[@]}"
	arm64_deb "${2:?usage: scripts/arm64.sh deb OUTDIR}"
	;;
*)
	echo "usage: scripts/arm64.sh deps | build | build-dpdk | test | deb OUTDIR" >&2
	exit 2
	;;
esac
