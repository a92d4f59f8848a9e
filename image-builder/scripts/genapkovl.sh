#!/bin/sh
#---help---
# Usage: genapkovl.sh [options] TYPE ARCH OUTPUT
#
# Writes the apkovl of an RCCR node: the gzipped tar that Alpine's boot media
# unpacks over the RAM root before it installs /etc/apk/world. It carries
#   - rccr (/usr/bin/rccr) and its applet links (rccr --list), symbolic
#   - rccr-init's OpenRC service in its runlevel (boot), rccr-issue (default),
#     rccr-storage (boot: the RCCR data filesystem, see docs/storage.md) and
#     rccr-persist (boot: where lbu saves)
#   - /etc/rccr/node-type, the sshd drop-in, sshd's OpenRC settings (host
#     keys: rccr-init's Ed25519 key only), the motd
#   - the temporary key: control /root/.ssh/id_rsa (0600, and id_rsa.pub),
#     target /root/.ssh/authorized_keys (0600); /root/.ssh is 0700
#   - /etc/apk/world: alpine-base and the node type's packages (on a Pi
#     image also base/os/img-packages: Wi-Fi)
#   - /etc/network/interfaces: DHCP on eth0, sending the hostname (rccr-init
#     adds every other wired interface present at boot, and Wi-Fi once
#     configured), and /usr/libexec/rccr/net-hotplug, which mdev runs for a
#     wired interface plugged in later
#   - /usr/libexec/rccr/issue-hook, linked from /etc/udhcpc/post-bound,
#     post-renew and post-deconfig: the console banner again once a DHCP
#     lease comes late, or goes
#   - /etc/lbu/lbu.conf and the paths lbu must keep besides /etc
#   - control: /etc/rccr/cluster_config.yml
#   - rccr's LICENSE and THIRD-PARTY-NOTICES in /usr/share/licenses/rccr/
#   - the public keys that signed the media's package repository
# The output is reproducible: the same inputs give the same bytes (one
# mtime, owner 0:0, numeric owners, sorted names, ustar, gzip -n). It is
# built under fakeroot, never as root.
#
#   TYPE    control | target
#   ARCH    an RCCR arch of image-builder/base/arches
#   OUTPUT  the .apkovl.tar.gz to write
#
# Options:
#   -h, --help   show this help
#
# Environment:
#   RCCR_BIN            the rccr binary (default: dist/rccr-ARCH)
#   RCCR_LIST_BIN       an rccr that runs here, for --list (default: RCCR_BIN
#                       if it runs, else dist/rccr-<this machine's arch>)
#   RCCR_TEMP_KEY       the temporary private key (default .rccr/ssh_temp_key);
#                       a target gets RCCR_TEMP_KEY.pub
#   RCCR_INIT_SERVICE   rccr-init's OpenRC script (default src/init/rccr-init.openrc)
#   RCCR_INIT_RUNLEVEL  its runlevel (default boot: before networking and sshd)
#   RCCR_ISSUE_SERVICE  rccr-issue's OpenRC script, default runlevel (default
#                       src/init/rccr-issue.openrc)
#   RCCR_CLUSTER_CONFIG the control's configuration (default cluster_config.yml)
#   RCCR_NOTICES        the third-party notices (default dist/THIRD-PARTY-NOTICES,
#                       made by third-party-notices.py)
#   RCCR_APK_KEYS       a directory whose *.pub keys signed the media's
#                       package repository (default: none)
#   SOURCE_DATE_EPOCH   every entry's mtime (default: the last commit's time)
#---help---
set -eu

SCRIPT_DIR=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$SCRIPT_DIR/lib.sh"

: "${RCCR_TEMP_KEY:=$REPO_DIR/.rccr/ssh_temp_key}"
: "${RCCR_INIT_SERVICE:=$REPO_DIR/src/init/rccr-init.openrc}"
: "${RCCR_INIT_RUNLEVEL:=boot}"
: "${RCCR_ISSUE_SERVICE:=$REPO_DIR/src/init/rccr-issue.openrc}"
: "${RCCR_CLUSTER_CONFIG:=$REPO_DIR/cluster_config.yml}"
: "${RCCR_APK_KEYS:=}"
: "${RCCR_NOTICES:=$REPO_DIR/dist/THIRD-PARTY-NOTICES}"

# Where every image keeps rccr's licence and the third-party notices.
readonly LICENSES_DIR=usr/share/licenses/rccr


