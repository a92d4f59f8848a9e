#!/bin/sh
#---help---
# Usage: size-table.sh [options] [FILE...]
#
# Prints the size of each rccr binary against the size budget: arch, bytes,
# MiB and whether it is within budget. FILEs default to $DIST_DIR/rccr-*; the
# arch is what follows "rccr-" in a file's name.
#
# Options:
#   -m, --markdown   print a Markdown table (for README.md or, appended, for
#                    $GITHUB_STEP_SUMMARY) instead of the plain one
#   -b, --budget N   budget in bytes (default: $RCCR_SIZE_BUDGET)
#   -h, --help       show this help
#
# Exit status: 0 when every file is within budget, 1 when one is over,
# 2 on a usage error or a missing file.
#
# Environment:
#   DIST_DIR          where the binaries are (default: <repo>/dist)
#   RCCR_SIZE_BUDGET  budget in bytes per binary (default: 3 MiB, 3145728)
#---help---
set -eu

readonly MIB=1048576
readonly DEFAULT_BUDGET=$((3 * MIB))
readonly BIN_PREFIX="rccr-"

SCRIPT_DIR=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
readonly SCRIPT_DIR

: "${DIST_DIR:=$SCRIPT_DIR/../../dist}"
: "${RCCR_SIZE_BUDGET:=$DEFAULT_BUDGET}"

help() {
	sed -n '/^#---help---/,/^#---help---/p' "$0" | sed -e '1d;$d' -e 's/^# \{0,1\}//'
}

die() {
	printf 'size-table: error: %s\n' "$*" >&2
	exit 2
}

einfo() {
	printf 'size-table: %s\n' "$*" >&2
}

# mib BYTES: the size in MiB with two decimals.
mib() {
	awk -v b="$1" -v m="$MIB" 'BEGIN { printf "%.2f", b / m }'
}

main() {
	markdown=0
	budget=$RCCR_SIZE_BUDGET
	while [ $# -gt 0 ]; do
		case "$1" in
			-m | --markdown) markdown=1 ;;
			-b | --budget)
				[ $# -ge 2 ] || die "--budget needs a number of bytes"
				budget=$2
				shift
				;;
			-h | --help)
				help
				exit 0
				;;
			--) shift; break ;;
			-*) die "unknown option: $1 (see --help)" ;;
			*) break ;;
		esac
		shift
	done
	case "$budget" in
		'' | *[!0-9]*) die "budget is not a number of bytes: $budget" ;;
	esac
	if [ $# -eq 0 ]; then
		set -- "$DIST_DIR/$BIN_PREFIX"*
		[ -e "$1" ] || die "no binaries in $DIST_DIR (build them first)"
	fi

	over=0
	if [ "$markdown" = 1 ]; then
		printf '| arch | bytes | MiB | budget %s MiB |\n' "$(mib "$budget")"
		printf '|---|---:|---:|---|\n'
	else
		printf '%-12s %10s %7s  %s\n' arch bytes MiB "budget $(mib "$budget") MiB"
	fi
	for file in "$@"; do
		[ -f "$file" ] || die "$file: no such file"
		name=$(basename -- "$file")
		case "$name" in
			"$BIN_PREFIX"*.* | SHA256SUMS) continue ;;
			"$BIN_PREFIX"*) arch=${name#"$BIN_PREFIX"} ;;
			*) arch=$name ;;
		esac
		bytes=$(wc -c <"$file" | tr -d ' ')
		if [ "$bytes" -le "$budget" ]; then
			verdict=OK
		else
			verdict="over by $((bytes - budget))"
			over=1
		fi
		if [ "$markdown" = 1 ]; then
			printf '| %s | %s | %s | %s |\n' "$arch" "$bytes" "$(mib "$bytes")" "$verdict"
		else
			printf '%-12s %10s %7s  %s\n' "$arch" "$bytes" "$(mib "$bytes")" "$verdict"
		fi
	done
	if [ "$over" = 1 ]; then
		einfo "over budget"
		return 1
	fi
}

main "$@"
