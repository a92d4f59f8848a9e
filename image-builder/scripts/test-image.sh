#!/bin/sh
#---help---
# Usage: test-image.sh docker [options] ARCH
#        test-image.sh qemu [options] IMAGE ARCH TYPE
#
# Boots RCCR images and checks them from outside, as a user would. GitHub
# Actions runs it (build-docker-images.yml, build-os-images.yml); locally it
# needs Docker, or QEMU and OVMF/QEMU_EFI, and the temporary key the images
# were built with.
#
# docker ARCH: starts ARCH's control image and two targets on a private
# network, then checks that
#   1. each target accepts the temporary key from the control and runs
#      rccr --version
#   2. the hostnames contain ReCyClusteR-Control / ReCyClusteR-Target
#   3. the images hold no SSH host key, and the two targets made different ones
#   4. rccr keyrotate on the control moves both targets to a cluster key
#   5. after docker restart: the cluster key logs in, the temporary key is
#      refused, the host keys are unchanged
#
# qemu IMAGE ARCH TYPE: boots IMAGE (.iso, .img, or either .xz) from fresh
# copies, with no way out to the internet (the packages must come from the
# media). An ISO's first node gets a blank 2 GiB disk, where rccr-storage
# makes the ext4 RCCR filesystem (docs/storage.md), its second node a FAT
# disk labelled RCCR (the lbu-only fallback).
# x86_64, x86, aarch64 (SSH through a forwarded port):
#   1. SSH answers: a target to the temporary key; a control to a key of
#      this test, handed over in rccr.txt on the boot media
#   2. rccr --version runs, the node type's packages are installed, the
#      hostname is ReCyClusteR-<Control|Target>-xxxxxx, the only host key
#      is rccr-init's Ed25519 key, sshd -T refuses passwords; the blank
#      disk holds an ext4 filesystem on /media/rccr, bound on
#      /var/lib/docker and /var/lib/rccr, and lbu saves to its rccr-lbu/;
#      target: dockerd answers docker info (waited for up to --timeout s),
#      with its data in /var/lib/docker on overlay2 (overlayfs under Docker 29)
#   3. a second boot of another fresh copy has different host keys, and
#      lbu saves to rccr-lbu/ on its FAT disk
#   4. target: rccr keyrotate from this machine moves it to a new key;
#      after a reboot the new key logs in, the temporary key is refused and
#      the host key is unchanged. control: after lbu commit and a reboot the
#      hostname and host key are unchanged. Both: RCCR's init scripts are
#      still there (lbu kept them), the saved overlay sits in rccr-lbu/ on
#      the RCCR filesystem and none at a disk's root, and the node booted
#      the ISO's overlay (persist.sh restored the saved one); target:
#      dockerd answers again
# The serial log (shown when a boot fails) holds the kernel's messages and
# a login prompt; on x86_64 and x86 the ISO's /dev/console is the screen,
# which QEMU does not show here, so OpenRC's lines are not in it; on
# aarch64 the serial port is /dev/console, and they are.
# rpi-aarch64, armv7, armhf (QEMU raspi3b, raspi2b, raspi0 with the kernel,
# initramfs and device tree from the image; these machines give Alpine's
# Pi kernel no usable network, so the serial console is read instead):
#   the login prompt shows a ReCyClusteR-<Type>-xxxxxx hostname, and two
#   boots print different host key fingerprints in the banner
# x86_64 boots under BIOS and then UEFI (OVMF); aarch64 under UEFI
# (QEMU_EFI, virt machine).
#
# Options:
#   -k, --key FILE    the temporary private key (default .rccr/ssh_temp_key)
#   -v, --version V   docker: the image version (default: Cargo.toml's)
#   --image REPO      docker: the repository (default nananina0415/rccr)
#   --firmware F      qemu x86_64: bios, uefi or both (default both)
#   --timeout S       seconds a boot may take to answer (default 600)
#   --rccr FILE       qemu: an rccr that runs here, for keyrotate
#                     (default dist/rccr-<this machine's arch>)
#   -h, --help        show this help
#
# Environment:
#   QEMU_ACCEL        kvm or tcg (default: kvm when /dev/kvm is usable)
#   OVMF_CODE         default /usr/share/ovmf/OVMF.fd
#   AAVMF_CODE        default /usr/share/qemu-efi-aarch64/QEMU_EFI.fd
#   DOCKER            default docker
#---help---
set -eu

