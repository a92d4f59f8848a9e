# shellcheck shell=bash
# benches/lib.sh: the start every benchmark on the virtual LAN shares: help,
# die and einfo, the root check, a temp dir and a lab torn down on exit, the
# release binary. Sourced by benches/*.sh right after `set -eu`.

help() { sed -n '/^#---help---/,/^#---help---/p' "$0" | sed '1d;$d;s/^# \{0,1\}//'; }
die() { printf 'benches/%s: %s\n' "${0##*/}" "$*" >&2; exit 1; }
einfo() { printf '==> %s\n' "$*" >&2; }

# bench_start ARGS...: answers --help, refuses any other argument and a
# non-root user, then sets ROOT (the repository, made the working
# directory), LAB (lab.sh), LABDIR (empty until a lab is up) and TMP, and
# traps cleanup.
bench_start() {
	case "${1:-}" in
	-h | --help) help; exit 0 ;;
	'') ;;
	*) die "unknown argument: $1 (see --help)" ;;
	esac
	[ "$(id -u)" = 0 ] || die "needs root (network namespaces)"
	cd "$(dirname "$0")/.." || die "cannot cd to the repository"
	ROOT=$PWD
	LAB="$ROOT/tests/lab/lab.sh"
	LABDIR=""
	TMP=$(mktemp -d)
	trap cleanup EXIT HUP INT TERM
}

# Takes down the lab that is up, if any, and removes TMP.
# shellcheck disable=SC2317 # called by the trap
cleanup() {
	trap - EXIT HUP INT TERM
	[ -z "$LABDIR" ] || "$LAB" down "$LABDIR" >/dev/null 2>&1 || true
	rm -rf "$TMP"
}

# Sets RCCR_BIN to the release binary, built, unless it names one already.
rccr_bin() {
	if [ -z "${RCCR_BIN:-}" ]; then
		einfo "cargo build --release"
		cargo build --release --quiet
		RCCR_BIN="$ROOT/target/release/rccr"
	fi
	[ -x "$RCCR_BIN" ] || die "RCCR_BIN=$RCCR_BIN is not an executable"
}