# makefile OWNER PERMS FILE <CONTENT: writes FILE from stdin.
makefile() {
	mkdir -p "$(dirname "$3")"
	cat >"$3"
	chown "$1" "$3"
	chmod "$2" "$3"
}

# makedir OWNER PERMS DIR
makedir() {
	mkdir -p "$3"
	chown "$1" "$3"
	chmod "$2" "$3"
}

# makelink TARGET LINK
makelink() {
	mkdir -p "$(dirname "$2")"
	ln -sfn "$1" "$2"
}

# rc_add SERVICE RUNLEVEL: links SERVICE into RUNLEVEL, as rc-update does.
rc_add() {
	makelink "/etc/init.d/$1" "$ovl/etc/runlevels/$2/$1"
}

# RCCR's own OpenRC services, one "NAME RUNLEVEL SCRIPT" line each.
services() {
	printf '%s %s %s\n' \
		rccr-storage boot "$REPO_DIR/src/init/rccr-storage.openrc" \
		rccr-persist boot "$BUILDER_DIR/base/os/rccr-persist.initd" \
		rccr-init "$RCCR_INIT_RUNLEVEL" "$RCCR_INIT_SERVICE" \
		rccr-issue default "$RCCR_ISSUE_SERVICE"
}

# The names rccr answers to besides "rccr", asked of an rccr that runs here.
applet_links() {
	for _bin in "${RCCR_LIST_BIN:-}" "$RCCR_BIN" "$REPO_DIR/dist/rccr-$(host_arch)"; do
		if [ -z "$_bin" ] || [ ! -x "$_bin" ]; then
			continue
		fi
		if _list=$("$_bin" --list 2>/dev/null) && [ -n "$_list" ]; then
			printf '%s\n' "$_list" | grep -vx 'rccr' | LC_ALL=C sort
			return 0
		fi
	done
	die "no runnable rccr to ask for --list (set RCCR_LIST_BIN)"
}

check_inputs() {
	[ -f "$RCCR_BIN" ] || die "$RCCR_BIN: missing (build it: image-builder/scripts/build-binaries.sh $ARCH)"
	[ -f "$RCCR_INIT_SERVICE" ] || die "$RCCR_INIT_SERVICE: missing (rccr-init's OpenRC service)"
	[ -f "$RCCR_ISSUE_SERVICE" ] || die "$RCCR_ISSUE_SERVICE: missing (rccr-issue's OpenRC service)"
	[ -f "$RCCR_NOTICES" ] || die "$RCCR_NOTICES: missing (make it: image-builder/scripts/third-party-notices.py)"
	case "$RCCR_INIT_RUNLEVEL" in
		sysinit | boot | default) ;;
		*) die "RCCR_INIT_RUNLEVEL: $RCCR_INIT_RUNLEVEL (sysinit, boot or default)" ;;
	esac
	if [ "$TYPE" = control ]; then
		[ -f "$RCCR_TEMP_KEY" ] || die "$RCCR_TEMP_KEY: missing (make one: rccr keygen)"
		# The header in two parts: the repository's private-key scan looks for it whole.
		head -n 1 "$RCCR_TEMP_KEY" | grep -q "^-----BEGIN OPENSSH ""PRIVATE KEY-----\$" ||
			die "$RCCR_TEMP_KEY: not an OpenSSH private key"
		[ -f "$RCCR_CLUSTER_CONFIG" ] || die "$RCCR_CLUSTER_CONFIG: missing"
	fi
	[ -f "$RCCR_TEMP_KEY.pub" ] || die "$RCCR_TEMP_KEY.pub: missing (make the pair: rccr keygen)"
	if [ "$(grep -c . "$RCCR_TEMP_KEY.pub")" != 1 ] ||
		! grep -Eq '^(ssh-(rsa|ed25519)|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/=]+( |$)' "$RCCR_TEMP_KEY.pub"; then
		die "$RCCR_TEMP_KEY.pub: not one OpenSSH public key line"
	fi
	if [ -n "$RCCR_APK_KEYS" ]; then
		[ -d "$RCCR_APK_KEYS" ] || die "RCCR_APK_KEYS: $RCCR_APK_KEYS is not a directory"
	fi
	need fakeroot fakeroot
	tar --version 2>/dev/null | grep -q 'GNU tar' || die "GNU tar is needed (apt-get install tar)"
}

