#!/bin/bash
#---help---
# lab-docker.sh - a real Docker engine inside hosts of the virtual LAN
# (tests/lab/lab.sh), for the swarm and status tests. Needs root and
# Debian's docker.io (dockerd, containerd, runc) and iptables.
#
# Usage:
#   lab-docker.sh private-run LABDIR HOST...
#                      give each HOST a private /run (tmpfs, with /run/sshd
#                      for its sshd): a lab host shares the machine's /run,
#                      where docker.sock, containerd and systemd's sockets live
#   lab-docker.sh start LABDIR HOST...
#                      private /run, cgroup hierarchies and a dockerd per HOST:
#                      data root LABDIR/hosts/HOST/docker (a real file system:
#                      overlay2 cannot sit on the host's /var overlay), socket
#                      /run/docker.sock (the docker CLI's default), cgroup
#                      parent rccr-lab-ID-HOST; waits until it answers
#   lab-docker.sh stop LABDIR HOST...
#                      stop HOST's dockerd (SIGTERM, SIGKILL after 20 s)
#   lab-docker.sh image LABDIR NAME HOST...
#                      `docker import` a busybox root file system as image NAME
#                      on each HOST (CMD: httpd -f -p 80 -h /www)
#   lab-docker.sh clean LABDIR
#                      kill every engine and container of the lab and remove
#                      their cgroups; run it before lab.sh down (containers
#                      live in namespaces of their own, so down misses them)
#   lab-docker.sh gc   clean the container cgroups of labs that are gone
#---help---
set -eu
umask 022

SELF=$(readlink -f "$0")
LAB=$(dirname "$SELF")/../lab/lab.sh
REGISTRY=/run/rccr-lab
TIMEOUT=${LAB_TIMEOUT:-30}

die() {
	printf 'lab-docker.sh: error: %s\n' "$*" >&2
	exit 1
}

usage() {
	sed -n '/^#---help---/,/^#---help---/{/^#---help---/d;s/^# \{0,1\}//;p;}' "$SELF"
}

lab_id() {
	sed -n 's/^ID=//p' "$1/lab.env"
}

in_host() {
	local dir=$1 host=$2
	shift 2
	bash "$LAB" exec "$dir" "$host" "$@"
}

# Runs inside a host: $1 = 1 to mount the cgroup hierarchies (read from
# stdin: "dir type options" lines, as the machine has them) too.
# shellcheck disable=SC2016 # expanded inside the host
PREPARE='
set -eu
if ! grep -q "^rccr-lab-run /run " /proc/self/mounts; then
	mount -t tmpfs -o mode=755,size=64m rccr-lab-run /run
	mkdir -p /run/sshd /run/lock
	chmod 755 /run/sshd
fi
if [ "$1" = 1 ] && ! grep -q "^rccr-lab-cgroup /sys/fs/cgroup " /proc/self/mounts; then
	mount -t tmpfs -o mode=755 rccr-lab-cgroup /sys/fs/cgroup
	while read -r dir type opts; do
		mkdir -p "$dir"
		mount -t "$type" -o "$opts" "$type" "$dir"
	done
else
	cat >/dev/null
fi
'

cgroup_mounts() {
	# `ip netns exec` gave every lab host a fresh /sys without the cgroup
	# mounts; the engine needs the same hierarchies the machine has
	awk '$3 == "cgroup" || $3 == "cgroup2" { o = $4; sub(/^r[ow],/, "", o); print $2, $3, o }' /proc/self/mounts
}

cmd_private_run() {
	local dir=$1 host
	shift
	for host in "$@"; do
		in_host "$dir" "$host" sh -c "$PREPARE" prepare 0 </dev/null
	done
}

cmd_start() {
	local dir=$1 id host h deadline
	shift
	command -v dockerd >/dev/null || die "no dockerd: apt-get install docker.io iptables"
	id=$(lab_id "$dir")
	for host in "$@"; do
		h=$dir/hosts/$host
		[ -d "$h" ] || die "no host $host in $dir"
		cgroup_mounts | in_host "$dir" "$host" sh -c "$PREPARE" prepare 1
		mkdir -p "$h/docker"
		in_host "$dir" "$host" setsid dockerd --data-root "$h/docker" --exec-root /run/docker \
			--pidfile /run/docker.pid -H unix:///run/docker.sock --cgroup-parent "rccr-lab-$id-$host" \
			--log-level warn </dev/null >>"$h/dockerd.log" 2>&1 &
	done
	for host in "$@"; do
		deadline=$(($(date +%s) + TIMEOUT))
		until in_host "$dir" "$host" docker version >/dev/null 2>&1; do
			[ "$(date +%s)" -lt "$deadline" ] || die "dockerd on $host did not answer in ${TIMEOUT}s: $(tail -5 "$dir/hosts/$host/dockerd.log")"
			sleep 0.2
		done
	done
}

