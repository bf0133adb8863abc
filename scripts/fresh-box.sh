#!/usr/bin/env bash
# Checks the README's first command the way a new user meets it: makes a
# bare Debian 12 root (debootstrap --variant=minbase, from this machine's
# configured Debian archive), copies this checkout in, runs
# ./scripts/run.sh there until the relay answers /derp/probe, asks it
# `hdcli show status` over the default management socket, stops it with
# SIGTERM (it must exit 0), then runs test.sh's install step there and
# builds the tests. Everything is mounted and removed again at the end.
#
# With --deb FILE it checks the Debian package instead (scripts/deb.sh
# build OUTDIR makes one): apt-get install ./FILE in the bare root, the
# relay started by hand with the installed config (a test certificate at
# its [tls] paths, loopback and a free port instead of :443 and :3478),
# /derp/probe over TLS, `hdcli show status`, SIGTERM, apt-get purge.
#
# Not part of every CI run (about 6 min, 200 MB of packages from the
# archive; 4 min with its cache): run it as root after changing
# scripts/deps.sh, run.sh or the build's dependencies.
# Usage: scripts/fresh-box.sh [--fresh] [--keep] [--no-test-build]
#        [--port N] [--timeout SECONDS] [--deb FILE]
set -euo pipefail

usage() {
	cat <<'EOF'
Usage: scripts/fresh-box.sh [options]        (as root)
  --fresh            debootstrap a new base root and download every package
                     again instead of using the cache in
                     /var/cache/hyper-derp/fresh-box
  --keep             keep the work directory (the chroot) at the end, unmounted
  --no-test-build    after test.sh's install step, do not build the tests
  --port N           port of the relay in the chroot (default: a free one)
  --timeout SECONDS  bound on each stage (default 2400)
  --deb FILE         check the .deb instead of run.sh and the test build:
                     install it with apt, start the relay by hand, hdcli
EOF
}

fresh=0
keep=0
test_build=1
port=""
stage_timeout=2400
deb=""
while [ $# -gt 0 ]; do
	case "$1" in
	--fresh) fresh=1 ;;
	--keep) keep=1 ;;
	--no-test-build) test_build=0 ;;
	--port) port=${2:?--port needs a number}; shift ;;
	--timeout) stage_timeout=${2:?--timeout needs seconds}; shift ;;
	--deb) deb=${2:?--deb needs a file}; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "fresh-box: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
	esac
	shift
done

case "$stage_timeout" in
'' | *[!0-9]*) echo "fresh-box: --timeout wants whole seconds" >&2; exit 2 ;;
esac
if [ -n "$deb" ]; then
	if [ ! -f "$deb" ]; then
		echo "fresh-box: --deb $deb: no such file" >&2
		exit 2
	fi
	deb=$(realpath "$deb")
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "fresh-box: must run as root (debootstrap, chroot and mounts need it)" >&2
	exit 2
fi

cd "$(dirname "$0")/.."
src=$PWD
. scripts/deps.sh
. scripts/lib.sh
# The host side needs debootstrap to make the root, curl to probe it and
# (--deb) openssl for a test certificate.
hd_install_packages debootstrap curl openssl

cache=/var/cache/hyper-derp/fresh-box
base_tar=$cache/bookworm-minbase.tar
debs=$cache/apt-archives
if [ "$fresh" -eq 1 ]; then
	rm -rf "$base_tar" "$debs"
fi
mkdir -p "$cache" "$debs/partial"

t_start=$SECONDS
say() {
	printf '== [%4ds] %s\n' $((SECONDS - t_start)) "$*"
}

