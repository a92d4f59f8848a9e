#!/bin/sh
#---help---
# guest-image.sh - runs inside a VM of the VM tier (tests/vm/), fed to
# `sh -s NAME TEXT` over ssh: makes the Docker image NAME, a static busybox
# httpd serving /www, whose index page says "TEXT ARCH" (ARCH: this
# machine's uname -m). The VMs have no registry, so each node imports an
# image of its own arch: an image made on some arches only exists for them.
# Prints the image's platform (linux/amd64, linux/386, linux/arm64).
#---help---
set -eu

die() {
	printf 'guest-image.sh: error: %s\n' "$*" >&2
	exit 1
}

root=''
cleanup() {
	trap - EXIT HUP INT TERM
	[ -z "$root" ] || rm -rf -- "$root"
}

[ $# = 2 ] || die "usage: sh -s NAME TEXT <guest-image.sh"
name=$1 text=$2
# busybox-static: runs in an empty root file system
busybox=/bin/busybox
[ -x "$busybox" ] || die "no $busybox (the image's busybox-static)"
trap cleanup EXIT HUP INT TERM
root=$(mktemp -d)
mkdir -p "$root/bin" "$root/etc" "$root/www" "$root/tmp"
cp "$busybox" "$root/bin/busybox"
for applet in sh httpd wget cat; do
	ln -s busybox "$root/bin/$applet"
done
echo 'root:x:0:0:root:/:/bin/sh' >"$root/etc/passwd"
printf '%s %s\n' "$text" "$(uname -m)" >"$root/www/index.html"
tar -C "$root" -cf - . |
	docker import --change 'CMD ["/bin/httpd", "-f", "-p", "80", "-h", "/www"]' - "$name" >/dev/null
docker image inspect --format '{{.Os}}/{{.Architecture}}' "$name"