SCRIPT_DIR=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$SCRIPT_DIR/lib.sh"

: "${DOCKER:=docker}"
: "${OVMF_CODE:=/usr/share/ovmf/OVMF.fd}"
: "${AAVMF_CODE:=/usr/share/qemu-efi-aarch64/QEMU_EFI.fd}"

VM_PID=''
# The first node of run_vm_boots, which runs on while the second boots.
VM_PARKED=''
NET=''
FAILED=0
CLEANUP_HOOK=teardown

# Stops what the checks started (lib.sh's cleanup calls it at any exit).
teardown() {
	stop_vm
	if [ -n "$VM_PARKED" ]; then
		VM_PID=$VM_PARKED VM_PARKED=''
		stop_vm
	fi
	if [ -n "$NET" ]; then
		"$DOCKER" rm -f "$NET-control" "$NET-t1" "$NET-t2" >/dev/null 2>&1
		"$DOCKER" network rm "$NET" >/dev/null 2>&1
	fi
}

ok() {
	printf '%s: ok: %s\n' "$PROG" "$*" >&2
}

fail() {
	printf '%s: FAIL: %s\n' "$PROG" "$*" >&2
	FAILED=$((FAILED + 1))
}

# same A B WHAT: ok when A equals B, else a failure.
same() {
	if [ "$1" = "$2" ]; then
		ok "$3"
	else
		fail "$3: '$1' is not '$2'"
	fi
}

# expect_hostname NAME TYPE STRICT: ReCyClusteR-<Type>, and with STRICT the
# six hex digits rccr-init adds from the MAC address.
expect_hostname() {
	case "$2" in
		control) _word=Control ;;
		*) _word=Target ;;
	esac
	if [ "$3" = strict ]; then
		if printf '%s\n' "$1" | grep -Eqx "ReCyClusteR-$_word-[0-9a-f]{6}"; then
			ok "hostname $1"
		else
			fail "hostname '$1' is not ReCyClusteR-$_word-xxxxxx"
		fi
	else
		case "$1" in
			*ReCyClusteR-"$_word"*) ok "hostname $1" ;;
			*) fail "hostname '$1' does not contain ReCyClusteR-$_word" ;;
		esac
	fi
}

# ---------------------------------------------------------------- docker

dk() {
	"$DOCKER" "$@"
}

# dk_ssh KEY HOST CMD...: ssh from the control container.
dk_ssh() {
	_key=$1 _host=$2
	shift 2
	dk exec "$NET-control" ssh -o BatchMode=yes -o IdentitiesOnly=yes -o ConnectTimeout=5 \
		-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
		-i "$_key" "root@$_host" "$@"
}

dk_wait_ssh() {
	_end=$(($(date +%s) + TIMEOUT))
	while ! dk_ssh "$1" "$2" true 2>/dev/null; do
		[ "$(date +%s)" -lt "$_end" ] || return 1
		sleep 2
	done
}

dk_ip() {
	dk inspect -f "{{(index .NetworkSettings.Networks \"$NET\").IPAddress}}" "$1"
}

dk_hostkey() {
	dk exec "$1" cat /etc/ssh/ssh_host_ed25519_key.pub | cut -d ' ' -f 1-2
}

