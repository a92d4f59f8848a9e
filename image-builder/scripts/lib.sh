# shellcheck shell=sh
# Helpers shared by the image builder's scripts; sourced, never run.
#
# The sourcing script sets SCRIPT_DIR (its directory) first. This file sets
# PROG (the script's name without .sh, for messages), BUILDER_DIR and
# REPO_DIR, and reads base/alpine.conf.
#
# A script that makes temporary files calls start_work once; cleanup then
# runs at any exit: it removes TMP_DIR, and first calls the function named
# by CLEANUP_HOOK when set (test-image.sh stops its VMs and containers
# there). A script sets DONE=1 as its last step: an exit with status 0
# before that (an `exit` deep in a function) is turned into a failure.

PROG=$(basename -- "$0" .sh)
BUILDER_DIR=$(CDPATH='' cd -- "$SCRIPT_DIR/.." && pwd)
REPO_DIR=$(CDPATH='' cd -- "$BUILDER_DIR/.." && pwd)
ARCH_TABLE="$BUILDER_DIR/base/arches"

# shellcheck source=/dev/null # base/alpine.conf: plain NAME=value lines
. "$BUILDER_DIR/base/alpine.conf"

TMP_DIR=''
DONE=0
CLEANUP_HOOK=''

cleanup() {
	_rc=$?
	trap - EXIT HUP INT TERM
	set +e
	[ -z "$CLEANUP_HOOK" ] || "$CLEANUP_HOOK"
	[ -z "$TMP_DIR" ] || rm -rf -- "$TMP_DIR"
	[ "$DONE" = 1 ] || [ "$_rc" -ne 0 ] || _rc=1
	exit "$_rc"
}

# start_work: installs cleanup for every way out and makes TMP_DIR.
start_work() {
	trap cleanup EXIT HUP INT TERM
	TMP_DIR=$(mktemp -d)
}

help() {
	sed -n '/^#---help---/,/^#---help---/p' "$0" | sed -e '1d;$d' -e 's/^# \{0,1\}//'
}

die() {
	printf '%s: error: %s\n' "$PROG" "$*" >&2
	exit 1
}

# Exit code 2: the command line is wrong.
usage_error() {
	printf '%s: %s (see --help)\n' "$PROG" "$*" >&2
	exit 2
}

# The last branch of a script's option loop, `*) other_option "$1" || break`:
# -h/--help prints the help, any other option is a usage error. Fails at
# the end of the options (`--`, which the caller shifts away after the
# loop, or the first operand).
other_option() {
	case "$1" in
		-h | --help)
			help
			exit 0
			;;
		--) return 1 ;;
		-*) usage_error "unknown option: $1" ;;
	esac
	return 1
}

# option_value NAME "$@": for an option loop's branch of an option that
# takes a value: sets the variable NAME to the word after the option, or is
# a usage error when there is none. The caller shifts that word away:
# `-o | --output) option_value OUT_DIR "$@" && shift ;;`
option_value() {
	[ $# -ge 3 ] || usage_error "$2 needs a value"
	eval "$1=\$3"
}

einfo() {
	printf '%s: %s\n' "$PROG" "$*" >&2
}

have() {
	command -v "$1" >/dev/null 2>&1
}

# need COMMAND DEBIAN-PACKAGE: dies naming the package when COMMAND is missing.
need() {
	have "$1" || die "$1 not found (apt-get install $2)"
}

all_arches() {
	awk '!/^#/ && NF { printf "%s%s", sep, $1; sep = " " } END { print "" }' "$ARCH_TABLE"
}

# arch_info ARCH: sets ALPINE_ARCH, DOCKER_PLATFORM, RUST_TARGET, MEDIA (iso
# or img) and BOOT from base/arches, or dies for an unknown arch.
# shellcheck disable=SC2034 # the callers read them
arch_info() {
	_line=$(awk -v a="$1" '!/^#/ && $1 == a { print; exit }' "$ARCH_TABLE")
	[ -n "$_line" ] || usage_error "unknown arch: $1 (one of: $(all_arches))"
	# shellcheck disable=SC2086 # split the table's columns
	set -- $_line
	ALPINE_ARCH=$2
	DOCKER_PLATFORM=$3
	RUST_TARGET=$4
	MEDIA=$5
	BOOT=$6
}

check_type() {
	case "$1" in
		control | target) ;;
		*) usage_error "unknown node type: $1 (control or target)" ;;
	esac
}

