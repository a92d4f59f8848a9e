#!/bin/bash
#---help---
# image.sh - the Debian bookworm base images of RCCR's VM tier (tests/vm/),
# one per arch, cached so that a second run finds them in a second.
#
# An image is a raw ext4 file system (no partition table: qemu boots the
# kernel directly), its kernel and its initramfs. It is built in two layers,
# each cached under a key of everything that goes into it:
#   debian  mmdebstrap of tests/vm/packages and the arch's kernel, with
#           tests/vm/debian/ (the initramfs settings) put in before them:
#           a tarball. Key: arch, suite, mirror, package list, options and
#           tests/vm/debian/. A few minutes per arch, rebuilt only when one
#           of those changes.
#   rccr    that tarball, plus tests/vm/rootfs/ (inittab, OpenRC settings,
#           the native OpenRC services standing in for Alpine's), RCCR's
#           OpenRC services rccr-storage, rccr-init and rccr-issue
#           (src/init/*.openrc), sshd's RCCR settings, the
#           static musl rccr of the arch installed with `rccr --install
#           /usr/bin`, the temporary public key as root's authorized_keys,
#           and no SSH host keys, made into the file system by mke2fs -d
#           under fakeroot. Key: the debian key and each of those files.
#           About 15 s.
# Runlevels, as on an Alpine target (image-builder/scripts/genapkovl.sh):
# sysinit devfs cgroups; boot localmount rccr-storage hostname rccr-init
# networking; default sshd docker rccr-issue; shutdown killprocs mount-ro.
# rccr-storage (rccr-init --storage, docs/storage.md) finds or prepares the
# ext4 filesystem labelled RCCR (a VM's blank second disk) and binds
# /var/lib/docker onto it before docker starts. Every other init script is
# removed.
#
# Usage:
#   image.sh path ARCH   build what is missing and print the image directory:
#                        disk.raw (a backing file, never written), vmlinuz,
#                        initrd.img and image.env (ARCH, QEMU, MACHINE,
#                        CONSOLE, CMDLINE)
#   image.sh debian ARCH build only the debian layer (it needs no rccr: a
#                        runner starts it while the static binaries build)
#   image.sh key         print the temporary private key's path (an RSA pair
#                        made once per cache, like the images' own)
#   image.sh prune       remove all but the two newest entries of each arch
#                        that were not used in the last hour
#   image.sh help
#
# ARCH: x86_64, x86 (i686, Debian i386) or aarch64 (Debian arm64: building
# it runs arm64 programs through qemu-user-static, whose binfmt entry is
# registered here when it is missing).
#
# Environment:
#   RCCR_VM_CACHE       the cache (default /var/cache/rccr-vm)
#   RCCR_VM_SUITE       Debian suite (default bookworm)
#   RCCR_VM_MIRROR      Debian mirror (default http://deb.debian.org/debian)
#   RCCR_BIN            the rccr for ARCH (default dist/rccr-ARCH, which
#                       image-builder/scripts/build-binaries.sh ARCH makes)
#   RCCR_INIT_SERVICE   rccr-init's OpenRC script (default src/init/rccr-init.openrc)
#   RCCR_ISSUE_SERVICE  rccr-issue's (default src/init/rccr-issue.openrc)
#   RCCR_STORAGE_SERVICE rccr-storage's (default src/init/rccr-storage.openrc)
# Needs mmdebstrap (as root it runs in root mode, otherwise unshare mode),
# fakeroot, e2fsprogs and openssh-client.
#---help---
set -eu
umask 022

SELF=$(readlink -f "$0")
VM_DIR=$(dirname "$SELF")
REPO_DIR=$(cd "$VM_DIR/../.." && pwd)
readonly SELF VM_DIR REPO_DIR

: "${RCCR_VM_CACHE:=/var/cache/rccr-vm}"
: "${RCCR_VM_SUITE:=bookworm}"
: "${RCCR_VM_MIRROR:=http://deb.debian.org/debian}"
: "${RCCR_INIT_SERVICE:=$REPO_DIR/src/init/rccr-init.openrc}"
: "${RCCR_ISSUE_SERVICE:=$REPO_DIR/src/init/rccr-issue.openrc}"
: "${RCCR_STORAGE_SERVICE:=$REPO_DIR/src/init/rccr-storage.openrc}"

