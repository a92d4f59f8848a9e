# shellcheck shell=sh
# rccr key rotation, node side, protocol 1. Run as: sh -c "$THIS" rccr ACTION ARGS...
# POSIX sh: busybox ash (Alpine), dash (Debian), any OpenSSH host. rccr has
# the same protocol built in (`rccr keys node 1 ACTION ARGS...`,
# src/keys/node/mod.rs) and uses it where the node has rccr.
# Key material arrives on stdin, never on a command line.
#
#   read               print `cksum` of authorized_keys (or none), the armed
#                      rotation's token (or -; `TOKEN timer-died` when its
#                      revert timer died), then the file's bytes. Read-only:
#                      no lock, no change. An authorized_keys that is no
#                      regular file (a pipe) is none; one over 1 MiB is
#                      refused (exit 1), by stage and commit too
#   stage ID SECONDS NONCE
#                      print what read prints, a newline and NONCE on a line;
#                      then read the new file from stdin, to its end, as a
#                      `cksum` line and the bytes (nothing: stop, change
#                      nothing; none within the input wait: exit 7). If
#                      authorized_keys is still as read: back it up, arm a
#                      revert after SECONDS (token ID.NONCE), install the file.
#                      Refused (exit 1, before reading) when authorized_keys
#                      is a symbolic link (see refuse_link)
#   commit NONCE       print and read as stage does. If the armed rotation and
#                      the file are still as read: disarm, install the file,
#                      drop the backup (nothing on stdin: change nothing,
#                      but for a marker the snapshot could not read, whose
#                      backup is absent or does not fit: it and the backup
#                      go, the file stays; a backup it cannot read: exit 1,
#                      nothing changed; see the commit).
#                      Then persist; print committed or unchanged, then lbu,
#                      lbu-failed, volatile or disk. Refused as stage is
#                      when authorized_keys is a symbolic link (made since),
#                      and, sent a file, when it is absent or no regular
#                      file (exit 1, before the disarm)
#
# Exit codes: 0 done, 1 failed (nothing changed, a commit sent nothing
# that cannot read the backup of a marker it could not read among them;
# but for refuse_link's drop, a dead rotation's revert or drop and a
# commit's drop of a marker it could not read that failed half way, and a
# commit whose written file could not take its name after the disarm: old
# and new keys, disarmed), 3
# rotation expired (the node reverted by itself), 4 authorized_keys changed
# under us, 5 another step holds the node's lock, 6 a rotation is armed
# already (stage), 7 the control's input did not end within the input wait
# (nothing changed; an armed rotation is left to its revert timer).
# The input wait is RCCR_KEYS_INPUT_WAIT seconds (1 to 120; for tests), else
# 120, the control's own deadline for a step: a control that died or a link
# cut mid-step must not keep the node's lock until TCP gives up.
# Stage and commit hold the node's lock ($HOME/.rccr-keys.lock, flock, the
# same lock rccr's built-in side takes), and the revert timer waits for it
# before it reverts, twice the input wait at most; a stage is refused
# while another rotation is armed, so the backup is never overwritten.
# The revert marker holds the armed token, then the line `timer-holds-lock`:
# the revert timer holds a lock (flock) on the marker as long as it lives,
# from before the marker takes its name. A marker nobody holds lost its
# timer (a reboot, a kill): a stage first does what the timer would have
# done (a commit comes from a control that is there: it commits as ever;
# on a link both drop it), and the snapshot says `TOKEN timer-died`. The
# probe is a shared lock for an instant, which the timer's excludes and
# other probes do not.
# A marker of an older version (the token alone) waits for its timer (on
# RCCR's images rccr-init restores it at boot, when no timer lives). A
# marker cut short (its write failed) names no token a timer reverts: a
# stage reverts it as one whose timer died, onto a backup that fits
# (backup_fits), else it drops marker and backup and keeps the file.
# Few processes on purpose: on a small node the forks are the cost.
set -u
umask 077
dir="$HOME/.ssh"
ak="$dir/authorized_keys"
bak="$dir/.rccr-authorized_keys.bak"
mark="$dir/.rccr-rotation"
timer_holds_lock=timer-holds-lock
dead_timer=timer-died
lock="$HOME/.rccr-keys.lock"
max_file=1048576
# The input: a `cksum` line (at most 32 bytes, as rccr's frame::MAX_HEADER)
# and the file.
max_input=$((max_file + 32))
too_large="the new authorized_keys is larger than $max_file bytes; nothing changed"
tmp=
case "${RCCR_KEYS_INPUT_WAIT:-}" in
[1-9] | [1-9][0-9] | 1[01][0-9] | 120) input_wait=$RCCR_KEYS_INPUT_WAIT ;;
*) input_wait=120 ;;
esac
# How long the revert timer waits for the node's lock: a step that is not
# stalled holds it for its input wait and little more.
lock_wait=$((input_wait * 2))

