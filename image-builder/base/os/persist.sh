#!/bin/sh
#---help---
# Usage: /usr/libexec/rccr/persist [boot | media | commit]
#
# Decides where `lbu commit` saves this diskless node's changes (its keys,
# host keys, hostname), so that they survive a reboot. Installed by RCCR's OS
# images and run at boot by /etc/init.d/rccr-persist, before hostname,
# rccr-init, networking and sshd.
#
#   boot   (default) choose where lbu saves and write it to lbu.conf; on
#          read-only boot media, first unpack the overlay saved on the
#          RCCR partition over /
#   media  print the choice, change nothing: a name under /media (lbu's
#          LBU_MEDIA) or an absolute directory (lbu's LBU_BACKUPDIR)
#   commit save the changes as `lbu commit` does, where lbu.conf says, but
#          so that the media never holds no overlay: rccr saves this way.
#          lbu commit first removes the old overlay (DELETEOLDCONFIGS) or
#          renames it (its backup), then takes seconds to make the new one;
#          a power cut then leaves none, and the next boot is bare Alpine,
#          without sshd or this node's keys. Here lbu packages the new
#          overlay in RAM (lbu package), which is copied next to the old
#          one under a name the initramfs ignores, synced, renamed to
#          HOSTNAME.apkovl.tar.gz, synced; only then are the other overlays
#          there removed. A cut leaves the old overlay or the new one. With
#          lbu.conf's ENCRYPTION or BACKUP_LIMIT, or media that is not
#          mounted, it is lbu commit.
#
# The choice:
#   1. the boot media (the mount under /media that holds a boot repository,
#      */.boot_repository), when its filesystem is writable: a Raspberry
#      Pi's SD card, or an ISO that Rufus copied to a FAT USB stick. lbu
#      replaces the image's overlay at the media's root with its own, and
#      the boot loads that one: the only overlay there. Unless the media
#      still holds only the image's overlay and the RCCR partition (2.)
#      already holds saved changes: a node set up from a CD or a dd stick
#      and booted from a fresh Rufus stick is restored from there and saves
#      there, as in 2., so that the image's temporary key is not accepted
#      again on it. Media the node has saved on keep their own state.
#   2. otherwise (an ISO on a CD, or written with dd: iso9660 is read-only) a
#      partition labelled RCCR (FAT or ext4) on any disk, mounted read-write.
#      lbu saves into its directory rccr-lbu/, never at its root: Alpine's
#      initramfs (nlplug-findfs) loads the first *.apkovl.tar.gz it finds
#      at the root of any disk, and two candidates would make the boot
#      depend on the order the disks appear in. So the boot always loads the
#      ISO's overlay, and this script restores the saved one over it, before
#      the services that read it start. The image's own software (rccr, its
#      services, the sshd drop-in) stays the booted image's: an older
#      image's saved copies do not replace a newer one's; the accounts are
#      the saved ones plus the system users and groups that the booted
#      image's packages made, where their IDs are free (a warning names
#      those left out), and a group keeps the members both gave it. When
#      the saved changes cannot be restored (two overlays, a damaged or
#      unfinished one), they are kept as they are: lbu saves nothing this
#      boot, and the image's temporary key is refused, since this node was
#      set up before.
#   3. neither: changes are lost at reboot (a warning says so).
#
# Then, whatever the choice (unless making it failed: the script stops at
# its first error): when the boot runlevel holds both hwclock and swclock
# (an older image's saved overlay next to the clock service Alpine's
# initramfs added), the one the initramfs did not add goes: where this
# script restored the saved overlay (an ISO), the restored one (the
# initramfs' was there before); where the initramfs loaded it itself (a
# Pi), the one its test does not pick: hwclock where the machine has an
# RTC, swclock where not. A link that cannot be removed stays, with a
# warning.
#
# Warnings go to stderr and, when it is writable, to the kernel's log as
# errors, which the kernel prints on every console= (OpenRC's output
# reaches only the last one, /dev/console). Neither a log the kernel
# refuses to open (printk.devkmsg=off) nor a closed stderr fails anything.
#
# Environment (tests): ROOT (default /), PROC_MOUNTS (/proc/mounts),
# RCCR_DATA_LABEL (RCCR), FINDFS (findfs), MOUNT (mount), LBU (lbu),
# KMSG (/dev/kmsg).
#---help---
set -eu
# A closed stderr (a console gone) becomes /dev/null: tools such as awk fail
# when they cannot close it.
if ! true >&2; then exec 2>/dev/null; fi