run_docker() {
	[ $# -eq 1 ] || usage_error "docker: want ARCH"
	ARCH=$1
	arch_info "$ARCH"
	need "$DOCKER" docker.io
	control_image="$IMAGE:$VERSION-$ARCH-control"
	target_image="$IMAGE:$VERSION-$ARCH-target"
	NET="rccr-test-$$"

	for _img in "$control_image" "$target_image"; do
		_keys=$(dk run --rm --platform "$DOCKER_PLATFORM" --entrypoint /bin/sh "$_img" \
			-c 'ls /etc/ssh/ssh_host_*key* 2>/dev/null | wc -l')
		if [ "$_keys" = 0 ]; then ok "$_img holds no host key"; else fail "$_img holds $_keys host key files"; fi
	done

	dk network create "$NET" >/dev/null
	for _t in t1 t2; do
		dk run -d --name "$NET-$_t" --hostname "ReCyClusteR-Target-$_t" --network "$NET" \
			--platform "$DOCKER_PLATFORM" -e RCCR_DOCKERD=no "$target_image" >/dev/null
	done
	dk run -d --name "$NET-control" --hostname ReCyClusteR-Control --network "$NET" \
		--platform "$DOCKER_PLATFORM" "$control_image" >/dev/null
	# The temporary key stays usable for the refusal check after rotation.
	dk cp "$TEMP_KEY" "$NET-control:/tmp/temp_key"
	dk exec "$NET-control" chmod 600 /tmp/temp_key
	ip1=$(dk_ip "$NET-t1")
	ip2=$(dk_ip "$NET-t2")

	for _ip in "$ip1" "$ip2"; do
		if dk_wait_ssh /root/.ssh/id_rsa "$_ip"; then
			ok "$_ip accepts the temporary key"
		else
			fail "$_ip: no SSH login with the temporary key in $TIMEOUT s"
			dk logs "$NET-t1" >&2 || true
			return 1
		fi
		_v=$(dk_ssh /root/.ssh/id_rsa "$_ip" rccr --version) || _v=''
		case "$_v" in
			"rccr "*) ok "$_ip: $_v" ;;
			*) fail "$_ip: rccr --version printed '$_v'" ;;
		esac
		expect_hostname "$(dk_ssh /root/.ssh/id_rsa "$_ip" hostname)" target loose
	done
	expect_hostname "$(dk exec "$NET-control" hostname)" control loose
	_type=$(dk exec "$NET-control" cat /etc/rccr/node-type)
	same "$_type" control "the control's /etc/rccr/node-type"

	k1=$(dk_hostkey "$NET-t1")
	k2=$(dk_hostkey "$NET-t2")
	if [ -n "$k1" ] && [ "$k1" != "$k2" ]; then ok "the targets made different host keys"; else fail "the targets share host key '$k1'"; fi

	if dk exec "$NET-control" rccr keyrotate --host "$ip1" --host "$ip2" --yes >&2; then
		ok "rccr keyrotate rotated both targets"
	else
		fail "rccr keyrotate failed"
	fi

	dk restart "$NET-t1" "$NET-t2" >/dev/null
	for _ip in "$ip1" "$ip2"; do
		if dk_wait_ssh /root/.ssh/id_ed25519 "$_ip"; then
			ok "$_ip: the cluster key logs in after a restart"
		else
			fail "$_ip: the cluster key does not log in after a restart"
		fi
		if dk_ssh /tmp/temp_key "$_ip" true 2>/dev/null; then
			fail "$_ip still accepts the temporary key"
		else
			ok "$_ip refuses the temporary key"
		fi
	done
	same "$(dk_hostkey "$NET-t1")" "$k1" "t1 keeps its host key across a restart"
}

# ---------------------------------------------------------------- qemu

ssh_vm() {
	_key=$1
	shift
	ssh -o BatchMode=yes -o IdentitiesOnly=yes -o ConnectTimeout=5 \
		-o ServerAliveInterval=15 -o ServerAliveCountMax=4 \
		-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
		-p "$PORT" -i "$_key" root@127.0.0.1 "$@"
}

# wait_vm KEY: until SSH with KEY answers, QEMU exits or time runs out.
wait_vm() {
	_end=$(($(date +%s) + TIMEOUT))
	while ! ssh_vm "$1" true 2>/dev/null; do
		if ! kill -0 "$VM_PID" 2>/dev/null; then
			einfo "QEMU exited; the end of its serial log:"
			tail -n 40 "$LOG" >&2 || true
			return 1
		fi
		if [ "$(date +%s)" -ge "$_end" ]; then
			einfo "no SSH in $TIMEOUT s; the end of the serial log:"
			tail -n 40 "$LOG" >&2 || true
			return 1
		fi
		sleep 5
	done
}

host_key_vm() {
	ssh-keyscan -p "$PORT" -t ed25519 127.0.0.1 2>/dev/null | awk '{ print $2, $3; exit }'
}

