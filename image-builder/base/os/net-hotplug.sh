#!/bin/sh
#---help---
# Usage: /usr/libexec/rccr/net-hotplug
#
# DHCP on a wired network interface plugged in after boot (a USB network
# adapter), as the boot gives every wired interface present. Installed by
# RCCR's OS images; mdev runs it for every network interface that appears
# or goes, through the rule rccr-init puts first in /etc/mdev.conf:
#   -SUBSYSTEM=net;DEVPATH=.*/net/.*;.*	root:root 600 */usr/libexec/rccr/net-hotplug
# It reads the kernel's event from its environment: ACTION (add, remove),
# SUBSYSTEM (net) and INTERFACE. An interface name other than letters,
# digits, _ . - (at most 15 bytes, not starting with -) is ignored before
# any use: the kernel allows more ($, ;, spaces), and none of it may reach
# a command line.
#
#   add     rccr-init --hotplug IFACE adds the interface's DHCP stanza to
#           /etc/network/interfaces when it is a wired interface of real
#           hardware (as the boot does: with the node's hostname); then,
#           when the file brings it up at boot (`auto IFACE`), ifup brings
#           it up now, in the background (udhcpc's first tries take
#           seconds, and mdev waits for this script)
#   remove  ifdown --force IFACE, in the background, when ifupdown-ng has it
#           up: its udhcpc stops, and the next add brings it up again
#
# Until the networking service has started, it does nothing: at boot
# rccr-init and networking configure every interface present.
#
# Environment (tests): RC_SERVICE (rc-service), RCCR_INIT (rccr-init),
# IFQUERY (ifquery), IFUP (ifup), IFDOWN (ifdown); NET_HOTPLUG_WAIT=1 waits
# for the background command before exiting.
#---help---
set -eu

PROG=rccr-net-hotplug
: "${RC_SERVICE:=rc-service}"
: "${RCCR_INIT:=rccr-init}"
: "${IFQUERY:=ifquery}"
: "${IFUP:=ifup}"
: "${IFDOWN:=ifdown}"

help() {
	sed -n '/^#---help---/,/^#---help---/p' "$0" | sed -e '1d;$d' -e 's/^# \{0,1\}//'
}

einfo() {
	printf '%s: %s\n' "$PROG" "$*" >&2
}

# iface_ok NAME: NAME is an interface name rccr configures (as rccr-init's
# own check: 1 to 15 bytes of letters, digits, _ . -, no leading -).
iface_ok() {
	case "$1" in
		'' | -* | *[!A-Za-z0-9_.-]*) return 1 ;;
	esac
	[ "${#1}" -le 15 ]
}

# listed NAME: NAME is a line of stdin.
listed() {
	grep -qxF -e "$1"
}

# detached CMD...: runs CMD in the background, off mdev's stdin and stdout.
detached() {
	"$@" </dev/null >/dev/null 2>&1 &
}

main() {
	case "${1:-}" in
		-h | --help)
			help
			exit 0
			;;
		'') ;;
		*)
			einfo "no arguments: mdev passes the event in the environment (--help)"
			exit 2
			;;
	esac
	[ "${SUBSYSTEM:-}" = net ] || exit 0
	_iface=${INTERFACE:-}
	if ! iface_ok "$_iface"; then
		einfo "ignored: an interface name rccr does not configure"
		exit 0
	fi
	"$RC_SERVICE" networking status >/dev/null 2>&1 || exit 0
	case "${ACTION:-}" in
		add)
			"$RCCR_INIT" --hotplug "$_iface" || einfo "rccr-init --hotplug $_iface failed"
			if "$IFQUERY" --list --auto 2>/dev/null | listed "$_iface"; then
				detached "$IFUP" "$_iface"
			fi
			;;
		remove)
			if "$IFQUERY" --running 2>/dev/null | listed "$_iface"; then
				detached "$IFDOWN" --force "$_iface"
			fi
			;;
	esac
}

main "$@"
if [ -n "${NET_HOTPLUG_WAIT:-}" ]; then
	wait
fi