cmd_stop() {
	local dir=$1 host pid i
	shift
	for host in "$@"; do
		pid=$(in_host "$dir" "$host" cat /run/docker.pid 2>/dev/null) || continue
		kill -TERM "$pid" 2>/dev/null || continue
		for ((i = 0; i < 200; i++)); do
			[ -d "/proc/$pid" ] || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
	done
}

# a root file system with a static busybox (or a dynamic one and its libraries)
make_rootfs() {
	local out=$1 bb root lib
	bb=$(command -v busybox) || die "no busybox: apt-get install busybox-static (or busybox)"
	root=$(mktemp -d)
	mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/www"
	cp "$bb" "$root/bin/busybox"
	for lib in $(ldd "$bb" 2>/dev/null | grep -o '/[^ ]*' || true); do
		mkdir -p "$root$(dirname "$lib")"
		cp -L "$lib" "$root$lib"
	done
	for applet in sh sleep httpd wget ls cat echo hostname; do
		ln -s busybox "$root/bin/$applet"
	done
	echo 'root:x:0:0:root:/root:/bin/sh' >"$root/etc/passwd"
	echo "RCCR lab image" >"$root/www/index.html"
	tar -C "$root" -cf "$out.tmp" .
	mv -f "$out.tmp" "$out"
	rm -rf "$root"
}

cmd_image() {
	local dir=$1 name=$2 host tar
	shift 2
	tar=$dir/busybox-rootfs.tar
	[ -f "$tar" ] || make_rootfs "$tar"
	for host in "$@"; do
		in_host "$dir" "$host" docker import --change 'CMD ["/bin/httpd", "-f", "-p", "80", "-h", "/www"]' \
			"$tar" "$name" >/dev/null
	done
}

# kill everything in cgroups named rccr-lab-ID-* (ID: a lab id or a pattern)
clean_cgroups() {
	local pattern=$1 i pids d
	for ((i = 0; i < 50; i++)); do
		pids=$(find /sys/fs/cgroup -maxdepth 6 -path "*/rccr-lab-$pattern-*" -name cgroup.procs \
			-exec cat {} + 2>/dev/null | sort -u | tr '\n' ' ')
		[ -n "${pids// /}" ] || break
		# shellcheck disable=SC2086 # a list of PIDs
		kill -KILL $pids 2>/dev/null || true
		sleep 0.1
	done
	find /sys/fs/cgroup -maxdepth 6 -depth -type d -path "*/rccr-lab-$pattern-*" 2>/dev/null |
		while read -r d; do rmdir "$d" 2>/dev/null || true; done
}

cmd_clean() {
	local dir=$1 id ns p comm
	id=$(lab_id "$dir")
	[ -n "$id" ] || die "$dir is not a lab directory"
	# the engines first, or they restart the containers killed below
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$id-" || true); do
		for p in $(ip netns pids "$ns" 2>/dev/null || true); do
			comm=$(cat "/proc/$p/comm" 2>/dev/null) || continue
			case "$comm" in dockerd | containerd | containerd-shim*) kill -KILL "$p" 2>/dev/null || true ;; esac
		done
	done
	clean_cgroups "$id"
}

cmd_gc() {
	local d id
	for d in $(find /sys/fs/cgroup -maxdepth 6 -type d -name 'rccr-lab-rl*' 2>/dev/null || true); do
		id=${d##*/rccr-lab-}
		id=${id%%-*}
		[ -f "$REGISTRY/$id" ] || clean_cgroups "$id"
	done
}

[ "$(id -u)" = 0 ] || die "needs root"
cmd=${1:-help}
[ $# -gt 0 ] && shift
case "$cmd" in
private-run) cmd_private_run "$@" ;;
start) cmd_start "$@" ;;
stop) cmd_stop "$@" ;;
image) cmd_image "$@" ;;
clean) cmd_clean "$@" ;;
gc) cmd_gc ;;
help | -h | --help) usage ;;
*)
	usage >&2
	die "unknown command '$cmd'"
	;;
esac