# arch_type_operands ARCH TYPE: the operands of the image builds; checks
# them, sets ARCH (and arch_info's variables) and TYPE, and VERSION from
# Cargo.toml unless an option gave it.
arch_type_operands() {
	[ $# -eq 2 ] || usage_error "want ARCH TYPE"
	ARCH=$1 TYPE=$2
	arch_info "$ARCH"
	check_type "$TYPE"
	[ -n "$VERSION" ] || VERSION=$(cargo_version)
}

# container_options ARG...: the options of the scripts that run as root in
# an Alpine container (-h, --help; --owner UID:GID, which sets OWNER, the
# owner to give their output on the host's side). Sets OPTIONS_USED to the
# number of words it read: the caller shifts them away.
# shellcheck disable=SC2034 # the callers read OWNER
container_options() {
	OWNER=''
	OPTIONS_USED=0
	while [ $# -gt 0 ]; do
		case "$1" in
			--owner)
				[ $# -ge 2 ] || usage_error "--owner needs UID:GID"
				OWNER=$2
				shift
				OPTIONS_USED=$((OPTIONS_USED + 1))
				;;
			*) other_option "$1" || break ;;
		esac
		shift
		OPTIONS_USED=$((OPTIONS_USED + 1))
	done
	[ "${1-}" != -- ] || OPTIONS_USED=$((OPTIONS_USED + 1))
}

# output_dir DIR: makes DIR and its missing parents, and sets OUTPUT_MADE to
# the outermost directory it made (DIR itself when only DIR was missing,
# empty when DIR was there). In a container, root makes them: a parent left
# root's (out/ of out/apks) stops the runner user writing out/images next.
output_dir() {
	OUTPUT_MADE=''
	_d=$1
	while [ ! -d "$_d" ]; do
		OUTPUT_MADE=$_d
		_up=$(dirname -- "$_d")
		[ "$_up" != "$_d" ] || break
		_d=$_up
	done
	mkdir -p -- "$1"
}

# give_made_dirs: chowns to OWNER (--owner; nothing when empty) what
# output_dir made, all of it: nothing else was in it.
give_made_dirs() {
	[ -n "$OWNER" ] && [ -n "$OUTPUT_MADE" ] || return 0
	chown -R -- "$OWNER" "$OUTPUT_MADE"
}

# The version in Cargo.toml's [package] section.
cargo_version() {
	sed -n '/^\[package\]/,/^\[/s/^version *= *"\([^"]*\)".*/\1/p' "$REPO_DIR/Cargo.toml" | head -n 1
}

# SOURCE_DATE_EPOCH, or the time of the last commit, or a fixed date: the
# timestamp that reproducible outputs carry.
source_date_epoch() {
	if [ -n "${SOURCE_DATE_EPOCH:-}" ]; then
		echo "$SOURCE_DATE_EPOCH"
	elif _t=$(git -C "$REPO_DIR" log -1 --format=%ct 2>/dev/null) && [ -n "$_t" ]; then
		echo "$_t"
	else
		echo 1704067200 # 2024-01-01T00:00:00Z
	fi
}

sha256_of() {
	sha256sum -- "$1" | cut -d ' ' -f 1
}

# The package lists of image-builder/TYPE/: one package per line, `#`
# starts a comment. A package may be followed by `!ARCH` words: the list
# leaves it out for those RCCR arches (ansible !armhf: a 512 MB Pi cannot
# install it).

# packages_of TYPE ARCH: the packages a node type installs (TYPE/packages),
# one per line, for that arch.
packages_of() {
	list_of "$1" packages "$2"
}

# world_of TYPE ARCH: the packages an OS image of TYPE installs for ARCH
# besides alpine-base: the node type's, and on the Pi images (media img)
# those of base/os/img-packages (Wi-Fi).
world_of() {
	packages_of "$1" "$2"
	if [ "$(arch_info "$2" && echo "$MEDIA")" = img ]; then
		list_of base/os img-packages "$2"
	fi
}

# carried_of TYPE ARCH: the packages a node type's OS image carries in its
# offline repository without installing them (TYPE/carried, optional).
carried_of() {
	[ ! -f "$BUILDER_DIR/$1/carried" ] || list_of "$1" carried "$2"
}

# list_of TYPE LIST ARCH
list_of() {
	awk -v arch="$3" '
		{ sub(/#.*/, "") }
		NF == 0 { next }
		{
			for (i = 2; i <= NF; i++) {
				if ($i !~ /^!/) { printf "%s: bad word %s\n", FILENAME, $i > "/dev/stderr"; exit 1 }
				if ($i == "!" arch) next
			}
			print $1
		}
	' "$BUILDER_DIR/$1/$2"
}

# package_table DB ROLES SIZES: the lines of fetch-packages.sh's
# packages.tsv (name, version, role, .apk bytes, installed bytes;
# tab-separated) from an apk installed database (apk-tools'
# lib/apk/db/installed: records of "X:value" lines, blank-line separated; P
# name, V version, I installed size), ROLES ("name <tab> role") and SIZES
# ("name-version <tab> .apk bytes").
package_table() {
	awk -F '\t' '
		FILENAME == ARGV[1] { role[$1] = $2; next }
		FILENAME == ARGV[2] { size[$1] = $2; next }
		/^P:/ { p = substr($0, 3) }
		/^V:/ { v = substr($0, 3) }
		/^I:/ { i = substr($0, 3) }
		/^$/ { flush() }
		END { flush(); exit bad }
		function flush() {
			if (p == "") return
			if (!(p in role) || !((p "-" v) in size)) {
				printf "package_table: %s-%s: no role or no .apk\n", p, v > "/dev/stderr"
				bad = 1
			}
			printf "%s\t%s\t%s\t%d\t%d\n", p, v, role[p], size[p "-" v], i
			p = v = i = ""
		}
	' "$2" "$3" "$1"
}

# An RCCR arch this machine's CPU runs natively, for picking a runnable rccr.
host_arch() {
	case "$(uname -m)" in
		x86_64 | amd64) echo x86_64 ;;
		i?86) echo x86 ;;
		aarch64 | arm64) echo aarch64 ;;
		armv7*) echo armv7 ;;
		armv6*) echo armhf ;;
		*) uname -m ;;
	esac
}
