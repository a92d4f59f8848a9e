#!/bin/bash
#---help---
# vm.sh - QEMU virtual machines on the virtual LAN of tests/lab/lab.sh: the
# VM tier of RCCR's tests (docs/vm-tier.md).
#
# A VM boots its arch's base image (tests/vm/image.sh) through a
# copy-on-write overlay, so the image stays as built and each VM keeps its
# own disk across reboots and power cuts. Its NIC is a tap device on the
# lab's bridge inside the router namespace: it gets its address and DNS name
# from the lab's dnsmasq like every namespace host. qemu runs in the router
# namespace too, so `lab.sh down` (and `gc`) kills it with the lab, and the
# taps go with the namespace. A watchdog per lab runs `lab.sh down` as soon
# as the lab's owner dies, so an interrupted test (Ctrl-C) leaves nothing.
#
# Usage:
#   vm.sh add LABDIR NAME [--arch ARCH] [--mem MB] [--cpus N] [--disk2 SIZE]
#                      define VM NAME (not started): overlay boot disk /dev/vda,
#                      an optional blank second disk /dev/vdb of SIZE (qemu-img
#                      sizes: 1G), a tap on the bridge, MAC 02:52:43:56:4d:NN;
#                      ARCH x86_64 (default), x86 or aarch64; 1024 MB, 1 CPU
#   vm.sh start LABDIR NAME...
#                      boot each VM (qemu -daemonize; a second start fails)
#   vm.sh wait LABDIR NAME... [--timeout S]
#                      wait until each has its lease and sshd answers; prints
#                      "NAME IP SECONDS", SECONDS since its (re)start
#   vm.sh ip LABDIR NAME
#                      its address (the lab's DHCP lease of its MAC)
#   vm.sh ssh LABDIR NAME CMD...
#                      ssh root@VM from the router namespace, offering the
#                      control's cluster key, then the temporary keys;
#                      stdin, stdout and the exit code pass through
#   vm.sh reboot LABDIR NAME...
#                      `reboot` inside each guest; returns when each is back
#                      (a new boot id, sshd answering)
#   vm.sh powercut LABDIR NAME...
#                      SIGKILL every named qemu at once, then boot them again
#                      on the same disks (does not wait for the boot)
#   vm.sh stop LABDIR NAME...
#                      SIGKILL: the power stays off
#   vm.sh console-log LABDIR NAME
#                      the serial console of every boot, each after a line
#                      "=== rccr-vm NAME: boot N (REASON) ..."
#   vm.sh list LABDIR  NAME ARCH MAC IP STATE, one line per VM
#   vm.sh accel        kvm when a short probe boot under KVM reaches the
#                      kernel's panic, else tcg (a nested KVM may hang)
#   vm.sh help
#
# Files: LABDIR/vms/NAME/ holds vm.env, disk.qcow2, disk2.qcow2, qemu.pid,
# qemu.log, console.log and boots (one "N EPOCH_MS REASON" line per boot).
#
# Environment:
#   RCCR_VM_ACCEL     kvm or tcg (default: the probe's answer, cached per
#                     boot of this machine in /run/rccr-vm)
#   RCCR_VM_TIMEOUT   seconds each wait may take (default 300)
#   RCCR_VM_CACHE     image cache (see image.sh)
#   RCCR_LAB_KEEP     set: no watchdog (a kept lab stays until lab.sh gc)
# Needs root, qemu-system-x86 (qemu-system-arm for aarch64), qemu-utils and
# what lab.sh and image.sh need.
#---help---
set -eu
umask 022

SELF=$(readlink -f "$0")
VM_DIR=$(dirname "$SELF")
LAB=$VM_DIR/../lab/lab.sh
IMAGE_SH=$VM_DIR/image.sh
readonly SELF VM_DIR LAB IMAGE_SH

: "${RCCR_VM_TIMEOUT:=300}"
readonly MAC_PREFIX=02:52:43:56:4d
readonly ACCEL_CACHE=/run/rccr-vm
# How long a KVM probe boot may take before KVM counts as broken.
readonly KVM_PROBE_SECONDS=15
readonly SSH_OPTS=(-F /dev/null -o IdentitiesOnly=yes -o BatchMode=yes
	-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o GlobalKnownHostsFile=/dev/null
	-o LogLevel=ERROR -o ConnectTimeout=5 -o ServerAliveInterval=5 -o ServerAliveCountMax=3)