# Fills $ovl; runs under fakeroot, so chown works and nothing real is root's.
populate() {
	ovl=$1
	umask 022
	case "$TYPE" in
		control) type_word=Control ;;
		*) type_word=Target ;;
	esac

	makedir root:root 0755 "$ovl/etc"
	makefile root:root 0644 "$ovl/etc/hostname" <<-EOF
		ReCyClusteR-$type_word
	EOF
	makefile root:root 0644 "$ovl/etc/hosts" <<-EOF
		127.0.0.1	localhost localhost.localdomain
		::1		localhost localhost.localdomain
	EOF
	makefile root:root 0644 "$ovl/etc/motd" <"$BUILDER_DIR/$TYPE/motd"

	# rccr-init replaces the hostname option with the node's own name at
	# boot, before networking starts; udhcpc sends it to the DHCP server.
	# It also adds a stanza for every other wired interface present at
	# boot, and for Wi-Fi once configured (src/init/network.rs).
	printf '%s\n' \
		'# rccr-init adds DHCP on every other wired interface present at boot,' \
		'# and on Wi-Fi once configured. It leaves alone an interface named here:' \
		'# "iface eth1 inet manual" keeps it off eth1.' \
		'auto lo' 'iface lo inet loopback' '' 'auto eth0' 'iface eth0 inet dhcp' \
		"	hostname ReCyClusteR-$type_word" |
		makefile root:root 0644 "$ovl/etc/network/interfaces"

	# With two cards on one LAN (two cables, a cable and Wi-Fi), each card
	# answers ARP only for its own address and announces only it, so the
	# LAN sees one MAC per address (Linux's default answers for both on
	# both), and a reply that arrives on the other card is not dropped.
	# The sysctl service applies it in the boot runlevel, before networking.
	printf '%s\n' \
		'# rccr: one MAC per address on a machine with several cards on the LAN' \
		'net.ipv4.conf.all.arp_ignore = 1' \
		'net.ipv4.conf.all.arp_announce = 2' \
		'net.ipv4.conf.all.rp_filter = 2' \
		'net.ipv4.conf.default.rp_filter = 2' |
		makefile root:root 0644 "$ovl/etc/sysctl.d/50-rccr-lan.conf"

	{
		echo alpine-base
		world_of "$TYPE" "$ARCH"
	} | LC_ALL=C sort -u | makefile root:root 0644 "$ovl/etc/apk/world"
	if [ -n "$RCCR_APK_KEYS" ]; then
		for _key in "$RCCR_APK_KEYS"/*.pub; do
			[ -f "$_key" ] || continue
			makefile root:root 0644 "$ovl/etc/apk/keys/${_key##*/}" <"$_key"
		done
	fi

	# What lbu commit must keep besides Alpine's defaults (+etc, @etc/init.d,
	# !etc/apk: apk-tools database.c, apk_db_open), in the format of
	# `lbu include` (a list in etc/apk/protected_paths.d, read by the
	# `apk audit --backup` that lbu runs). Our init scripts are regular
	# files, which @etc/init.d leaves out: without their lines the saved
	# overlay, the only one after the first commit, would boot without them.
	# tests/image_lbu.rs checks every file of the overlay against apk's rules.
	{
		services | while read -r _name _level _src; do
			echo "+etc/init.d/$_name"
		done
		echo "+usr/bin/rccr"
		for _link in $APPLETS; do
			echo "+usr/bin/$_link"
		done
		echo "+usr/libexec/rccr"
		echo "+$LICENSES_DIR"
		echo "+root/.ssh"
		echo "+root/.rccr"
	} | makefile root:root 0644 "$ovl/etc/apk/protected_paths.d/rccr.list"

	case "$MEDIA" in
		img) lbu_media=mmcblk0p1 ;;
		*) lbu_media='' ;;
	esac
	makefile root:root 0644 "$ovl/etc/lbu/lbu.conf" <<-EOF
		# lbu's settings, from RCCR's image builder.
		# lbu commit saves this node's changes (keys, host keys, hostname).
		# rccr-persist sets where at every boot: LBU_MEDIA (the boot media,
		# when writable) or LBU_BACKUPDIR (rccr-lbu/ on a partition labelled
		# RCCR). See /usr/libexec/rccr/persist --help.
		LBU_MEDIA=$lbu_media
		# Replace the image's rccr.apkovl.tar.gz at the first commit: lbu
		# refuses to write a second overlay next to it.
		DELETEOLDCONFIGS=yes
	EOF

	makefile root:root 0644 "$ovl/etc/rccr/node-type" <<-EOF
		$TYPE
	EOF
	if [ "$TYPE" = control ]; then
		makefile root:root 0644 "$ovl/etc/rccr/cluster_config.yml" <"$RCCR_CLUSTER_CONFIG"
	fi
	makefile root:root 0644 "$ovl/etc/ssh/sshd_config.d/rccr.conf" \
		<"$BUILDER_DIR/base/rootfs/etc/ssh/sshd_config.d/rccr.conf"
	# Alpine's sshd service makes every missing host key type at its first
	# start (key_types_to_generate, empty: rsa, ecdsa and ed25519), after
	# rccr-init has made the Ed25519 key and saved it with lbu: RSA (slow
	# on a Pi Zero) and ECDSA keys that no commit saved yet, new at every
	# boot until one does. So sshd makes only what rccr-init makes, and
	# only should rccr-init have failed.
	makefile root:root 0644 "$ovl/etc/conf.d/sshd" <<-EOF
		# sshd's OpenRC settings, from RCCR's image builder. rccr-init makes
		# the host keys before sshd starts (Ed25519, and RSA when a HostKey
		# line names one); sshd makes an Ed25519 key only if it is missing.
		key_types_to_generate="ed25519"
	EOF

	services | while read -r _name _level _src; do
		makefile root:root 0755 "$ovl/etc/init.d/$_name" <"$_src"
	done
	makefile root:root 0755 "$ovl/usr/libexec/rccr/persist" <"$BUILDER_DIR/base/os/persist.sh"
	# mdev runs it when a network interface appears, during the boot or after (the rule:
	# rccr-init puts it into /etc/mdev.conf, src/init/network.rs).
	makefile root:root 0755 "$ovl/usr/libexec/rccr/net-hotplug" <"$BUILDER_DIR/base/os/net-hotplug.sh"
	# Alpine's udhcpc script runs every file of these directories after it
	# has configured a lease, or flushed it (run_scripts in busybox's
	# default.script; its [ -f ] follows a link): the banner that
	# rccr-issue wrote before a late lease (Wi-Fi, a slow DHCP server)
	# shows the address then, and drops it once the lease is lost.
	makefile root:root 0755 "$ovl/usr/libexec/rccr/issue-hook" <"$BUILDER_DIR/base/os/issue-hook.sh"
	for _event in bound renew deconfig; do
		makelink /usr/libexec/rccr/issue-hook "$ovl/etc/udhcpc/post-$_event/rccr-issue"
	done
	makefile root:root 0644 "$ovl/$LICENSES_DIR/LICENSE" <"$REPO_DIR/LICENSE"
	makefile root:root 0644 "$ovl/$LICENSES_DIR/THIRD-PARTY-NOTICES" <"$RCCR_NOTICES"

	rc_add devfs sysinit
	rc_add dmesg sysinit
	rc_add mdev sysinit
	rc_add hwdrivers sysinit
	rc_add modloop sysinit

	# No clock service: Alpine's initramfs adds one at every boot, hwclock
	# when the machine has an RTC (/dev/rtc*) and swclock when not (a Pi,
	# an aarch64 board without one; mkinitfs initramfs-init.in,
	# rtc_exists). Both here, or the wrong one, would fail at boot; where
	# an older image's saved overlay brings one back, rccr-persist removes
	# the one the initramfs did not add (persist.sh, keep_one_clock).
	rc_add modules boot
	rc_add sysctl boot
	rc_add hostname boot
	rc_add bootmisc boot
	rc_add syslog boot
	rc_add networking boot
	rc_add sshd default
	services | while read -r _name _level _src; do
		rc_add "$_name" "$_level"
	done
	rc_add ntpd default # swarm certificates need the right time
	if [ "$TYPE" = target ]; then
		rc_add docker default
	fi

	rc_add mount-ro shutdown
	rc_add killprocs shutdown
	rc_add savecache shutdown

	makefile root:root 0755 "$ovl/usr/bin/rccr" <"$RCCR_BIN"
	for _link in $APPLETS; do
		makelink rccr "$ovl/usr/bin/$_link"
	done

	makedir root:root 0700 "$ovl/root"
	makedir root:root 0700 "$ovl/root/.ssh"
	if [ "$TYPE" = control ]; then
		makefile root:root 0600 "$ovl/root/.ssh/id_rsa" <"$RCCR_TEMP_KEY"
		makefile root:root 0644 "$ovl/root/.ssh/id_rsa.pub" <"$RCCR_TEMP_KEY.pub"
	else
		makefile root:root 0600 "$ovl/root/.ssh/authorized_keys" <"$RCCR_TEMP_KEY.pub"
	fi

	# Directories made along the way: 0755, root's.
	find "$ovl" -type d ! -path "$ovl/root" ! -path "$ovl/root/*" -exec chmod 0755 {} +
	chown -R -h root:root "$ovl"
}

