#!/bin/sh
#---help---
# Usage: build-os-image.sh [options] ARCH TYPE
#        build-os-image.sh --pin-media
#
# Builds the OS image of an RCCR node, rccr-VERSION-ARCH-TYPE.iso.xz (x86_64,
# x86, aarch64) or .img.xz (rpi-aarch64, armv7, armhf), into OUT_DIR, with a
# size report (rccr-VERSION-ARCH-TYPE.MEDIA.sizes.md), and rewrites
# OUT_DIR/SHA256SUMS. Needs no root, no loop device, no Alpine host:
#
#   1. the overlay: genapkovl.sh TYPE ARCH
#   2. the base media. ISO: RCCR's base ISO, which mkimage-base.sh builds
#      with Alpine's mkimage.sh (RCCR_BASE_MEDIA; any Alpine ISO will do for
#      a trial). IMG: Alpine's Raspberry Pi tarball of the release in
#      base/alpine.conf, downloaded into CACHE_DIR and used only when Alpine's
#      signature (.asc) verifies with the release key committed in
#      base/alpine-release-key.asc (gpg, fingerprint ALPINE_KEY_FINGERPRINT)
#      and its sum matches the .sha256 published next to it and the pin in
#      base/media.sha256, if any
#   3. ISO: remastered with xorriso, whose "-boot_image any replay" keeps
#      every boot record (El Torito BIOS and UEFI, the isohybrid MBR and
#      GPT), with Joliet kept; rccr.apkovl.tar.gz and rccr-apks/ go to the
#      media root.
#      IMG: an MBR disk with one bootable FAT partition (type 0x0c) from
#      1 MiB to a 4 MiB boundary, holding the Pi release (its config.txt must
#      name a kernel and initramfs for every Pi the arch serves: armhf Pi
#      Zero and Pi 1, armv7 Pi 2, 3 and Zero 2 W, rpi-aarch64 Pi 3, 4,
#      Zero 2 W and 5, with the Pi 5's device tree) without Alpine's own apks/ (rccr-apks/ holds all the
#      node needs), a usercfg.txt, the overlay and rccr-apks/; the card's
#      space after it is free for the node's data partition. The FAT is
#      made as Raspberry Pi OS's image builder does (pi-gen,
#      export-image/prerun.sh): 2 KiB clusters (mkdosfs -s 4), FAT16 below
#      134742016 bytes, FAT32 above. mkfs.vfat on a file, mcopy, sfdisk on
#      the image file, dd at the partition's offset
#   4. checks the result: the same boot records as the base ISO and the
#      overlay at its root; or the partition table and the FAT's files
#   5. the size report: total, kernel + initramfs + modloop, packages,
#      overlay, the ten largest packages, and the minimum RAM; fails when the
#      image (before xz) is over budget (target 100 MB, control 200 MB), unless
#      Docker's packages alone are more than the excess (it says so)
#   6. compresses with xz, writes SHA256SUMS
#
#   ARCH  x86_64 | x86 | aarch64 | rpi-aarch64 | armv7 | armhf
#   TYPE  control | target
#
# Options:
#   -v, --version V   version in the file name (default: Cargo.toml's)
#   -o, --output DIR  where images go (default: dist/images)
#   --pin-media       print "SUM  FILE" of every Pi tarball, as the mirror
#                     publishes them, for base/media.sha256; build nothing
#   -h, --help        show this help
#
# Environment:
#   RCCR_APK_REPO     what fetch-packages.sh made for ARCH and TYPE (rccr-apks/,
#                     keys/, packages.tsv): the packages the node installs at
#                     boot with no network. Required; "none" builds without
#                     (tests only: such a node cannot install its packages)
#   RCCR_BASE_MEDIA   the base media as a local file (required for an ISO)
#   RCCR_BASE_MEDIA_SHA256  its sum (required with RCCR_BASE_MEDIA unless pinned)
#   RCCR_RELEASE_KEY  the key Alpine signs its media with (default
#                     base/alpine-release-key.asc), and RCCR_RELEASE_KEY_FPR its
#                     fingerprint (default ALPINE_KEY_FINGERPRINT of alpine.conf)
#   ALPINE_MIRROR     default https://dl-cdn.alpinelinux.org/alpine
#   CACHE_DIR         downloads (default: ~/.cache/rccr-media)
#   COMPRESS          xz (default) or none
#   IMG_FREE_MB       free space on a Pi image's partition, for lbu commit and
#                     rccr.txt (default 16)
#   RCCR_SIZE_STRICT  1 (default): fail over budget; 0: warn
#   RCCR_BIN, RCCR_TEMP_KEY, RCCR_INIT_SERVICE, ...  see genapkovl.sh --help
#---help---
set -eu