# The Debian sources apt uses here, as "URI SUITE COMPONENT" lines, read
# from apt-cache policy so both sources.list and deb822 files count. Only
# the archive is reachable, so the root gets exactly these.
debian_sources() {
	apt-cache policy | awk '
		$1 ~ /^[0-9]+$/ && $NF == "Packages" && $2 ~ /^(https?|file):/ {
			uri = $2; split($3, sc, "/"); next_is_release = 1; next
		}
		next_is_release && /release / {
			if ($0 ~ /(^|[ ,])o=Debian(,|$)/ && sc[2] != "")
				print uri, sc[1], sc[2]
		}
		{ next_is_release = 0 }' | sort -u
}
sources=$(debian_sources)
mirror=$(awk '$2 == "bookworm" { print $1; exit }' <<<"$sources")
if [ -z "$mirror" ]; then
	echo "fresh-box: apt has no Debian bookworm source (run apt-get update?)" >&2
	exit 1
fi

work=$(mktemp -d /var/tmp/hd-fresh-box.XXXXXX)
root=$work/root
relay_pid=""

# Mount points under $root, deepest first.
root_mounts() {
	awk -v r="$root" '$2 == r || index($2, r "/") == 1 { print $2 }' /proc/self/mounts | sort -r
}

cleanup() {
	local rc=$? m
	if [ -n "$relay_pid" ] && kill -0 "$relay_pid" 2>/dev/null; then
		# The relay and run.sh's children are in the session started below.
		kill -KILL -- "-$relay_pid" 2>/dev/null || true
		wait "$relay_pid" 2>/dev/null || true
	fi
	for m in $(root_mounts); do
		umount "$m" 2>/dev/null || umount -l "$m" || true
	done
	# Never remove while anything (the host's /dev, the .deb cache) is
	# still mounted inside.
	if [ -n "$(root_mounts)" ]; then
		echo "fresh-box: still mounted under $root, not removing $work" >&2
	elif [ "$keep" -eq 1 ]; then
		echo "fresh-box: kept $work" >&2
	else
		rm -rf --one-file-system "$work"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 1. The bare root: debootstrap once, then unpack the cached tarball.
mkdir "$root"
if [ -f "$base_tar" ]; then
	say "unpacking the cached bare root ($base_tar)"
	tar -C "$root" -xf "$base_tar"
else
	say "debootstrap --variant=minbase bookworm from $mirror"
	timeout "$stage_timeout" debootstrap --variant=minbase --cache-dir="$debs" \
		bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1 || {
		tail -20 "$work/debootstrap.log" >&2
		echo "fresh-box: debootstrap failed" >&2
		exit 1
	}
	# An installed system has no .debs lying around; the cache keeps them.
	rm -f "$root"/var/cache/apt/archives/*.deb
	tar -C "$root" -cf "$base_tar.tmp" . && mv "$base_tar.tmp" "$base_tar"
fi
awk '{ print "deb", $1, $2, $3 }' <<<"$sources" >"$root/etc/apt/sources.list"
cp -L /etc/resolv.conf "$root/etc/resolv.conf"
# No package may start a service on this host from inside the chroot.
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"
say "bare root: $(chroot "$root" dpkg-query -W | wc -l) packages, sources:"
sed 's/^/     /' "$root/etc/apt/sources.list"

mount -t proc proc "$root/proc"
mount -t sysfs sysfs "$root/sys"
mount --bind /dev "$root/dev"
mount --bind /dev/pts "$root/dev/pts"
# Downloaded .debs are kept across runs; they are still installed afresh.
mount --bind "$debs" "$root/var/cache/apt/archives"

# 2. The checkout as a user's clone has it: tracked and untracked files,
# not what .gitignore names (build directories, keys). A package user has
# none.
if [ -z "$deb" ]; then
	mkdir "$root/root/hyper-derp"
	hd_copy_checkout "$src" "$root/root/hyper-derp"
fi

# A bare login environment: no variables of this shell leak in.
root_env=(/usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb
	PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)
in_root() {
	chroot "$root" "${root_env[@]}" "$@"
}

# 3. ./scripts/run.sh until the relay answers. The chroot shares this
# host's loopback, so the relay gets a port nothing listens on.
port_is_free() {
	! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}
if [ -z "$port" ]; then
	for _ in $(seq 50); do
		port=$((20000 + RANDOM % 40000))
		port_is_free "$port" && break
	done
fi
port_is_free "$port" || { echo "fresh-box: port $port is in use" >&2; exit 1; }

# 3 (--deb). The package as an operator meets it: installed with apt, the
# relay started as the unit starts it, with the installed config.
if [ -n "$deb" ]; then
	cp "$deb" "$root/tmp/"
	pkg=/tmp/$(basename "$deb")
	say "apt-get install $pkg (log: $work/deb-install.log)"
	npkgs=$(in_root dpkg-query -W | wc -l)
	timeout "$stage_timeout" chroot "$root" "${root_env[@]}" /bin/bash -c "set -e
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $pkg" \
		>"$work/deb-install.log" 2>&1 || {
		tail -30 "$work/deb-install.log" >&2
		echo "fresh-box: apt-get install of the package failed" >&2
		exit 1
	}
	say "installed: $(in_root hyper-derp --version), $(($(in_root dpkg-query -W | wc -l) - npkgs)) packages in all"
	in_root id hyper-derp | sed 's/^/     /'
	in_root stat -c '     %n %U:%G %a' /var/lib/hyper-derp /etc/hyper-derp/hyper-derp.ini
	# The operator's step: a certificate at the config's [tls] paths.
	mkdir -p "$root/etc/hyper-derp/tls"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-subj /CN=127.0.0.1 -days 1 -keyout "$root/etc/hyper-derp/tls/privkey.pem" \
		-out "$root/etc/hyper-derp/tls/fullchain.pem" 2>/dev/null
	# The unit's ExecStart, but on loopback: the chroot shares this host's
	# network, where :443 and :3478 are not ours to take.
	say "hyper-derp as the unit starts it, on 127.0.0.1:$port (log: $work/relay.log)"
	t_run=$SECONDS
	setsid chroot "$root" "${root_env[@]}" /usr/bin/hyper-derp \
		--config /etc/hyper-derp/hyper-derp.ini --user hyper-derp --group hyper-derp \
		--mgmt-socket /run/hyper-derp/mgmt.sock \
		--listen 127.0.0.1 --port "$port" --stun-listen 127.0.0.1:0 \
		</dev/null >"$work/relay.log" 2>&1 &
	relay_pid=$!
	probe=https://127.0.0.1:$port/derp/probe
	until curl -kfsS --max-time 2 -o /dev/null "$probe" 2>/dev/null &&
		[ -S "$root/run/hyper-derp/mgmt.sock" ]; do
		if ! kill -0 "$relay_pid" 2>/dev/null || [ $((SECONDS - t_run)) -ge 60 ]; then
			tail -30 "$work/relay.log" >&2
			echo "fresh-box: the installed relay does not answer $probe" >&2
			exit 1
		fi
		sleep 0.5
	done
	relay_uid=$(ps -o uid= -p "$relay_pid" | tr -d ' ')
	if [ "$relay_uid" != "$(in_root id -u hyper-derp)" ]; then
		echo "fresh-box: the relay runs as uid $relay_uid, not as hyper-derp" >&2
		exit 1
	fi
	say "relay answers $probe after $((SECONDS - t_run))s, as hyper-derp (uid $relay_uid)"
	in_root hdcli show status | sed 's/^/     /'
	in_root stat -c '     %n %U:%G %a' /var/lib/hyper-derp/server.key
	hd_stop_relay "$relay_pid" "$work/relay.log"
	relay_pid=""
	say "relay stopped on SIGTERM, exit 0"
	in_root env DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq hyper-derp \
		>"$work/deb-purge.log" 2>&1 || {
		tail -30 "$work/deb-purge.log" >&2
		echo "fresh-box: apt-get purge hyper-derp failed" >&2
		exit 1
	}
	for f in /usr/bin/hyper-derp /var/lib/hyper-derp /etc/hyper-derp/hyper-derp.ini; do
		if [ -e "$root$f" ]; then
			echo "fresh-box: $f is still there after purge" >&2
			exit 1
		fi
	done
	say "purged; fresh box OK for the package"
	exit 0
fi

say "./scripts/run.sh --port $port (log: $work/run.log)"
t_run=$SECONDS
# setsid: run.sh, apt and ninja form one session, so a failure can stop
# them all; run.sh execs the relay, so $relay_pid becomes the relay.
setsid chroot "$root" "${root_env[@]}" \
	/bin/bash -c "cd /root/hyper-derp && exec ./scripts/run.sh --port $port" \
	</dev/null >"$work/run.log" 2>&1 &
relay_pid=$!
probe=http://127.0.0.1:$port/derp/probe
until curl -fsS --max-time 2 -o /dev/null "$probe" 2>/dev/null; do
	if ! kill -0 "$relay_pid" 2>/dev/null; then
		tail -30 "$work/run.log" >&2
		echo "fresh-box: run.sh stopped before the relay answered" >&2
		exit 1
	fi
	if [ $((SECONDS - t_run)) -ge "$stage_timeout" ]; then
		tail -30 "$work/run.log" >&2
		echo "fresh-box: no answer on $probe within ${stage_timeout}s" >&2
		exit 1
	fi
	sleep 2
done
say "relay answers $probe after $((SECONDS - t_run))s"

# The default config's paths under /var/lib and /run work as root; the
# default build has the XDP fast path (clang was installed).
in_root stat -c '     %n %a' /var/lib/hyper-derp/server.key
if [ "$(in_root stat -c %a /var/lib/hyper-derp/server.key)" != 600 ]; then
	echo "fresh-box: the server key is not mode 0600" >&2
	exit 1
fi
in_root /root/hyper-derp/build/tools/hdcli show status | sed 's/^/     /'
if [ ! -s "$root/root/hyper-derp/build/bpf/wg_relay.bpf.o" ]; then
	echo "fresh-box: the default build has no XDP program (clang missing?)" >&2
	exit 1
fi
say "installed by run.sh: $(grep -m1 '^Installing missing packages' "$work/run.log" || echo none)"

hd_stop_relay "$relay_pid" "$work/run.log"
relay_pid=""
say "relay stopped on SIGTERM, exit 0"

# 4. test.sh's install step in the same root, then (unless
# --no-test-build) its first build as test.sh does it: run.sh's build/
# reconfigured with the tests, compiled; and the DPDK build configures.
say "test.sh's install step (HD_PACKAGES + HD_TEST_PACKAGES + HD_PACKAGING_PACKAGES)"
# shellcheck disable=SC2016 # expanded by the shell in the root
timeout "$stage_timeout" chroot "$root" "${root_env[@]}" \
	/bin/bash -c 'cd /root/hyper-derp && . scripts/deps.sh &&
		hd_install_packages "${HD_PACKAGES[@]}" "${HD_TEST_PACKAGES[@]}" \
			"${HD_PACKAGING_PACKAGES[@]}"' \
	>"$work/test-install.log" 2>&1 || {
	tail -30 "$work/test-install.log" >&2
	echo "fresh-box: test.sh's install step failed" >&2
	exit 1
}
if [ "$test_build" -eq 1 ]; then
	say "the tests build in build/; the DPDK build configures"
	timeout "$stage_timeout" chroot "$root" "${root_env[@]}" \
		/bin/bash -c 'cd /root/hyper-derp && set -e
			meson configure build -Dtests=true && ninja -C build
			meson setup build-dpdk -Ddpdk=enabled' \
		>"$work/test-build.log" 2>&1 || {
		tail -30 "$work/test-build.log" >&2
		echo "fresh-box: the test build failed" >&2
		exit 1
	}
	say "build/: $(grep -c '^\[' "$work/test-build.log") build steps," \
		"$(in_root meson test -C /root/hyper-derp/build --list --no-rebuild 2>/dev/null |
			grep -c ' / ') tests"
fi
say "fresh box OK"
