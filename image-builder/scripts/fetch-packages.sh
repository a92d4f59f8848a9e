#!/bin/sh
#---help---
# Usage: fetch-packages.sh [options] ARCH TYPE OUTDIR
#
# Makes the package repository that an RCCR OS image carries, so that a node
# boots working with no internet: only the packages the node type needs for
# ARCH, that is every package of the node's /etc/apk/world (alpine-base and
# image-builder/TYPE/packages, and base/os/img-packages on a Pi), openssl (the initramfs installs it to check
# a signed modloop: mkinitfs initramfs-init.in, "enable support for modloop
# verification"), all their dependencies and the packages apk adds by
# install_if (docker-openrc, ...), from the Alpine release of
# base/alpine.conf; and the packages of image-builder/TYPE/carried (if any)
# with theirs: carried for `apk add` on the node, not installed.
#
# Runs on Alpine, as root (apk, abuild-sign). In GitHub Actions, inside a
# container of the pinned Alpine image:
#   docker run --rm -v "$PWD:/src" -w /src "$ALPINE_IMAGE" \
#     image-builder/scripts/fetch-packages.sh --owner "$(id -u):$(id -g)" ARCH TYPE out
#
# OUTDIR gets
#   rccr-apks/.boot_repository         what Alpine's initramfs looks for
#   rccr-apks/ALPINE_ARCH/*.apk        the packages, signed by Alpine
#   rccr-apks/ALPINE_ARCH/APKINDEX.tar.gz  their index, signed with a key
#                                      made for this run (the private half
#                                      is deleted after signing)
#   keys/rccr-apks-*.rsa.pub           that key's public half, which the
#                                      overlay puts in /etc/apk/keys
#   packages.tsv                       one line per package: name, version,
#                                      role, .apk bytes, installed bytes,
#                                      for build-os-image.sh's size report.
#                                      Roles: world (installed at boot),
#                                      docker (installed, there only for
#                                      docker), carried (not installed)
#
# Options:
#   --owner UID:GID   chown OUTDIR, and the parents of it this run made,
#                     to UID:GID at the end
#   -h, --help        show this help
#
# Environment:
#   ALPINE_MIRROR     default https://dl-cdn.alpinelinux.org/alpine
#---help---
set -eu

SCRIPT_DIR=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$SCRIPT_DIR/lib.sh"

: "${ALPINE_MIRROR:=https://dl-cdn.alpinelinux.org/alpine}"

readonly REPO_NAME=rccr-apks


check_host() {
	[ -f /etc/alpine-release ] || die "runs on Alpine (see --help: an alpine container)"
	[ "$(id -u)" = 0 ] || die "run as root (inside the container)"
	need apk apk-tools
	if ! have abuild-sign || ! have openssl; then
		einfo "apk add abuild openssl"
		apk add --no-cache --quiet abuild openssl >&2 || die "cannot install abuild and openssl"
	fi
	[ -d "/usr/share/apk/keys/$ALPINE_ARCH" ] ||
		die "/usr/share/apk/keys/$ALPINE_ARCH: missing (alpine-keys has no keys for $ALPINE_ARCH?)"
}