PROG=rccr-persist
: "${ROOT:=/}"
: "${PROC_MOUNTS:=/proc/mounts}"
: "${RCCR_DATA_LABEL:=RCCR}"
: "${FINDFS:=findfs}"
: "${MOUNT:=mount}"
: "${LBU:=lbu}"
: "${KMSG:=/dev/kmsg}"

# Where lbu's overlays live on the RCCR partition: below its root, out of
# nlplug-findfs' sight (it looks at depth 1 only).
readonly SAVE_DIR=rccr-lbu
# The overlay the images ship on their boot medium (build-os-image.sh).
readonly IMAGE_OVERLAY=rccr.apkovl.tar.gz
LBU_CONF="${ROOT%/}/etc/lbu/lbu.conf"
# What the booted image provides and a saved overlay must not replace (shell
# globs under the root): rccr and its applet links, its services and this
# helper, its licences, the list of paths lbu keeps and the sshd drop-in.
# lbu keeps them, because a Pi boots its saved overlay alone; on an ISO the
# image's overlay booted first, and may be newer than the saved copies.
readonly IMAGE_PATHS='usr/bin/rccr usr/bin/rccr-* usr/libexec/rccr etc/init.d/rccr-* usr/share/licenses/rccr etc/apk/protected_paths.d/rccr.list etc/ssh/sshd_config.d/rccr.conf'
# Lists that the booted image and the saved changes both add to: the
# packages (the image's, and those added later) and the repositories (this
# boot's, found by the initramfs, and those saved).
readonly MERGED_LISTS='etc/apk/world etc/apk/repositories'
# The accounts, merged by name: the saved entries (root's password, users
# added on the node) win, and the booted image keeps the system users and
# groups its packages made at this boot (the initramfs installed them over
# the image's overlay, before this restore), which an older saved copy
# lacks (merge_accounts).
readonly ACCOUNT_FILES='etc/passwd etc/group etc/shadow etc/gshadow'

help() {
	sed -n '/^#---help---/,/^#---help---/p' "$0" | sed -e '1d;$d' -e 's/^# \{0,1\}//'
}

die() {
	printf '%s: error: %s\n' "$PROG" "$*" >&2
	exit 1
}

# einfo MESSAGE: to stderr; a closed or failed console is no failure
# (set -e would stop the boot halfway).
einfo() {
	printf '%s: %s\n' "$PROG" "$*" >&2 || :
}

# The shell command that appends its input to the kernel's log (KMSG, in
# its environment), and reads it all whatever happens: a log that is not
# writable, or that the kernel refuses to open (-w is true for root even
# with printk.devkmsg=off), is no failure, neither for the shell nor for
# awk, whose print into a pipe closed early would kill it (SIGPIPE).
# -w first: a missing KMSG is not created.
# shellcheck disable=SC2016 # expanded by the shell that runs it
readonly KMSG_APPEND='{ [ -w "$KMSG" ] && cat >>"$KMSG"; } 2>/dev/null || cat >/dev/null'

# warn MESSAGE: a warning (see --help); `<3>` makes it an error in the
# kernel's log (KERN_ERR), printed even with `quiet`; one record, so a
# newline in MESSAGE becomes a space there.
warn() {
	einfo "WARNING: $*"
	printf '<3>%s: WARNING: %s\n' "$PROG" "$(printf '%s' "$*" | tr '\n' ' ')" |
		KMSG=$KMSG sh -c "$KMSG_APPEND" || :
}