# per-VM fields, set by load_vm
VMDIR="" NAME="" ARCH="" MAC="" TAP="" IMAGE="" MEM="" CPUS="" DISK2=""

# help, die, einfo, is_uint, now_ms, uint_option
# shellcheck source=tests/lab/lib.sh
. "$VM_DIR/../lab/lib.sh"

# seconds.millis between two epoch-ms values
elapsed() {
	local ms=$(($2 - $1))
	printf '%d.%03d' $((ms / 1000)) $((ms % 1000))
}

# LABDIR/lab.env: ID, RNS, OWNER, ...
load_lab() {
	[ -n "${1:-}" ] || die "LABDIR missing"
	LABDIR=$(readlink -f "$1")
	[ -f "$LABDIR/lab.env" ] || die "$1 is not a lab directory (no lab.env)"
	# shellcheck source=/dev/null
	. "$LABDIR/lab.env"
	[ -n "${RNS:-}" ] || die "$LABDIR/lab.env names no router namespace"
}

load_vm() {
	VMDIR=$LABDIR/vms/$1
	[ -f "$VMDIR/vm.env" ] || die "no VM '$1' in lab $LABDIR"
	# shellcheck source=/dev/null
	. "$VMDIR/vm.env"
}

# the running qemu's PID, or nothing
qemu_pid() {
	local pid
	pid=$(cat "$VMDIR/qemu.pid" 2>/dev/null) || return 0
	is_uint "$pid" || return 0
	# a PID file outlives its qemu: the PID must still be this VM's qemu
	tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF -- "$VMDIR/" && echo "$pid"
	return 0
}

vm_ip() {
	awk -v mac="$MAC" '$2 == mac { ip = $3 } END { if (ip) print ip }' "$LABDIR/router/dnsmasq.leases" 2>/dev/null
}

# ---------------------------------------------------------------- watchdog

proc_start() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
	stat=${stat##*) }
	# shellcheck disable=SC2086 # split the fields on purpose
	set -- $stat
	[ "$1" != Z ] || return 0 # a zombie is dead
	echo "${20}"
}

# Runs detached: tears the lab down once its owner is gone; ends with the lab.
cmd_watch() {
	local start
	load_lab "$1"
	trap '' INT HUP
	start=$(proc_start "$OWNER")
	[ -n "$start" ] || start=gone
	while [ -f "$LABDIR/lab.env" ]; do
		if [ "$(proc_start "$OWNER")" != "$start" ]; then
			bash "$LAB" down "$LABDIR"
			exit 0
		fi
		sleep 0.5
	done
}

ensure_watchdog() {
	local pid
	pid=$(cat "$LABDIR/vms/watchdog.pid" 2>/dev/null) || pid=""
	if is_uint "$pid" && tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF "watch $LABDIR"; then
		return 0
	fi
	setsid bash "$SELF" watch "$LABDIR" </dev/null >/dev/null 2>&1 8>&- 9>&- &
	echo $! >"$LABDIR/vms/watchdog.pid"
}

# ---------------------------------------------------------------- accel

# kvm or tcg for x86 guests on this machine
x86_accel() {
	local boot_id cached kernel
	boot_id=$(cat /proc/sys/kernel/random/boot_id)
	cached=$ACCEL_CACHE/accel-$boot_id
	if [ -f "$cached" ]; then
		cat "$cached"
		return
	fi
	mkdir -p "$ACCEL_CACHE"
	if [ ! -w /dev/kvm ]; then
		echo tcg | tee "$cached"
		return
	fi
	kernel=$(bash "$IMAGE_SH" path x86_64 | tail -1)/vmlinuz
	# Without a root file system the kernel panics at once and qemu, told not
	# to reboot, exits: seconds under a working KVM. A broken nested KVM stalls
	# right after "Probing EDD" instead.
	if timeout "$KVM_PROBE_SECONDS" qemu-system-x86_64 -accel kvm -nodefaults -no-user-config \
		-display none -no-reboot -m 256 -serial stdio -kernel "$kernel" \
		-append "console=ttyS0 panic=-1" </dev/null 2>/dev/null | grep -q "Kernel panic"; then
		echo kvm | tee "$cached"
	else
		einfo "KVM does not boot a guest here: software emulation (TCG)"
		echo tcg | tee "$cached"
	fi
}