# pack DIR OUTPUT: the reproducible tar.gz of DIR's etc, root and usr. The
# tar first, whole, to DIR.tar (in the caller's TMP_DIR): a tar failing in a
# pipe into gzip went unseen, and its truncated archive was renamed into place.
pack() {
	tar --format=ustar --sort=name --mtime="@$EPOCH" \
		--owner=0 --group=0 --numeric-owner \
		-C "$1" -cf "$1.tar" etc root usr || die "tar cannot pack the overlay"
	if ! gzip -9n <"$1.tar" >"$2.tmp"; then
		rm -f -- "$2.tmp"
		die "gzip cannot write $2.tmp"
	fi
	mv -f -- "$2.tmp" "$2"
}

# checked_applets: applet_links, refused unless it names rccr-init (every
# service of the image runs /usr/bin/rccr-init) and only plain names.
checked_applets() {
	_applets=$(applet_links) || exit 1
	printf '%s\n' "$_applets" | grep -qx 'rccr-init' ||
		die "the rccr asked for --list names no rccr-init (set RCCR_LIST_BIN to an rccr built from this tree)"
	! printf '%s\n' "$_applets" | grep -vqx '[a-z0-9][a-z0-9-]*' ||
		die "rccr --list: an applet name that is not [a-z0-9-]: $(printf '%s\n' "$_applets" | grep -vx '[a-z0-9][a-z0-9-]*' | head -n 1)"
	printf '%s\n' "$_applets"
}