# Prints "MOUNTPOINT FSTYPE" of the mount under /media that holds a boot
# repository (our boot media), if any.
boot_media() {
	while read -r _dev _mnt _type _rest; do
		case "$_mnt" in
			/media/*) ;;
			*) continue ;;
		esac
		for _repo in "${ROOT%/}$_mnt"/*/.boot_repository; do
			if [ -e "$_repo" ]; then
				echo "$_mnt $_type"
				return 0
			fi
		done
	done <"$PROC_MOUNTS"
	return 1
}

# Whether lbu can write a filesystem of this type.
writable_fs() {
	case "$1" in
		vfat | msdos | exfat | ext2 | ext3 | ext4 | f2fs | btrfs | xfs) return 0 ;;
		*) return 1 ;;
	esac
}

# mount_line DEV: "MOUNTPOINT OPTIONS" of DEV, if mounted.
mount_line() {
	awk -v d="$1" '$1 == d { print $2, $4; exit }' "$PROC_MOUNTS"
}

# writable_boot_media: prints the boot media's name under /media when lbu
# can write it.
writable_boot_media() {
	_boot=$(boot_media) || return 1
	writable_fs "${_boot#* }" || return 1
	_mnt=${_boot% *}
	echo "${_mnt#/media/}"
}

# data_dir: prints the directory on the RCCR partition that lbu saves to,
# mounting the partition read-write (or remounting it so) first; returns 1
# when there is no such partition.
data_dir() {
	_dev=$("$FINDFS" "LABEL=$RCCR_DATA_LABEL" 2>/dev/null) || return 1
	[ -n "$_dev" ] || return 1
	_line=$(mount_line "$_dev")
	if [ -z "$_line" ]; then
		_mnt=/media/${_dev##*/}
		mkdir -p "${ROOT%/}$_mnt"
		"$MOUNT" -o rw "$_dev" "${ROOT%/}$_mnt" || return 1
	else
		_mnt=${_line% *}
		case ",${_line#* }," in
			*,ro,*) "$MOUNT" -o remount,rw "${ROOT%/}$_mnt" || return 1 ;;
		esac
	fi
	echo "$_mnt/$SAVE_DIR"
}

# has_saved DIR: whether lbu saved changes in DIR (on the RCCR partition),
# or an older image at the partition's root, which prepare_dir moves to DIR.
has_saved() {
	for _f in "${ROOT%/}$1"/*.apkovl.tar.gz* "${ROOT%/}${1%/*}"/*.apkovl.tar.gz*; do
		[ ! -e "$_f" ] || return 0
	done
	return 1
}

# media_saved NAME: whether the boot medium /media/NAME holds an overlay
# lbu saved (named after the host), not only the image's own.
media_saved() {
	for _f in "${ROOT%/}/media/$1"/*.apkovl.tar.gz*; do
		[ ! -e "$_f" ] || [ "${_f##*/}" = "$IMAGE_OVERLAY" ] || return 0
	done
	return 1
}

# choose: prints "media NAME" or "dir PATH", or returns 1.
choose() {
	if _name=$(writable_boot_media); then
		# A node set up from a CD or a dd stick, now booted from a writable
		# one (Rufus), keeps its state where it is: restored, and saved
		# there, not to the stick, as long as the stick holds only the
		# image's overlay. Once the node saved on the medium (a Pi's card,
		# a stick it has used), the medium's state is the node's, and an
		# older one on an RCCR disk is left alone.
		if ! media_saved "$_name" && _dir=$(data_dir) &&
			[ "${_dir%/*}" != "/media/$_name" ] && has_saved "$_dir"; then
			echo "dir $_dir"
		else
			echo "media $_name"
		fi
	elif _dir=$(data_dir); then
		echo "dir $_dir"
	else
		return 1
	fi
}

# set_conf KEY VALUE: sets KEY=VALUE in lbu.conf, in place of an existing
# line; an empty VALUE removes the line.
set_conf() {
	mkdir -p "$(dirname "$LBU_CONF")"
	touch "$LBU_CONF"
	awk -v k="$1" -v v="$2" '
		index($0, k "=") == 1 { if (!done && v != "") print k "=" v; done = 1; next }
		{ print }
		END { if (!done && v != "") print k "=" v }
	' "$LBU_CONF" >"$LBU_CONF.new"
	mv -f "$LBU_CONF.new" "$LBU_CONF"
}