accel_for() {
	if [ -n "${RCCR_VM_ACCEL:-}" ]; then
		echo "$RCCR_VM_ACCEL"
		return
	fi
	case "$1" in
	x86_64 | x86) x86_accel ;;
	*) echo tcg ;;
	esac
}

cmd_accel() {
	accel_for x86_64
}

# ---------------------------------------------------------------- commands

cmd_add() {
	local name arch=x86_64 mem=1024 cpus=1 disk2="" image idx
	load_lab "${1:-}"
	name=${2:-}
	[[ "$name" =~ ^[A-Za-z0-9][A-Za-z0-9_-]{0,30}$ ]] || die "add: bad VM name '$name'"
	shift 2
	while [ $# -gt 0 ]; do
		case "$1" in
		--arch) arch=${2:-} && shift ;;
		--mem) uint_option mem "$@" && shift ;;
		--cpus) uint_option cpus "$@" && shift ;;
		--disk2) disk2=${2:-} && shift ;;
		*) die "add: unknown option '$1' (see vm.sh help)" ;;
		esac
		shift
	done
	image=$(bash "$IMAGE_SH" path "$arch" | tail -1)
	[ -f "$image/image.env" ] || die "image.sh path $arch printed no image"
	mkdir -p "$LABDIR/vms"
	exec 9>"$LABDIR/vms/.lock"
	flock 9
	[ ! -e "$LABDIR/vms/$name" ] || die "add: VM '$name' exists"
	idx=$(($(find "$LABDIR/vms" -mindepth 1 -maxdepth 1 -type d | wc -l) + 1))
	[ "$idx" -le 254 ] || die "add: at most 254 VMs per lab"
	VMDIR=$LABDIR/vms/$name
	mkdir "$VMDIR"
	MAC=$MAC_PREFIX:$(printf '%02x' "$idx")
	TAP=vmt$idx
	qemu-img create -q -f qcow2 -F raw -b "$image/disk.raw" "$VMDIR/disk.qcow2" >/dev/null
	[ -z "$disk2" ] || qemu-img create -q -f qcow2 "$VMDIR/disk2.qcow2" "$disk2" >/dev/null
	ip -n "$RNS" tuntap add dev "$TAP" mode tap
	ip -n "$RNS" link set "$TAP" master br0
	ip -n "$RNS" link set "$TAP" up
	{
		printf 'NAME=%q\n' "$name"
		printf 'ARCH=%q\n' "$arch"
		printf 'MAC=%q\n' "$MAC"
		printf 'TAP=%q\n' "$TAP"
		printf 'IMAGE=%q\n' "$image"
		printf 'MEM=%q\n' "$mem"
		printf 'CPUS=%q\n' "$cpus"
		printf 'DISK2=%q\n' "$disk2"
	} >"$VMDIR/vm.env.tmp"
	mv -f "$VMDIR/vm.env.tmp" "$VMDIR/vm.env"
	: >"$VMDIR/boots"
	# RCCR_LAB_KEEP keeps a failed test's lab for a look (tests/common/lab.rs):
	# no watchdog then, `lab.sh gc` removes it later.
	[ -n "${RCCR_LAB_KEEP:-}" ] || ensure_watchdog
}

