#!/bin/sh
#---help---
# Usage: mkimage-base.sh [options] ARCH OUTDIR
#
# Builds RCCR's base ISO for a PC arch (x86_64, x86, aarch64) with Alpine's
# own mkimage.sh and the profile image-builder/mkimage/mkimg.rccr.sh:
# linux-lts with a modloop trimmed to image-builder/mkimage/modules, a
# serial console next to the screen, BIOS and UEFI boot as Alpine's standard
# ISO has them, and no packages or overlay of its own: build-os-image.sh
# adds a node type's. Writes OUTDIR/rccr-base-ALPINE_VERSION-ARCH.iso and a
# .sha256 file, then checks the ISO: the modloop holds no sound, Wi-Fi or
# GPU driver (the trim ran), the boot configurations name the serial
# console and the screen in the profile's order (the last is /dev/console:
# the screen on a PC, the serial port on aarch64), and the UEFI
# loaders are there (bootia32.efi too on x86).
#
# Runs on Alpine of ARCH itself, as root (GitHub Actions: the pinned Alpine
# image with --platform of the arch, under QEMU for aarch64), with a
# checkout of Alpine's aports at the release's tag (APORTS_REF of
# base/alpine.conf; scripts/ and main/build-base are enough):
#   docker run --rm --platform linux/arm64 -v "$PWD:/src" -w /src \
#     -e APORTS=/src/aports "$ALPINE_IMAGE" \
#     image-builder/scripts/mkimage-base.sh --owner "$(id -u):$(id -g)" aarch64 out/base
# mkimage.sh runs as an unprivileged user "build" in the abuild group, as
# Alpine's wiki describes it, with a package signing key made for the run.
#
#   ARCH  x86_64 | x86 | aarch64
#
# Options:
#   --owner UID:GID   chown OUTDIR's files, and the directories this run made
#                     for OUTDIR, to UID:GID at the end
#   -h, --help        show this help
#
# Environment:
#   APORTS          the aports checkout (default: ./aports)
#   ALPINE_MIRROR   default https://dl-cdn.alpinelinux.org/alpine
#---help---
set -eu

SCRIPT_DIR=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$SCRIPT_DIR/lib.sh"

: "${APORTS:=$PWD/aports}"
: "${ALPINE_MIRROR:=https://dl-cdn.alpinelinux.org/alpine}"

readonly BUILD_USER=build
# What mkimage.sh and update-kernel run (aports scripts/mkimage.sh's header,
# mkimg.base.sh, alpine-conf update-kernel.in), and unsquashfs for the check.
readonly TOOLS="abuild apk-tools alpine-conf busybox fakeroot xorriso squashfs-tools mtools dosfstools grub grub-efi mkinitfs kmod openssl"

check_host() {
	[ -f /etc/alpine-release ] || die "runs on Alpine (see --help: an alpine container)"
	[ "$(id -u)" = 0 ] || die "run as root (inside the container)"
	[ "$(apk --print-arch)" = "$ALPINE_ARCH" ] ||
		die "this is $(apk --print-arch): build $ALPINE_ARCH on $ALPINE_ARCH (docker run --platform $DOCKER_PLATFORM)"
	if [ ! -f "$APORTS/scripts/mkimage.sh" ] || [ ! -d "$APORTS/main/build-base" ]; then
		die "$APORTS: not an aports checkout (scripts/, main/build-base; tag $APORTS_REF)"
	fi
}

