#!/bin/sh
#---help---
# Usage: /usr/libexec/rccr/issue-hook
#
# Rewrites the console banner (/etc/issue, rccr-init --issue-only) when a
# DHCP lease comes or is renewed, so that the node's console shows the
# address it got. The rccr-issue service writes the banner once, after
# networking has started; a lease that comes later (Wi-Fi, a slow DHCP
# server, a port whose cable went in after the boot: udhcpc goes on in
# the background) left it at "Addresses: none yet" until the next boot.
#
# Installed by RCCR's OS images, and run by Alpine's udhcpc script
# (/usr/share/udhcpc/default.script, busybox) through its links
#   /etc/udhcpc/post-bound/rccr-issue    after a lease is configured
#   /etc/udhcpc/post-renew/rccr-issue    after a renewal (the address may
#                                        have changed)
#   /etc/udhcpc/post-deconfig/rccr-issue after the address is flushed: a
#                                        lease lost, refused (NAK) or
#                                        released, and udhcpc's start
# (udhcpc's leasefail runs no scripts: its deconfig came before). udhcpc
# waits for it: it only starts rccr-init --issue-only in the background
# (which reads the kernel's addresses, and waits for nothing but another
# banner writer: runs take turns, each reading after the one before has
# written, so the last banner is the last reading) and exits 0 at once.
# The background run is stopped after ISSUE_HOOK_TIMEOUT seconds (busybox
# timeout), so a stuck one cannot pile up across renewals. What it says
# goes to syslog through busybox logger, tagged rccr-init (Alpine's
# syslogd writes /var/log/messages): udhcpc runs in the background, with
# no console to write to.
#
# It exits 0 whatever rccr-init does (missing, failing, stopped), as
# udhcpc's other scripts must go on: a failure is a line in syslog.
#
# Environment (tests): RCCR_INIT (rccr-init), LOGGER (logger), TIMEOUT
# (timeout); ISSUE_HOOK_TIMEOUT (30) seconds; ISSUE_HOOK_WAIT=1 waits
# for the background run before exiting.
#---help---
set -eu

PROG=rccr-issue-hook
: "${RCCR_INIT:=rccr-init}"
: "${LOGGER:=logger}"
: "${TIMEOUT:=timeout}"
: "${ISSUE_HOOK_TIMEOUT:=30}"

help() {
	sed -n '/^#---help---/,/^#---help---/p' "$0" | sed -e '1d;$d' -e 's/^# \{0,1\}//'
}

einfo() {
	printf '%s: %s\n' "$PROG" "$*" >&2
}

# refresh: rccr-init --issue-only, stopped after ISSUE_HOOK_TIMEOUT
# seconds; a failure is said on stderr, never returned.
refresh() {
	_st=0
	"$TIMEOUT" "$ISSUE_HOOK_TIMEOUT" "$RCCR_INIT" --issue-only || _st=$?
	case $_st in
		0) ;;
		# coreutils timeout says 124; busybox's runs the command in its
		# own process and kills it (SIGTERM: 143).
		124 | 143) einfo "rccr-init --issue-only stopped after ${ISSUE_HOOK_TIMEOUT}s" ;;
		*) einfo "rccr-init --issue-only failed (exit $_st)" ;;
	esac
}

main() {
	if [ $# -gt 0 ]; then
		case $1 in
			-h | --help) help && exit 0 ;;
		esac
		einfo "no arguments: udhcpc's script runs it with none (--help)"
		exit 2
	fi
	# A whole number of seconds above zero (00 too is none).
	case $ISSUE_HOOK_TIMEOUT in
		*[!0-9]*) ISSUE_HOOK_TIMEOUT=30 ;;
		*[1-9]*) ;;
		*) ISSUE_HOOK_TIMEOUT=30 ;;
	esac
	# In a subshell, off udhcpc's stdin, stdout and stderr: udhcpc reads
	# nothing from the script and waits only for it, not for the
	# background run. Which closes descriptors 3-9 too, those a shell can
	# name: one udhcpc left open across exec (a socket) would otherwise
	# stay held by rccr-init, timeout and logger for up to 30 s.
	(
		exec 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&-
		refresh 2>&1 </dev/null | "$LOGGER" -t rccr-init
	) </dev/null >/dev/null 2>&1 &
}

main "$@"
if [ -n "${ISSUE_HOOK_WAIT:-}" ]; then
	wait || :
fi
exit 0
