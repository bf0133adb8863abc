#!/usr/bin/env bash
# Installs the Debian packages hyper-derp needs to build, run and test, if
# any are missing. Sourced by run.sh and test.sh; safe to run on its own.
# scripts/fresh-box.sh checks on a bare Debian 12 root that these lists are
# enough.
set -euo pipefail

# The default build (meson setup build -Dtests=false) and running it:
# the compiler and C library headers (with the kernel's, linux-libc-dev),
# meson (python3 also runs bpf/embed_obj.py), the libraries, and clang +
# libbpf for the XDP programs of the WireGuard relay's fast path; libedit
# for hdcli's interactive shell.
HD_PACKAGES=(
	gcc libc6-dev meson ninja-build pkg-config python3
	liburing-dev libssl-dev libsodium-dev libinih-dev libbpf-dev libedit-dev
	clang
	openssl
)
# Tests, sanitizers, fuzzing and the WireGuard / XDP / DPDK parts.
HD_TEST_PACKAGES=(
	libcmocka-dev llvm libclang-rt-14-dev
	libxdp-dev iproute2 ethtool
	wireguard-go wireguard-tools iputils-ping
	curl procps
	python3-websockets # itest_websocket's client (test/integration/ws_derp_peer.py)
	libdpdk-dev
	pebble uacme
)
# Building and checking the Debian package (scripts/deb.sh check, run by
# test.sh): dpkg-buildpackage checks debian/control's Build-Depends (the
# HD_PACKAGES above) and build-essential; the check also needs curl and
# openssl (above).
HD_PACKAGING_PACKAGES=(
	build-essential dpkg-dev debhelper lintian
)

# The arm64 cross build and its tests under qemu-user (scripts/arm64.sh,
# docs/arm64.md): the cross compiler, the arm64 libraries through multiarch
# (needs `dpkg --add-architecture arm64`, which arm64.sh does) and qemu.
# Only arm64.sh installs these. pkgconf:arm64 is the
# aarch64-linux-gnu-pkg-config the cross file names.
# shellcheck disable=SC2034 # used by scripts/arm64.sh
HD_ARM64_PACKAGES=(
	gcc-aarch64-linux-gnu libc6-dev:arm64 pkgconf:arm64
	liburing-dev:arm64 libssl-dev:arm64 libsodium-dev:arm64 libinih-dev:arm64
	libbpf-dev:arm64 libedit-dev:arm64 libcmocka-dev:arm64
	qemu-user-static
)
# The arm64 build of the optional DPDK backend (scripts/arm64.sh build-dpdk):
# about 130 arm64 packages, so apart; and it cannot be installed next to
# the amd64 libdpdk-dev of HD_TEST_PACKAGES (apt removes the one for the
# other), so arm64.sh refuses unless told (docs/arm64.md).
# shellcheck disable=SC2034 # used by scripts/arm64.sh
HD_ARM64_DPDK_PACKAGES=(libdpdk-dev:arm64)
# The arm64 .deb (scripts/arm64.sh deb): dpkg-buildpackage -a arm64 checks
# the Build-Depends for arm64 (pkg-config:arm64), debhelper's meson cross
# file generator (debcrossgen) wants the C++ cross compiler too, and the
# package is checked with lintian.
# shellcheck disable=SC2034 # used by scripts/arm64.sh
HD_ARM64_DEB_PACKAGES=(
	build-essential dpkg-dev debhelper lintian
	g++-aarch64-linux-gnu pkg-config:arm64
)

hd_missing_packages() {
	local p status
	for p in "$@"; do
		# dpkg-query prints nothing (and fails) for a package it has never
		# seen; a package of several architectures prints one status each.
		status=$(dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null || true)
		case "$status" in
		*"install ok installed"*) ;;
		*) echo "$p" ;;
		esac
	done
}

hd_install_packages() {
	local missing
	if ! command -v dpkg-query >/dev/null || ! command -v apt-get >/dev/null; then
		echo "No dpkg/apt here: install these (Debian 12 names) yourself: $*" >&2
		return 1
	fi
	missing=$(hd_missing_packages "$@" | paste -sd ' ')
	[ -z "$missing" ] && return 0
	echo "Installing missing packages: $missing" >&2
	local sudo=()
	if [ "$(id -u)" -ne 0 ]; then
		if ! command -v sudo >/dev/null; then
			echo "Not root and no sudo: as root, run apt-get install $missing" >&2
			return 1
		fi
		sudo=(sudo)
	fi
	"${sudo[@]}" apt-get update -qq
	# shellcheck disable=SC2086
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends $missing
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	hd_install_packages "${HD_PACKAGES[@]}" "${HD_TEST_PACKAGES[@]}" \
		"${HD_PACKAGING_PACKAGES[@]}"
fi