stop_vm() {
	if [ -n "$VM_PID" ]; then
		kill "$VM_PID" 2>/dev/null || true
		wait "$VM_PID" 2>/dev/null || true
		VM_PID=''
	fi
}

accel() {
	if [ -n "${QEMU_ACCEL:-}" ]; then
		echo "$QEMU_ACCEL"
	elif [ -w /dev/kvm ] && { [ "$(host_arch)" = "$1" ] || [ "$(host_arch)-$1" = x86_64-x86 ]; }; then
		echo kvm
	else
		echo tcg
	fi
}

# media_copy NAME: sets COPY to a fresh, uncompressed copy of the image,
# with rccr.txt for a control (the test's own key, which rccr-init
# authorizes).
media_copy() {
	_copy="$TMP_DIR/$1.$MEDIA"
	COPY=$_copy
	case "$IMAGE_FILE" in
		*.xz) xz -dc -- "$IMAGE_FILE" >"$_copy" ;;
		*) cp -- "$IMAGE_FILE" "$_copy" ;;
	esac
	if [ "$TYPE" = control ]; then
		printf 'authorized_key=%s\n' "$(cat "$LOGIN_KEY.pub")" >"$TMP_DIR/rccr.txt"
		if [ "$MEDIA" = iso ]; then
			xorriso -no_rc -report_about WARNING -compliance no_emul_toc \
				-indev "$_copy" -outdev "$_copy.new" -boot_image any replay \
				-map "$TMP_DIR/rccr.txt" /rccr.txt -commit >/dev/null 2>&1 ||
				die "cannot add rccr.txt to the ISO"
			mv -f -- "$_copy.new" "$_copy"
		else
			MTOOLS_SKIP_CHECK=1 mcopy -o -i "$_copy@@1M" "$TMP_DIR/rccr.txt" ::/rccr.txt ||
				die "cannot add rccr.txt to the image"
		fi
	fi
}

# data_disk NAME: the VM's data disk, made on its first boot: blank for
# the first node (a-*), where rccr-storage makes the ext4 RCCR filesystem;
# FAT labelled RCCR for the others, which only lbu uses.
data_disk() {
	DISK="$TMP_DIR/$1.data"
	[ ! -f "$DISK" ] || return 0
	case "$1" in
		a-*) truncate -s 2G "$DISK" ;; # sparse; rccr-storage wants 1 GiB and 1 MiB
		*) truncate -s 64M "$DISK" && mkfs.vfat -n RCCR "$DISK" >/dev/null ;;
	esac
}

# boot_vm NAME MEDIA_FILE [FIRMWARE]: starts QEMU in the background.
boot_vm() {
	_vm=$1
	LOG="$TMP_DIR/$1.log"
	PORT=$((20000 + ($$ + BOOTS) % 20000))
	BOOTS=$((BOOTS + 1))
	_net="user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:$PORT-:22"
	case "$ARCH" in
		x86_64 | x86)
			data_disk "$1"
			_qemu=qemu-system-x86_64
			[ "$ARCH" = x86 ] && _qemu=qemu-system-i386
			set -- "$_qemu" -machine q35 -m 2048 -smp 2 -accel "$(accel "$ARCH")" \
				-drive "file=$2,media=cdrom,readonly=on" -boot d \
				-drive "file=$DISK,format=raw,if=virtio" \
				-netdev "$_net" -device virtio-net-pci,netdev=n0
			if [ "${3:-bios}" = uefi ]; then
				set -- "$@" -bios "$OVMF_CODE"
			fi
			;;
		aarch64)
			data_disk "$1"
			_cpu=cortex-a57
			[ "$(accel aarch64)" = kvm ] && _cpu=host
			set -- qemu-system-aarch64 -machine virt -cpu "$_cpu" -m 2048 -smp 2 \
				-accel "$(accel aarch64)" -bios "$AAVMF_CODE" \
				-device virtio-scsi-pci -drive "if=none,id=cd,file=$2,media=cdrom,readonly=on" \
				-device scsi-cd,drive=cd \
				-drive "file=$DISK,format=raw,if=virtio" \
				-netdev "$_net" -device virtio-net-pci,netdev=n0
			;;
		*)
			raspi_prepare "$2"
			set -- "$R_QEMU" -machine "$R_MACHINE" -kernel "$R_DIR/kernel" -initrd "$R_DIR/initrd" \
				-dtb "$R_DIR/dtb" -append "$R_APPEND" -drive "file=$2,format=raw,if=sd"
			;;
	esac
	einfo "booting $_vm: $*"
	"$@" -display none -serial "file:$LOG" -monitor none </dev/null >"$LOG.qemu" 2>&1 &
	VM_PID=$!
}

