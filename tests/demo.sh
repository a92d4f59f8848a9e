#!/usr/bin/env bash
#---help---
# Usage: tests/demo.sh [--targets N]
#
# The RCCR main flow on the built-in virtual LAN, on a fresh Debian/Ubuntu
# machine (root, or a user with sudo): builds rccr, makes a temporary key
# pair as an image build would, starts a LAN (router with DHCP + DNS, a
# control node, N targets and three decoys), runs the flow from the control
# node, proves the result, and tears everything down again.
#
#   --targets N   how many targets (default 3)
#---help---
set -euo pipefail

help() { sed -n '/^#---help---/,/^#---help---/p' "$0" | sed '1d;$d;s/^# \{0,1\}//'; }
die() { printf 'tests/demo.sh: %s\n' "$*" >&2; exit 1; }
step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

TARGETS=3
while [ $# -gt 0 ]; do
	case "$1" in
	--targets) TARGETS=${2:?--targets needs a number}; shift 2 ;;
	-h | --help) help; exit 0 ;;
	*) die "unknown argument: $1 (see --help)" ;;
	esac
done

cd "$(dirname "$0")/.."
REPO=$PWD
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null || die "the virtual LAN needs root: run as root"
	SUDO=sudo
else
	SUDO=
fi

step "Installing what the virtual LAN needs"
tests/run.sh --install-only

step "Building rccr (release profile: size-optimised, static where the target allows)"
cargo build --release --quiet
WORK=$(mktemp -d /tmp/rccr-demo.XXXXXX)
LAB=""
cleanup() {
	trap - EXIT HUP INT TERM
	if [ -n "$LAB" ]; then
		step "Tearing the virtual LAN down"
		$SUDO "$REPO/tests/lab/lab.sh" down "$LAB" || true
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT HUP INT TERM
cp target/release/rccr "$WORK/rccr"
"$WORK/rccr" --version

step "Making the temporary key pair, as an image build does (rccr keygen)"
"$WORK/rccr" keygen -f "$WORK/ssh_temp_key"

step "Starting the virtual LAN: router (dnsmasq), control, $TARGETS targets, 3 decoys"
LAB=$($SUDO tests/lab/lab.sh up --owner $$ --targets "$TARGETS" --decoys \
	--pubkey "$WORK/ssh_temp_key.pub" --privkey "$WORK/ssh_temp_key" --bin "$WORK/rccr" | tail -n 1)
column -t -s "$(printf '\t')" "$LAB/hosts.tsv"
on_control() { $SUDO "$REPO/tests/lab/lab.sh" exec "$LAB" control "$@"; }
TARGET_IPS=$(awk -F '\t' '$2 == "target" { print $3 }' "$LAB/hosts.tsv")

step "On the control node: the applets"
on_control rccr --list

step "On the control node: rccr setup --dry-run (what setup would do; changes nothing)"
on_control rccr setup --dry-run

step "On the control node: rccr setup --yes"
on_control rccr setup --yes

step "On the control node: rccr keys status"
on_control rccr keys status

step "Proof: plain 'ssh root@target hostname' works from the control, the temporary key nowhere"
failed=0
for ip in $TARGET_IPS; do
	name=$(on_control ssh "root@$ip" hostname </dev/null) || failed=1
	if on_control ssh -o BatchMode=yes -o IdentitiesOnly=yes -i /root/.rccr/temp_key \
		-o StrictHostKeyChecking=yes "root@$ip" true 2>/dev/null; then
		echo "  $ip ($name): TEMPORARY KEY STILL ACCEPTED"
		failed=1
	else
		echo "  $ip: ssh root@$ip hostname -> $name; temporary key refused"
	fi
done
[ "$failed" = 0 ] || die "the demo's proof failed"
step "Done: the cluster's nodes accept only the cluster key"
