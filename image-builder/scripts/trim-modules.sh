#!/bin/sh
#---help---
# Usage: trim-modules.sh [options] LIST MODULES_DIR
#        trim-modules.sh depmod -b ROOT VERSION
#        trim-modules.sh COMMAND [ARG...]
#
# Removes from MODULES_DIR, a /lib/modules/VERSION tree, every kernel module
# (*.ko*) that LIST does not name, and keeps the modules the named ones need
# (MODULES_DIR/modules.dep). LIST: one path per line, relative to
# MODULES_DIR; a directory keeps everything below it; `*` and `?` are shell
# globs; `#` starts a comment. See image-builder/mkimage/modules.
#
# As update-kernel's $MOCK (mkimage-base.sh exports MOCK=this script),
# update-kernel runs `$MOCK depmod -b ROOT VERSION` once linux-lts's
# modules are unpacked and decompressed, and before it copies them into the
# modloop, picks their firmware and builds the initramfs (alpine-conf
# update-kernel.in: depmod, then `cp -a $ROOTFS/lib/modules $MODLOOP`,
# `modinfo -F firmware`, mkinitfs). Called so, this script runs depmod for
# modules.dep, trims ROOT/lib/modules/VERSION by RCCR_MODULES, and runs
# depmod again. Any other command (update-kernel's `$MOCK mkinitfs ...`)
# runs unchanged.
#
# Options:
#   -n, --dry-run   print "keep PATH" and "drop PATH" lines, remove nothing
#   -h, --help      show this help
#
# Environment:
#   RCCR_MODULES    the list when called as $MOCK (default:
#                   image-builder/mkimage/modules)
#   DEPMOD          the depmod command (default depmod)
#---help---
set -eu

SCRIPT_DIR=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$SCRIPT_DIR/lib.sh"

: "${RCCR_MODULES:=$BUILDER_DIR/mkimage/modules}"
: "${DEPMOD:=depmod}"

# keep_list LIST DIR: the modules of DIR to keep, one path relative to DIR
# per line: those LIST matches, and what they need by DIR/modules.dep.
keep_list() {
	(cd "$2" && find . -name '*.ko*' -type f | sed 's|^\./||' | LC_ALL=C sort) >"$TMP_DIR/all"
	[ -s "$TMP_DIR/all" ] || die "$2: no kernel modules"
	awk '
		# A shell glob as a regular expression; `*` also crosses `/`.
		function glob_re(g,   r, i, c) {
			r = ""
			for (i = 1; i <= length(g); i++) {
				c = substr(g, i, 1)
				if (c == "*") r = r ".*"
				else if (c == "?") r = r "."
				else if (c ~ /[.+^$(){}|\[\]\\]/) r = r "\\" c
				else r = r c
			}
			return r
		}
		FILENAME == ARGV[1] {
			sub(/#.*/, ""); gsub(/[ \t]+/, "")
			if ($0 == "") next
			sub(/\/$/, "")
			re[++n] = "^" glob_re($0) "(/.*)?$"
			pat[n] = $0
			next
		}
		FILENAME == ARGV[2] {
			# "kernel/a.ko: kernel/b.ko kernel/c.ko"
			m = $1; sub(/:$/, "", m)
			deps[m] = ""
			for (i = 2; i <= NF; i++) deps[m] = deps[m] " " $i
			next
		}
		{
			for (i = 1; i <= n; i++) if ($0 ~ re[i]) { want[$0] = 1; used[i] = 1; break }
			all[$0] = 1
		}
		END {
			for (i = 1; i <= n; i++) if (!used[i]) printf "trim-modules: note: %s matches no module\n", pat[i] > "/dev/stderr"
			# The closure over modules.dep.
			do {
				grew = 0
				for (m in want) {
					k = split(deps[m], d, " ")
					for (j = 1; j <= k; j++) if (!(d[j] in want)) { want[d[j]] = 1; grew = 1 }
				}
			} while (grew)
			for (m in all) print (m in want ? "keep " : "drop ") m
		}
	' "$1" "$2/modules.dep" "$TMP_DIR/all" | LC_ALL=C sort -k 2 >"$TMP_DIR/plan"
	grep -q '^keep ' "$TMP_DIR/plan" || die "$1 keeps no module of $2"
}

# trim LIST DIR DRY_RUN
trim() {
	[ -f "$1" ] || die "$1: missing"
	[ -d "$2" ] || die "$2: not a directory"
	[ -f "$2/modules.dep" ] || die "$2/modules.dep: missing (run depmod first)"
	keep_list "$1" "$2"
	if [ "$3" = 1 ]; then
		cat "$TMP_DIR/plan"
		return 0
	fi
	_before=$(cd "$2" && find . -name '*.ko*' -type f -exec cat {} + | wc -c)
	sed -n 's/^drop //p' "$TMP_DIR/plan" | while IFS= read -r _m; do
		rm -f -- "$2/$_m"
	done
	# Directories left empty go too (rmdir refuses the others).
	find "$2" -depth -type d -exec rmdir {} + 2>/dev/null || true
	_after=$(cd "$2" && find . -name '*.ko*' -type f -exec cat {} + | wc -c)
	einfo "kept $(grep -c '^keep ' "$TMP_DIR/plan") of $(wc -l <"$TMP_DIR/plan") modules: $((_after / 1048576)) of $((_before / 1048576)) MiB"
}

# as_mock depmod ARG...: update-kernel's `$MOCK depmod -b ROOT VERSION`.
as_mock() {
	shift
	_root='' _version=''
	while [ $# -gt 0 ]; do
		case "$1" in
			-b) _root=$2; shift ;;
			-*) ;;
			*) _version=$1 ;;
		esac
		shift
	done
	if [ -z "$_root" ] || [ -z "$_version" ]; then
		die "depmod: want -b ROOT VERSION"
	fi
	"$DEPMOD" -b "$_root" "$_version" || die "depmod failed"
	trim "$RCCR_MODULES" "$_root/lib/modules/$_version" 0
	"$DEPMOD" -b "$_root" "$_version" || die "depmod failed"
}

main() {
	dry_run=0
	case "${1:-}" in
		-h | --help)
			help
			exit 0
			;;
		-n | --dry-run)
			dry_run=1
			shift
			;;
		-*) usage_error "unknown option: $1" ;;
		'') usage_error "want LIST MODULES_DIR" ;;
	esac
	# Not a list file: called as update-kernel's $MOCK.
	_mock=0
	if [ ! -f "$1" ] && [ "$dry_run" = 0 ]; then
		[ "$1" = depmod ] || exec "$@"
		_mock=1
	fi
	start_work
	if [ "$_mock" = 1 ]; then
		as_mock "$@"
	else
		[ $# -eq 2 ] || usage_error "want LIST MODULES_DIR"
		trim "$1" "$2" "$dry_run"
	fi
	DONE=1
}

main "$@"