readonly SSHD_SETTINGS=$REPO_DIR/image-builder/base/rootfs/etc/ssh/sshd_config.d/rccr.conf
# ext4 size: sparse, so only what is written takes room; Docker's data lives here.
readonly DISK_SIZE=6G
# Entries newer than this (minutes) are never pruned: a running VM may use them.
readonly KEEP_MINUTES=60
# Kernel drivers a virtual machine never needs: left out by dpkg.
readonly UNNEEDED_DRIVERS="gpu media net/wireless net/ethernet infiniband staging iio bluetooth isdn sound video"
# OpenRC runlevels of the image, as an Alpine target's (see the help); within
# a runlevel the services' depend() orders them.
readonly RUNLEVELS="sysinit:devfs sysinit:cgroups boot:localmount boot:rccr-storage boot:hostname \
boot:rccr-init boot:networking default:sshd default:docker default:rccr-issue \
shutdown:killprocs shutdown:mount-ro"

TMP_DIR=''

# help, die, einfo (and lab.sh's other helpers)
# shellcheck source=tests/lab/lib.sh
. "$VM_DIR/../lab/lib.sh"

cleanup() {
	trap - EXIT HUP INT TERM
	[ -z "$TMP_DIR" ] || rm -rf -- "$TMP_DIR"
}

need() {
	command -v "$1" >/dev/null 2>&1 || die "$1 not found (apt-get install $2)"
}

# ARCH -> DEBIAN_ARCH KERNEL_PKG QEMU MACHINE CONSOLE, and RUN and BINFMT:
# how this machine runs the arch's programs (directly, or with qemu-user).
arch_info() {
	case "$1" in
	x86_64)
		DEBIAN_ARCH=amd64 KERNEL_PKG=linux-image-amd64 QEMU=qemu-system-x86_64
		MACHINE="-M pc" CONSOLE=ttyS0 RUN="" BINFMT=""
		;;
	x86)
		# An Atom N270, the CPU of many a recycled 32-bit netbook.
		DEBIAN_ARCH=i386 KERNEL_PKG=linux-image-686 QEMU=qemu-system-i386
		MACHINE="-M pc -cpu n270" CONSOLE=ttyS0 RUN="" BINFMT=""
		;;
	aarch64)
		DEBIAN_ARCH=arm64 KERNEL_PKG=linux-image-arm64 QEMU=qemu-system-aarch64
		MACHINE="-M virt -cpu cortex-a57" CONSOLE=ttyAMA0
		RUN=qemu-aarch64-static BINFMT=qemu-aarch64
		;;
	*) return 1 ;;
	esac
}

packages() {
	sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' "$VM_DIR/packages" | paste -sd, -
}

# mmdebstrap's options (part of the debian key).
mmdebstrap_options() {
	local d
	MM_OPTS=(--variant=minbase --arch="$DEBIAN_ARCH" --include="$(packages),$KERNEL_PKG"
		--aptopt='Apt::Install-Recommends "false"'
		--dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright'
		--dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*'
		--dpkgopt='path-exclude=/usr/share/locale/*'
		--dpkgopt='path-exclude=/lib/modules/*/kernel/sound/*'
		--essential-hook="sync-in $VM_DIR/debian /")
	for d in $UNNEEDED_DRIVERS; do
		MM_OPTS+=(--dpkgopt="path-exclude=/lib/modules/*/kernel/drivers/$d/*")
	done
}

