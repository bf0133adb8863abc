#!/usr/bin/env bash
# Sourced by fresh-box.sh and deb.sh.

# Copies the checkout SRC into the existing directory DEST as a user's
# clone has it: tracked and untracked files, not what .gitignore names
# (build directories, keys).
hd_copy_checkout() {
	local src=$1 dest=$2
	if git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
		git -C "$src" ls-files -z --cached --others --exclude-standard |
			tar -C "$src" --null -T - -cf - | tar -C "$dest" -xf -
	else
		tar -C "$src" --exclude='./build*' -cf - . | tar -C "$dest" -xf -
	fi
}