SCRIPT_DIR=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$SCRIPT_DIR/lib.sh"

: "${ALPINE_MIRROR:=https://dl-cdn.alpinelinux.org/alpine}"
: "${CACHE_DIR:=${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/rccr-media}"
: "${COMPRESS:=xz}"
: "${IMG_FREE_MB:=16}"
: "${RCCR_SIZE_STRICT:=1}"
: "${RCCR_APK_REPO:=}"
: "${RCCR_BASE_MEDIA:=}"
: "${RCCR_BASE_MEDIA_SHA256:=}"
: "${RCCR_RELEASE_KEY:=$BUILDER_DIR/base/alpine-release-key.asc}"
: "${RCCR_RELEASE_KEY_FPR:=$ALPINE_KEY_FINGERPRINT}"

readonly OVERLAY_NAME=rccr.apkovl.tar.gz
readonly REPO_NAME=rccr-apks
readonly PIN_FILE="$BUILDER_DIR/base/media.sha256"
# Budgets in MB (10^6 bytes) of the image before xz.
readonly BUDGET_TARGET=100
readonly BUDGET_CONTROL=200
# The Pi partition starts at 1 MiB and ends on a 4 MiB boundary (an SD
# card's erase blocks, and where pi-gen aligns its partitions), where the
# node's data partition can start.
readonly PART_START_SECTOR=2048
readonly PART_ALIGN_SECTORS=8192
# pi-gen, export-image/prerun.sh: FAT16 below this size, FAT32 above, both
# with 4 sectors (2 KiB) per cluster, what Raspberry Pi OS images boot with
# on every Pi.
readonly FAT32_MIN_BYTES=134742016
readonly FAT_CLUSTER_SECTORS=4
# The diskless root is a tmpfs of half the RAM (initramfs-init mounts it
# with no size=, the kernel's default); besides the installed packages it
# holds logs, /tmp and lbu's archive.
readonly ROOT_WORK_MIB=64

# The Alpine media file of the current arch (Pi arches: the release
# tarball; an ISO's base is built by mkimage-base.sh, never downloaded).
media_file() {
	echo "alpine-rpi-$ALPINE_VERSION-$ALPINE_ARCH.tar.gz"
}

media_url() {
	echo "$ALPINE_MIRROR/$ALPINE_BRANCH/releases/$ALPINE_ARCH/$1"
}

# download URL FILE: FILE appears complete or not at all.
download() {
	mkdir -p "$(dirname "$2")"
	einfo "downloading $1"
	if have curl; then
		curl -fsSL --retry 3 -o "$2.part" "$1" || die "download failed: $1"
	elif have wget; then
		wget -q -O "$2.part" "$1" || die "download failed: $1"
	else
		die "neither curl nor wget (apt-get install curl)"
	fi
	mv -f -- "$2.part" "$2"
}

# The sum of FILE in base/media.sha256, if pinned.
pinned_sum() {
	[ -f "$PIN_FILE" ] || return 0
	awk -v f="$1" '!/^#/ && $2 == f { print $1; exit }' "$PIN_FILE"
}

# verify_signature FILE SIGNATURE: dies unless SIGNATURE is a good signature
# of FILE by the release key (its primary key's fingerprint, as gpg's
# VALIDSIG status line gives it, must be RCCR_RELEASE_KEY_FPR).
verify_signature() {
	need gpg gpg
	[ -f "$RCCR_RELEASE_KEY" ] || die "$RCCR_RELEASE_KEY: missing (Alpine's release key)"
	_home="$TMP_DIR/gnupg"
	mkdir -m 0700 "$_home"
	gpg --batch --quiet --homedir "$_home" --import "$RCCR_RELEASE_KEY" 2>/dev/null ||
		die "$RCCR_RELEASE_KEY: gpg cannot import it"
	_fprs=$(gpg --batch --homedir "$_home" --with-colons --list-keys 2>/dev/null | awk -F: '$1 == "pub" { p = 1; next } p && $1 == "fpr" { print $10; p = 0 }')
	[ "$_fprs" = "$RCCR_RELEASE_KEY_FPR" ] ||
		die "$RCCR_RELEASE_KEY holds key(s) $(echo "$_fprs" | tr '\n' ' ')but the pinned release key is $RCCR_RELEASE_KEY_FPR"
	_status=$(gpg --batch --homedir "$_home" --status-fd 1 --verify "$2" "$1" 2>/dev/null) ||
		die "$(basename "$1"): the signature $(basename "$2") does not verify: refusing to use it"
	printf '%s\n' "$_status" | awk -v f="$RCCR_RELEASE_KEY_FPR" '
		$1 == "[GNUPG:]" && $2 == "VALIDSIG" && ($3 == f || $NF == f) { ok = 1 }
		END { exit !ok }' ||
		die "$(basename "$1"): not signed by the release key $RCCR_RELEASE_KEY_FPR: refusing to use it"
	einfo "$(basename "$1"): good signature by $RCCR_RELEASE_KEY_FPR"
}