# Tools, the unprivileged user and its signing key, the profile.
prepare() {
	_tools=$TOOLS
	case "$ALPINE_ARCH" in
		x86 | x86_64) _tools="$_tools syslinux" ;;
	esac
	# shellcheck disable=SC2086 # one word per package
	apk add --no-cache --quiet $_tools >&2 || die "cannot install $_tools"
	id "$BUILD_USER" >/dev/null 2>&1 || adduser -D -G abuild "$BUILD_USER" >&2
	_home=$(awk -F: -v u="$BUILD_USER" '$1 == u { print $6 }' /etc/passwd)
	as_build "abuild-keygen -a -n -q" >&2 || die "abuild-keygen failed"
	cp -- "$_home"/.abuild/*.rsa.pub /etc/apk/keys/
	mkdir -p "$_home/.mkimage"
	cp -- "$BUILDER_DIR/mkimage/mkimg.rccr.sh" "$_home/.mkimage/"
	chown -R "$BUILD_USER" "$_home/.mkimage" "$TMP_DIR"
}

# as_build COMMAND: runs COMMAND (one string) as the build user.
as_build() {
	su "$BUILD_USER" -s /bin/sh -c "PATH=/usr/sbin:/usr/bin:/sbin:/bin; $1"
}

run_mkimage() {
	# update-kernel runs `$MOCK depmod ...` and `$MOCK mkinitfs ...`: with
	# MOCK set, trim-modules.sh trims the modules before the modloop, the
	# firmware and the initramfs are made from them.
	as_build "cd '$TMP_DIR' && MOCK='$SCRIPT_DIR/trim-modules.sh' \
		RCCR_MODULES='$BUILDER_DIR/mkimage/modules' \
		sh '$APORTS/scripts/mkimage.sh' --tag '$ALPINE_VERSION' \
		--outdir '$TMP_DIR/out' --workdir '$TMP_DIR/work' --arch '$ALPINE_ARCH' \
		--repository '$ALPINE_MIRROR/$ALPINE_BRANCH/main' \
		--extra-repository '$ALPINE_MIRROR/$ALPINE_BRANCH/community' \
		--profile rccr" >&2 || die "mkimage.sh failed"
	ISO="$TMP_DIR/out/rccr-base-$ALPINE_VERSION-$ALPINE_ARCH.iso"
	[ -f "$ISO" ] || die "mkimage.sh made no $(basename "$ISO") (is $ALPINE_ARCH in the profile's arch?)"
}

# Checks that the trim, the consoles (in the profile's order) and the UEFI
# loaders are there.
check_iso() {
	_x="$TMP_DIR/check"
	mkdir -p "$_x"
	xorriso -no_rc -osirrox on -indev "$ISO" -extract /boot "$_x/boot" >/dev/null 2>&1 ||
		die "$ISO: cannot read /boot"
	unsquashfs -l "$_x"/boot/modloop-lts >"$_x/modloop.list" || die "$ISO: no readable modloop-lts"
	_modules=$(grep -c '\.ko' "$_x/modloop.list" || true)
	[ "$_modules" -gt 0 ] || die "$ISO: the modloop holds no module"
	if grep -E '/kernel/(sound|drivers/net/wireless|drivers/gpu/drm/(amd|i915|nouveau|radeon))/' "$_x/modloop.list" >"$_x/untrimmed"; then
		head -n 5 "$_x/untrimmed" >&2
		die "$ISO: the modloop was not trimmed (trim-modules.sh did not run as update-kernel's MOCK)"
	fi
	einfo "modloop-lts: $_modules modules, $(wc -c <"$_x"/boot/modloop-lts) bytes"
	# The profile's consoles, in its order (mkimg.rccr.sh says why): the
	# last is /dev/console, the screen on a PC, the serial port on aarch64.
	case "$ALPINE_ARCH" in
		x86 | x86_64)
			_console=ttyS0
			_consoles="console=ttyS0,115200 console=tty0"
			;;
		*)
			_console=ttyAMA0
			_consoles="console=tty0 console=ttyAMA0,115200"
			;;
	esac
	if [ "$_console" = ttyS0 ]; then
		grep -Eq "$_consoles( |\$)" "$_x/boot/syslinux/syslinux.cfg" ||
			die "syslinux.cfg does not name the consoles in the profile's order ($_consoles)"
	fi
	grep -Eq "$_consoles( |\$)" "$_x/boot/grub/grub.cfg" ||
		die "grub.cfg does not name the consoles in the profile's order ($_consoles)"
	case "$ALPINE_ARCH" in
		x86_64) _efi="bootx64.efi" ;;
		x86) _efi="bootia32.efi" ;;
		aarch64) _efi="bootaa64.efi" ;;
	esac
	MTOOLS_SKIP_CHECK=1 mdir -i "$_x/boot/grub/efi.img" -b ::/efi/boot 2>/dev/null | grep -qi "$_efi\$" ||
		die "efi.img holds no efi/boot/$_efi"
	einfo "serial console $_console, UEFI loader $_efi"
}

main() {
	container_options "$@"
	shift "$OPTIONS_USED"
	[ $# -eq 2 ] || usage_error "want ARCH OUTDIR"
	ARCH=$1 OUTDIR=$2
	arch_info "$ARCH"
	[ "$MEDIA" = iso ] || usage_error "$ARCH boots from a Pi tarball, not an ISO"
	check_host
	start_work
	prepare
	run_mkimage
	check_iso
	output_dir "$OUTDIR"
	cp -- "$ISO" "$OUTDIR/"
	(cd "$OUTDIR" && sha256sum "$(basename "$ISO")" >"$(basename "$ISO").sha256")
	[ -z "$OWNER" ] || chown "$OWNER" "$OUTDIR/$(basename "$ISO")" "$OUTDIR/$(basename "$ISO").sha256"
	give_made_dirs
	einfo "wrote $OUTDIR/$(basename "$ISO")"
	DONE=1
}

main "$@"