# raspi_prepare IMG: sets R_QEMU, R_MACHINE, R_DIR (kernel, initrd, dtb
# from the image's FAT) and R_APPEND (its cmdline.txt plus a serial console)
# for QEMU's Pi machine of ARCH, and pads IMG to a power of two, as QEMU's SD
# card wants.
raspi_prepare() {
	case "$ARCH" in
		rpi-aarch64) R_MACHINE=raspi3b R_QEMU=qemu-system-aarch64 _dtb=bcm2710-rpi-3-b.dtb ;;
		armv7) R_MACHINE=raspi2b R_QEMU=qemu-system-arm _dtb=bcm2709-rpi-2-b.dtb ;;
		*) R_MACHINE=raspi0 R_QEMU=qemu-system-arm _dtb=bcm2708-rpi-zero.dtb ;;
	esac
	need "$R_QEMU" qemu-system-arm
	R_DIR="$TMP_DIR/boot-$BOOTS"
	mkdir -p "$R_DIR"
	export MTOOLS_SKIP_CHECK=1
	mcopy -n -i "$1@@1M" ::/boot/vmlinuz-rpi "$R_DIR/kernel" || die "no boot/vmlinuz-rpi on the image"
	mcopy -n -i "$1@@1M" ::/boot/initramfs-rpi "$R_DIR/initrd" || die "no boot/initramfs-rpi on the image"
	mcopy -n -i "$1@@1M" "::/$_dtb" "$R_DIR/dtb" 2>/dev/null ||
		mcopy -n -i "$1@@1M" "::/boot/dtbs-rpi/$_dtb" "$R_DIR/dtb" ||
		die "$_dtb is not on the image"
	mcopy -n -i "$1@@1M" ::/cmdline.txt "$R_DIR/cmdline" || die "no cmdline.txt on the image"
	R_APPEND="$(tr -d '\r\n' <"$R_DIR/cmdline") console=ttyAMA0,115200"
	_size=$(wc -c <"$1")
	_p=1
	while [ "$_p" -lt "$_size" ]; do _p=$((_p * 2)); done
	truncate -s "$_p" "$1"
}

