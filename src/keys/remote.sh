# shellcheck shell=sh
# rccr key rotation, node side. Run as: sh -c "$THIS" rccr ACTION ARGS...
# POSIX sh: busybox ash (Alpine), dash (Debian), any OpenSSH host.
# Key material arrives on stdin, never on a command line.
#
#   read                     print `cksum` of authorized_keys, the armed
#                            rotation's token (or -), then the file's bytes
#   stage SUM ID SECONDS     if authorized_keys still has SUM: back it up, arm
#                            a revert after SECONDS, install stdin as the file
#   commit SUM TOKEN         if TOKEN (as read prints it; - for none) is armed and
#                            the file still has SUM: disarm, install stdin,
#                            drop the backup; then persist
#   persist                  make the change survive a reboot (lbu on Alpine);
#                            prints lbu, lbu-failed, volatile or disk
#
# Exit codes: 0 done, 1 failed (nothing changed), 3 rotation expired (the
# node reverted by itself), 4 authorized_keys changed under us.
set -u
umask 077
dir="$HOME/.ssh"
ak="$dir/authorized_keys"
bak="$dir/.rccr-authorized_keys.bak"
mark="$dir/.rccr-rotation"

fail() {
	code=$1
	shift
	echo "rccr-remote: $*" >&2
	exit "$code"
}

sum_of() {
	if [ -f "$1" ]; then cksum <"$1"; else echo "none"; fi
}

# Installs stdin as $1: temp file in the same directory, fsync, rename.
install_stdin() {
	tmp=$(mktemp "$dir/.rccr-tmp.XXXXXX") || return 1
	if cat >"$tmp" && chmod 600 "$tmp" && { sync "$tmp" 2>/dev/null || sync; } &&
		mv -f "$tmp" "$1"; then
		sync "$dir" 2>/dev/null || sync
		return 0
	fi
	rm -f "$tmp"
	return 1
}

persist() {
	if command -v lbu >/dev/null 2>&1; then
		lbu include "$dir" >/dev/null 2>&1
		if lbu commit >/dev/null 2>&1; then echo lbu; else echo lbu-failed; fi
	else
		fs=$(awk '$2 == "/" { t = $3 } END { print t }' /proc/mounts 2>/dev/null)
		case "$fs" in
		tmpfs | ramfs | rootfs) echo volatile ;;
		*) echo disk ;;
		esac
	fi
}

# The armed rotation's ID, or - when none is armed.
armed() {
	if [ -f "$mark" ]; then cat "$mark"; else echo -; fi
}

action=${1:-}
case "$action" in
read)
	sum_of "$ak"
	armed
	if [ -f "$ak" ]; then cat "$ak"; fi
	;;
stage)
	[ $# -eq 4 ] || fail 1 "usage: stage SUM ID SECONDS"
	[ -f "$ak" ] || fail 1 "$ak does not exist"
	[ "$(sum_of "$ak")" = "$2" ] || fail 4 "$ak changed since it was read"
	if ! { cp -p "$ak" "$bak.tmp" && mv -f "$bak.tmp" "$bak"; }; then
		fail 1 "cannot back up $ak"
	fi
	# Each stage arms its own token, so a timer left by an earlier attempt
	# of the same rotation can never revert this one.
	token="$3.$$.$(date +%s)"
	if ! { printf '%s\n' "$token" >"$mark.tmp" && mv -f "$mark.tmp" "$mark"; }; then
		rm -f "$mark.tmp" "$bak"
		fail 1 "cannot arm the revert"
	fi
	# The revert runs on its own: it outlives this session, a lost link and
	# a killed sshd, and restores the backup unless commit disarmed it.
	(
		trap '' HUP
		sleep "$4"
		if [ "$(cat "$mark" 2>/dev/null)" = "$token" ]; then
			mv -f "$bak" "$ak" && rm -f "$mark"
			sync
		fi
	) </dev/null >/dev/null 2>&1 &
	if ! install_stdin "$ak"; then
		rm -f "$mark" "$bak"
		fail 1 "cannot replace $ak (read-only?)"
	fi
	chmod 700 "$dir"
	echo staged
	;;
commit)
	[ $# -eq 3 ] || fail 1 "usage: commit SUM TOKEN"
	[ "$(armed)" = "$3" ] || fail 3 "rotation $3 expired: the node reverted"
	[ "$(sum_of "$ak")" = "$2" ] || fail 4 "$ak changed since it was staged"
	# Disarm first: a crash from here on leaves old and new keys, never none.
	rm -f "$mark"
	install_stdin "$ak" || fail 1 "cannot replace $ak"
	rm -f "$bak"
	chmod 700 "$dir"
	echo committed
	persist
	;;
persist)
	persist
	;;
*)
	fail 1 "unknown action: $action"
	;;
esac