fail() {
	code=$1
	shift
	[ -z "$tmp" ] || rm -f "$tmp" "$tmp.in"
	echo "rccr-remote: $*" >&2
	exit "$code"
}

# Takes the node's lock on fd 9 for this step, without waiting, then
# removes what a crashed step left behind.
take_lock() {
	command -v flock >/dev/null 2>&1 || fail 1 "no flock on this node: cannot serialise rotation steps"
	exec 9>>"$lock" || fail 1 "cannot open $lock"
	flock -n 9 || fail 5 "another rotation step is running on this node; nothing changed"
	rm -f "$dir"/.rccr-tmp.* "$dir"/.*.rccr-tmp.*
}

sum_of() {
	if [ -f "$1" ]; then cksum <"$1"; else echo "none"; fi
}

# True when the marker is one rccr's built-in side reads: a regular file,
# no link (a pipe would hang the read, /dev/zero take the memory), 4096
# bytes at most.
marker_file() {
	[ -f "$mark" ] && [ ! -L "$mark" ] && [ "$(wc -c <"$mark")" -le 4096 ]
} 2>/dev/null

# The armed rotation's token (or -) into $armed (a fork only when armed).
read_armed() {
	armed=-
	if marker_file; then IFS= read -r armed <"$mark" || :; fi
}

# What the revert timer does: the backup back over authorized_keys, the
# marker gone, then both durable (the backup's bytes are on disk since the
# stage). Back to back, so a commit racing the timer finds it expired.
# Without a backup (a revert cut short between the two) only the marker goes.
# A link made since the stage is replaced: the backup is the file the
# stage found; the link's target was never checked. Anything else at the
# backup's name (a directory) is renamed too, and fails as rccr's rename
# does. As rename(2) too, over a directory it fails (mv moves into it) and
# a link to one is replaced. Quiet: its caller says what failed.
revert() {
	if [ -e "$bak" ] || [ -L "$bak" ]; then
		if [ -d "$ak" ]; then [ -L "$ak" ] && rm -f "$ak" || return 1; fi
		mv -f "$bak" "$ak" 2>/dev/null || return 1
	fi
	rm -f "$mark" 2>/dev/null || return 1
	sync "$dir" 2>/dev/null || sync
}

# True when the armed rotation's timer died: its marker says the timer
# holds a lock on it, and nobody does.
timer_died() {
	marker_file || return 1
	held=
	{ IFS= read -r _ && IFS= read -r held; } 2>/dev/null <"$mark" || :
	[ "$held" = "$timer_holds_lock" ] || return 1
	command -v flock >/dev/null 2>&1 || return 1
	# flock's own fd 8: the lock goes when flock exits; a marker gone
	# since (its timer just reverted) fails the redirection.
	flock -s -n 8 2>/dev/null 8<"$mark"
}