# run_raspi: two Pi boots, read from the serial console.
run_raspi() {
	_keys=''
	for _n in a b; do
		media_copy "$_n"
		boot_vm "$_n" "$COPY"
		_end=$(($(date +%s) + TIMEOUT))
		until grep -q ' login:' "$LOG" 2>/dev/null; do
			if ! kill -0 "$VM_PID" 2>/dev/null || [ "$(date +%s)" -ge "$_end" ]; then
				tail -n 40 "$LOG" >&2 || true
				fail "boot $_n: no login prompt on the serial console"
				stop_vm
				return 1
			fi
			sleep 5
		done
		expect_hostname "$(tr -d '\r' <"$LOG" | sed -n 's/^\(ReCyClusteR-[^ ]*\) login:.*/\1/p' | tail -n 1)" "$TYPE" strict
		_fp=$(tr -d '\r' <"$LOG" | grep -Eo 'SHA256:[A-Za-z0-9+/]{43}' | head -n 1)
		[ -n "$_fp" ] || fail "boot $_n: no host key fingerprint in the banner"
		_keys="$_keys $_fp"
		stop_vm
	done
	# shellcheck disable=SC2086 # two words
	set -- $_keys
	if [ $# -eq 2 ] && [ "$1" != "$2" ]; then ok "two boots made different host keys"; else fail "two boots share host key $1"; fi
}

# lbu_dir KEY: where the node's lbu saves (LBU_BACKUPDIR, which
# rccr-persist set at boot).
lbu_dir() {
	ssh_vm "$1" "sed -n 's/^LBU_BACKUPDIR=//p' /etc/lbu/lbu.conf" || true
}

# check_storage KEY: the blank disk became the ext4 RCCR filesystem on
# /media/rccr (a partition of vda, the only virtio disk), Docker's and
# rccr's directories are bound from it, and lbu saves to its rccr-lbu/.
check_storage() {
	_rccr=$(ssh_vm "$1" "awk '\$2 == \"/media/rccr\" { print \$1, \$3 }' /proc/mounts") || _rccr=''
	case "$_rccr" in
		/dev/vda[0-9]*" ext4") ok "rccr-storage made the ext4 RCCR filesystem on the blank disk ($_rccr)" ;;
		*) fail "/media/rccr is '$_rccr', not an ext4 partition of the blank disk /dev/vda" ;;
	esac
	_binds=$(ssh_vm "$1" "awk '\$2 == \"/var/lib/docker\" || \$2 == \"/var/lib/rccr\" { print \$2, \$1, \$3 }' /proc/mounts | sort | tr '\n' ' '") || _binds=''
	_dev=${_rccr%% *}
	same "$_binds" "/var/lib/docker $_dev ext4 /var/lib/rccr $_dev ext4 " "/var/lib/docker and /var/lib/rccr are bound from the RCCR filesystem"
	same "$(lbu_dir "$1")" /media/rccr/rccr-lbu "lbu saves to rccr-lbu/ on the RCCR filesystem"
}

# check_dockerd KEY: dockerd answers (given up to TIMEOUT s to start, each
# docker info bounded), with its data on the bound /var/lib/docker.
check_dockerd() {
	# shellcheck disable=SC2016 # expands on the node
	_info=$(ssh_vm "$1" '_end=$(($(date +%s) + '"$TIMEOUT"'))
		until timeout 10 docker info >/dev/null 2>&1; do
			[ "$(date +%s)" -lt "$_end" ] || exit 1
			sleep 3
		done
		timeout 10 docker info --format "{{.DockerRootDir}} {{.Driver}}"') || _info=''
	if [ -n "$_info" ]; then
		# overlay2 is the graph driver; Docker 29's containerd image store
		# reports its snapshotter, overlayfs. Where the data lies is the
		# bind check's (check_storage).
		case "$_info" in
			"/var/lib/docker overlay2" | "/var/lib/docker overlayfs") ok "dockerd answers, its data in /var/lib/docker on ${_info#* }" ;;
			*) fail "dockerd answers, but not with its data in /var/lib/docker on overlay2 or overlayfs: '$_info'" ;;
		esac
	else
		fail "dockerd does not answer docker info in $TIMEOUT s ($2)"
		ssh_vm "$1" 'rc-service docker status; tail -n 20 /var/log/docker.log' >&2 || true
	fi
}

