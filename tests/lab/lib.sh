# shellcheck shell=bash
# Helpers shared by the test tier's bash scripts (tests/lab/lab.sh,
# tests/vm/vm.sh, tests/vm/image.sh); sourced, never run. The sourcing
# script sets SELF (its own path, readlink -f) first.

PROG=$(basename -- "$SELF")

help() {
	sed -n '/^#---help---/,/^#---help---/{/^#---help---/d;s/^# \{0,1\}//;p;}' "$SELF"
}

die() {
	printf '%s: error: %s\n' "$PROG" "$*" >&2
	exit 1
}

einfo() {
	printf '%s: %s\n' "$PROG" "$*" >&2
}

is_uint() {
	case "$1" in '' | *[!0-9]*) return 1 ;; *) return 0 ;; esac
}

now_ms() {
	echo $(($(date +%s%N) / 1000000))
}

# uint_option NAME "$@": for an option loop's branch of an option that takes
# a whole number: sets the variable NAME to the word after the option, or
# dies when that is missing or not a number. The caller shifts that word
# away: `--cpus) uint_option cpus "$@" && shift ;;`
uint_option() {
	is_uint "${3:-}" || die "$2 needs a number"
	printf -v "$1" '%s' "$3"
}