# Sets BASE to a verified copy of the base media.
fetch_media() {
	if [ -n "$RCCR_BASE_MEDIA" ]; then
		[ -f "$RCCR_BASE_MEDIA" ] || die "RCCR_BASE_MEDIA: $RCCR_BASE_MEDIA: missing"
		BASE=$RCCR_BASE_MEDIA
		want=${RCCR_BASE_MEDIA_SHA256:-$(pinned_sum "$(basename "$BASE")")}
		[ -n "$want" ] || die "RCCR_BASE_MEDIA needs RCCR_BASE_MEDIA_SHA256 ($(basename "$BASE") is not pinned)"
	elif [ "$MEDIA" = iso ]; then
		die "an ISO is built from RCCR's base ISO: make it with mkimage-base.sh $ARCH (on Alpine) and pass it as RCCR_BASE_MEDIA"
	else
		name=$(media_file)
		BASE="$CACHE_DIR/$name"
		pin=$(pinned_sum "$name")
		# The published sum and signature are fetched every time: a cached
		# file must match them.
		download "$(media_url "$name").sha256" "$TMP_DIR/$name.sha256"
		download "$(media_url "$name").asc" "$TMP_DIR/$name.asc"
		want=$(awk -v f="$name" '$2 == f || $2 == "*" f { print $1; exit }' "$TMP_DIR/$name.sha256")
		[ -n "$want" ] || die "$(media_url "$name").sha256 does not list $name"
		if [ -n "$pin" ] && [ "$pin" != "$want" ]; then
			die "$name: the mirror publishes sha256 $want, base/media.sha256 pins $pin"
		fi
		if [ ! -f "$BASE" ] || [ "$(sha256_of "$BASE")" != "$want" ]; then
			download "$(media_url "$name")" "$BASE"
		fi
		verify_signature "$BASE" "$TMP_DIR/$name.asc"
	fi
	got=$(sha256_of "$BASE")
	[ "$got" = "$want" ] || die "$BASE: sha256 $got, expected $want: refusing to use it"
	einfo "base media $(basename "$BASE"): sha256 $got OK"
}

# --pin-media: the published sums of every Pi tarball.
pin_media() {
	start_work
	echo "# Pinned SHA-256 sums of the Alpine $ALPINE_VERSION Raspberry Pi tarballs (build-os-image.sh --pin-media)."
	for _arch in $(all_arches); do
		arch_info "$_arch"
		[ "$MEDIA" = img ] || continue
		_name=$(media_file)
		grep -q " $_name\$" "$TMP_DIR/sums" 2>/dev/null && continue
		download "$(media_url "$_name").sha256" "$TMP_DIR/one"
		_sum=$(awk '{ print $1; exit }' "$TMP_DIR/one")
		echo "$_sum  $_name" | tee -a "$TMP_DIR/sums"
	done
	DONE=1
}

# Checks that the repository made by fetch-packages.sh fits this arch.
check_repo() {
	if [ "$RCCR_APK_REPO" = none ]; then
		einfo "WARNING: RCCR_APK_REPO=none: no package repository on the media; the node cannot install its packages at boot"
		return 0
	fi
	[ -n "$RCCR_APK_REPO" ] || die "RCCR_APK_REPO is not set: make the node's packages with fetch-packages.sh (or RCCR_APK_REPO=none for a test image)"
	[ -f "$RCCR_APK_REPO/$REPO_NAME/.boot_repository" ] ||
		die "$RCCR_APK_REPO/$REPO_NAME/.boot_repository: missing (not made by fetch-packages.sh?)"
	[ -f "$RCCR_APK_REPO/$REPO_NAME/$ALPINE_ARCH/APKINDEX.tar.gz" ] ||
		die "$RCCR_APK_REPO/$REPO_NAME/$ALPINE_ARCH/APKINDEX.tar.gz: missing (packages for another arch?)"
	[ -d "$RCCR_APK_REPO/keys" ] || die "$RCCR_APK_REPO/keys: missing (the index's signing key)"
}

make_overlay() {
	if [ "$RCCR_APK_REPO" != none ]; then
		RCCR_APK_KEYS="$RCCR_APK_REPO/keys"
		export RCCR_APK_KEYS
	fi
	"$SCRIPT_DIR/genapkovl.sh" "$TYPE" "$ARCH" "$TMP_DIR/$OVERLAY_NAME"
}