# One boot to the end: checks, second boot, rotation or commit, reboot.
run_vm_boots() {
	_fw=${1:-bios}
	media_copy "a-$_fw"
	boot_vm "a-$_fw" "$COPY" "$_fw"
	wait_vm "$LOGIN_KEY" || { fail "$_fw: no SSH login"; stop_vm; return 1; }
	ok "$_fw: SSH answers the $([ "$TYPE" = target ] && echo temporary || echo rccr.txt) key"
	_v=$(ssh_vm "$LOGIN_KEY" rccr --version) || _v=''
	case "$_v" in
		"rccr "*) ok "rccr --version: $_v" ;;
		*) fail "rccr --version printed '$_v'" ;;
	esac
	_name=$(ssh_vm "$LOGIN_KEY" hostname)
	expect_hostname "$_name" "$TYPE" strict
	if [ "$TYPE" = target ]; then _probe='docker --version'; else _probe='ansible --version && nmap --version'; fi
	if ssh_vm "$LOGIN_KEY" "$_probe" >/dev/null 2>&1; then
		ok "the $TYPE packages came from the media (no internet)"
	else
		fail "the $TYPE packages are not installed ($_probe)"
	fi
	key_a=$(host_key_vm)
	# rccr-init's Ed25519 key only: sshd's service made none that the
	# first-boot commit did not save (/etc/conf.d/sshd).
	_hostkeys=$(ssh_vm "$LOGIN_KEY" 'ls /etc/ssh/ssh_host_*_key' | tr '\n' ' ') || _hostkeys=''
	same "$_hostkeys" "/etc/ssh/ssh_host_ed25519_key " "the node's only host key is rccr-init's"
	# The drop-in is in effect on the image's own sshd_config, as the
	# Docker build checks it on the container's.
	_policy=$(ssh_vm "$LOGIN_KEY" 'sshd -T' | grep -Ex '(passwordauthentication|kbdinteractiveauthentication|permitrootlogin) .*' | sed 's/prohibit-password/without-password/' | sort | tr '\n' ' ') || _policy=''
	same "$_policy" "kbdinteractiveauthentication no passwordauthentication no permitrootlogin without-password " "sshd refuses passwords"
	check_storage "$LOGIN_KEY"
	[ "$TYPE" != target ] || check_dockerd "$LOGIN_KEY" "first boot"

	# A second node from the same image, its disk FAT labelled RCCR: lbu
	# saves there (rccr-persist mounts it), Docker's data stays in RAM.
	_port_a=$PORT VM_PARKED=$VM_PID _log_a=$LOG
	media_copy "b-$_fw"
	boot_vm "b-$_fw" "$COPY" "$_fw"
	if wait_vm "$LOGIN_KEY"; then
		key_b=$(host_key_vm)
		if [ -n "$key_a" ] && [ "$key_a" != "$key_b" ]; then ok "two boots made different host keys"; else fail "two boots share host key '$key_a'"; fi
		same "$(lbu_dir "$LOGIN_KEY")" /media/vda/rccr-lbu "second boot: lbu saves to rccr-lbu/ on the FAT disk"
	else
		fail "second boot: no SSH login"
	fi
	stop_vm
	PORT=$_port_a VM_PID=$VM_PARKED LOG=$_log_a
	VM_PARKED=''

	if [ "$TYPE" = target ]; then
		# This machine plays the control node, with state of its own.
		_ctl="$TMP_DIR/control-$_fw"
		mkdir -p "$_ctl/home"
		if HOME="$_ctl/home" "$RCCR" keyrotate --host "127.0.0.1:$PORT" --from-key "$LOGIN_KEY" \
			--state-dir "$_ctl/state" --known-hosts "$_ctl/known_hosts" --yes >&2; then
			ok "rccr keyrotate rotated the node"
		else
			fail "rccr keyrotate failed"
		fi
		after_key="$_ctl/home/.ssh/id_ed25519"
	else
		ssh_vm "$LOGIN_KEY" lbu commit >&2 || fail "lbu commit failed"
		after_key=$LOGIN_KEY
	fi
	ssh_vm "$after_key" reboot >/dev/null 2>&1 || true
	sleep 20
	if wait_vm "$after_key"; then
		ok "$([ "$TYPE" = target ] && echo 'the new key' || echo 'the rccr.txt key') logs in after a reboot"
	else
		fail "no login after the reboot"
		stop_vm
		return 1
	fi
	if [ "$TYPE" = target ]; then
		if ssh_vm "$TEMP_KEY" true 2>/dev/null; then fail "the temporary key still logs in after the reboot"; else ok "the temporary key is refused after the reboot"; fi
	fi
	same "$(ssh_vm "$after_key" hostname)" "$_name" "the hostname survives the reboot"
	same "$(host_key_vm)" "$key_a" "the host key survives the reboot"
	# Remote scripts, in single quotes: they expand on the node.
	# shellcheck disable=SC2016
	if ssh_vm "$after_key" 'for s in rccr-storage rccr-init rccr-issue rccr-persist; do test -x /etc/init.d/$s || exit 1; done'; then
		ok "RCCR's init scripts survive lbu commit"
	else
		fail "an RCCR init script is gone after lbu commit and a reboot"
	fi
	_saved=$(ssh_vm "$after_key" 'ls /media/rccr/rccr-lbu/*.apkovl.tar.gz 2>/dev/null | wc -l') || _saved=''
	same "$_saved" 1 "one overlay saved in rccr-lbu/ on the RCCR filesystem"
	# shellcheck disable=SC2016
	_roots=$(ssh_vm "$after_key" 'for d in /media/*; do [ -d "$d/rccr-apks" ] || ls "$d"/*.apkovl.tar.gz 2>/dev/null; done') || _roots='?'
	same "$_roots" "" "no overlay at the root of any disk but the boot media"
	[ "$TYPE" != target ] || check_dockerd "$after_key" "after the reboot"
	stop_vm
}