# True when the marker $1 is whole: a token line, then nothing (an older
# version's marker) or the line `timer-holds-lock` alone; the token goes
# to $whole_token. A write cut short (a full disk, a crash) leaves less,
# and no timer reverts that: the token it names is not its timer's. Byte
# for byte, as rccr's built-in side reads it: `read` drops NUL bytes (a
# crash's zero-filled tail), so the lines read, written out again, must
# give the file's very bytes. A marker that cannot be read is no cut one:
# the caller does not ask.
whole_marker() {
	line2=
	{
		IFS= read -r whole_token && [ -n "$whole_token" ] || return 1
		if IFS= read -r line2; then
			[ "$line2" = "$timer_holds_lock" ] || return 1
			! IFS= read -r line3 && [ -z "$line3" ] || return 1
			lines="$whole_token
$line2"
		else
			[ -z "$line2" ] || return 1
			lines=$whole_token
		fi
	} 2>/dev/null <"$1" || return 1
	[ "$(printf '%s\n' "$lines" | cksum)" = "$(cksum <"$1")" ]
}

# True when the backup is a copy a stage made of the file there now: not
# empty, and the start of authorized_keys (a stage only appends a line).
# A marker cut short comes from a stage that crashed before its writes
# were durable (remote.sh before 3450e07): its backup may be empty or cut
# short too, and renamed over authorized_keys it would take every key.
# As rccr's built-in side: no link is followed, no file over $max_file
# fits; over an authorized_keys absent, no regular file (a pipe), empty or
# only NUL bytes and blanks, which grants nothing, any backup fits; over a link (refused first here) one
# whole on its own: last line ended, no NUL.
backup_fits() {
	[ -f "$bak" ] && [ ! -L "$bak" ] && [ -s "$bak" ] || return 1
	n=$(wc -c <"$bak") || return 1
	n=$((n))
	[ "$n" -le "$max_file" ] || return 1
	if [ -L "$ak" ]; then
		[ "$(tail -c 1 "$bak" | wc -l)" -eq 1 ] && [ "$(tr -d '\000' <"$bak" | wc -c)" -eq "$n" ]
		return
	fi
	[ -f "$ak" ] || return 0
	# Empty or only NUL bytes and blanks: grants nothing, as if absent.
	[ -n "$(tr -d '\000 \t\n\r\v\f' <"$ak" | head -c 1)" ] || return 0
	[ "$(wc -c <"$ak")" -le "$max_file" ] &&
		[ "$(head -c "$n" "$ak" | cksum)" = "$(cksum <"$bak")" ]
}

# True when the backup is one rccr's side reads: a regular file, no
# link, that this step can open (busybox's `[ -r ]` says root reads every
# file: the open is asked; a pipe is never opened), at most $max_file
# bytes.
backup_read() {
	[ ! -L "$bak" ] && [ -f "$bak" ] && { :; } 2>/dev/null <"$bak" || return 1
	n=$(wc -c <"$bak") || return 1
	[ $((n)) -le "$max_file" ]
}

# True when no timer reverts the armed rotation (every later stage would
# be refused): its timer died, or its marker was cut short ($cut set), or
# is none a stage writes (a link, no regular file, too large: marker_file).
dead_rotation() {
	cut=
	# (busybox's `[ -r ]` says root reads every file: the open is asked.)
	if [ -L "$mark" ] || { [ -e "$mark" ] && [ ! -f "$mark" ]; } ||
		{ [ -f "$mark" ] && { true; } 2>/dev/null <"$mark" && ! { marker_file && whole_marker "$mark"; }; }; then
		cut=1
	else
		timer_died
	fi
}

# Marker and backup go, authorized_keys stays: every file a stage leaves
# holds the old key. Both are tried (rm goes on past a failure), the
# directory synced either way, as rccr's built-in side. Quiet: its caller
# says what failed.
drop_rotation() {
	dropped=0
	rm -f "$mark" "$bak" 2>/dev/null || dropped=1
	sync_one "$dir"
	return "$dropped"
}

# Does what a dead rotation's timer would have done; a marker cut short
# only onto a backup that fits (backup_fits), else it is dropped.
revert_if_timer_died() {
	dead_rotation || return 0
	if [ -z "$cut" ]; then
		read_armed
		revert || fail 1 "cannot revert rotation $armed, whose revert timer died"
	elif backup_fits; then
		revert || fail 1 "cannot revert the rotation whose revert marker $mark is cut short, a link, no regular file or too large"
	else
		drop_rotation || fail 1 "cannot drop the rotation whose revert marker $mark is cut short, a link, no regular file or too large (its marker and backup not wholly removed)"
	fi
}

