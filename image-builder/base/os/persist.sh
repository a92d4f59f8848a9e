#!/bin/sh
#---help---
# Usage: /usr/libexec/rccr/persist [boot | media]
#
# Decides where `lbu commit` saves this diskless node's changes (its keys,
# host keys, hostname), so that they survive a reboot. Installed by RCCR's OS
# images and run at boot by /etc/init.d/rccr-persist, before hostname,
# rccr-init, networking and sshd.
#
#   boot   (default) choose the media and write LBU_MEDIA to lbu.conf; on
#          read-only boot media, first unpack the overlay saved on the
#          RCCR partition over /
#   media  print the media lbu should use (a name under /media), change nothing
#
# The choice:
#   1. the boot media (the mount under /media that holds rccr-apks/), when
#      its filesystem is writable: a Raspberry Pi's SD card, or an ISO that
#      Rufus copied to a FAT USB stick. The boot loads what lbu saved there.
#   2. otherwise (an ISO on a CD, or written with dd: iso9660 is read-only) a
#      partition labelled RCCR (FAT or ext4) on any disk. The boot still
#      loads the overlay on the ISO, so this script restores the saved one
#      over it, before the services that read it start.
#   3. neither: changes are lost at reboot (a warning says so).
#
# Environment (tests): ROOT (default /), PROC_MOUNTS (/proc/mounts),
# RCCR_DATA_LABEL (RCCR), FINDFS (findfs).
#---help---
set -eu

PROG=rccr-persist
: "${ROOT:=/}"
: "${PROC_MOUNTS:=/proc/mounts}"
: "${RCCR_DATA_LABEL:=RCCR}"
: "${FINDFS:=findfs}"

LBU_CONF="${ROOT%/}/etc/lbu/lbu.conf"

help() {
	sed -n '/^#---help---/,/^#---help---/p' "$0" | sed -e '1d;$d' -e 's/^# \{0,1\}//'
}

die() {
	printf '%s: error: %s\n' "$PROG" "$*" >&2
	exit 1
}

einfo() {
	printf '%s: %s\n' "$PROG" "$*" >&2
}

# Prints "MOUNTPOINT FSTYPE" of the mount under /media that holds
# rccr-apks/ (our boot media), if any.
boot_media() {
	while read -r _dev _mnt _type _rest; do
		case "$_mnt" in
			/media/*) ;;
			*) continue ;;
		esac
		if [ -d "${ROOT%/}$_mnt/rccr-apks" ]; then
			echo "$_mnt $_type"
			return 0
		fi
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

# mount_point DEV: where DEV is mounted, if it is.
mount_point() {
	awk -v d="$1" '$1 == d { print $2; exit }' "$PROC_MOUNTS"
}

# Prints the media name (under /media) for lbu, mounting the RCCR partition
# read-only when it is not mounted yet; returns 1 when there is none.
find_media() {
	if _boot=$(boot_media); then
		_mnt=${_boot% *}
		if writable_fs "${_boot#* }"; then
			echo "${_mnt#/media/}"
			return 0
		fi
	fi
	_dev=$("$FINDFS" "LABEL=$RCCR_DATA_LABEL" 2>/dev/null) || return 1
	[ -n "$_dev" ] || return 1
	_mnt=$(mount_point "$_dev")
	if [ -z "$_mnt" ]; then
		_mnt=/media/${_dev##*/}
		mkdir -p "${ROOT%/}$_mnt"
		mount -o ro "$_dev" "${ROOT%/}$_mnt" || return 1
	fi
	echo "${_mnt#/media/}"
}

# set_conf KEY VALUE: sets KEY=VALUE in lbu.conf, replacing an existing line.
set_conf() {
	mkdir -p "$(dirname "$LBU_CONF")"
	touch "$LBU_CONF"
	if grep -q "^$1=" "$LBU_CONF"; then
		sed -i "s|^$1=.*|$1=$2|" "$LBU_CONF"
	else
		echo "$1=$2" >>"$LBU_CONF"
	fi
}

# restore MEDIA: on read-only boot media, unpack the overlay that lbu saved
# on MEDIA over the root.
restore() {
	_boot=$(boot_media) || return 0
	writable_fs "${_boot#* }" && return 0
	_dir="${ROOT%/}/media/$1"
	set -- "$_dir"/*.apkovl.tar.gz
	[ -f "$1" ] || return 0
	if [ $# -gt 1 ]; then
		einfo "more than one overlay on $_dir: restoring none (keep one)"
		return 0
	fi
	einfo "restoring the saved overlay ${1##*/}"
	tar -xzf "$1" -C "${ROOT%/}/"
}

main() {
	case "${1:-boot}" in
		-h | --help | help)
			help
			return 0
			;;
		media)
			find_media || die "no writable media: neither the boot media nor a partition labelled $RCCR_DATA_LABEL"
			;;
		boot)
			if ! media=$(find_media); then
				einfo "WARNING: changes are lost at reboot: the boot media is read-only and no partition is labelled $RCCR_DATA_LABEL"
				return 0
			fi
			restore "$media"
			set_conf LBU_MEDIA "$media"
			# The image's rccr.apkovl.tar.gz and lbu's own overlay on one
			# medium would make the next boot ignore both.
			set_conf DELETEOLDCONFIGS yes
			einfo "lbu commit saves to /media/$media"
			;;
		*)
			printf '%s: unknown command: %s (see --help)\n' "$PROG" "$1" >&2
			return 2
			;;
	esac
}

main "$@"
