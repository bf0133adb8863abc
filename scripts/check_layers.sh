#!/usr/bin/env bash
# Checks that includes between the directories of src/ point down only
# (docs/layers.md): a file may include headers of its own directory and of
# layers below it, never of a layer above nor of a neighbour on its level.
# Usage: check_layers.sh [SOURCE_ROOT]. Prints each upward include as
# FILE:LINE and exits 1 when there is any, 0 otherwise.
set -euo pipefail
root=${1:-"$(dirname "$0")/.."}
cd "$root"

# The layers, lowest first. Directories of one rank are neighbours that do
# not include each other. src/*.c (the daemon) is the top and may include
# anything, so it is not checked.
declare -A rank=(
	[common]=0
	[tcp]=1 [hd]=1
	[port]=2
	[dataplane]=3
	[slowpath]=4 [mesh]=4 [wireguard]=4
	[mgmt]=5
)

# A directory under src/ that is not in the table is a mistake too: a new
# part must say where it sits.
status=0
for dir in src/*/; do
	dir=${dir%/}
	dir=${dir#src/}
	if [ -z "${rank[$dir]+set}" ]; then
		echo "src/$dir: not in the layer table of $0 (docs/layers.md)"
		status=1
	fi
done

# Which directories hold a header of this name (a name may be in two:
# handoff.h is in common/ and port/).
declare -A owners=()
for h in src/*/*.h; do
	dir=${h#src/}
	dir=${dir%%/*}
	name=${h##*/}
	owners[$name]="${owners[$name]:-} $dir"
done

for f in src/*/*.[ch]; do
	dir=${f#src/}
	dir=${dir%%/*}
	[ -n "${rank[$dir]+set}" ] || continue
	while IFS=: read -r line text; do
		inc=${text#*\"}
		inc=${inc%%\"*}
		# A path ("../slowpath/x.h") names its directory; a bare name is
		# found beside the file first, then on the include path.
		if [[ $inc == */* ]]; then
			target=$(realpath -m --relative-to=src "$(dirname "$f")/$inc")
			owner_dirs=${target%%/*}
		elif [ -e "src/$dir/$inc" ]; then
			continue
		else
			owner_dirs=${owners[${inc##*/}]:-}
		fi
		# Not ours (a system header, tools/, a generated file).
		[ -n "$owner_dirs" ] || continue
		ok=false
		for o in $owner_dirs; do
			if [ "$o" = "$dir" ] ||
				{ [ -n "${rank[$o]+set}" ] && [ "${rank[$o]}" -lt "${rank[$dir]}" ]; }; then
				ok=true
			fi
		done
		if ! $ok; then
			echo "$f:$line: includes \"$inc\" of${owner_dirs}: not below $dir"
			status=1
		fi
	done < <(grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f" || true)
done

if [ $status -eq 0 ]; then
	echo "layers: every include points down"
fi
exit $status