# Fails when authorized_keys is a symbolic link (into /etc, a dotfiles
# directory): the rename that installs a file atomically would replace
# the link, and its target, which config management may bring back,
# would keep the old keys. Writing through to the target would put the
# backup, marker and temporary files on another file system, where the
# revert is no rename. A dead rotation there is dropped, not reverted,
# and that is persisted: its backup, as old as it, would take what the
# target grants (maybe the key the control logged in with).
refuse_link() {
	[ -L "$ak" ] || return 0
	to=$(readlink "$ak" 2>/dev/null) || to='?'
	left="nothing changed"
	if dead_rotation; then
		left="the rotation armed here, which no timer reverts,"
		if drop_rotation; then
			# Saved at once (where it went is not told): an lbu overlay that
			# held marker and backup would bring them back at boot.
			persist >/dev/null
			left="$left dropped (its marker and backup removed; the link and its target kept)"
		else
			# Maybe in part (the marker gone, the backup not): neither
			# dropped nor nothing changed is true.
			left="$left not wholly dropped"
		fi
	fi
	fail 1 "$ak is a symbolic link (to $to): rccr writes only a regular file; $left: make it a copy of its target, or change the target by hand"
}

# Starts the revert timer of rotation $1 (after $2 seconds) on fd 8, the
# marker before it takes its name: it takes the marker's lock before the
# fork, so the timer holds it from its first instant to its last. The
# timer outlives this session, a lost link and a killed sshd, and restores
# the backup unless commit disarmed it. It does not inherit the step's
# lock (fd 9 is its own opening of the lock file): once awake, it waits
# for the node's lock before it reads the armed token, so it never
# reverts under a stage or a commit under way (each ends within the input
# wait): a stage it reverted under would install the new file after it,
# with no timer left; a commit, the backup would land over the new file.
# A step that still holds the lock after $lock_wait seconds stalled (a
# dead channel, a hung lbu): the timer then leaves the files as they are
# and ends, which lets go of the marker: the rotation's timer died, and
# the next stage (or rccr-init at boot) reverts it. Staged, the node takes
# the old key and the new; reverting under a commit could leave it on the
# old key alone once the control, told `committed`, has dropped that key.
# (busybox's flock has no -w: a watchdog bounds the wait.)
start_timer() {
	flock -n 8 || return 1
	(
		trap '' HUP
		sleep "$2"
		flock 9 8<&- &
		wait_within $! "$lock_wait"
		if [ "$got" -gt 128 ]; then
			if command -v logger >/dev/null 2>&1; then
				logger -t rccr-keys "rotation $1 not reverted: a step held the node's lock over $lock_wait s; the next stage reverts it"
			fi
			exit 0
		fi
		read_armed
		if [ "$armed" = "$1" ]; then revert; fi
	) </dev/null >/dev/null 2>&1 9>>"$lock" &
}

# Waits for the background process $1 for $2 seconds at most: a watchdog
# (sleep, kill) stops it then. Its exit status goes to $got (over 128:
# stopped). The watchdog holds none of the step's files (the channel's
# input on fd 3, the node's lock, the marker's lock) and stops its sleep
# when it is stopped, however early: a stop before $sleeper is known is
# acted on once it is, and the sleep gets SIGKILL (a TERM that reaches it
# between its fork and its exec is caught by the shell's trap it still
# has, and lost).
wait_within() {
	(
		sleeper=
		stopped=
		trap 'stopped=1; [ -z "$sleeper" ] || { kill -s KILL "$sleeper"; exit 0; }' TERM
		sleep "$2" &
		sleeper=$!
		[ -z "$stopped" ] || { kill -s KILL "$sleeper"; exit 0; }
		# Reaped, the sleep's pid is no longer ours to kill, nor the step's
		# once the shell was told it ended.
		if wait "$sleeper"; then
			sleeper=
			[ -n "$stopped" ] || kill "$1"
		fi
	) </dev/null >/dev/null 2>&1 3<&- 8<&- 9>&- &
	watchdog=$!
	wait "$1" 2>/dev/null
	got=$?
	kill "$watchdog" 2>/dev/null
}

