#!/bin/sh
#---help---
# Usage: tests/demo-install.sh [demo | apt PACKAGE...]
#
# Installs what tests/demo.sh needs, and only that, on Debian 12 or Ubuntu
# 24.04 with rustup installed: as root, or as a user with sudo.
#
#   demo          (default) the demo's Debian packages (below), then Ansible
#                 in a venv (tests/swarm/ansible-venv.sh, /opt/rccr-ansible)
#   apt PKG...    install the named Debian packages that are missing, the
#                 lab's way: `apt-get update` only when something is
#                 missing, no recommends, and no package starts its service
#                 on this machine (dockerd and sshd run inside the lab only)
#
# The demo's packages, each named the same on Debian 12 and Ubuntu 24.04:
#   gcc libc6-dev make perl      build the vendored OpenSSL of rccr
#   iproute2 nftables dnsmasq-base openssh-server openssh-client util-linux
#   procps busybox               the virtual LAN (tests/lab/lab.sh)
#   docker.io iptables           a real dockerd on each lab target, and the
#                                docker CLI on the lab's control
#   python3 python3-venv         Ansible's venv (ansible-venv.sh)
#   bsdextrautils                column, for the demo's tables
#   curl                         the request to the service
# Not installed: qemu, zig, shellcheck, hadolint, actionlint, npm (the test
# suite's: tests/run.sh). The Ansible venv is the one the swarm tests share,
# so it carries ansible-lint too (+22 MB, +6 s here).
#
# Checked on a fresh Debian 12 (mmdebstrap minbase, no pip3): the packages
# in 2 min (142 MB of .debs), the venv in 15 s.
#
# Environment:
#   RCCR_ANSIBLE_VENV   where Ansible goes (default /opt/rccr-ansible: lab
#                       hosts see /opt, not /root)
#---help---
set -eu

readonly DEMO_PACKAGES="gcc libc6-dev make perl iproute2 nftables dnsmasq-base
openssh-server openssh-client util-linux procps busybox docker.io iptables python3
python3-venv bsdextrautils curl"

SCRIPT_DIR=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
readonly SCRIPT_DIR

: "${RCCR_ANSIBLE_VENV:=/opt/rccr-ansible}"

OWN_POLICY=''
SUDO=''

help() {
	sed -n '/^#---help---/,/^#---help---/p' "$0" | sed -e '1d;$d' -e 's/^# \{0,1\}//'
}

die() {
	printf 'demo-install: error: %s\n' "$*" >&2
	exit 1
}

einfo() {
	printf 'demo-install: %s\n' "$*" >&2
}

# Removes the policy-rc.d this script put in place, and nothing else.
cleanup() {
	trap - EXIT HUP INT TERM
	if [ -n "$OWN_POLICY" ]; then
		$SUDO rm -f -- "$OWN_POLICY"
	fi
}

installed() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed'
}

# install_apt PACKAGE...: the missing ones, with their services kept from
# starting by a policy-rc.d (exit 101: "action forbidden") of our own.
install_apt() {
	_missing=''
	for _pkg in "$@"; do
		installed "$_pkg" || _missing="$_missing $_pkg"
	done
	if [ -z "$_missing" ]; then
		einfo "apt: all $# packages present"
		return 0
	fi
	command -v apt-get >/dev/null 2>&1 || die "no apt-get: install$_missing by hand"
	einfo "apt-get install$_missing"
	_policy=/usr/sbin/policy-rc.d
	if [ ! -e "$_policy" ]; then
		printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$_policy.rccr-tmp" >/dev/null
		$SUDO chmod 755 "$_policy.rccr-tmp"
		$SUDO mv -f "$_policy.rccr-tmp" "$_policy"
		OWN_POLICY=$_policy
	fi
	$SUDO apt-get update -qq
	# shellcheck disable=SC2086 # a list of packages
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		$_missing >/dev/null
	cleanup
	trap cleanup EXIT HUP INT TERM
}

install_demo() {
	command -v cargo >/dev/null 2>&1 ||
		die "no cargo: install Rust with rustup first (https://rustup.rs)"
	# shellcheck disable=SC2086 # a list of packages
	install_apt $DEMO_PACKAGES
	einfo "Ansible venv: $RCCR_ANSIBLE_VENV"
	$SUDO "$SCRIPT_DIR/swarm/ansible-venv.sh" "$RCCR_ANSIBLE_VENV"
}

need_root() {
	if [ "$(id -u)" -ne 0 ]; then
		command -v sudo >/dev/null 2>&1 || die "not root and no sudo: run as root"
		SUDO=sudo
	fi
	trap cleanup EXIT HUP INT TERM
}

main() {
	cmd=${1:-demo}
	[ $# -eq 0 ] || shift
	case "$cmd" in
		-h | --help | help) help ;;
		demo)
			need_root
			install_demo
			;;
		apt)
			[ $# -gt 0 ] || die "apt: name at least one package"
			need_root
			install_apt "$@"
			;;
		*) die "unknown command: $cmd (see --help)" ;;
	esac
}

main "$@"