main() {
	case "${1:-}" in
		-h | --help)
			help
			exit 0
			;;
		# Re-entry under fakeroot: populate and pack.
		--in-fakeroot)
			shift
			TYPE=$1 ARCH=$2 EPOCH=$3 APPLETS=$6
			arch_info "$ARCH"
			populate "$4"
			pack "$4" "$5"
			exit 0
			;;
		-*) usage_error "unknown option: $1" ;;
	esac
	[ $# -eq 3 ] || usage_error "want TYPE ARCH OUTPUT"
	TYPE=$1 ARCH=$2 OUTPUT=$3
	check_type "$TYPE"
	arch_info "$ARCH"
	: "${RCCR_BIN:=$REPO_DIR/dist/rccr-$ARCH}"
	export RCCR_BIN RCCR_TEMP_KEY RCCR_INIT_SERVICE RCCR_INIT_RUNLEVEL RCCR_ISSUE_SERVICE RCCR_CLUSTER_CONFIG RCCR_APK_KEYS RCCR_NOTICES
	check_inputs
	EPOCH=$(source_date_epoch)
	case "$EPOCH" in
		'' | *[!0-9]*) die "SOURCE_DATE_EPOCH: not a number of seconds: $EPOCH" ;;
	esac

	# Once, as a plain assignment that set -e checks: in a pipe, or in a
	# for loop's list, a failing applet_links went unseen, and the image
	# had no rccr-init for its services to run.
	APPLETS=$(checked_applets)

	start_work
	mkdir -p "$(dirname "$OUTPUT")"
	# Absolute, since the re-entered script runs elsewhere.
	out=$(CDPATH='' cd -- "$(dirname -- "$OUTPUT")" && pwd)/$(basename -- "$OUTPUT")
	fakeroot -- "$SCRIPT_DIR/genapkovl.sh" --in-fakeroot "$TYPE" "$ARCH" "$EPOCH" "$TMP_DIR/ovl" "$out" "$APPLETS"
	einfo "wrote $OUTPUT ($TYPE, $ARCH, $(wc -c <"$out") bytes, sha256 $(sha256_of "$out"))"
	DONE=1
}

main "$@"