# Prints the sum, the armed token and the bytes; keeps the first two. As
# rccr's built-in side: an authorized_keys absent or no regular file (a
# pipe, a device, a directory: sshd takes no key from one) is `none` and
# is not opened (a pipe would hang the step, and hold the node's lock);
# one over $max_file bytes (cksum's second field) is refused before a
# byte is printed, never cut short.
snapshot() {
	sum=$(sum_of "$ak")
	case $sum in
	none) ;;
	'') fail 1 "cannot read $ak" ;;
	*)
		# Its size field checked as `receive` checks the control's: `[`
		# would fail on another (a name after it), and say "larger".
		size=${sum#* }
		[ "$size" != "$sum" ] || size=
		case $size in
		'' | *[!0-9]*) fail 1 "cannot read $ak: cksum printed '$sum', not a CRC and a size" ;;
		esac
		[ "$size" -le "$max_file" ] ||
			fail 1 "$ak is larger than $max_file bytes, more than a key rotation carries; it is left as it is: remove the keys it no longer needs, then run again"
		;;
	esac
	read_armed
	snap_armed=$armed
	# A marker there that cannot be read (see the commit).
	snap_unread=
	if [ "$armed" = - ] && { [ -e "$mark" ] || [ -L "$mark" ]; }; then snap_unread=1; fi
	if [ "$armed" != - ] && timer_died; then armed="$armed $dead_timer"; fi
	printf '%s\n%s\n' "$sum" "$armed"
	[ "$sum" = none ] || cat "$ak" || fail 1 "cannot read $ak"
}

# Reads the control's input, to its end, into $tmp.in within $input_wait
# seconds, or fails with 7. An input longer than $max_input bytes fails
# once one byte more has arrived (head stops reading there): no more is
# ever written. The builtin read cannot be bounded in POSIX sh (dash has
# no read -t): the reader is one process, head, which a watchdog kills
# when the time is up (wait_within). Neither holds the node's lock (fd 9)
# or the channel's output. An asynchronous command's stdin is /dev/null:
# ours reaches head as fd 3.
read_input() {
	exec 3<&0
	head -c "$((max_input + 1))" <&3 >"$tmp.in" 3<&- 9>&- &
	wait_within $! "$input_wait"
	exec 3<&-
	[ "$got" -le 128 ] ||
		fail 7 "no input from the control within $input_wait s; nothing changed"
	[ "$got" -eq 0 ] || fail 1 "cannot write $tmp.in"
	[ "$(wc -c <"$tmp.in")" -le "$max_input" ] || fail 1 "$too_large"
}

# Ends the snapshot with the nonce line, then reads the new file into $tmp
# (a random name) and checks it arrived whole; false when the control sent
# nothing.
receive() {
	printf '\n%s\n' "$1"
	tmp=$(mktemp "$dir/.rccr-tmp.XXXXXXXX") || fail 1 "cannot create a temporary file in $dir"
	read_input
	want=
	IFS= read -r want <"$tmp.in" || :
	if [ -z "$want" ]; then
		rm -f "$tmp" "$tmp.in"
		tmp=
		return 1
	fi
	case "${want#* }" in
	'' | *[!0-9]*) fail 1 "the new authorized_keys arrived incomplete; nothing changed" ;;
	esac
	[ "${want#* }" -le "$max_file" ] || fail 1 "$too_large"
	# The bytes after the header line (a mismatched header fails the sum).
	tail -c "+$((${#want} + 2))" "$tmp.in" >"$tmp" || fail 1 "cannot write $tmp"
	rm -f "$tmp.in"
	[ "$(cksum <"$tmp")" = "$want" ] ||
		fail 1 "the new authorized_keys arrived incomplete; nothing changed"
}

# fsyncs the file or directory $1. `sync FILE` is coreutils' and busybox's;
# a sync that takes no file syncs everything.
sync_one() {
	sync "$1" 2>/dev/null || sync
}

