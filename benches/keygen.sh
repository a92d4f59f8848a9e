#!/usr/bin/env bash
#---help---
# Usage: benches/keygen.sh [-h]
#
# Times RSA key generation, rccr beside OpenSSH, in one run: `rccr keygen
# --type rsa --bits BITS` and `ssh-keygen -t rsa -b BITS`, in turn (rccr,
# ssh-keygen, rccr, ...) so both see the same machine load, after one
# warm-up run of each. Prints each run's wall time and each tool's median
# in milliseconds. Every key made is checked with `ssh-keygen -l` (BITS
# bits, RSA). Asserts nothing about speed. Key generation is random (the
# search for primes): single runs vary several-fold, so compare medians.
#
# Builds the release binary unless RCCR_BIN names one.
#
# Environment (defaults in brackets):
#   RCCR_BIN  the rccr binary to measure [target/release/rccr, built]
#   BITS      RSA key size [4096]
#   RUNS      timed runs of each tool [5]
#---help---
set -eu

: "${BITS:=4096}"
: "${RUNS:=5}"

# shellcheck source=benches/lib.sh
. "$(dirname "$0")/lib.sh"

# Not bench_start: no lab, so no root needed.
case "${1:-}" in
-h | --help)
	help
	exit 0
	;;
'') ;;
*) die "unknown argument: $1 (see --help)" ;;
esac
case "$RUNS" in
'' | *[!0-9]* | 0) die "RUNS must be a positive number, not '$RUNS'" ;;
esac
command -v ssh-keygen >/dev/null || die "ssh-keygen not found (apt-get install openssh-client)"

cd "$(dirname "$0")/.."
ROOT=$PWD
LABDIR=""
TMP=$(mktemp -d /tmp/rccr-bench-keygen.XXXXXX)
trap cleanup EXIT HUP INT TERM
rccr_bin

# now_ms: a clock in milliseconds (GNU date)
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# keygen TOOL KEY: makes one key pair with TOOL (rccr or ssh-keygen) at KEY
keygen() {
	rm -f "$2" "$2.pub"
	case "$1" in
	rccr) "$RCCR_BIN" keygen --type rsa --bits "$BITS" -C bench -f "$2" >/dev/null ;;
	ssh-keygen) ssh-keygen -q -t rsa -b "$BITS" -N '' -C bench -f "$2" </dev/null ;;
	esac
}

# timed TOOL: one run; prints its wall time in ms after checking the key
timed() {
	key=$TMP/$1
	t0=$(now_ms)
	keygen "$1" "$key" || die "$1 failed"
	t1=$(now_ms)
	listed=$(ssh-keygen -l -f "$key.pub") || die "ssh-keygen -l cannot read $1's key"
	case "$listed" in
	"$BITS "*" (RSA)") ;;
	*) die "$1 made another key than RSA $BITS: $listed" ;;
	esac
	echo $((t1 - t0))
}

# median: of the numbers on stdin, one a line (the lower middle for an even count)
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

einfo "warm-up: one key of each"
timed rccr >/dev/null
timed ssh-keygen >/dev/null

RCCR_MS=""
SSH_MS=""
i=1
while [ "$i" -le "$RUNS" ]; do
	einfo "run $i of $RUNS"
	RCCR_MS="$RCCR_MS $(timed rccr)"
	SSH_MS="$SSH_MS $(timed ssh-keygen)"
	i=$((i + 1))
done

row() {
	printf '| %s | %s | %s |\n' "$1" "$(echo "$2" | tr ' ' '\n' | sed '/^$/d' | median)" "$(echo "$2" | sed 's/^ //; s/ /, /g')"
}

echo "# RSA-$BITS key generation, $RUNS runs each in turn after a warm-up, wall ms ($(date -u +%Y-%m-%d))"
echo "# machine: $(nproc) cores, $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo), load $(cut -d' ' -f1 /proc/loadavg)"
echo "# $("$RCCR_BIN" --version 2>/dev/null | head -n 1); ssh-keygen of $(ssh -V 2>&1)"
echo
echo "| tool | median ms | runs ms |"
echo "|---|---:|---|"
row "rccr keygen" "$RCCR_MS"
row "ssh-keygen" "$SSH_MS"