# sha256 of the named files and directories: paths, modes and contents.
tree_sum() {
	local p
	for p in "$@"; do
		if [ -d "$p" ]; then
			(cd "$p" && find . -type f -printf '%p %m\n' | LC_ALL=C sort &&
				find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
		else
			printf '%s %s\n' "$(stat -c %a "$p")" "$(sha256sum <"$p")"
		fi
	done | sha256sum | cut -c1-16
}

debian_key() {
	{
		# the options hold this checkout's path: the key must not depend on it
		printf '%s\n' "$RCCR_VM_SUITE" "$RCCR_VM_MIRROR" "${MM_OPTS[@]//"$VM_DIR"/tests/vm}"
		tree_sum "$VM_DIR/packages" "$VM_DIR/debian"
	} | sha256sum | cut -c1-16
}

# The temporary key pair, made once per cache.
temp_key() {
	local key=$RCCR_VM_CACHE/temp_key
	if [ ! -f "$key.pub" ]; then
		mkdir -p "$RCCR_VM_CACHE"
		chmod 700 "$RCCR_VM_CACHE"
		(
			flock 8
			if [ ! -f "$key.pub" ]; then
				rm -f "$key.tmp" "$key.tmp.pub"
				ssh-keygen -q -t rsa -b 4096 -N '' -C rccr-temporary-key -f "$key.tmp" >/dev/null
				mv -f "$key.tmp" "$key"
				mv -f "$key.tmp.pub" "$key.pub"
			fi
		) 8>"$RCCR_VM_CACHE/.lock-key"
	fi
	echo "$key"
}

# Registers qemu-user-static's binfmt entry for a foreign arch (mmdebstrap
# runs the arch's maintainer scripts through it).
ensure_binfmt() {
	local name=$1 conf=/usr/lib/binfmt.d/$1.conf
	[ ! -e "/proc/sys/fs/binfmt_misc/$name" ] || return 0
	[ -f "$conf" ] || die "no $conf: apt-get install qemu-user-static"
	[ -e /proc/sys/fs/binfmt_misc/register ] ||
		mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc ||
		die "cannot mount binfmt_misc"
	einfo "registering the $name binfmt entry (from $conf)"
	grep -v '^#' "$conf" >/proc/sys/fs/binfmt_misc/register || die "cannot register $name"
}

# The debian layer: its tarball, built when missing.
debian_layer() {
	local key out tmp
	key=$(debian_key)
	out=$RCCR_VM_CACHE/debian-$ARCH-$key.tar
	if [ ! -f "$out" ]; then
		need mmdebstrap mmdebstrap
		[ -z "$BINFMT" ] || ensure_binfmt "$BINFMT"
		einfo "building the Debian layer for $ARCH (mmdebstrap $RCCR_VM_SUITE $DEBIAN_ARCH, a few minutes)"
		tmp=$RCCR_VM_CACHE/.debian-$ARCH-$key.$$.tar
		local started=$SECONDS
		mmdebstrap --quiet "${MM_OPTS[@]}" "$RCCR_VM_SUITE" "$tmp" "$RCCR_VM_MIRROR" >&2 ||
			{
				rm -f "$tmp"
				die "mmdebstrap failed for $ARCH"
			}
		mv -f "$tmp" "$out"
		einfo "built $out in $((SECONDS - started)) s"
	fi
	touch "$out"
	echo "$out"
}

rccr_key() {
	{
		printf '%s\n' "$1" "$ARCH"
		tree_sum "$SELF" "$VM_DIR/rootfs" "$RCCR_INIT_SERVICE" "$RCCR_ISSUE_SERVICE" \
			"$RCCR_STORAGE_SERVICE" "$SSHD_SETTINGS" "$RCCR_BIN" "$2"
	} | sha256sum | cut -c1-16
}

# copy_one DEST FILE...: copies the one FILE (a glob that must match once).
copy_one() {
	local dest=$1
	shift
	if [ $# != 1 ] || [ ! -f "$1" ]; then
		die "want one file for ${dest##*/}, found: $*"
	fi
	cp "$1" "$dest"
}

# Runs under fakeroot: fills TREE from the tarball and our files, then makes
# OUT/disk.raw, OUT/vmlinuz and OUT/initrd.img.
populate() {
	local tarball=$1 tree=$2 out=$3 pubkey=$4 entry level service
	tar -C "$tree" --numeric-owner -xf "$tarball"
	tar -C "$VM_DIR/rootfs" --owner=0 --group=0 --numeric-owner -cf - . | tar -C "$tree" -xf -
	sed -i "s/@CONSOLE@/$CONSOLE/" "$tree/etc/inittab"
	install -m 755 "$RCCR_INIT_SERVICE" "$tree/etc/init.d/rccr-init"
	install -m 755 "$RCCR_ISSUE_SERVICE" "$tree/etc/init.d/rccr-issue"
	install -m 755 "$RCCR_STORAGE_SERVICE" "$tree/etc/init.d/rccr-storage"
	install -D -m 644 "$SSHD_SETTINGS" "$tree/etc/ssh/sshd_config.d/rccr.conf"
	rm -f "$tree"/etc/ssh/ssh_host_*
	install -m 755 "$RCCR_BIN" "$tree/usr/bin/rccr"
	# As the images install it: a link per applet, made by rccr itself.
	$RUN "$tree/usr/bin/rccr" --install "$tree/usr/bin"
	install -d -m 700 "$tree/root/.ssh"
	install -m 600 "$pubkey" "$tree/root/.ssh/authorized_keys"

	# Only our runlevels, and no init script that is in none of them.
	rm -f "$tree"/etc/runlevels/*/*
	for entry in $RUNLEVELS; do
		level=${entry%%:*} service=${entry#*:}
		[ -x "$tree/etc/init.d/$service" ] || die "no init script $service for runlevel $level"
		mkdir -p "$tree/etc/runlevels/$level"
		ln -s "/etc/init.d/$service" "$tree/etc/runlevels/$level/$service"
	done
	for service in "$tree"/etc/init.d/*; do
		case " $RUNLEVELS " in *":${service##*/} "*) ;; *) rm -f "$service" ;; esac
	done

	copy_one "$out/vmlinuz" "$tree"/boot/vmlinuz-*
	copy_one "$out/initrd.img" "$tree"/boot/initrd.img-*
	mke2fs -q -F -t ext4 -L rccr-root -m 1 -d "$tree" "$out/disk.raw" "$DISK_SIZE" >/dev/null
}

# The rccr layer: its directory, built when missing.
rccr_layer() {
	local tarball=$1 pubkey key out tmp started
	pubkey=$(temp_key).pub
	key=$(rccr_key "$tarball" "$pubkey")
	out=$RCCR_VM_CACHE/rccr-$ARCH-$key
	if [ ! -f "$out/image.env" ]; then
		need fakeroot fakeroot
		need mke2fs e2fsprogs
		started=$SECONDS
		TMP_DIR=$(mktemp -d "$RCCR_VM_CACHE/.rccr-$ARCH.XXXXXX")
		mkdir "$TMP_DIR/tree" "$TMP_DIR/out"
		export ARCH CONSOLE RUN RCCR_BIN RCCR_INIT_SERVICE RCCR_ISSUE_SERVICE RCCR_STORAGE_SERVICE
		fakeroot "$SELF" --populate "$tarball" "$TMP_DIR/tree" "$TMP_DIR/out" "$pubkey" ||
			die "building the rccr layer for $ARCH failed"
		{
			printf 'ARCH=%q\n' "$ARCH"
			printf 'QEMU=%q\n' "$QEMU"
			printf 'MACHINE=%q\n' "$MACHINE"
			printf 'CONSOLE=%q\n' "$CONSOLE"
			printf 'CMDLINE=%q\n' "root=/dev/vda rw console=$CONSOLE net.ifnames=0 panic=-1"
		} >"$TMP_DIR/out/image.env"
		chmod 444 "$TMP_DIR/out/disk.raw"
		rm -rf "$out"
		mv -T "$TMP_DIR/out" "$out"
		rm -rf "$TMP_DIR"
		TMP_DIR=''
		einfo "built $out in $((SECONDS - started)) s"
	fi
	touch "$out"
	echo "$out"
}

# Sets up ARCH (and its lock) for the layers.
begin() {
	ARCH=$1
	arch_info "$ARCH" || die "unknown arch '$ARCH' (x86_64, x86, aarch64)"
	mmdebstrap_options
	mkdir -p "$RCCR_VM_CACHE"
	chmod 700 "$RCCR_VM_CACHE"
	exec 9>"$RCCR_VM_CACHE/.lock-$ARCH"
	flock 9
	trap cleanup EXIT HUP INT TERM
}

cmd_debian() {
	[ $# = 1 ] || die "usage: image.sh debian ARCH"
	begin "$1"
	debian_layer
}

cmd_path() {
	local tarball
	[ $# = 1 ] || die "usage: image.sh path ARCH"
	: "${RCCR_BIN:=$REPO_DIR/dist/rccr-$1}"
	[ -f "$RCCR_BIN" ] || die "$RCCR_BIN: missing (build it: image-builder/scripts/build-binaries.sh $1)"
	[ -f "$RCCR_INIT_SERVICE" ] || die "$RCCR_INIT_SERVICE: missing"
	[ -f "$RCCR_ISSUE_SERVICE" ] || die "$RCCR_ISSUE_SERVICE: missing"
	[ -f "$RCCR_STORAGE_SERVICE" ] || die "$RCCR_STORAGE_SERVICE: missing"
	RCCR_BIN=$(readlink -f "$RCCR_BIN")
	begin "$1"
	tarball=$(debian_layer)
	rccr_layer "$tarball"
}

cmd_prune() {
	local arch entry n
	[ -d "$RCCR_VM_CACHE" ] || return 0
	for arch in x86_64 x86 aarch64; do
		for pattern in "debian-$arch-*.tar" "rccr-$arch-*"; do
			n=0
			# shellcheck disable=SC2012,SC2086 # our own names, no newlines; a glob
			for entry in $(cd "$RCCR_VM_CACHE" && ls -1dt -- $pattern 2>/dev/null); do
				n=$((n + 1))
				[ "$n" -gt 2 ] || continue
				[ -z "$(find "$RCCR_VM_CACHE/$entry" -maxdepth 0 -mmin -$KEEP_MINUTES)" ] || continue
				einfo "pruning $entry"
				rm -rf -- "${RCCR_VM_CACHE:?}/$entry"
			done
		done
	done
}

case "${1:-help}" in
path)
	shift
	cmd_path "$@"
	;;
debian)
	shift
	cmd_debian "$@"
	;;
key) temp_key ;;
prune) cmd_prune ;;
--populate)
	# Re-entry under fakeroot, from rccr_layer.
	shift
	arch_info "$ARCH"
	populate "$@"
	;;
help | -h | --help) help ;;
*)
	help >&2
	die "unknown command '$1'"
	;;
esac