# boot_records ISO: the boot equipment xorriso sees, without LBAs and sizes,
# so that the base media and the result compare equal.
boot_records() {
	xorriso -no_rc -indev "$1" -report_el_torito plain -report_system_area plain 2>/dev/null |
		awk '
			/^El Torito boot img :/ { print "eltorito", $6, $7, $8, $9; next }
			/^El Torito img path :/ { print "eltorito-path", $6, $7; next }
			/^System area summary:/ { sub(/^System area summary: */, ""); print "system-area", $0; next }
			/^MBR partition      :/ { print "mbr-partition", $4, $5, $6; next }
			/^MBR partition path :/ { print "mbr-path", $5, $6; next }
			/^GPT partition path :/ { print "gpt-path", $5, $6; next }
		'
}

build_iso() {
	need xorriso xorriso
	root_list=$(xorriso -no_rc -indev "$BASE" -ls / 2>/dev/null) || die "$BASE: xorriso cannot read it"
	case "$root_list" in
		*.apkovl.tar.gz*) die "$BASE: already has an apkovl at its root; the initramfs would load whichever it finds first" ;;
	esac
	# What we add, owned by root and readable by all.
	set -- -map "$TMP_DIR/$OVERLAY_NAME" "/$OVERLAY_NAME" \
		-chown 0 "/$OVERLAY_NAME" -- -chgrp 0 "/$OVERLAY_NAME" -- -chmod 0644 "/$OVERLAY_NAME" --
	if [ "$RCCR_APK_REPO" != none ]; then
		set -- "$@" -map "$RCCR_APK_REPO/$REPO_NAME" "/$REPO_NAME" \
			-chown_r 0 "/$REPO_NAME" -- -chgrp_r 0 "/$REPO_NAME" -- \
			-find "/$REPO_NAME" -type f -exec chmod 0644 -- \
			-find "/$REPO_NAME" -type d -exec chmod 0755 --
	fi
	einfo "remastering $(basename "$BASE") with xorriso (boot records replayed)"
	# no_emul_toc: the image starts at LBA 0, as the original does.
	# -joliet on: xorriso writes no Joliet tree unless asked, even when the
	# base ISO has one (mkimage's xorrisofs -joliet); Windows shows long
	# names only through it.
	xorriso -no_rc -report_about WARNING -compliance no_emul_toc \
		-indev "$BASE" -outdev "$RAW" \
		-boot_image any replay -joliet on \
		"$@" \
		-commit >&2 || die "xorriso failed"

	boot_records "$BASE" >"$TMP_DIR/boot.base"
	boot_records "$RAW" >"$TMP_DIR/boot.new"
	grep -q '^eltorito ' "$TMP_DIR/boot.base" || die "$BASE: no El Torito boot record"
	if ! cmp -s "$TMP_DIR/boot.base" "$TMP_DIR/boot.new"; then
		diff "$TMP_DIR/boot.base" "$TMP_DIR/boot.new" >&2 || true
		die "the remastered ISO lost or changed boot records (above: Alpine's, then ours)"
	fi
	xorriso -no_rc -osirrox on -indev "$RAW" -extract "/$OVERLAY_NAME" "$TMP_DIR/ovl.check" >/dev/null 2>&1 ||
		die "the overlay is not at the ISO's root"
	cmp -s "$TMP_DIR/ovl.check" "$TMP_DIR/$OVERLAY_NAME" || die "the overlay on the ISO differs from the one built"
	einfo "boot records kept: $(awk '$1 == "eltorito" { printf "%s%s", sep, $3; sep = "+" }' "$TMP_DIR/boot.new") El Torito, $(sed -n 's/^system-area //p' "$TMP_DIR/boot.new")"
}