# Renames the file $1 to $2 durably: fsync it, rename, fsync the directory.
durable_mv() {
	sync_one "$1" && mv -f "$1" "$2" && sync_one "$dir"
}

# Installs $tmp as authorized_keys, durably, and sets the directory to
# 0700. Fails only when the file was not installed: once it is renamed,
# a directory that cannot be synced or set to 0700 cannot undo that (a
# stage that then disarmed would leave the new file with no timer).
install_tmp() {
	sync_one "$tmp" && mv -f "$tmp" "$ak" || return 1
	sync_one "$dir" || :
	chmod 700 "$dir" 2>/dev/null || echo "rccr-remote: cannot set $dir to 0700" >&2
}

# Prints where the change ended up. A root on a disk file system keeps it
# whatever lbu says: Alpine installed to disk has lbu too, with no medium to
# save to. Only the file systems persist.rs lists count as a disk: an
# overlay (overlaytmpfs) or anything unknown may be in RAM. Without lbu, a
# layered root (an overlay, aufs or squashfs: Raspberry Pi OS's overlay
# file system, a live image) counts as in RAM too, as persist.rs says.
# lbu gets /dev/null as its stdin, as persist.rs gives it: the step's
# stdin is the control's channel, which an lbu (or a hook of it) that
# reads would hang on until the control's deadline.
persist() {
	on=disk
	# The mount judged holds ~/.ssh (links resolved): the last listed at
	# or above it, as persist.rs (a mount made later over an ancestor
	# hides those below it). A tmpfs home on a root on disk is lost at a
	# reboot.
	real=$(cd "$dir" && pwd -P) || real=$dir
	if [ -r /proc/mounts ]; then
		while read -r _ mnt type _; do
			case "$real/" in
			"${mnt%/}/"*)
				case "$type" in
				tmpfs | ramfs | rootfs | overlay | aufs | squashfs) on=volatile ;;
				ext2 | ext3 | ext4 | xfs | btrfs | f2fs | jfs | reiserfs | nilfs2 | bcachefs) on=disk ;;
				*) on=unknown ;;
				esac
				;;
			esac
		done </proc/mounts
	fi
	if command -v lbu >/dev/null 2>&1; then
		lbu include "$dir" </dev/null >/dev/null 2>&1
		if lbu commit </dev/null >/dev/null 2>&1; then
			on=lbu
		elif [ "$on" != disk ]; then
			on=lbu-failed
		fi
	fi
	[ "$on" != unknown ] || on=disk
	echo "$on"
}

action=${1:-}
case "$action" in
read)
	snapshot
	;;