# prepare_dir DIR: makes lbu's directory on the RCCR partition, and moves
# there an overlay that an older image left at the partition's root (which
# the initramfs would otherwise find next to the ISO's).
prepare_dir() {
	mkdir -p "${ROOT%/}$1"
	for _old in "${ROOT%/}${1%/*}"/*.apkovl.tar.gz*; do
		[ -f "$_old" ] || continue
		einfo "moving ${_old##*/} into $1"
		mv -f "$_old" "${ROOT%/}$1/"
	done
}

# restore DIR: restores the changes lbu saved in DIR, if any. Fails when DIR
# holds saved changes it cannot restore, having changed nothing: more than
# one overlay, an encrypted or unfinished one (lbu writes NAME.new first),
# one that is not a readable tarball. (An overlay that lists but cannot be
# unpacked to its end fails too, half unpacked.)
restore() {
	_dir=$1
	set -- "${ROOT%/}$_dir"/*.apkovl.tar.gz*
	[ -e "$1" ] || return 0
	if [ $# -gt 1 ]; then
		einfo "more than one saved overlay in $_dir:$(for _f in "$@"; do printf ' %s' "${_f##*/}"; done)"
		return 1
	fi
	case "$1" in
		*.apkovl.tar.gz) ;;
		*)
			einfo "${1##*/}: not an overlay lbu finished and can be read here (encrypted, or cut short)"
			return 1
			;;
	esac
	if ! tar -tzf "$1" >/dev/null 2>&1; then
		einfo "${1##*/}: not a readable overlay (damaged)"
		return 1
	fi
	einfo "restoring the saved overlay ${1##*/}"
	_stage=$(mktemp -d "${TMPDIR:-/tmp}/rccr-persist.XXXXXX") || return 1
	unpack "$1" "$_stage"
	_rc=$?
	rm -rf -- "$_stage"
	return "$_rc"
}

# unpack OVERLAY STAGE: unpacks OVERLAY over the root, then puts back the
# image's IMAGE_PATHS and merges MERGED_LISTS and ACCOUNT_FILES, keeping
# copies in STAGE.
unpack() {
	_root=${ROOT%/}
	_image_tar=$2/image.tar
	(
		cd "$_root/" || exit 1
		set --
		# shellcheck disable=SC2086 # the globs expand here, under the root
		for _path in $IMAGE_PATHS; do
			if [ -e "$_path" ] || [ -L "$_path" ]; then
				set -- "$@" "$_path"
			fi
		done
		[ $# -eq 0 ] || tar -cf "$_image_tar" -- "$@"
	) || return 1
	_n=0
	for _list in $MERGED_LISTS $ACCOUNT_FILES; do
		_n=$((_n + 1))
		[ ! -f "$_root/$_list" ] || cp -- "$_root/$_list" "$2/list.$_n" || return 1
		[ "$_list" != etc/group ] || _image_group=$2/list.$_n
	done

	if ! tar -xzf "$1" -C "$_root/"; then
		einfo "cannot unpack ${1##*/}"
		return 1
	fi

	[ ! -f "$_image_tar" ] || tar -xf "$_image_tar" -C "$_root/" || return 1
	_n=0
	for _list in $MERGED_LISTS $ACCOUNT_FILES; do
		_n=$((_n + 1))
		[ -f "$2/list.$_n" ] || continue
		case " $ACCOUNT_FILES " in
			# passwd is merged before group: the root's etc/group is
			# still the saved one.
			*" $_list "*) merge_accounts "$_list" "$_root/$_list" "$2/list.$_n" "$_root/etc/group" "$_image_group" ;;
			*)
				# The booted image's lines first, then the saved ones it
				# lacks.
				awk 'NF && !seen[$0]++' "$2/list.$_n" "$_root/$_list"
				;;
		esac >"$2/merged" &&
			cat -- "$2/merged" >"$_root/$_list" || return 1
	done
}

