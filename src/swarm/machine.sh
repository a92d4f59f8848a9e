# shellcheck shell=sh
# rccr's machine layer, node side: time sync and the Docker engine started
# at boot and running. POSIX sh (busybox ash, dash, bash).
# Run as: sh -c "$THIS" rccr ROLE now=EPOCH (ROLE control or target, EPOCH
# the control's clock, seconds). Changes only what
# is not so already (the engine only on targets: the control joins the
# swarm only when it runs an engine of its own), and
# prints key=value lines, read by src/swarm/machine.rs:
#   hostname=NAME    uname=MACHINE    manager=openrc|systemd|none
#   timesync=chronyd|ntpd|none        rccr=yes|no
#   clock=set|failed|ahead SECONDS    (only when off by more than a minute)
#   docker=absent|present             ram_kib=N (MemTotal)
#   storage=persistent|volatile       (where /var/lib/docker lives)
#   changed=WHAT (one line per change)
#   problem=WHAT (one line per step that failed)
set -u
role=${1:-target}
control_now=${2:-}
control_now=${control_now#now=}
# Digits, at most 12 (an epoch has 10 until the year 2286): the shell's
# arithmetic stays in range.
case $control_now in '' | *[!0-9]* | ?????????????*) control_now= ;; esac

say() { printf '%s=%s\n' "$1" "$2"; }

if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
	manager=systemd
elif [ -d /run/openrc ] && command -v rc-service >/dev/null 2>&1; then
	manager=openrc
else
	manager=none
fi

# Enables service $1 at boot and starts it, where it is not so already;
# $2 says whether it runs already (yes or no).
ensure() {
	case $manager in
	openrc)
		if ! rc-update show default 2>/dev/null | grep -qw "$1"; then
			if rc-update add "$1" default >/dev/null 2>&1; then say changed "$1 enabled at boot"; else say problem "$1 not enabled at boot"; fi
		fi
		if [ "$2" = no ]; then
			if rc-service "$1" start >/dev/null 2>&1; then say changed "$1 started"; else say problem "$1 did not start"; fi
		fi
		;;
	systemd)
		if ! systemctl is-enabled --quiet "$1" 2>/dev/null; then
			if systemctl enable "$1" >/dev/null 2>&1; then say changed "$1 enabled at boot"; else say problem "$1 not enabled at boot"; fi
		fi
		if [ "$2" = no ]; then
			if systemctl start "$1" >/dev/null 2>&1; then say changed "$1 started"; else say problem "$1 did not start"; fi
		fi
		;;
	esac
}

running() { if pgrep -x "$1" >/dev/null 2>&1; then echo yes; else echo no; fi; }

say hostname "$(hostname)"
say uname "$(uname -m)"
say manager "$manager"
say ram_kib "$(awk '$1 == "MemTotal:" { print $2 }' /proc/meminfo 2>/dev/null)"
# The file system /var/lib/docker is on: the longest mount point above it.
fs=$(awk -v path=/var/lib/docker/ '{
	mp = ($2 == "/") ? "" : $2
	if (index(path, mp "/") == 1 && length(mp) >= best) { best = length(mp); type = $3 }
} END { print type }' /proc/mounts 2>/dev/null)
case $fs in
tmpfs | ramfs | rootfs | '') say storage volatile ;;
*) say storage persistent ;;
esac
if command -v rccr >/dev/null 2>&1; then say rccr yes; else say rccr no; fi

# A node behind the control fails the swarm's TLS ("certificate not yet
# valid"): a Pi has no hardware clock, starts at swclock's fallback (a
# package's build date) and, offline, its ntpd never corrects it. Stepped
# forward to the control's clock, before any join. A node ahead is left
# alone (stepping back could upset what runs there), and reported. A
# minute of slack covers the time the control's exec took to get here.
if [ -n "$control_now" ]; then
	node_now=$(date +%s 2>/dev/null)
	case $node_now in
	'' | *[!0-9]*) ;;
	*)
		if [ "$node_now" -lt $((control_now - 60)) ]; then
			if date -s "@$control_now" >/dev/null 2>&1; then
				say clock "set $((control_now - node_now))"
			else
				say clock "failed $((control_now - node_now))"
			fi
		elif [ "$node_now" -gt $((control_now + 60)) ]; then
			say clock "ahead $((node_now - control_now))"
		fi
		;;
	esac
fi

timesync=none
for daemon in chronyd ntpd; do
	if command -v "$daemon" >/dev/null 2>&1; then
		timesync=$daemon
		break
	fi
done
if [ "$timesync" = none ] && busybox ntpd --help >/dev/null 2>&1; then timesync=ntpd; fi
say timesync "$timesync"
if [ "$timesync" != none ] && [ "$manager" != none ]; then
	ensure "$timesync" "$(running "$timesync")"
fi

if command -v docker >/dev/null 2>&1 || command -v dockerd >/dev/null 2>&1; then
	say docker present
	if [ "$manager" != none ] && [ "$role" = target ]; then
		# An engine that answers is left alone, however it was started.
		if [ -S /var/run/docker.sock ] && [ "$(running dockerd)" = yes ]; then up=yes; else up=no; fi
		ensure docker "$up"
	fi
else
	say docker absent
fi
exit 0
