# Shared by the perf/ scripts: sourced, not run.

# perf_build ROOT TARGET...: the release build in ROOT/build-perf, set up
# when it has no build.ninja (a setup that failed half-way is redone), then
# only the targets the benchmark runs, so that unrelated work in progress
# elsewhere in the tree cannot block it.
perf_build() {
	local root=$1
	shift
	if [ ! -f "$root/build-perf/build.ninja" ]; then
		meson setup --wipe "$root/build-perf" -Dbuildtype=release -Dtests=false >/dev/null 2>&1 ||
			meson setup "$root/build-perf" -Dbuildtype=release -Dtests=false >/dev/null
	fi
	ninja -C "$root/build-perf" "$@" >/dev/null
}