run_qemu() {
	[ $# -eq 3 ] || usage_error "qemu: want IMAGE ARCH TYPE"
	IMAGE_FILE=$1 ARCH=$2 TYPE=$3
	[ -f "$IMAGE_FILE" ] || die "$IMAGE_FILE: missing"
	arch_info "$ARCH"
	check_type "$TYPE"
	need ssh openssh-client
	need mkfs.vfat dosfstools
	BOOTS=0
	if [ "$TYPE" = control ]; then
		LOGIN_KEY="$TMP_DIR/login_key"
		ssh-keygen -q -t ed25519 -N '' -C rccr-test-image -f "$LOGIN_KEY"
	else
		LOGIN_KEY=$TEMP_KEY
	fi
	case "$ARCH" in
		x86_64)
			need qemu-system-x86_64 qemu-system-x86
			case "$FIRMWARE" in
				both) run_vm_boots bios && run_vm_boots uefi ;;
				*) run_vm_boots "$FIRMWARE" ;;
			esac
			;;
		x86)
			need qemu-system-i386 qemu-system-x86
			run_vm_boots bios
			;;
		aarch64)
			need qemu-system-aarch64 qemu-system-arm
			[ -f "$AAVMF_CODE" ] || die "$AAVMF_CODE: missing (apt-get install qemu-efi-aarch64)"
			run_vm_boots uefi
			;;
		*)
			need mcopy mtools
			run_raspi
			;;
	esac
}

main() {
	[ $# -ge 1 ] || usage_error "want docker or qemu"
	mode=$1
	shift
	TEMP_KEY="$REPO_DIR/.rccr/ssh_temp_key"
	VERSION=''
	IMAGE=nananina0415/rccr
	FIRMWARE=both
	TIMEOUT=600
	RCCR=''
	case "$mode" in
		-h | --help)
			help
			exit 0
			;;
		docker | qemu) ;;
		*) usage_error "unknown mode: $mode (docker or qemu)" ;;
	esac
	while [ $# -gt 0 ]; do
		case "$1" in
			-k | --key) option_value TEMP_KEY "$@" && shift ;;
			-v | --version) option_value VERSION "$@" && shift ;;
			--image) option_value IMAGE "$@" && shift ;;
			--firmware) option_value FIRMWARE "$@" && shift ;;
			--timeout) option_value TIMEOUT "$@" && shift ;;
			--rccr) option_value RCCR "$@" && shift ;;
			*) other_option "$1" || break ;;
		esac
		shift
	done
	[ "${1-}" != -- ] || shift
	case "$FIRMWARE" in
		bios | uefi | both) ;;
		*) usage_error "--firmware: bios, uefi or both" ;;
	esac
	[ -n "$VERSION" ] || VERSION=$(cargo_version)
	[ -n "$RCCR" ] || RCCR="$REPO_DIR/dist/rccr-$(host_arch)"
	[ -f "$TEMP_KEY" ] || die "$TEMP_KEY: missing (the key the images were built with)"
	chmod 600 "$TEMP_KEY" 2>/dev/null || true

	start_work
	if [ "$mode" = docker ]; then
		run_docker "$@" || FAILED=$((FAILED + 1))
	else
		[ -x "$RCCR" ] || die "$RCCR: missing (an rccr that runs here drives keyrotate; --rccr)"
		run_qemu "$@" || FAILED=$((FAILED + 1))
	fi
	if [ "$FAILED" -gt 0 ]; then
		einfo "$FAILED check(s) failed"
		exit 1
	fi
	einfo "all checks passed"
	DONE=1
}

main "$@"