# boots the loaded VM; REASON goes into the boot record
boot_vm() {
	local reason=$1 accel n drives=() QEMU MACHINE CMDLINE
	[ -z "$(qemu_pid)" ] || die "$NAME is running already"
	# shellcheck source=/dev/null
	. "$IMAGE/image.env"
	accel=$(accel_for "$ARCH")
	drives=(-drive "file=$VMDIR/disk.qcow2,if=virtio,format=qcow2")
	[ -z "$DISK2" ] || drives+=(-drive "file=$VMDIR/disk2.qcow2,if=virtio,format=qcow2")
	case "$accel" in
	kvm) accel=kvm ;;
	tcg) accel=tcg,tb-size=256 ;;
	*) die "RCCR_VM_ACCEL: kvm or tcg, not '$accel'" ;;
	esac
	n=$(($(wc -l <"$VMDIR/boots") + 1))
	echo "$n $(now_ms) $reason" >>"$VMDIR/boots"
	printf '\n=== rccr-vm %s: boot %s (%s, %s) at %s ===\n' "$NAME" "$n" "$reason" "${accel%%,*}" \
		"$(date -u +%FT%TZ)" >>"$VMDIR/console.log"
	rm -f "$VMDIR/qemu.pid"
	# shellcheck disable=SC2086 # MACHINE is a list of options
	ip netns exec "$RNS" "$QEMU" -name "rccr-vm:$NAME" $MACHINE -accel "$accel" \
		-m "$MEM" -smp "$CPUS" -nodefaults -no-user-config -display none \
		-daemonize -pidfile "$VMDIR/qemu.pid" \
		-kernel "$IMAGE/vmlinuz" -initrd "$IMAGE/initrd.img" -append "$CMDLINE" \
		"${drives[@]}" \
		-netdev "tap,id=net0,ifname=$TAP,script=no,downscript=no" \
		-device "virtio-net-pci,netdev=net0,mac=$MAC" \
		-device virtio-rng-pci \
		-chardev "file,id=console,path=$VMDIR/console.log,append=on" -serial chardev:console \
		</dev/null >>"$VMDIR/qemu.log" 2>&1 8>&- 9>&- ||
		die "$NAME: qemu failed: $(tail -5 "$VMDIR/qemu.log")"
}