# rpi_kernels CONFIG FILTERS: "KERNEL INITRAMFS" that the firmware of a Pi
# reads from config.txt: the last kernel= and initramfs lines in sections
# that apply to it. FILTERS: the model filters the Pi reads, comma-separated
# (a Zero 2 W reads [pi0], [pi0w] and [pi02]; Raspberry Pi's config.txt
# documentation, "Model Filters"). [all] applies to every Pi, [none] to
# none, a model filter replaces the one before. The other filters ([HDMI:0],
# [EDID=...], [gpio4=1], [0x...] serial numbers, [tryboot], [board-type=])
# are ANDed with the model filter by the firmware and hold on some boards:
# their lines may apply, so they count (the model filter stays as it was).
rpi_kernels() {
	awk -v reads="$2" '
		BEGIN {
			on = 1
			n = split(reads, list, ",")
			for (i = 1; i <= n; i++) sees[list[i]] = 1
			n = split("pi0 pi0w pi02 pi1 cm1 pi2 pi3 pi3+ cm3 cm3+ pi4 pi400 cm4 cm4s pi5 pi500 cm5", list, " ")
			for (i = 1; i <= n; i++) model[list[i]] = 1
		}
		{ sub(/\r$/, ""); sub(/#.*/, "") }
		/^[[:space:]]*\[.*\][[:space:]]*$/ {
			f = $0
			gsub(/[][[:space:]]/, "", f)
			if (f == "all") on = 1
			else if (f == "none") on = 0
			else if (f in model) on = (f in sees)
			next
		}
		!on { next }
		/^[[:space:]]*kernel[[:space:]]*=/ {
			k = $0
			sub(/^[^=]*=[[:space:]]*/, "", k)
			sub(/[[:space:]]+$/, "", k)
		}
		$1 == "initramfs" { i = $2 }
		END { if (k != "" && i != "") print k, i }
	' "$1"
}

# Pis each arch must boot, as "NAME=FILTERS": the model filters of
# config.txt that each reads (rpi_kernels). A Zero W, 3B+/3A+, Pi 400, CM4,
# CM4S, Pi 500 and CM5 read their own filter and the one of their family;
# a Zero 2 W reads [pi0], [pi0w] and [pi02]. The Zero 2 W has the Pi 3's
# BCM2710: the armv7 and rpi-aarch64 kernels boot it, armhf's (BCM2835,
# ARMv6) does not. The Pi 5 family (BCM2712) runs 64-bit kernels only:
# rpi-aarch64's (Alpine's aarch64 Pi media is for "Pi 3 to Pi 5
# generations", aports scripts/mkimg.arm.sh).
rpi_models() {
	case "$ARCH" in
		armhf) echo "pi0=pi0 pi0w=pi0,pi0w pi1=pi1" ;;
		armv7) echo "pi2=pi2 pi3=pi3 pi3+=pi3,pi3+ pi02=pi0,pi0w,pi02" ;;
		rpi-aarch64) echo "pi3=pi3 pi3+=pi3,pi3+ pi4=pi4 pi400=pi4,pi400 cm4=pi4,cm4 cm4s=pi4,cm4s pi02=pi0,pi0w,pi02 pi5=pi5 pi500=pi5,pi500 cm5=pi5,cm5" ;;
	esac
}

# Device trees the firmware of a BCM2712 board loads, as "NEED|FILE|BOARD"
# lines, which only a kernel that supports the BCM2712 comes with (Alpine's
# linux-rpi installs the dtbs it builds at the release's root, the overlays
# in overlays/, where the firmware looks for them). NEED "must": without
# it, the board cannot boot; the build stops. The Pi 5's tree, which the
# bootloader also looks for before it boots a Pi 5 or Pi 500 (os_check);
# and on a BCM2712 of the D0 stepping (2 GB and 16 GB Pi 5, 4 and 8 GB ones
# made since, Pi 500 and CM5 boards with it) the firmware loads that same
# tree with the bcm2712d0 overlay (Raspberry Pi's own images boot a D0
# board so: firmware issue 2018, a 16 GB Pi 5's boot log); without the
# overlay the kernel runs the C0 tree on D0 silicon and panics early
# (brcmuart_init). NEED "should": the other BCM2712 boards' own trees,
# which the firmware loads on them (and a CM5's bootloader looks for,
# bcm2712-rpi-cm5*-cm5io, since 2025-03); a missing one is a warning, the
# Pi 5 boots all the same. Only the names are checked, here; which board
# boots is for hardware to show.
rpi_dtbs() {
	case "$ARCH" in
		rpi-aarch64)
			echo "must|bcm2712-rpi-5-b.dtb|a Raspberry Pi 5"
			echo "must|overlays/bcm2712d0.dtbo|a Raspberry Pi 5 of the BCM2712 D0 stepping (2 GB and 16 GB boards, later 4 and 8 GB ones), whose firmware loads bcm2712-rpi-5-b.dtb with this overlay"
			echo "should|bcm2712-rpi-500.dtb|a Raspberry Pi 500"
			echo "should|bcm2712-rpi-cm5-cm5io.dtb|a Compute Module 5 on its IO board"
			echo "should|bcm2712-rpi-cm5l-cm5io.dtb|a Compute Module 5 Lite on its IO board"
			echo "should|bcm2712-rpi-cm5-cm4io.dtb|a Compute Module 5 on a CM4 IO board"
			echo "should|bcm2712-rpi-cm5l-cm4io.dtb|a Compute Module 5 Lite on a CM4 IO board"
			;;
	esac
}