# merge_accounts FILE SAVED IMAGE SAVED_GROUP IMAGE_GROUP: prints the
# account file FILE (etc/passwd, ...) merged by name: the SAVED entries,
# then the booted IMAGE's whose name they lack. Such an account is added
# only when its UID (passwd) or GID (group) is free in SAVED, and a user
# only when its primary GID is not another group's in SAVED_GROUP than in
# IMAGE_GROUP, with a warning otherwise: two names owning the same files
# would be worse than a service without its user. shadow and
# gshadow add only the names the merged passwd and group hold. A group
# named in both keeps the saved line, with the image's members added (a
# newer image's package may have put its user in an existing group).
merge_accounts() {
	_id=0 _what='' _members=0 _names=/dev/null
	case "$1" in
		etc/passwd) _id=3 _what=UID ;;
		etc/group) _id=3 _what=GID _members=4 ;;
		etc/shadow) _names=${ROOT%/}/etc/passwd ;;
		etc/gshadow) _members=4 _names=${ROOT%/}/etc/group ;;
	esac
	[ -f "$_names" ] || _names=/dev/null
	_saved_group=/dev/null _image_group=/dev/null
	if [ "$1" = etc/passwd ]; then
		[ ! -f "${4:-}" ] || _saved_group=$4
		[ ! -f "${5:-}" ] || _image_group=$5
	fi
	# shellcheck disable=SC2016 # awk's own $ fields
	KMSG=$KMSG awk -F: -v OFS=: -v id="$_id" -v what="$_what" -v members="$_members" -v file="$1" -v prog="$PROG" -v kmsg_append="$KMSG_APPEND" '
		# As warn (the shell function). Both pipes read all they are
		# given, so that neither a closed stderr nor a refused log kills
		# awk.
		function warn(msg) {
			msg = prog ": WARNING: " file ": the booted image\047s " msg
			print msg | "cat >&2 || cat >/dev/null"
			print "<3>" msg | kmsg_append
			close(kmsg_append)
		}
		function union(a, b,    have, list, i, k, out) {
			out = a
			k = split(a, list, ",")
			for (i = 1; i <= k; i++) have[list[i]] = 1
			k = split(b, list, ",")
			for (i = 1; i <= k; i++) {
				if (list[i] == "" || (list[i] in have)) continue
				have[list[i]] = 1
				out = out == "" ? list[i] : out "," list[i]
			}
			return out
		}
		phase == "names" { if (NF) named[$1] = 1; has_names = 1; next }
		phase == "saved_group" { if (NF) saved_gid[$3] = $1; next }
		phase == "image_group" { if (NF) image_gid[$3] = $1; next }
		phase == "image" {
			if (NF && !($1 in image)) {
				image[$1] = $0
				order[++n] = $1
				if (members) image_members[$1] = $members
			}
			next
		}
		NF && !($1 in saved) {
			saved[$1] = 1
			if (id) owner[$id] = $1
			if (members && ($1 in image_members)) $members = union($members, image_members[$1])
			print
		}
		END {
			for (i = 1; i <= n; i++) {
				name = order[i]
				if ((name in saved) || (has_names && !(name in named))) continue
				split(image[name], f, ":")
				if (id && (f[id] in owner)) {
					warn(name " is not added: " what " " f[id] " is " owner[f[id]] "\047s in the saved one")
					continue
				}
				if (file == "etc/passwd" && (f[4] in saved_gid) && saved_gid[f[4]] != image_gid[f[4]]) {
					warn(name " is not added: its GID " f[4] " is " saved_gid[f[4]] "\047s in the saved group")
					continue
				}
				if (id) owner[f[id]] = name
				print image[name]
			}
		}
	' phase=names "$_names" phase=saved_group "$_saved_group" phase=image_group "$_image_group" phase=image "$3" phase=saved "$2"
}

# keep_saved DIR: the changes saved in DIR could not be restored. lbu is
# pointed nowhere, so that no commit of this boot replaces them with the
# image's defaults, and root's authorized_keys of this boot (the image's
# temporary key) is removed: this node was set up before, and whoever
# holds the public temporary key must not log in to it.
keep_saved() {
	set_conf LBU_BACKUPDIR ''
	set_conf LBU_MEDIA ''
	rm -f -- "${ROOT%/}/root/.ssh/authorized_keys"
	warn "the changes saved in ${1#/media/} are not restored: lbu commit saves nothing and the image's temporary key is refused until they are (on the console: keep the one good *.apkovl.tar.gz in $1, then reboot)"
}