# Installs the world into a scratch root without running anything from it:
# apk resolves dependencies and install_if exactly as the node will at boot.
# In three steps, each package tagged with the step that brought it in
# (the size report's roles): the world without docker, then docker, then
# what is carried.
resolve() {
	root="$TMP_DIR/root"
	mkdir -p "$root/etc/apk/keys"
	cp -- /usr/share/apk/keys/"$ALPINE_ARCH"/*.pub "$root/etc/apk/keys/"
	printf '%s\n' "$ALPINE_MIRROR/$ALPINE_BRANCH/main" "$ALPINE_MIRROR/$ALPINE_BRANCH/community" \
		>"$root/etc/apk/repositories"
	world_of "$TYPE" "$ARCH" | grep -vx docker >"$TMP_DIR/world" || true
	: >"$TMP_DIR/roles"
	_init=--initdb
	for _role in world docker carried; do
		# shellcheck disable=SC2046 # one word per package
		case "$_role" in
			world) set -- alpine-base openssl $(cat "$TMP_DIR/world") ;;
			docker) set -- $(packages_of "$TYPE" "$ARCH" | grep -x docker || true) ;;
			carried) set -- $(carried_of "$TYPE" "$ARCH") ;;
		esac
		[ $# -gt 0 ] || continue
		apk add --root "$root" --arch "$ALPINE_ARCH" $_init --no-scripts --no-cache --quiet "$@" >&2 ||
			die "apk cannot install the $TYPE packages ($_role) for $ALPINE_ARCH"
		_init=''
		apk info --root "$root" 2>/dev/null | LC_ALL=C sort >"$TMP_DIR/names.now"
		cut -f 1 "$TMP_DIR/roles" | LC_ALL=C sort | comm -13 - "$TMP_DIR/names.now" |
			sed "s/\$/	$_role/" >"$TMP_DIR/roles.new"
		cat "$TMP_DIR/roles.new" >>"$TMP_DIR/roles"
	done
	apk info --root "$root" -v 2>/dev/null | LC_ALL=C sort >"$TMP_DIR/installed"
	[ -s "$TMP_DIR/installed" ] || die "the scratch root lists no packages"
	einfo "$(wc -l <"$TMP_DIR/installed") packages resolved for $TYPE on $ALPINE_ARCH ($(cut -f 2 "$TMP_DIR/roles" | sort | uniq -c | awk '{ printf "%s%s %s", sep, $1, $2; sep = ", " }'))"
}

fetch() {
	dest="$OUTDIR/$REPO_NAME/$ALPINE_ARCH"
	rm -rf -- "${OUTDIR:?}/$REPO_NAME" "${OUTDIR:?}/keys"
	mkdir -p "$dest" "$OUTDIR/keys"
	# Names only: "name-1.2.3-r0" -> "name".
	sed 's/-[^-]*-r[0-9]*$//' "$TMP_DIR/installed" >"$TMP_DIR/names"
	# shellcheck disable=SC2046 # one word per package
	apk fetch --root "$root" --arch "$ALPINE_ARCH" --no-cache --quiet --output "$dest" \
		$(cat "$TMP_DIR/names") >&2 || die "apk fetch failed"
	# Exactly the versions that were resolved, nothing missing.
	while read -r _pv; do
		[ -f "$dest/$_pv.apk" ] || die "$_pv.apk was not fetched (did the mirror change meanwhile? run again)"
	done <"$TMP_DIR/installed"
	apk verify --root "$root" "$dest"/*.apk >/dev/null ||
		die "a fetched package fails its signature check"
	touch "$OUTDIR/$REPO_NAME/.boot_repository"
	for _apk in "$dest"/*.apk; do
		printf '%s\t%s\n' "$(basename "$_apk" .apk)" "$(wc -c <"$_apk")"
	done >"$TMP_DIR/sizes"
	package_table "$root/lib/apk/db/installed" "$TMP_DIR/roles" "$TMP_DIR/sizes" >"$OUTDIR/packages.tsv.tmp"
	mv -f -- "$OUTDIR/packages.tsv.tmp" "$OUTDIR/packages.tsv"
}

index_and_sign() {
	key_name="rccr-apks-$(date -u +%Y%m%d%H%M%S)-$$.rsa"
	key="$TMP_DIR/$key_name"
	openssl genrsa -out "$key" 4096 2>/dev/null || die "openssl genrsa failed"
	openssl rsa -in "$key" -pubout -out "$OUTDIR/keys/$key_name.pub" 2>/dev/null || die "openssl rsa failed"
	# Trusted above by apk verify; the index only reads their metadata.
	apk index --allow-untrusted --quiet --rewrite-arch "$ALPINE_ARCH" \
		--description "RCCR $TYPE packages, Alpine $ALPINE_VERSION $ALPINE_ARCH" \
		--output "$dest/APKINDEX.tar.gz" "$dest"/*.apk || die "apk index failed"
	abuild-sign -q -k "$key" -p "$key_name.pub" "$dest/APKINDEX.tar.gz" || die "abuild-sign failed"
	rm -f -- "$key"
	einfo "index signed with $key_name (public key in $OUTDIR/keys)"
}

main() {
	container_options "$@"
	shift "$OPTIONS_USED"
	[ $# -eq 3 ] || usage_error "want ARCH TYPE OUTDIR"
	ARCH=$1 TYPE=$2 OUTDIR=$3
	arch_info "$ARCH"
	check_type "$TYPE"
	check_host

	start_work
	output_dir "$OUTDIR"
	resolve
	fetch
	index_and_sign
	if [ -n "$OWNER" ]; then
		chown -R "$OWNER" "$OUTDIR"
	fi
	give_made_dirs
	einfo "wrote $OUTDIR/$REPO_NAME ($(du -sh "$OUTDIR/$REPO_NAME" | cut -f 1))"
	DONE=1
}

main "$@"