cmd_start() {
	local name
	load_lab "${1:-}"
	shift
	[ $# -gt 0 ] || die "usage: vm.sh start LABDIR NAME..."
	for name in "$@"; do
		load_vm "$name"
		boot_vm start
	done
}

# time of the loaded VM's last (re)start, epoch ms
last_start() {
	tail -1 "$VMDIR/boots" | cut -d' ' -f2
}

ssh_banner() {
	# shellcheck disable=SC2016 # expanded by the inner bash
	ip netns exec "$RNS" timeout 3 bash -c 'exec 3<>"/dev/tcp/$1/22" && head -c 7 <&3' _ "$1" 2>/dev/null
}

cmd_wait() {
	local names=() timeout=$RCCR_VM_TIMEOUT name deadline ip
	load_lab "${1:-}"
	shift
	while [ $# -gt 0 ]; do
		case "$1" in
		--timeout) timeout=${2:-} && shift ;;
		*) names+=("$1") ;;
		esac
		shift
	done
	is_uint "$timeout" || die "--timeout needs seconds"
	[ ${#names[@]} -gt 0 ] || die "usage: vm.sh wait LABDIR NAME..."
	deadline=$(($(now_ms) + timeout * 1000))
	for name in "${names[@]}"; do
		load_vm "$name"
		while :; do
			[ -n "$(qemu_pid)" ] || die "$name: qemu is not running; console: $(tail -5 "$VMDIR/console.log")"
			ip=$(vm_ip)
			if [ -n "$ip" ] && [ "$(ssh_banner "$ip")" = "SSH-2.0" ]; then
				echo "$name $ip $(elapsed "$(last_start)" "$(now_ms)")"
				break
			fi
			[ "$(now_ms)" -lt "$deadline" ] ||
				die "$name: no sshd after ${timeout}s (lease: ${ip:-none}); console: $(tail -5 "$VMDIR/console.log")"
			sleep 0.5
		done
	done
}

cmd_ip() {
	[ $# = 2 ] || die "usage: vm.sh ip LABDIR NAME"
	load_lab "$1"
	load_vm "$2"
	vm_ip
}

# runs ssh to the loaded VM: "$@" is the remote command
vm_ssh() {
	local ip keys=() k
	ip=$(vm_ip)
	[ -n "$ip" ] || die "$NAME has no lease"
	for k in "$LABDIR/hosts/control/root/.ssh/id_ed25519" "$LABDIR/hosts/control/root/.ssh/id_rsa" \
		"$LABDIR/hosts/control/root/.rccr/temp_key" "$(bash "$IMAGE_SH" key)"; do
		[ ! -f "$k" ] || keys+=(-i "$k")
	done
	ip netns exec "$RNS" ssh "${keys[@]}" "${SSH_OPTS[@]}" "root@$ip" "$@"
}

cmd_ssh() {
	[ $# -ge 3 ] || die "usage: vm.sh ssh LABDIR NAME CMD..."
	load_lab "$1"
	load_vm "$2"
	shift 2
	vm_ssh "$@"
}

boot_id() {
	vm_ssh cat /proc/sys/kernel/random/boot_id </dev/null 2>/dev/null
}

cmd_reboot() {
	local name old=() i deadline id
	load_lab "${1:-}"
	shift
	[ $# -gt 0 ] || die "usage: vm.sh reboot LABDIR NAME..."
	for name in "$@"; do
		load_vm "$name"
		id=$(boot_id) || die "$name: cannot read its boot id over ssh"
		old+=("$id")
	done
	for name in "$@"; do
		load_vm "$name"
		echo "$(($(wc -l <"$VMDIR/boots") + 1)) $(now_ms) reboot" >>"$VMDIR/boots"
		printf '\n=== rccr-vm %s: reboot requested at %s ===\n' "$NAME" "$(date -u +%FT%TZ)" >>"$VMDIR/console.log"
		# the session dies with the guest's sshd: its exit code says nothing
		vm_ssh reboot </dev/null >/dev/null 2>&1 || true
	done
	deadline=$(($(now_ms) + RCCR_VM_TIMEOUT * 1000))
	i=0
	for name in "$@"; do
		load_vm "$name"
		while :; do
			[ -n "$(qemu_pid)" ] || die "$name: qemu exited during the reboot; console: $(tail -5 "$VMDIR/console.log")"
			id=$(boot_id) || id=""
			if [ -n "$id" ] && [ "$id" != "${old[$i]}" ]; then
				echo "$name $(vm_ip) $(elapsed "$(last_start)" "$(now_ms)")"
				break
			fi
			[ "$(now_ms)" -lt "$deadline" ] || die "$name: not back from its reboot after ${RCCR_VM_TIMEOUT}s"
			sleep 1
		done
		i=$((i + 1))
	done
}

kill_vms() {
	local name pid pids=() i
	for name in "$@"; do
		load_vm "$name"
		pid=$(qemu_pid)
		[ -z "$pid" ] || pids+=("$pid")
	done
	[ ${#pids[@]} -gt 0 ] || return 0
	kill -KILL "${pids[@]}" 2>/dev/null || true
	for ((i = 0; i < 200; i++)); do
		for pid in "${pids[@]}"; do
			if [ -d "/proc/$pid" ]; then
				sleep 0.05
				continue 2
			fi
		done
		return 0
	done
	die "qemu did not die: ${pids[*]}"
}

cmd_powercut() {
	local name
	load_lab "${1:-}"
	shift
	[ $# -gt 0 ] || die "usage: vm.sh powercut LABDIR NAME..."
	kill_vms "$@"
	for name in "$@"; do
		load_vm "$name"
		boot_vm powercut
	done
}

cmd_stop() {
	load_lab "${1:-}"
	shift
	[ $# -gt 0 ] || die "usage: vm.sh stop LABDIR NAME..."
	kill_vms "$@"
}

cmd_console_log() {
	[ $# = 2 ] || die "usage: vm.sh console-log LABDIR NAME"
	load_lab "$1"
	load_vm "$2"
	cat "$VMDIR/console.log" 2>/dev/null || true
}

cmd_list() {
	local d state
	load_lab "${1:-}"
	for d in "$LABDIR"/vms/*/vm.env; do
		[ -f "$d" ] || continue
		load_vm "$(basename "$(dirname "$d")")"
		state=off
		[ -z "$(qemu_pid)" ] || state=running
		printf '%s %s %s %s %s\n' "$NAME" "$ARCH" "$MAC" "$(vm_ip)" "$state"
	done
}

cmd=${1:-help}
[ $# -gt 0 ] && shift
case "$cmd" in
help | -h | --help) ;;
*) [ "$(id -u)" = 0 ] || die "needs root (network namespaces, tap devices)" ;;
esac
case "$cmd" in
add) cmd_add "$@" ;;
start) cmd_start "$@" ;;
wait) cmd_wait "$@" ;;
ip) cmd_ip "$@" ;;
ssh) cmd_ssh "$@" ;;
reboot) cmd_reboot "$@" ;;
powercut) cmd_powercut "$@" ;;
stop) cmd_stop "$@" ;;
console-log) cmd_console_log "$@" ;;
list) cmd_list "$@" ;;
accel) cmd_accel ;;
watch) cmd_watch "$@" ;;
help | -h | --help) help ;;
*)
	help >&2
	die "unknown command '$cmd'"
	;;
esac