# lbu_settings: LBU_BACKUPDIR, LBU_MEDIA, ENCRYPTION and BACKUP_LIMIT of
# lbu.conf, one per line, read as lbu reads them (it sources the file).
lbu_settings() {
	(
		LBU_BACKUPDIR='' LBU_MEDIA='' ENCRYPTION='' BACKUP_LIMIT=''
		# shellcheck source=/dev/null # lbu sources it the same way
		[ ! -f "$LBU_CONF" ] || . "$LBU_CONF" >/dev/null 2>&1
		printf '%s\n' "$LBU_BACKUPDIR" "$LBU_MEDIA" "$ENCRYPTION" "${BACKUP_LIMIT:-0}"
	)
}

# mount_options MOUNTPOINT: the options of MOUNTPOINT in /proc/mounts, or
# nothing when it is not mounted.
mount_options() {
	awk -v m="$1" '$2 == m { o = $4 } END { if (o != "") print o }' "$PROC_MOUNTS"
}

# commit: see --help. The overlay's name is the running hostname, as lbu's.
commit() {
	{
		read -r _backupdir
		read -r _media
		read -r _encryption
		read -r _limit
	} <<-EOF
		$(lbu_settings)
	EOF
	if [ -n "$_encryption" ] || [ "$_limit" != 0 ]; then
		exec "$LBU" commit
	fi
	_remount=''
	if [ -n "$_backupdir" ]; then
		_dir=$_backupdir # lbu mounts nothing for it (lbu.in, cmd_commit)
	elif [ -n "$_media" ]; then
		_dir=/media/$_media
		_opts=$(mount_options "$_dir")
		[ -n "$_opts" ] || exec "$LBU" commit
		case ",$_opts," in
			*,ro,*) _remount=$_dir ;;
		esac
	else
		die "lbu.conf names no LBU_BACKUPDIR or LBU_MEDIA: nowhere to save"
	fi
	_host=$(hostname)
	[ -n "$_host" ] || die "no hostname to name the overlay by"
	_work=$(mktemp -d "${TMPDIR:-/tmp}/rccr-commit.XXXXXX") || die "cannot make a temporary directory"
	trap commit_cleanup EXIT HUP INT TERM
	if [ -n "$_remount" ]; then
		"$MOUNT" -o remount,rw "${ROOT%/}$_remount" || die "cannot mount $_remount read-write"
	fi
	"$LBU" package "$_work/$_host.apkovl.tar.gz" >/dev/null || die "lbu package failed"
	_at="${ROOT%/}$_dir"
	_new="$_at/$_host.apkovl.tar.gz"
	# Not *.apkovl.tar.gz*: neither the initramfs nor lbu sees it.
	_part="$_at/.rccr-commit.part"
	if ! cp -- "$_work/$_host.apkovl.tar.gz" "$_part"; then
		rm -f -- "$_part"
		die "cannot write to $_dir (full?); the saved overlay there is unchanged"
	fi
	sync
	mv -f -- "$_part" "$_new" || die "cannot rename the new overlay in $_dir"
	sync
	for _old in "$_at"/*.apkovl.tar.gz*; do
		[ "$_old" = "$_new" ] || [ ! -e "$_old" ] || rm -f -- "$_old"
	done
	sync
}

commit_cleanup() {
	_rc=$?
	trap - EXIT HUP INT TERM
	rm -rf -- "$_work"
	# As lbu: what was saved is synced; a media left read-write is no failure.
	if [ -n "$_remount" ]; then
		"$MOUNT" -o remount,ro "${ROOT%/}$_remount" || einfo "$_remount stays read-write"
	fi
	exit "$_rc"
}

# boot: see --help (boot, and the choice).
boot() {
	if ! _choice=$(choose); then
		warn "changes are lost at reboot: the boot media is read-only and no partition is labelled $RCCR_DATA_LABEL"
		return 0
	fi
	_where=${_choice#* }
	case "$_choice" in
		media*)
			set_conf LBU_MEDIA "$_where"
			set_conf LBU_BACKUPDIR ''
			;;
		dir*)
			prepare_dir "$_where"
			if ! restore "$_where"; then
				keep_saved "$_where"
				return 0
			fi
			# lbu uses LBU_BACKUPDIR before LBU_MEDIA, and mounts
			# nothing for it (lbu.in, cmd_commit).
			set_conf LBU_BACKUPDIR "$_where"
			;;
	esac
	# lbu refuses to add its overlay next to the image's (lbu.in,
	# cmd_commit: "Please use -d to replace"); replace it instead.
	set_conf DELETEOLDCONFIGS yes
	einfo "lbu commit saves to ${_where#/media/}"
}

# rtc_exists: whether the machine has a hardware clock, tested as Alpine's
# initramfs tests it (mkinitfs initramfs-init.in, rtc_exists).
rtc_exists() {
	for _rtc in "${ROOT%/}"/dev/rtc "${ROOT%/}"/dev/rtc[0-9]*; do
		[ ! -e "$_rtc" ] || return 0
	done
	return 1
}

# in_boot_runlevel SERVICE: whether SERVICE's link is in the boot runlevel
# (it points to /etc/init.d, which -e would follow).
in_boot_runlevel() {
	[ -L "${ROOT%/}/etc/runlevels/boot/$1" ] || [ -e "${ROOT%/}/etc/runlevels/boot/$1" ]
}

# clock_alone: prints the clock service of the boot runlevel when it holds
# one only. Before the restore, that one is the initramfs' choice: the
# ISO's overlay carries none (genapkovl.sh). Where the initramfs loaded a
# saved overlay itself (a Pi's card), that overlay's may be there too; then
# it prints nothing.
clock_alone() {
	if in_boot_runlevel hwclock; then
		in_boot_runlevel swclock || echo hwclock
	elif in_boot_runlevel swclock; then
		echo swclock
	fi
}

# keep_one_clock CHOSEN: Alpine's initramfs adds a clock service to the
# boot runlevel at every boot, hwclock when the machine has an RTC and
# swclock when not (initramfs-init.in), after it loads the overlay. An
# overlay saved by an older image carries the one that image or its boot
# chose (swclock on a Pi, hwclock on an ISO), restored by the initramfs (a
# Pi) or by this script (an ISO): two services that provide clock, hwclock
# failing where there is no RTC. The one the initramfs did not add goes:
# not CHOSEN, the one found before the restore (clock_alone); without it,
# the one the initramfs' test does not pick. That test runs here later,
# and an RTC whose driver is a module the initramfs lacks may have come
# since: CHOSEN, where known, is the initramfs' own answer. The next commit
# saves that, and until then each boot mends it again. One clock service
# alone is the initramfs' choice and stays.
keep_one_clock() {
	in_boot_runlevel hwclock && in_boot_runlevel swclock || return 0
	case "$1" in
		hwclock) _extra=swclock ;;
		swclock) _extra=hwclock ;;
		*)
			if rtc_exists; then
				_extra=swclock
			else
				_extra=hwclock
			fi
			;;
	esac
	# Not worth failing the service for (set -e): both start, as before.
	if ! rm -f -- "${ROOT%/}/etc/runlevels/boot/$_extra"; then
		warn "$_extra stays in the boot runlevel next to the initramfs' clock service: cannot remove it"
		return 0
	fi
	einfo "$_extra removed from the boot runlevel: a saved overlay carried it next to the initramfs' clock service"
}

main() {
	case "${1:-boot}" in
		-h | --help | help)
			help
			return 0
			;;
		media)
			_choice=$(choose) ||
				die "no writable media: neither the boot media nor a partition labelled $RCCR_DATA_LABEL"
			echo "${_choice#* }"
			;;
		boot)
			_clock=$(clock_alone)
			boot
			keep_one_clock "$_clock"
			;;
		commit) commit ;;
		*)
			printf '%s: unknown command: %s (see --help)\n' "$PROG" "$1" >&2
			return 2
			;;
	esac
}

main "$@"