check_rpi_release() {
	_dir=$1
	for _f in config.txt cmdline.txt; do
		[ -f "$_dir/$_f" ] || die "$(basename "$BASE"): no $_f: not a Raspberry Pi release"
	done
	for _spec in $(rpi_models); do
		_model=${_spec%%=*}
		# shellcheck disable=SC2046 # two words
		set -- $(rpi_kernels "$_dir/config.txt" "${_spec#*=}")
		[ $# -eq 2 ] || die "config.txt names no kernel and initramfs for [$_model]"
		[ -f "$_dir/$1" ] || die "config.txt: [$_model] boots $1, which the release lacks"
		[ -f "$_dir/$2" ] || die "config.txt: [$_model] loads initramfs $2, which the release lacks"
		einfo "config.txt: [$_model] boots $1 with $2"
	done
	while IFS='|' read -r _need _dtb _board; do
		if [ -z "$_dtb" ] || [ -f "$_dir/$_dtb" ]; then
			continue
		elif [ "$_need" = must ]; then
			die "$(basename "$BASE"): no $_dtb: it cannot boot $_board"
		fi
		einfo "WARNING: $(basename "$BASE") has no $_dtb: it cannot boot $_board"
	done <<-EOF
		$(rpi_dtbs)
	EOF
	if ! grep -q '^[[:space:]]*include[[:space:]]\{1,\}usercfg.txt' "$_dir/config.txt"; then
		einfo "WARNING: config.txt does not include usercfg.txt"
	fi
}

# A hex id from the image's name: the same name, the same FAT and disk ids.
name_id() {
	printf '%s' "$1" | sha256sum | cut -c "$2"
}

# rpi_cmdline FILE: the release's cmdline.txt as one line (the firmware
# reads the first only), with cgroup_enable=memory once. Raspberry Pi
# kernels disable the memory cgroup (cgroup_disable=memory in the device
# trees' bootargs, raspberrypi/linux#6439); the firmware appends cmdline.txt
# after those, so this wins, and Docker can limit a container's memory.
rpi_cmdline() {
	_line=$(head -n 1 -- "$1" | tr -d '\r')
	_line=${_line%"${_line##*[! 	]}"}
	case " $_line " in
		*" cgroup_enable=memory "*) ;;
		*) _line="${_line:+$_line }cgroup_enable=memory" ;;
	esac
	printf '%s\n' "$_line" >"$1.new" || die "cannot write $(basename "$1")"
	mv -f -- "$1.new" "$1" || die "cannot write $(basename "$1")"
	einfo "cmdline.txt: $_line"
}