stage)
	[ $# -eq 4 ] || fail 1 "usage: stage ID SECONDS NONCE"
	take_lock
	refuse_link
	revert_if_timer_died
	[ -f "$ak" ] || fail 1 "$ak does not exist or is no regular file"
	read_armed
	[ "$armed" = - ] || fail 6 "rotation $armed is armed here; it commits or reverts first; nothing changed"
	snapshot
	receive "$4" || exit 0
	[ "$(sum_of "$ak")" = "$sum" ] || fail 4 "$ak changed since it was read"
	# Backup and marker reach the disk before the new file replaces the
	# old (install_tmp's directory sync makes their names durable, not
	# their bytes). Without that, a power cut could leave an empty marker
	# (every later stage refused, naming no rotation), or the revert could
	# rename a backup whose bytes never reached the disk over the file:
	# after a cut, an empty authorized_keys and no key at all. With it, a
	# cut anywhere leaves the old file or the new one (old keys and new),
	# and any backup and marker whole.
	# Backup and marker are written under a fresh random name, one a later
	# step removes if this one dies (take_lock): a marker-to-be of a killed
	# stage stays locked by its timer, and must not be the next one's.
	# Only a file (or a link, replaced) or nothing at the backup's name: a
	# directory (a drop that failed in part) would take the backup in,
	# and the revert would restore nothing.
	# A file read as none (no regular file since) is not copied: cp would
	# hang on a pipe.
	[ "$sum" != none ] || fail 1 "cannot back up $ak"
	[ ! -e "$bak" ] || [ -f "$bak" ] || fail 1 "cannot back up $ak"
	part=$(mktemp "$dir/.rccr-tmp.XXXXXXXX") || fail 1 "cannot create a temporary file in $dir"
	if ! { cp -p "$ak" "$part" && durable_mv "$part" "$bak"; }; then
		rm -f "$part"
		fail 1 "cannot back up $ak"
	fi
	# Each stage arms its own token, so a timer left by an earlier attempt
	# of the same rotation can never revert this one.
	token="$2.$4"
	# The timer takes the marker's lock before the marker takes its name:
	# no marker is ever seen unlocked while its timer lives. $part's name
	# is free again (renamed to $bak): the marker is a new file under it.
	# (A write cut short fails printf: dash and busybox report it.)
	if ! { printf '%s\n%s\n' "$token" "$timer_holds_lock" >"$part" &&
		start_timer "$token" "$3" 8<"$part" &&
		durable_mv "$part" "$mark"; }; then
		rm -f "$part" "$mark" "$bak"
		fail 1 "cannot arm the revert"
	fi
	if ! install_tmp; then
		rm -f "$mark" "$bak"
		fail 1 "cannot replace $ak (read-only?)"
	fi
	echo staged
	;;
commit)
	[ $# -eq 2 ] || fail 1 "usage: commit NONCE"
	take_lock
	refuse_link
	snapshot
	if receive "$2"; then
		read_armed
		[ "$armed" = "$snap_armed" ] || fail 3 "rotation $snap_armed expired: the node reverted"
		[ "$(sum_of "$ak")" = "$sum" ] || fail 4 "$ak changed since it was read"
		# As a stage: none to replace (mv would move the file into a
		# directory).
		[ "$sum" != none ] || fail 1 "$ak does not exist or is no regular file"
		# The new file is written ($tmp, by receive) before the disarm, as
		# rccr's side: one that cannot be fails the commit still armed.
		# Disarm before the rename: a crash from here on leaves old and new
		# keys, never none. A marker that stays would let its timer revert
		# the commit.
		rm -f "$mark" 2>/dev/null || fail 1 "cannot disarm rotation $armed (cannot remove $mark); nothing changed"
		# Durable before the install, as rccr's side.
		sync_one "$dir" || :
		install_tmp || fail 1 "cannot replace $ak"
		rm -f "$bak"
		echo committed
	else
		# A marker the snapshot could not read (an LSM's denial), whose
		# backup is absent or read and does not fit, goes with it, synced,
		# as rccr's side: the control, told of no rotation, sends nothing
		# onto a file that lacks the old key, and a marker left would have
		# the boot, or its timer once it reads again (it is dropped all
		# the same), restore the backup (the old key alone) over the new
		# key, which opened this connection (a release: the key it removes;
		# a drop changes no key either way). A backup that fits stays, with
		# its marker: over a file that grants nothing it is the boot's way
		# back in. One not read (it may be the old key's only copy) fails
		# the commit, nothing changed, whatever the file grants: said
		# unchanged, the control would report the rotation done over a
		# file of the new key alone, and once the denial passed the timer
		# or the boot would restore the old key it no longer offers. A
		# marker made since the snapshot (another rotation's) stays.
		if [ -n "$snap_unread" ] && { [ -e "$mark" ] || [ -L "$mark" ]; }; then
			bak_there=
			if [ -e "$bak" ] || [ -L "$bak" ]; then
				bak_there=1
				backup_read || fail 1 "cannot read the backup $bak of the rotation whose revert marker $mark could not be read: marker and backup left as they are, see to them by hand (docs/keys.md)"
			fi
			{ [ -n "$bak_there" ] && backup_fits; } || drop_rotation ||
				fail 1 "cannot disarm the rotation whose revert marker $mark holds no token that can be read (its marker and backup not wholly removed)"
		fi
		echo unchanged
	fi
	persist
	;;
*)
	fail 1 "unknown action: $action"
	;;
esac
