#!/bin/sh
#---help---
# Usage: /usr/libexec/rccr/net-hotplug
#
# DHCP on a wired network interface that appears after rccr-init listed
# the interfaces at boot (a USB network adapter plugged in later, or one
# that enumerates late in the boot), as the boot gives every wired
# interface it found. Installed by
# RCCR's OS images; mdev runs it for every network interface that appears
# or goes, through the rule rccr-init puts first in /etc/mdev.conf:
#   -SUBSYSTEM=net;DEVPATH=.*/net/.*;.*	root:root 600 */usr/libexec/rccr/net-hotplug
# It reads the kernel's event from its environment: ACTION (add, remove),
# SUBSYSTEM (net) and INTERFACE. An interface name other than letters,
# digits, _ . - (at most 15 bytes, not starting with -) is ignored before
# any use: the kernel allows more ($, ;, spaces), and none of it may reach
# a command line.
#
#   add     Nothing, at once and silently, for an interface without a
#           device link in /sys/class/net: Docker's veths (one at every
#           container start) and bridges, an overlay network's vxlan,
#           bonds, VLANs, tunnels. rccr-init, by the same test, takes
#           none of them for a wired interface of real hardware.
#           Otherwise, in the background (mdev waits for this script, and
#           holds the events after it meanwhile): rccr-init --hotplug IFACE
#           adds the interface's DHCP stanza to /etc/network/interfaces
#           when it is a wired interface of real hardware, as the boot
#           does: with the node's hostname; under the lock the boot run's
#           rccr-init holds while it writes the file, so neither loses the
#           other's stanza; and, when the link finds no carrier within 3
#           seconds of being brought up, udhcpc options that send DHCP to
#           the background at once, so that networking's start does not
#           wait 15 seconds for a port without a cable. Then, when the file
#           brings it up at boot (`auto IFACE`), ifup brings it up now
#           (udhcpc's first tries take seconds), as the networking service
#           stands once the stanza is written (rc-service networking
#           status):
#             started   ifup IFACE
#             starting  its ifup of every auto interface may have listed
#                       them before the stanza was there: ifup IFACE once
#                       networking has started (ifupdown-ng skips an
#                       interface its networking brought up already)
#             stopped   nothing: the boot has not reached networking yet
#                       (or an admin stopped it); its start reads the
#                       file after the stanza was written, and brings the
#                       interface up with the others
#           The same for stopping, inactive, or no OpenRC to ask.
#   remove  ifdown --force IFACE, in the background, when ifupdown-ng has it
#           up: its udhcpc stops, and the next add brings it up again
#
# So an interface that appears while the node boots (a USB adapter on a
# Pi enumerates seconds after the kernel starts, when rccr-init may have
# listed the interfaces already) gets its stanza and comes up with the
# others; without a cable, it holds networking's start for a second, not
# fifteen.
#
# What the background commands say (rccr-init --hotplug's lines, ifup's,
# ifdown's, this script's own) goes to syslog, tagged rccr-init (busybox
# logger; Alpine's syslogd writes it to /var/log/messages): mdev gives the
# script no console to write to.
#
# Environment (tests): RC_SERVICE (rc-service), RCCR_INIT (rccr-init),
# IFQUERY (ifquery), IFUP (ifup), IFDOWN (ifdown), LOGGER (logger),
# SYS_CLASS_NET (/sys/class/net);
# NET_HOTPLUG_WAIT=1 waits for the background command before exiting;
# NET_HOTPLUG_POLL (1) is the seconds between two looks at a networking
# service that is starting, at most NET_HOTPLUG_TRIES (600) looks.
#---help---
set -eu

PROG=rccr-net-hotplug
: "${RC_SERVICE:=rc-service}"
: "${RCCR_INIT:=rccr-init}"
: "${IFQUERY:=ifquery}"
: "${IFUP:=ifup}"
: "${IFDOWN:=ifdown}"
: "${LOGGER:=logger}"
: "${SYS_CLASS_NET:=/sys/class/net}"
: "${NET_HOTPLUG_POLL:=1}"
: "${NET_HOTPLUG_TRIES:=600}"

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

# detached CMD...: runs CMD in the background, off mdev's stdin and stdout,
# its output (stdout and stderr) to syslog through logger, tagged
# rccr-init: mdev gives the script no console, and an admin reads them in
# /var/log/messages. In a subshell: ash and dash keep a copy
# of the descriptors they redirect for a function, to restore them, and the
# caller's would stay open; logger gets none of mdev's either.
detached() {
	("$@" 2>&1 </dev/null | "$LOGGER" -t rccr-init) </dev/null >/dev/null 2>&1 &
}

# networking: the state of the networking service, as rc-service's exit
# status tells it (OpenRC's openrc-run.sh): started (0), starting (8), or
# other (stopped 3, stopping 4, inactive 16, crashed 32, no OpenRC).
networking() {
	_st=0
	"$RC_SERVICE" networking status >/dev/null 2>&1 || _st=$?
	case $_st in
		0) echo started ;;
		8) echo starting ;;
		*) echo other ;;
	esac
}

# bring_up NAME: ifup NAME when the file has `auto NAME` (ifupdown-ng's
# ifup skips an interface it has up already).
bring_up() {
	"$IFQUERY" --list --auto 2>/dev/null | listed "$1" || return 0
	"$IFUP" "$1"
}

# up_once_started NAME: looks again every NET_HOTPLUG_POLL seconds while
# networking is starting; bring_up NAME once it has started.
up_once_started() {
	_tries=0
	while [ "$_tries" -lt "$NET_HOTPLUG_TRIES" ]; do
		_tries=$((_tries + 1))
		sleep "$NET_HOTPLUG_POLL"
		case $(networking) in
			started)
				bring_up "$1"
				return
				;;
			starting) ;;
			*) return 0 ;;
		esac
	done
}

# plugged NAME: the stanza of NAME (rccr-init --hotplug, which may wait
# for the lock of /etc/network and for the link's carrier), then NAME up
# as the networking service stands once it is written.
plugged() {
	"$RCCR_INIT" --hotplug "$1" || einfo "rccr-init --hotplug $1 failed"
	# Asked only now, once the stanza is written: a networking start that
	# comes after this look reads it.
	case $(networking) in
		started) bring_up "$1" ;;
		starting) up_once_started "$1" ;;
	esac
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
	case "${ACTION:-}" in
		add)
			# Real hardware only, as rccr-init's nic::wired: a veth makes
			# no rccr-init run, no fork and no syslog line.
			[ -e "$SYS_CLASS_NET/$_iface/device" ] || exit 0
			detached plugged "$_iface"
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