build_img() {
	need mkfs.vfat dosfstools
	need mcopy mtools
	need sfdisk fdisk
	stage="$TMP_DIR/stage"
	mkdir -p "$stage"
	tar -xzf "$BASE" -C "$stage" --no-same-owner || die "$BASE: cannot unpack"
	check_rpi_release "$stage"
	for _f in "$stage"/*.apkovl.tar.gz*; do
		[ -e "$_f" ] && die "$(basename "$BASE") already has $(basename "$_f"); the initramfs would load whichever it finds first"
	done
	cp -- "$TMP_DIR/$OVERLAY_NAME" "$stage/$OVERLAY_NAME"
	if [ "$RCCR_APK_REPO" != none ]; then
		# Ours holds every package the node installs, Alpine's base set
		# included: Alpine's apks/ would only take room.
		rm -rf -- "$stage/apks"
		cp -R -- "$RCCR_APK_REPO/$REPO_NAME" "$stage/$REPO_NAME"
	fi
	{
		[ ! -f "$stage/usercfg.txt" ] || cat "$stage/usercfg.txt"
		echo "# RCCR $VERSION ($ARCH $TYPE): Raspberry Pi firmware settings of your own"
		echo "# go here; config.txt includes this file. See"
		echo "# https://www.raspberrypi.com/documentation/computers/config_txt.html"
	} >"$TMP_DIR/usercfg.txt"
	mv -f -- "$TMP_DIR/usercfg.txt" "$stage/usercfg.txt"
	rpi_cmdline "$stage/cmdline.txt"

	_kib=$(du -sk "$stage" | cut -f 1)
	part_sectors=$(partition_sectors "$_kib" "$IMG_FREE_MB")
	_bytes=$((part_sectors * 512))
	_fat=$(fat_bits "$_bytes")
	einfo "partition: $((_bytes / 1048576)) MiB FAT$_fat, 2 KiB clusters ($_kib KiB of files, at least $IMG_FREE_MB MiB free)"

	fat="$TMP_DIR/boot.fat"
	rm -f -- "$fat"
	truncate -s "$_bytes" "$fat"
	# -h: the partition's start, as mkfs.fat writes it when it formats the
	# partition of a real disk (the BPB's hidden sectors).
	mkfs.vfat -F "$_fat" -s "$FAT_CLUSTER_SECTORS" -h "$PART_START_SECTOR" -n RCCR-BOOT \
		-i "$(name_id "$IMAGE_NAME" 1-8)" "$fat" >/dev/null ||
		die "mkfs.vfat failed"
	export MTOOLS_SKIP_CHECK=1
	for _entry in "$stage"/* "$stage"/.[!.]*; do
		[ -e "$_entry" ] || continue
		mcopy -s -m -i "$fat" "$_entry" ::/ || die "mcopy $(basename "$_entry") failed"
	done

	rm -f -- "$RAW"
	truncate -s "$(((PART_START_SECTOR + part_sectors) * 512))" "$RAW"
	printf 'label: dos\nlabel-id: 0x%s\nunit: sectors\n\nstart=%s, size=%s, type=c, bootable\n' \
		"$(name_id "$IMAGE_NAME" 9-16)" "$PART_START_SECTOR" "$part_sectors" |
		sfdisk --quiet --no-reread --no-tell-kernel "$RAW" >/dev/null || die "sfdisk failed"
	dd if="$fat" of="$RAW" bs=1M seek=1 conv=notrunc status=none || die "dd failed"
	rm -f -- "$fat"

	check_img "$RAW"
}

# partition_sectors FILES_KIB FREE_MIB: the Pi partition's size in sectors:
# the files plus a tenth (FAT tables, cluster slack) plus FREE_MIB, grown so
# that the partition ends on a PART_ALIGN_SECTORS boundary.
partition_sectors() {
	_need=$((($1 * 11 / 10 + $2 * 1024) * 2 + PART_START_SECTOR))
	_end=$(((_need + PART_ALIGN_SECTORS - 1) / PART_ALIGN_SECTORS * PART_ALIGN_SECTORS))
	echo $((_end - PART_START_SECTOR))
}

# fat_bits BYTES: 16 or 32, as pi-gen chooses for a boot partition.
fat_bits() {
	if [ "$1" -lt "$FAT32_MIN_BYTES" ]; then echo 16; else echo 32; fi
}

check_img() {
	_dump=$(sfdisk --dump "$1") || die "$1: no partition table"
	printf '%s\n' "$_dump" | grep -q '^label: dos$' || die "$1: not an MBR (dos) disk"
	_parts=$(printf '%s\n' "$_dump" | grep -c ' : start=')
	[ "$_parts" = 1 ] || die "$1: $_parts partitions, want 1"
	printf '%s\n' "$_dump" | grep -Eq " : start= *$PART_START_SECTOR, size= *[0-9]+, type=c, bootable$" ||
		die "$1: the partition is not a bootable FAT (type c) from sector $PART_START_SECTOR"
	_size=$(printf '%s\n' "$_dump" | sed -n 's/.* size= *\([0-9]*\),.*/\1/p')
	[ $(((PART_START_SECTOR + _size) % PART_ALIGN_SECTORS)) = 0 ] ||
		die "$1: the partition does not end on a 4 MiB boundary"
	[ "$(wc -c <"$1")" = $(((PART_START_SECTOR + _size) * 512)) ] ||
		die "$1: the image does not end where the partition does"
	mdir -i "$1@@$((PART_START_SECTOR * 512))" -b "::/$OVERLAY_NAME" >/dev/null 2>&1 ||
		die "$1: the overlay is not on the FAT partition"
	einfo "partition table: MBR, one bootable FAT partition, sectors $PART_START_SECTOR-$((PART_START_SECTOR + _size - 1)); the rest of the card is free"
}

# bytes_of FILE...: their total size (0 for none).
bytes_of() {
	if [ $# -eq 0 ]; then
		echo 0
		return
	fi
	cat -- "$@" | wc -c | tr -d ' '
}

# mb BYTES: MB (10^6 bytes) with one decimal.
mb() {
	awk -v b="$1" 'BEGIN { printf "%.1f", b / 1000000 }'
}

# kernel_bytes: the size of the kernels, initramfs and modloops of the
# image (on the ISO, or in the Pi stage).
kernel_bytes() {
	if [ "$MEDIA" = iso ]; then
		xorriso -no_rc -indev "$RAW" -lsl /boot 2>/dev/null |
			awk '$NF ~ /^.(vmlinuz|initramfs|modloop)-/ { s += $5 } END { print s + 0 }'
	else
		set --
		for _f in "$stage"/boot/vmlinuz-* "$stage"/boot/initramfs-* "$stage"/boot/modloop-*; do
			[ -f "$_f" ] && set -- "$@" "$_f"
		done
		bytes_of "$@"
	fi
}

# size_report: the size table of the image (REPORT, and stderr), its
# minimum RAM, and the budget check on the image before xz.
size_report() {
	case "$TYPE" in
		control) _budget=$BUDGET_CONTROL ;;
		*) _budget=$BUDGET_TARGET ;;
	esac
	_total=$(wc -c <"$RAW" | tr -d ' ')
	_kernel=$(kernel_bytes)
	_overlay=$(wc -c <"$TMP_DIR/$OVERLAY_NAME" | tr -d ' ')
	_tsv=/dev/null
	_repo=0
	if [ "$RCCR_APK_REPO" != none ]; then
		_repo=$(find "$RCCR_APK_REPO/$REPO_NAME" -type f -exec cat {} + | wc -c | tr -d ' ')
		[ ! -f "$RCCR_APK_REPO/packages.tsv" ] || _tsv="$RCCR_APK_REPO/packages.tsv"
	fi
	REPORT="$OUT_DIR/$IMAGE_NAME.sizes.md"
	mkdir -p "$OUT_DIR"
	awk -F '\t' -v name="$IMAGE_NAME" -v type="$TYPE" -v budget="$_budget" \
		-v total="$_total" -v kernel="$_kernel" -v overlay="$_overlay" -v repo="$_repo" \
		-v work="$ROOT_WORK_MIB" -v verdict_out="$TMP_DIR/verdict" \
		-f "$SCRIPT_DIR/size-report.awk" "$_tsv" >"$REPORT.tmp"
	mv -f -- "$REPORT.tmp" "$REPORT"
	cat -- "$REPORT" >&2
	_verdict=$(cat "$TMP_DIR/verdict")
	case "$_verdict" in
		ok* | docker*) ;;
		*)
			[ "$RCCR_SIZE_STRICT" = 1 ] && die "$IMAGE_NAME: $_verdict"
			einfo "WARNING: $IMAGE_NAME: $_verdict"
			;;
	esac
}

PARTIAL=''

# remove_partial: cleanup's hook, for an image left half written.
remove_partial() {
	[ -z "$PARTIAL" ] || rm -f -- "$PARTIAL"
}

write_sums() {
	(
		cd "$OUT_DIR"
		set -- rccr-*.iso rccr-*.img rccr-*.iso.xz rccr-*.img.xz
		_files=''
		for _f in "$@"; do
			[ -f "$_f" ] && _files="$_files $_f"
		done
		[ -n "$_files" ] || exit 0
		# shellcheck disable=SC2086 # our own file names, no blanks
		sha256sum -- $_files >SHA256SUMS.tmp
		mv -f -- SHA256SUMS.tmp SHA256SUMS
	)
}

main() {
	VERSION=''
	OUT_DIR="$REPO_DIR/dist/images"
	while [ $# -gt 0 ]; do
		case "$1" in
			-v | --version) option_value VERSION "$@" && shift ;;
			-o | --output) option_value OUT_DIR "$@" && shift ;;
			--pin-media)
				pin_media
				exit 0
				;;
			*) other_option "$1" || break ;;
		esac
		shift
	done
	[ "${1-}" != -- ] || shift
	arch_type_operands "$@"
	case "$COMPRESS" in
		xz) need xz xz-utils ;;
		none) ;;
		*) usage_error "COMPRESS: $COMPRESS (xz or none)" ;;
	esac
	check_repo

	start_work
	IMAGE_NAME="rccr-$VERSION-$ARCH-$TYPE.$MEDIA"
	RAW="$TMP_DIR/$IMAGE_NAME"
	make_overlay
	fetch_media
	case "$MEDIA" in
		iso) build_iso ;;
		img) build_img ;;
	esac

	size_report
	# The image of an earlier run stays until the new one is whole: written
	# to PARTIAL next to it (cleanup removes PARTIAL on a failure), then
	# renamed over it; then the earlier run's other form goes, which
	# write_sums would list.
	out="$OUT_DIR/$IMAGE_NAME"
	CLEANUP_HOOK=remove_partial
	if [ "$COMPRESS" = xz ]; then
		PARTIAL="$out.xz.tmp"
		xz -T0 -c -- "$RAW" >"$PARTIAL" || die "xz cannot write $PARTIAL"
		mv -f -- "$PARTIAL" "$out.xz"
		rm -f -- "$out"
		out="$out.xz"
	else
		PARTIAL="$out.tmp"
		mv -f -- "$RAW" "$PARTIAL"
		mv -f -- "$PARTIAL" "$out"
		rm -f -- "$out.xz"
	fi
	PARTIAL=''
	write_sums
	einfo "wrote $out"
	DONE=1
}

main "$@"
