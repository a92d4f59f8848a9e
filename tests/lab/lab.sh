#!/bin/bash
#---help---
# lab.sh - virtual LAN test lab for RCCR, built from Linux network namespaces.
#
# A router namespace holds a bridge (fixed MAC) and dnsmasq (DHCP + DNS, domain
# "lab"); every host (control, targets, decoys) has its own network, mount and
# UTS namespace, its own /root, /etc/hostname, /etc/hosts, /etc/resolv.conf
# and a real OpenSSH sshd. Nothing touches the root namespace's network.
# Needs root and: iproute2 dnsmasq-base openssh-server openssh-client nftables
# util-linux coreutils busybox (for udhcpc).
#
# Usage:
#   lab.sh up [OPTIONS]        build a lab; the LABDIR is the last line on stdout
#       --targets N            N DHCP targets target-1.. (hostname ReCyClusteR-Target-01..)
#       --static N             N static targets static-1.. (hostname ReCyClusteR-Target-s01..,
#                              static address, no DNS name)
#       --decoys               add decoys foreign (kitchen-laptop, accepts the key),
#                              imposter (ReCyClusteR-Imposter, refuses the key),
#                              nossh (printer-nossh, no sshd)
#       --hostile KIND         add a hostile host named like a target (repeatable): liar
#                              (accepts the key; its uname -m prints tabs, key=value pairs,
#                              extra lines and escapes), anykey (sshd whose
#                              AuthorizedKeysCommand authorises every key offered), talker
#                              (accepts the key; its uname -m prints without end), namer
#                              (accepts the key; its hostname prints the bytes of
#                              LABDIR/hosts/namer/hostname.lie: escapes, an extra line), rdns
#                              (a node in every other way, at the last static address, whose
#                              reverse-DNS name holds spaces and shell syntax), keyswap
#                              (accepts the key; once it told its facts, its address answers
#                              with another host key, as a machine in the middle would), anyip
#                              (accepts the key; answers ARP and SSH at the 32 free addresses
#                              NET+32/27 besides its own lease, as proxy ARP would)
#       --dualhome             add dualhome (ReCyClusteR-Target-11): a target with two network
#                              cards in the LAN, eth0 and eth1 (MAC 02:52:43:4d:..), each with
#                              its own DHCP lease (LABDIR/hosts/dualhome/lease, lease-eth1)
#       --loss HOST:PCT        drop PCT% of HOST's frames in both directions (repeatable;
#                              applied once every host is up)
#       --subnet CIDR          private lab subnet, prefix 8..24 (default 10.213.0.0/24)
#       --pubkey FILE          temporary public key: every target's authorized_keys
#       --privkey FILE         temporary private key: control's /root/.ssh/id_rsa
#       --bin FILE             copy FILE into LABDIR/bin, first in PATH in hosts (repeatable)
#       --owner PID            owner process; `gc` removes the lab once it is dead
#                              (default: the caller's parent, e.g. the script that runs
#                              `LAB=$(lab.sh up ... | tail -1)`)
#       --router-mac MAC       bridge MAC address (default 02:52:43:4c:ff:fe)
#   lab.sh add LABDIR [--targets N] [--static N]
#                              add hosts to a running lab; prints the new host names
#   lab.sh exec LABDIR HOST [CMD...]
#                              run CMD (default bash) inside HOST; stdin/stdout/exit code pass
#                              through; env is PATH=LABDIR/bin:<system> HOME=/root, cwd /root
#   lab.sh ssh LABDIR FROM TO CMD...
#                              OpenSSH from host FROM to host TO (lab name or address) as root
#                              with the control's key (override: env LAB_SSH_KEY), BatchMode
#   lab.sh loss LABDIR HOST PCT
#                              set HOST's frame loss (0 removes it) in a running lab
#   lab.sh rekey LABDIR HOST TYPE
#                              give HOST a new host key of TYPE (ed25519, ecdsa, rsa, rsa1024) as its
#                              only one, and restart its sshd
#   lab.sh storage LABDIR HOST disk|lbu|none
#                              what HOST keeps over a reboot: disk (default: everything),
#                              lbu (diskless: what its lbu stand-in committed to its boot
#                              medium), none (diskless, no medium: lbu commit fails)
#   lab.sh reboot LABDIR HOST...
#                              SIGTERM (then SIGKILL) every process of each HOST, drop what a
#                              diskless host loses, boot it again: rccr init (as OpenRC's
#                              rccr-init would, when LABDIR/bin has rccr), DHCP, sshd
#   lab.sh powercut LABDIR     the same for every host at once, with SIGKILL
#   lab.sh relay LABDIR HOST TO
#                              HOST forwards its port 22 to TO's (lab name or address) with nft
#                              DNAT and masquerade, as a relay or NAT in between would
#   lab.sh ip LABDIR HOST      print HOST's address
#   lab.sh down LABDIR         kill every lab process, delete the namespaces, remove LABDIR
#   lab.sh gc                  tear down labs whose owner is dead, and orphaned leftovers
#   lab.sh help
#
# LABDIR/hosts.tsv: name<TAB>kind<TAB>ip<TAB>mac<TAB>hostname, kind is
# control|target|static|foreign|imposter|nossh|liar|anykey|talker|namer|rdns|keyswap|anyip|dualhome
# (its ip is eth0's lease). Env LAB_TIMEOUT (seconds, default
# 30) bounds every wait; LAB_DEBUG=1 traces the script.
#---help---
set -eu
umask 022
[ -z "${LAB_DEBUG:-}" ] || set -x

REGISTRY=/run/rccr-lab
PATH_TAIL=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH="$PATH_TAIL${PATH:+:$PATH}"
TIMEOUT=${LAB_TIMEOUT:-30}
SELF=$(readlink -f "$0")
# per-host fields, set by sourcing LABDIR/hosts/NAME/info
NAME="" KIND="" HNAME="" IDX="" NS="" PORT="" MAC="" STATIC_IP=""

# help, die, einfo, is_uint, now_ms, uint_option
# shellcheck source=tests/lab/lib.sh
. "$(dirname "$SELF")/lib.sh"

# ---------------------------------------------------------------- helpers

ip2int() {
	local a b c d
	case "$1" in *[!0-9.]* | *..* | .* | *.) return 1 ;; esac
	IFS=. read -r a b c d <<<"$1"
	for x in "$a" "$b" "$c" "$d"; do
		is_uint "$x" && [ "$x" -le 255 ] || return 1
	done
	echo $(((a << 24) + (b << 16) + (c << 8) + d))
}

int2ip() {
	echo "$((($1 >> 24) & 255)).$((($1 >> 16) & 255)).$((($1 >> 8) & 255)).$(($1 & 255))"
}

# field $2 (3 or more) of /proc/$1/stat, empty if the process is gone;
# fields are counted after the command name, which may hold blanks
proc_stat_field() {
	local stat rest field=$2
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
	rest=${stat##*) }
	# shellcheck disable=SC2086 # split the fields on purpose
	set -- $rest
	shift $((field - 3))
	echo "$1"
}

# start time of a process, empty if it is gone
proc_start() { proc_stat_field "$1" 22; }

# parent PID of a process, empty if it is gone
proc_ppid() { proc_stat_field "$1" 4; }

need_tools() {
	local missing="" t pkg
	for t in ip:iproute2 dnsmasq:dnsmasq-base /usr/sbin/sshd:openssh-server \
		ssh:openssh-client ssh-keygen:openssh-client nft:nftables nsenter:util-linux \
		unshare:util-linux flock:util-linux setsid:util-linux mount:mount \
		busybox:busybox; do
		pkg=${t##*:}
		t=${t%:*}
		command -v "$t" >/dev/null 2>&1 || missing="$missing $pkg"
	done
	if command -v busybox >/dev/null 2>&1 && ! busybox --list 2>/dev/null | grep -qx udhcpc; then
		missing="$missing busybox(udhcpc applet)"
	fi
	[ -z "$missing" ] || die "missing tools; install the Debian packages:$missing (apt-get install -y$missing)"
	[ "$(id -u)" = 0 ] || die "the lab needs root (network namespaces, mounts)"
}

# load LABDIR/lab.env (sets ID, RNS, NET, PREFIXLEN, ...)
load_lab() {
	[ -n "${1:-}" ] || die "LABDIR missing"
	LABDIR=$(readlink -f "$1")
	[ -f "$LABDIR/lab.env" ] || die "$1 is not a lab directory (no lab.env)"
	# shellcheck source=/dev/null
	. "$LABDIR/lab.env"
	case "${ID:-}" in rl[a-z0-9][a-z0-9][a-z0-9][a-z0-9][a-z0-9][a-z0-9]) ;; *) die "bad lab id in $LABDIR/lab.env" ;; esac
}

save_lab() {
	{
		for v in ID RNS NET PREFIXLEN ROUTER_IP ROUTER_MAC DHCP_START DHCP_END \
			STATIC_MAX OWNER NEXT_INDEX NEXT_TARGET NEXT_STATIC; do
			printf '%s=%q\n' "$v" "${!v}"
		done
	} >"$LABDIR/lab.env.tmp"
	mv -f "$LABDIR/lab.env.tmp" "$LABDIR/lab.env"
}

hostdir() {
	[ -f "$LABDIR/hosts/$1/info" ] || die "no host '$1' in lab $LABDIR"
	echo "$LABDIR/hosts/$1"
}

holder_pid() {
	local h pid
	h=$(hostdir "$1")
	pid=$(cat "$h/holder.pid" 2>/dev/null) || die "host '$1' has no holder process"
	[ -d "/proc/$pid" ] || die "holder of host '$1' (pid $pid) is dead"
	echo "$pid"
}

# address of a host: static, else the DHCP lease
host_ip() {
	local h
	h=$(hostdir "$1")
	# shellcheck source=/dev/null
	(. "$h/info" && if [ -n "$STATIC_IP" ]; then echo "$STATIC_IP"; else cat "$h/lease" 2>/dev/null || true; fi)
}

# HOSTCMD=(...): the command prefix that runs a command inside a host (network,
# mount and UTS namespaces of its holder), with a clean environment, cwd /root
host_cmd() {
	HOSTCMD=(nsenter -t "$1" -n -m -u -- env -i -C /root
		PATH="$LABDIR/bin:$PATH_TAIL" HOME=/root USER=root LOGNAME=root SHELL=/bin/bash
		LANG=C.UTF-8 ${TERM:+"TERM=$TERM"} ${RUST_BACKTRACE:+"RUST_BACKTRACE=$RUST_BACKTRACE"}
		${RUST_LOG:+"RUST_LOG=$RUST_LOG"})
}

# ---------------------------------------------------------------- building

# Runs inside a fresh mount+UTS namespace within the host's network namespace.
# Private /etc, /usr/local, /var and /opt (overlays, best effort) so a host
# writing there never changes the real machine; then the host's own files.
# shellcheck disable=SC2016 # expanded by the holder's bash, not here
HOLDER_SCRIPT='
set -e
h=$1 hn=$2 tag=$3
for d in etc usr/local var opt; do
	[ -d "/$d" ] || continue
	u=$h/ov/${d//\//_}
	mkdir -p "$u/upper" "$u/work"
	mount -t overlay "rccr-lab-$d" -o "lowerdir=/$d,upperdir=$u/upper,workdir=$u/work" "/$d" ||
		echo "lab holder: no private /$d (overlay failed)" >&2
done
mount --bind "$h/root" /root
for f in hostname hosts resolv.conf; do
	mount --bind "$h/etc/$f" "/etc/$f"
done
echo "$hn" >/proc/sys/kernel/hostname
# A boot_id of its own, new each boot, as a kernel of its own would have:
# the real one is the same in every namespace.
cat /proc/sys/kernel/random/uuid >"$h/boot_id"
mount --bind "$h/boot_id" /proc/sys/kernel/random/boot_id
ip link set lo up
echo $$ >"$h/holder.pid.tmp"
mv -f "$h/holder.pid.tmp" "$h/holder.pid"
exec -a "rccr-lab-holder:$tag" sleep infinity
'

write_udhcpc_script() {
	cat >"$LABDIR/udhcpc.script" <<'EOF'
#!/bin/sh
# udhcpc event script of the RCCR lab (written by lab.sh)
case "$1" in
deconfig)
	ip -4 addr flush dev "$interface"
	ip link set "$interface" up
	;;
bound | renew)
	if ! ip -4 addr show dev "$interface" | grep -q "inet $ip/"; then
		ip -4 addr flush dev "$interface"
		ip addr add "$ip/${mask:-$LAB_PREFIXLEN}" dev "$interface"
	fi
	for r in $router; do
		ip route replace default via "$r" dev "$interface"
		break
	done
	# the anyip host: every address of a block is its own (ARP, SSH)
	if [ -s "$LAB_HOSTDIR/anyip" ]; then
		ip route replace local "$(cat "$LAB_HOSTDIR/anyip")" dev "$interface" table local
	fi
	# eth0's lease is the host's address; another card's is lease-IFACE
	lease=$LAB_HOSTDIR/lease
	[ "$interface" = eth0 ] || lease=$LAB_HOSTDIR/lease-$interface
	echo "$ip" >"$lease.tmp"
	mv -f "$lease.tmp" "$lease"
	;;
esac
exit 0
EOF
	chmod 755 "$LABDIR/udhcpc.script"
}

# NAME.in-addr.arpa of an address: the owner of its PTR record
reverse_name() {
	local a b c d
	IFS=. read -r a b c d <<<"$1"
	echo "$d.$c.$b.$a.in-addr.arpa"
}

start_router() {
	local mask
	mkdir -p "$LABDIR/router"
	ip netns add "$RNS"
	ip -n "$RNS" link set lo up
	ip -n "$RNS" link add br0 type bridge stp_state 0 forward_delay 0
	ip -n "$RNS" link set br0 address "$ROUTER_MAC"
	ip -n "$RNS" addr add "$ROUTER_IP/$PREFIXLEN" dev br0
	ip -n "$RNS" link set br0 up
	mask=$(int2ip $(((0xffffffff << (32 - PREFIXLEN)) & 0xffffffff)))
	ip netns exec "$RNS" dnsmasq --conf-file=/dev/null --user=root --group=root \
		--interface=br0 --bind-interfaces --no-ping --no-resolv --no-hosts --bogus-priv \
		--domain=lab --local=/lab/ --dhcp-authoritative --dhcp-lease-max=65535 \
		--dhcp-range="$DHCP_START,$DHCP_END,$mask,12h" \
		--dhcp-option=option:router,"$ROUTER_IP" --dhcp-option=option:dns-server,"$ROUTER_IP" \
		--dhcp-leasefile="$LABDIR/router/dnsmasq.leases" --pid-file="$LABDIR/router/dnsmasq.pid" \
		--log-facility="$LABDIR/router/dnsmasq.log" --log-dhcp --log-queries \
		${RDNS_IP:+"--ptr-record=$(reverse_name "$RDNS_IP"),$RDNS_PTR"} \
		</dev/null >"$LABDIR/router/dnsmasq.out" 2>&1 8>&- 9>&- ||
		die "dnsmasq failed: $(cat "$LABDIR/router/dnsmasq.out" "$LABDIR/router/dnsmasq.log" 2>/dev/null)"
}

# create_host NAME KIND HOSTNAME [STATIC_IP]: files, namespace, bridge port
create_host() {
	local name=$1 kind=$2 hname=$3 sip=${4:-} idx ns port mac h
	idx=$NEXT_INDEX
	NEXT_INDEX=$((NEXT_INDEX + 1))
	ns=$ID-h$idx
	port=p$idx
	mac=$(printf '02:52:43:4c:%02x:%02x' $(((idx >> 8) & 255)) $((idx & 255)))
	h=$LABDIR/hosts/$name
	[ ! -e "$h" ] || die "host $name exists already"
	mkdir -p "$h/root/.ssh" "$h/etc"
	chmod 700 "$h/root" "$h/root/.ssh"
	echo "$hname" >"$h/etc/hostname"
	printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\tlocalhost ip6-localhost ip6-loopback\n' \
		"$hname" >"$h/etc/hosts"
	printf 'nameserver %s\nsearch lab\n' "$ROUTER_IP" >"$h/etc/resolv.conf"
	{
		printf 'NAME=%q\nKIND=%q\nHNAME=%q\nIDX=%q\nNS=%q\nPORT=%q\nMAC=%q\nSTATIC_IP=%q\n' \
			"$name" "$kind" "$hname" "$idx" "$ns" "$port" "$mac" "$sip"
	} >"$h/info"

	case "$kind" in
	control)
		if [ -n "$PRIVKEY" ]; then
			install -m 600 "$PRIVKEY" "$h/root/.ssh/id_rsa"
			install -m 644 "$PUBKEY_FILE" "$h/root/.ssh/id_rsa.pub"
		fi
		;;
	target | static | foreign | liar | talker | namer | rdns | keyswap | anyip | dualhome)
		[ -z "$PUBKEY_FILE" ] || install -m 600 "$PUBKEY_FILE" "$h/root/.ssh/authorized_keys"
		;;
	imposter)
		ssh-keygen -q -t ed25519 -N '' -C "some-other-key" -f "$h/other_key" >/dev/null
		install -m 600 "$h/other_key.pub" "$h/root/.ssh/authorized_keys"
		rm -f "$h/other_key"
		;;
	esac
	write_fakebin "$kind" "$h"
	if [ "$kind" != nossh ]; then
		ssh-keygen -q -t ed25519 -N '' -C "$hname" -f "$h/ssh_host_ed25519_key" >/dev/null
		cat >"$h/sshd_config" <<EOF
# sshd of lab host $name (written by lab.sh)
Port 22
HostKey $h/ssh_host_ed25519_key
PidFile $h/sshd.pid
PermitRootLogin prohibit-password
PubkeyAuthentication yes
AuthorizedKeysFile .ssh/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes yes
UseDNS no
PrintMotd no
PrintLastLog no
X11Forwarding no
MaxStartups 100:30:200
MaxSessions 50
LogLevel VERBOSE
SetEnv PATH=$h/fakebin:$LABDIR/bin:$PATH_TAIL
Subsystem sftp /usr/lib/openssh/sftp-server
EOF
		if [ "$kind" = anykey ]; then
			# Authorises whatever key is offered: %t %k is that very key.
			printf 'AuthorizedKeysCommand /bin/echo %%t %%k\nAuthorizedKeysCommandUser nobody\n' \
				>>"$h/sshd_config"
		fi
	fi

	ip netns add "$ns"
	ip -n "$RNS" link add "$port" type veth peer name eth0 address "$mac" netns "$ns"
	ip -n "$RNS" link set "$port" master br0
	ip -n "$RNS" link set "$port" up
	ip -n "$ns" link set eth0 up
	if [ -n "$sip" ]; then
		ip -n "$ns" addr add "$sip/$PREFIXLEN" dev eth0
		ip -n "$ns" route add default via "$ROUTER_IP" dev eth0
	fi
	if [ "$kind" = dualhome ]; then
		# A second card in the same LAN, set up as a multi-homed machine
		# should be: each card answers ARP for its own address only and
		# takes what comes in for it (loose reverse-path filter).
		ip -n "$RNS" link add "${port}b" type veth peer name eth1 \
			address "$(printf '02:52:43:4d:%02x:%02x' $(((idx >> 8) & 255)) $((idx & 255)))" netns "$ns"
		ip -n "$RNS" link set "${port}b" master br0
		ip -n "$RNS" link set "${port}b" up
		ip -n "$ns" link set eth1 up
		# shellcheck disable=SC2016 # expanded by the namespace's sh
		ip netns exec "$ns" sh -c 'c=/proc/sys/net/ipv4/conf
			echo 1 >$c/all/arp_ignore && echo 2 >$c/all/arp_announce &&
			for i in all eth0 eth1; do echo 2 >$c/$i/rp_filter || exit; done'
	fi
	NEW_HOSTS="$NEW_HOSTS $name"
}

# A diskless host's sessions see `/` as a RAM filesystem, as Alpine run
# from RAM does: rccr and sh, first in their PATH, run in a mount namespace
# of their own with a tmpfs over `/`, which /proc/mounts shows while paths
# still resolve in the host's tree. The lab's own root is on a disk, where
# a change is kept whatever lbu says.
write_ram_root() {
	local h=$1 wrapper program
	for wrapper in rccr sh; do
		program=/bin/sh
		[ "$wrapper" = sh ] || program=$LABDIR/bin/rccr
		cat >"$h/fakebin/$wrapper.tmp" <<EOF
#!/bin/sh
exec unshare --mount /bin/sh -c 'mount -t tmpfs rccr-ram / && exec "\$@"' sh '$program' "\$@"
EOF
		chmod 755 "$h/fakebin/$wrapper.tmp"
		mv -f "$h/fakebin/$wrapper.tmp" "$h/fakebin/$wrapper"
	done
}

# The commands a hostile host wraps for SSH sessions (first in their PATH):
# what it answers when asked for its facts.
write_fakebin() {
	local kind=$1 h=$2
	mkdir -p "$h/fakebin"
	case "$kind" in
	liar)
		cat >"$h/fakebin/uname" <<'EOF'
#!/bin/sh
printf 'x86_64\tansible_connection=local ansible_host=127.0.0.1\n[control]\nevil=1\n\033[2J\033]0;pwned\007\n'
EOF
		;;
	talker)
		cat >"$h/fakebin/uname" <<'EOF'
#!/bin/sh
exec yes x86_64
EOF
		;;
	namer)
		# What it says its name is: a file a test may rewrite between runs.
		printf 'ReCyClusteR-Target-55\033]0;pwned\007\n[control] pwned=1\n' >"$h/hostname.lie"
		printf '#!/bin/sh\nexec cat %q\n' "$h/hostname.lie" >"$h/fakebin/hostname"
		;;
	keyswap)
		# Its first facts are its last as itself: then its sshd serves a
		# new host key (SIGHUP re-reads it), and uname answers once the
		# new key is served, so the next connection meets it.
		cat >"$h/fakebin/uname" <<EOF
#!/bin/sh
set -eu
h=$h
if [ ! -e "\$h/swapped" ]; then
	: >"\$h/swapped"
	rm -f "\$h/swap_key" "\$h/swap_key.pub"
	ssh-keygen -q -t ed25519 -N '' -C keyswap -f "\$h/swap_key" >/dev/null
	mv -f "\$h/swap_key.pub" "\$h/ssh_host_ed25519_key.pub"
	mv -f "\$h/swap_key" "\$h/ssh_host_ed25519_key"
	kill -HUP "\$(cat "\$h/sshd.pid")"
	new=\$(cut -d' ' -f2 "\$h/ssh_host_ed25519_key.pub")
	deadline=\$((\$(date +%s) + $TIMEOUT))
	until ssh-keyscan -t ed25519 127.0.0.1 2>/dev/null | grep -qF "\$new"; do
		[ "\$(date +%s)" -lt "\$deadline" ] || { echo "keyswap: sshd serves no new key after ${TIMEOUT}s" >&2; exit 1; }
		sleep 0.1
	done
fi
PATH=\${PATH#*:}
exec uname "\$@"
EOF
		;;
	esac
	chmod 755 "$h/fakebin"/* 2>/dev/null || true
}

start_holder() {
	local name=$1 h
	h=$LABDIR/hosts/$name
	# shellcheck source=/dev/null
	. "$h/info"
	setsid ip netns exec "$NS" unshare --mount --uts --propagation slave \
		/bin/bash -c "$HOLDER_SCRIPT" holder "$h" "$HNAME" "$ID:$name" \
		</dev/null >"$h/holder.log" 2>&1 8>&- 9>&- &
}

# wait until COND_FN NAME succeeds for every name; die naming the laggards
wait_all() {
	local what=$1 fn=$2 deadline pending n
	shift 2
	deadline=$(($(now_ms) + TIMEOUT * 1000))
	while :; do
		pending=""
		for n in "$@"; do
			"$fn" "$n" || pending="$pending $n"
		done
		[ -n "$pending" ] || return 0
		if [ "$(now_ms)" -ge "$deadline" ]; then
			# The lab dir goes with the test: its logs are shown here.
			# shellcheck disable=SC2086 # list of host names
			host_logs $pending
			die "timeout (${TIMEOUT}s) waiting for $what:$pending (their logs above)"
		fi
		sleep 0.05
	done
}

# The last lines of every log of the given hosts, on stderr.
host_logs() {
	local n f
	for n in "$@"; do
		for f in "$LABDIR/hosts/$n"/*.log "$LABDIR/hosts/$n"/*.out; do
			[ -s "$f" ] || continue
			printf '%s: --- %s (last lines)\n' "$PROG" "${f#"$LABDIR"/}" >&2
			tail -n 20 "$f" >&2
		done
	done
}

holder_ready() {
	local p
	p=$(cat "$LABDIR/hosts/$1/holder.pid" 2>/dev/null) && [ -d "/proc/$p" ]
}

host_ready() {
	local h=$LABDIR/hosts/$1 p
	# shellcheck source=/dev/null
	. "$h/info"
	if [ -z "$STATIC_IP" ] && [ ! -s "$h/lease" ]; then
		return 1
	fi
	if [ "$KIND" = dualhome ] && [ ! -s "$h/lease-eth1" ]; then
		return 1
	fi
	if [ "$KIND" != nossh ]; then
		p=$(cat "$h/sshd.pid" 2>/dev/null) && [ -d "/proc/$p" ] || return 1
	fi
	return 0
}

configure_host() {
	local name=$1 h
	h=$LABDIR/hosts/$name
	# shellcheck source=/dev/null
	. "$h/info"
	host_cmd "$(cat "$h/holder.pid")"
	if [ -z "$STATIC_IP" ]; then
		"${HOSTCMD[@]}" LAB_HOSTDIR="$h" LAB_PREFIXLEN="$PREFIXLEN" \
			busybox udhcpc -f -i eth0 -s "$LABDIR/udhcpc.script" -p "$h/udhcpc.pid" \
			-x "hostname:$HNAME" -t 10 -T 1 -A 1 \
			</dev/null >"$h/udhcpc.log" 2>&1 8>&- 9>&- &
	fi
	if [ "$KIND" = dualhome ]; then
		"${HOSTCMD[@]}" LAB_HOSTDIR="$h" LAB_PREFIXLEN="$PREFIXLEN" \
			busybox udhcpc -f -i eth1 -s "$LABDIR/udhcpc.script" -p "$h/udhcpc-eth1.pid" \
			-x "hostname:$HNAME" -t 10 -T 1 -A 1 \
			</dev/null >"$h/udhcpc-eth1.log" 2>&1 8>&- 9>&- &
	fi
	if [ "$KIND" != nossh ]; then
		"${HOSTCMD[@]}" /usr/sbin/sshd -f "$h/sshd_config" -E "$h/sshd.log" \
			</dev/null >"$h/sshd.out" 2>&1 8>&- 9>&- &
	fi
}

write_hosts_tsv() {
	local h
	: >"$LABDIR/hosts.tsv.tmp"
	for h in "$LABDIR"/hosts/*/info; do
		# shellcheck source=/dev/null
		(. "$h" && printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$IDX" "$NAME" "$KIND" \
			"$(host_ip "$NAME")" "$MAC" "$HNAME")
	done | sort -n | cut -f2- >"$LABDIR/hosts.tsv.tmp"
	mv -f "$LABDIR/hosts.tsv.tmp" "$LABDIR/hosts.tsv"
}

apply_loss() {
	local name pct port rnd pre="" post=""
	if [ -s "$LABDIR/loss" ]; then
		while read -r name pct; do
			[ "$pct" -gt 0 ] || continue
			# shellcheck source=/dev/null
			port=$(. "$LABDIR/hosts/$name/info" && echo "$PORT")
			rnd="numgen random mod 100 < $pct "
			[ "$pct" -lt 100 ] || rnd="" # numgen's range is 0..99
			pre="$pre		iifname \"$port\" $rnd""drop
"
			post="$post		oifname \"$port\" $rnd""drop
"
		done <"$LABDIR/loss"
	fi
	ip netns exec "$RNS" nft -f - <<EOF
table bridge rccr_lab
delete table bridge rccr_lab
table bridge rccr_lab {
	chain pre {
		type filter hook prerouting priority 0; policy accept;
$pre	}
	chain post {
		type filter hook postrouting priority 0; policy accept;
$post	}
}
EOF
}

set_loss() {
	local name=$1 pct=$2
	hostdir "$name" >/dev/null
	if ! is_uint "$pct" || [ "$pct" -gt 100 ]; then die "loss must be 0..100, got '$pct'"; fi
	touch "$LABDIR/loss"
	grep -v "^$name " "$LABDIR/loss" >"$LABDIR/loss.tmp" || true
	echo "$name $pct" >>"$LABDIR/loss.tmp"
	mv -f "$LABDIR/loss.tmp" "$LABDIR/loss"
}

# build the hosts queued in NEW_HOSTS: holders, DHCP clients, sshd, readiness
bring_up_new_hosts() {
	local n
	# shellcheck disable=SC2086 # NEW_HOSTS is a space separated list of names
	set -- $NEW_HOSTS
	[ $# -gt 0 ] || return 0
	for n in "$@"; do start_holder "$n"; done
	wait_all "host namespaces" holder_ready "$@"
	mkdir -p /run/sshd
	chmod 755 /run/sshd
	for n in "$@"; do configure_host "$n"; done
	wait_all "DHCP leases and sshd" host_ready "$@"
	write_hosts_tsv
}

add_targets() {
	local n=$1 i
	for ((i = 0; i < n; i++)); do
		create_host "target-$NEXT_TARGET" target "$(printf 'ReCyClusteR-Target-%02d' "$NEXT_TARGET")"
		NEXT_TARGET=$((NEXT_TARGET + 1))
	done
}

add_statics() {
	local n=$1 i
	for ((i = 0; i < n; i++)); do
		[ "$NEXT_STATIC" -le "$STATIC_MAX" ] || die "no static address left (at most $STATIC_MAX)"
		create_host "static-$NEXT_STATIC" static "$(printf 'ReCyClusteR-Target-s%02d' "$NEXT_STATIC")" \
			"$(int2ip $((NET + 1 + NEXT_STATIC)))"
		NEXT_STATIC=$((NEXT_STATIC + 1))
	done
}

# ---------------------------------------------------------------- reboots

# What a host keeps over a reboot (`lab.sh storage`): disk (no file), lbu, none.
host_storage() {
	cat "$LABDIR/hosts/$1/storage" 2>/dev/null || echo disk
}

# The lbu stand-in of a diskless host, first in its sessions' PATH. Like
# Alpine's lbu, `include` adds to the list and `commit` saves /etc's changes
# plus the list to the boot medium (here LABDIR/hosts/NAME/media/apkovl.tar,
# paths as they are under LABDIR/hosts/NAME); without a medium it fails.
write_lbu() {
	local name=$1 h=$LABDIR/hosts/$1
	cat >"$h/fakebin/lbu.tmp" <<LBUHEAD
#!/bin/sh
# lbu stand-in of lab host $name (written by lab.sh storage)
h='$h'
LBUHEAD
	cat >>"$h/fakebin/lbu.tmp" <<'LBUBODY'
# where a path of the host lives under $h (the lab's writable dirs only)
under_h() {
	case "$1" in
	/root | /root/*) echo "root${1#/root}" ;;
	/etc/*) echo "ov/etc/upper${1#/etc}" ;;
	/var/*) echo "ov/var/upper${1#/var}" ;;
	/usr/local/*) echo "ov/usr_local/upper${1#/usr/local}" ;;
	/opt/*) echo "ov/opt/upper${1#/opt}" ;;
	*) return 1 ;;
	esac
}
case "${1:-}" in
include)
	shift
	for p in "$@"; do
		under_h "$p" >/dev/null || { echo "lbu: $p: outside what the lab saves" >&2; exit 1; }
		grep -qxF "$p" "$h/lbu.list" 2>/dev/null || echo "$p" >>"$h/lbu.list"
	done
	;;
commit | ci)
	if [ "$(cat "$h/storage")" != lbu ]; then
		echo "lbu: no media to save to (lab host without storage)" >&2
		exit 1
	fi
	set -- ov/etc/upper
	if [ -f "$h/lbu.list" ]; then
		while IFS= read -r p; do
			r=$(under_h "$p") && [ -e "$h/$r" ] && set -- "$@" "$r"
		done <"$h/lbu.list"
	fi
	mkdir -p "$h/media"
	tar -C "$h" -cf "$h/media/apkovl.tar.tmp" "$@" && sync "$h/media/apkovl.tar.tmp" &&
		mv -f "$h/media/apkovl.tar.tmp" "$h/media/apkovl.tar"
	;;
*)
	echo "lbu (lab stand-in): include PATH... | commit" >&2
	exit 1
	;;
esac
LBUBODY
	chmod 755 "$h/fakebin/lbu.tmp"
	mv -f "$h/fakebin/lbu.tmp" "$h/fakebin/lbu"
}

# PIDs of every process in the network namespaces of the given hosts.
host_pids() {
	local n
	for n in "$@"; do
		# shellcheck source=/dev/null
		. "$LABDIR/hosts/$n/info"
		ip netns pids "$NS" 2>/dev/null || true
	done | tr '\n' ' '
}

# Whether the process PID:START (START its start time) has ended: gone, its
# PID another process's now, or a zombie (its exit done, files closed).
has_ended() {
	local state
	[ "$(proc_start "${1%%:*}")" = "${1#*:}" ] || return 0
	state=$(proc_stat_field "${1%%:*}" 3)
	[ "$state" = Z ] || [ "$state" = X ]
}

# One line per process PID:START given: PID, state, what it waits in, command.
describe_pids() {
	local p
	for p in "$@"; do
		printf '\n  %s %s %s %s' "${p%%:*}" "$(proc_stat_field "${p%%:*}" 3)" \
			"$(cat "/proc/${p%%:*}/wchan" 2>/dev/null)" \
			"$(tr '\0' ' ' <"/proc/${p%%:*}/cmdline" 2>/dev/null)"
	done
}

# Kills every process of the given hosts with SIG (with TERM, what is still
# there after 2 s gets SIGKILL), the holder included, and returns once each
# has ended. A process leaves its network namespace early in its exit,
# before it has closed its files and dropped its mount namespace (the
# host's overlays, which the next boot mounts again on the same dirs): out
# of `ip netns pids` is not yet ended, so each is waited for, by PID and
# start time. A load that slows the exits only makes this wait longer; it
# fails only when a process outlives SIGKILL by the lab's TIMEOUT.
kill_hosts() {
	local sig=$1 t0 deadline pids p start left running
	shift
	t0=$(now_ms)
	deadline=$((t0 + TIMEOUT * 1000))
	while :; do
		pids=$(host_pids "$@")
		[ -n "${pids// /}" ] || return 0
		running=""
		for p in $pids; do
			start=$(proc_start "$p")
			[ -z "$start" ] || running="$running $p:$start"
		done
		# shellcheck disable=SC2086 # list of PID:START
		[ "$(now_ms)" -lt "$deadline" ] ||
			die "processes of $* keep coming back after ${TIMEOUT}s of SIGKILL (pid state wchan command):$(describe_pids $running)"
		[ "$(now_ms)" -lt $((t0 + 2000)) ] || sig=KILL
		# shellcheck disable=SC2086 # list of PIDs; one gone already is no error
		kill -"$sig" $pids 2>/dev/null || true
		while :; do
			left=""
			for p in $running; do has_ended "$p" || left="$left $p"; done
			[ -n "$left" ] || break
			# what ignores SIGTERM: SIGKILL in the next round
			[ "$sig" = KILL ] || [ "$(now_ms)" -lt $((t0 + 2000)) ] || break
			# shellcheck disable=SC2086 # list of PID:START
			[ "$(now_ms)" -lt "$deadline" ] ||
				die "processes of $* did not end in ${TIMEOUT}s after SIGKILL (pid state wchan command):$(describe_pids $left)"
			running=$left
			sleep 0.05
		done
	done
}

# What a diskless host loses: its writable dirs go back to the image (as
# `lab.sh storage` found them), then what lbu committed is restored.
discard_volatile() {
	local n=$1 h=$LABDIR/hosts/$1
	rm -f "$h/lease" "$h/lease-eth1" "$h/sshd.pid" "$h/udhcpc.pid" "$h/udhcpc-eth1.pid" "$h/holder.pid"
	[ "$(host_storage "$n")" != disk ] || return 0
	rm -rf "$h/root" "$h/ov"
	tar -C "$h" -xpf "$h/image.tar"
	[ ! -f "$h/media/apkovl.tar" ] || tar -C "$h" -xpf "$h/media/apkovl.tar"
}

# Boots hosts again: holder (mounts), rccr init as OpenRC runs it in the
# boot runlevel (before networking and sshd), then DHCP and sshd.
boot_hosts() {
	local n h
	for n in "$@"; do start_holder "$n"; done
	wait_all "host namespaces" holder_ready "$@"
	for n in "$@"; do
		h=$LABDIR/hosts/$n
		[ -x "$LABDIR/bin/rccr" ] || continue
		host_cmd "$(cat "$h/holder.pid")"
		"${HOSTCMD[@]}" PATH="$h/fakebin:$LABDIR/bin:$PATH_TAIL" rccr init \
			</dev/null >"$h/rccr-init.log" 2>&1 8>&- 9>&- ||
			einfo "$n: rccr init failed (the boot goes on, as OpenRC's does): see $h/rccr-init.log"
	done
	for n in "$@"; do configure_host "$n"; done
	wait_all "DHCP leases and sshd" host_ready "$@"
	write_hosts_tsv
}

# ---------------------------------------------------------------- teardown

# every PID belonging to lab ID: in its namespaces, or recorded and still ours
lab_pids() {
	local id=$1 dir=$2 ns f p cmd
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$id-" || true); do
		ip netns pids "$ns" 2>/dev/null || true
	done
	if [ -n "$dir" ] && [ -d "$dir" ]; then
		for f in "$dir"/hosts/*/holder.pid "$dir"/hosts/*/sshd.pid "$dir"/hosts/*/udhcpc*.pid \
			"$dir"/router/dnsmasq.pid; do
			p=$(cat "$f" 2>/dev/null) || continue
			is_uint "$p" || continue
			cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline") || continue
			case "$cmd" in *"$dir"* | *"rccr-lab-holder:$id:"*) echo "$p" ;; esac
		done
	fi
	for p in $(pgrep -f "^rccr-lab-holder:$id:" || true); do echo "$p"; done
}

lab_down() {
	local id=$1 dir=$2 pids i ns left
	for ((i = 0; i < 100; i++)); do
		pids=$(lab_pids "$id" "$dir" | sort -u | tr '\n' ' ')
		[ -n "${pids// /}" ] || break
		# shellcheck disable=SC2086 # list of PIDs
		kill -KILL $pids 2>/dev/null || true
		sleep 0.05
	done
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$id-" || true); do
		ip netns del "$ns" 2>/dev/null || true
	done
	rm -f "$REGISTRY/$id"
	if [ -n "$dir" ] && [ -f "$dir/lab.env" ]; then
		rm -rf "$dir"
	fi
	left=$(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$id-" || true)
	pids=$(lab_pids "$id" "" | tr '\n' ' ')
	[ -z "$left" ] || die "teardown of $id left namespaces: $left"
	[ -z "${pids// /}" ] || die "teardown of $id left processes: $pids"
	[ -z "$dir" ] || [ ! -e "$dir" ] || die "teardown of $id could not remove $dir"
}

# ---------------------------------------------------------------- commands

# EXIT trap of `up`: a failed or interrupted up removes what it built
up_exit() {
	local rc=$?
	trap - EXIT
	if [ "$rc" -ne 0 ]; then
		einfo "up failed, tearing down lab $ID"
		lab_down "$ID" "$LABDIR" || true
	fi
	exit "$rc"
}

cmd_up() {
	local targets=0 statics=0 decoys=0 dualhome=0 hostile="" subnet=10.213.0.0/24 owner="" bins="" losses="" \
		net_int netmask size t0 l n pct bin
	PUBKEY_FILE="" PRIVKEY="" ROUTER_MAC=02:52:43:4c:ff:fe
	while [ $# -gt 0 ]; do
		case "$1" in
		--targets) uint_option targets "$@" && shift ;;
		--static) uint_option statics "$@" && shift ;;
		--decoys) decoys=1 ;;
		--dualhome) dualhome=1 ;;
		--hostile) hostile="$hostile ${2:-}" && shift ;;
		--loss) losses="$losses ${2:-}" && shift ;;
		--subnet) subnet=${2:-} && shift ;;
		--pubkey) PUBKEY_FILE=${2:-} && shift ;;
		--privkey) PRIVKEY=${2:-} && shift ;;
		--bin) bins="$bins
${2:-}" && shift ;;
		--owner) owner=${2:-} && shift ;;
		--router-mac) ROUTER_MAC=${2:-} && shift ;;
		*) die "up: unknown option '$1' (see lab.sh help)" ;;
		esac
		shift
	done
	if [ -z "$owner" ]; then
		# The caller's parent: `LAB=$(lab.sh up | tail -1)` runs lab.sh in a
		# short-lived subshell of the script that will use the lab.
		owner=$(proc_ppid "$PPID")
		[ -n "$owner" ] && [ "$owner" -gt 1 ] || owner=$PPID
	fi
	is_uint "$owner" || die "--owner needs a PID"
	[ -d "/proc/$owner" ] || die "--owner $owner: no such process"
	[ "$owner" != 1 ] || einfo "warning: owner is PID 1, so gc never removes this lab: run lab.sh down yourself"
	[[ "$ROUTER_MAC" =~ ^([0-9a-f]{2}:){5}[0-9a-f]{2}$ ]] || die "--router-mac: bad MAC '$ROUTER_MAC'"
	[ -z "$PUBKEY_FILE" ] || [ -r "$PUBKEY_FILE" ] || die "--pubkey $PUBKEY_FILE: not readable"
	[ -z "$PRIVKEY" ] || [ -r "$PRIVKEY" ] || die "--privkey $PRIVKEY: not readable"
	for n in $hostile; do
		case "$n" in
		liar | anykey | talker | namer | rdns | keyswap | anyip) ;;
		*) die "--hostile wants liar, anykey, talker, namer, rdns, keyswap or anyip, got '$n'" ;;
		esac
	done
	for l in $losses; do
		if ! [[ "$l" =~ ^[A-Za-z0-9_-]+:[0-9]+$ ]] || [ "${l##*:}" -gt 100 ]; then
			die "--loss wants HOST:PERCENT (0..100), got '$l'"
		fi
	done
	while IFS= read -r bin; do
		[ -z "$bin" ] || [ -f "$bin" ] || die "--bin $bin: no such file"
	done <<<"$bins"

	# subnet: private range only, prefix 8..24
	[[ "$subnet" =~ ^([0-9.]+)/([0-9]+)$ ]] || die "--subnet wants CIDR like 10.213.0.0/24"
	PREFIXLEN=${BASH_REMATCH[2]}
	net_int=$(ip2int "${BASH_REMATCH[1]}") || die "--subnet: bad address in '$subnet'"
	if [ "$PREFIXLEN" -lt 8 ] || [ "$PREFIXLEN" -gt 24 ]; then die "--subnet: prefix must be 8..24"; fi
	netmask=$(((0xffffffff << (32 - PREFIXLEN)) & 0xffffffff))
	NET=$((net_int & netmask))
	size=$((1 << (32 - PREFIXLEN)))
	if ! { [ $((NET & 0xff000000)) -eq $((10 << 24)) ] ||
		{ [ $((NET & 0xfff00000)) -eq $(((172 << 24) + (16 << 16))) ] && [ "$PREFIXLEN" -ge 12 ]; } ||
		{ [ $((NET & 0xffff0000)) -eq $(((192 << 24) + (168 << 16))) ] && [ "$PREFIXLEN" -ge 16 ]; }; }; then
		die "--subnet $subnet is not inside a private range (10/8, 172.16/12, 192.168/16)"
	fi
	ROUTER_IP=$(int2ip $((NET + 1)))
	STATIC_MAX=97 # static-N gets NET+1+N: .2 .. .98; .99 is the rdns host's
	DHCP_START=$(int2ip $((NET + 100)))
	DHCP_END=$(int2ip $((NET + size - 2)))
	RDNS_IP="" RDNS_PTR=""
	case " $hostile " in *" rdns "*)
		RDNS_IP=$(int2ip $((NET + 2 + STATIC_MAX)))
		# dnsmasq takes no control byte in a name, nor a label over 63 bytes
		RDNS_PTR="ReCyClusteR-Target-44 ansible_connection=local;\$(reboot).[control]|\`id\`&'\"x"
		;;
	esac
	# the anyip host's block starts at NET+32: statics end below it
	case " $hostile " in *" anyip "*) STATIC_MAX=30 ;; esac

	need_tools
	t0=$(now_ms)

	ID=rl$(tr -dc 'a-z0-9' </dev/urandom | head -c 6)
	RNS=$ID-router
	LABDIR=$(mktemp -d /tmp/rccr-lab.XXXXXX)
	mkdir -p "$REGISTRY"
	printf 'dir=%s\nowner=%s\nstart=%s\n' "$LABDIR" "$owner" "$(proc_start "$owner")" >"$REGISTRY/$ID"
	trap up_exit EXIT
	trap 'exit 130' INT TERM HUP
	trap 'exit 141' PIPE # the caller went away: still tear down
	# shellcheck disable=SC2034 # saved by save_lab
	OWNER=$owner NEXT_INDEX=1 NEXT_TARGET=1 NEXT_STATIC=1
	save_lab
	mkdir -p "$LABDIR/bin" "$LABDIR/hosts"
	while IFS= read -r bin; do
		[ -z "$bin" ] || install -m 755 "$bin" "$LABDIR/bin/"
	done <<<"$bins"
	# the temporary public key, kept for `add`
	if [ -n "$PUBKEY_FILE" ]; then
		install -m 644 "$PUBKEY_FILE" "$LABDIR/pubkey"
		PUBKEY_FILE=$LABDIR/pubkey
	elif [ -n "$PRIVKEY" ]; then
		ssh-keygen -y -f "$PRIVKEY" >"$LABDIR/pubkey" || die "cannot derive the public key of $PRIVKEY"
		PUBKEY_FILE=$LABDIR/pubkey
	fi
	write_udhcpc_script

	start_router
	NEW_HOSTS=""
	create_host control control rccr-control
	add_targets "$targets"
	add_statics "$statics"
	if [ "$decoys" = 1 ]; then
		create_host foreign foreign kitchen-laptop
		create_host imposter imposter ReCyClusteR-Imposter
		create_host nossh nossh printer-nossh
	fi
	[ "$dualhome" = 0 ] || create_host dualhome dualhome ReCyClusteR-Target-11
	for n in $hostile; do
		case "$n" in
		liar) create_host liar liar ReCyClusteR-Target-66 ;;
		anykey) create_host anykey anykey ReCyClusteR-Target-77 ;;
		talker) create_host talker talker ReCyClusteR-Target-88 ;;
		namer) create_host namer namer ReCyClusteR-Target-55 ;;
		rdns) create_host rdns rdns ReCyClusteR-Target-44 "$RDNS_IP" ;;
		keyswap) create_host keyswap keyswap ReCyClusteR-Target-33 ;;
		anyip)
			create_host anyip anyip ReCyClusteR-Target-22
			int2ip $((NET + 32)) | sed 's|$|/27|' >"$LABDIR/hosts/anyip/anyip"
			;;
		esac
	done
	save_lab
	bring_up_new_hosts

	for l in $losses; do
		n=${l%:*} pct=${l##*:}
		set_loss "$n" "$pct"
	done
	apply_loss

	trap - EXIT INT TERM HUP PIPE
	l=$(($(now_ms) - t0))
	einfo "up: lab $ID with $(wc -l <"$LABDIR/hosts.tsv") hosts in $((l / 1000)).$(printf '%03d' $((l % 1000))) s"
	echo "$LABDIR"
}

cmd_add() {
	local targets=0 statics=0 dir=${1:-}
	[ $# -gt 0 ] && shift
	while [ $# -gt 0 ]; do
		case "$1" in
		--targets) uint_option targets "$@" && shift ;;
		--static) uint_option statics "$@" && shift ;;
		*) die "add: unknown option '$1'" ;;
		esac
		shift
	done
	need_tools
	load_lab "$dir"
	exec 8>"$LABDIR/.lock"
	flock 8
	# shellcheck source=/dev/null
	. "$LABDIR/lab.env"
	PUBKEY_FILE="" PRIVKEY=""
	[ ! -f "$LABDIR/pubkey" ] || PUBKEY_FILE=$LABDIR/pubkey
	NEW_HOSTS=""
	add_targets "$targets"
	add_statics "$statics"
	save_lab
	bring_up_new_hosts
	for n in $NEW_HOSTS; do echo "$n"; done
}

cmd_exec() {
	local pid
	[ $# -ge 2 ] || die "usage: lab.sh exec LABDIR HOST [CMD...]"
	load_lab "$1"
	pid=$(holder_pid "$2")
	shift 2
	[ $# -gt 0 ] || set -- bash
	host_cmd "$pid"
	exec "${HOSTCMD[@]}" "$@"
}

cmd_ssh() {
	local dir from to ip key
	[ $# -ge 3 ] || die "usage: lab.sh ssh LABDIR FROM TO CMD..."
	dir=$1 from=$2 to=$3
	shift 3
	load_lab "$dir"
	if [ -f "$LABDIR/hosts/$to/info" ]; then
		ip=$(host_ip "$to")
		[ -n "$ip" ] || die "host $to has no address"
	else
		ip=$to
	fi
	key=${LAB_SSH_KEY:-$LABDIR/hosts/control/root/.ssh/id_rsa}
	cmd_exec "$LABDIR" "$from" ssh -F /dev/null -i "$key" -o IdentitiesOnly=yes -o BatchMode=yes \
		-o PasswordAuthentication=no -o KbdInteractiveAuthentication=no -o ConnectTimeout=5 \
		-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
		"root@$ip" "$@"
}

cmd_loss() {
	[ $# -eq 3 ] || die "usage: lab.sh loss LABDIR HOST PCT"
	load_lab "$1"
	exec 8>"$LABDIR/.lock"
	flock 8
	set_loss "$2" "$3"
	apply_loss
}

cmd_rekey() {
	local h pid type=$3 bits=
	[ $# -eq 3 ] || die "usage: lab.sh rekey LABDIR HOST TYPE"
	load_lab "$1"
	case "$3" in
	ed25519 | ecdsa | rsa) ;;
	rsa1024) type=rsa bits=1024 ;;
	*) die "rekey: TYPE is ed25519, ecdsa, rsa or rsa1024 (a weak RSA key)" ;;
	esac
	h=$(hostdir "$2")
	rm -f "$h/ssh_host_${type}_key" "$h/ssh_host_${type}_key.pub"
	ssh-keygen -q -t "$type" ${bits:+-b "$bits"} -N '' -C "$2" -f "$h/ssh_host_${type}_key" >/dev/null
	sed -i "s|^HostKey .*|HostKey $h/ssh_host_${type}_key|" "$h/sshd_config"
	pid=$(cat "$h/sshd.pid")
	kill "$pid"
	while [ -d "/proc/$pid" ]; do sleep 0.05; done
	host_cmd "$(holder_pid "$2")"
	"${HOSTCMD[@]}" /usr/sbin/sshd -f "$h/sshd_config" -E "$h/sshd.log" \
		</dev/null >"$h/sshd.out" 2>&1 8>&- 9>&-
	wait_all "sshd" host_ready "$2"
}

cmd_relay() {
	local ip
	[ $# -eq 3 ] || die "usage: lab.sh relay LABDIR HOST TO"
	load_lab "$1"
	if [ -f "$LABDIR/hosts/$3/info" ]; then
		ip=$(host_ip "$3")
	else
		ip=$3
	fi
	[[ "$ip" =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "relay: $3 has no address"
	host_cmd "$(holder_pid "$2")"
	# shellcheck disable=SC2016 # expanded by the host's sh
	"${HOSTCMD[@]}" sh -c 'set -eu
		c=/proc/sys/net/ipv4
		echo 1 >$c/ip_forward
		for i in all eth0; do echo 0 >$c/conf/$i/send_redirects; done
		nft -f - <<EOF
table ip rccr_relay
delete table ip rccr_relay
table ip rccr_relay {
	chain pre { type nat hook prerouting priority dstnat; tcp dport 22 dnat to $1:22; }
	chain post { type nat hook postrouting priority srcnat; ip daddr $1 tcp dport 22 masquerade; }
}
EOF' relay "$ip" || die "relay: nft failed in $2"
}

cmd_storage() {
	local h
	[ $# -eq 3 ] || die "usage: lab.sh storage LABDIR HOST disk|lbu|none"
	load_lab "$1"
	h=$(hostdir "$2")
	case "$3" in
	disk) rm -f "$h/storage" "$h/fakebin/lbu" "$h/fakebin/rccr" "$h/fakebin/sh" "$h/image.tar" ;;
	lbu | none)
		# The image this host boots from: its files as they are now.
		tar -C "$h" -cf "$h/image.tar.tmp" --exclude='ov/*/work' root ov
		mv -f "$h/image.tar.tmp" "$h/image.tar"
		echo "$3" >"$h/storage.tmp"
		mv -f "$h/storage.tmp" "$h/storage"
		write_lbu "$2"
		write_ram_root "$h"
		;;
	*) die "storage: disk, lbu or none, got '$3'" ;;
	esac
}

cmd_reboot() {
	local n t0 l
	[ $# -ge 2 ] || die "usage: lab.sh reboot LABDIR HOST..."
	load_lab "$1"
	shift
	for n in "$@"; do hostdir "$n" >/dev/null; done
	exec 8>"$LABDIR/.lock"
	flock 8
	t0=$(now_ms)
	kill_hosts TERM "$@"
	for n in "$@"; do discard_volatile "$n"; done
	boot_hosts "$@"
	l=$(($(now_ms) - t0))
	einfo "reboot: $* up again in $((l / 1000)).$(printf '%03d' $((l % 1000))) s"
}

cmd_powercut() {
	local hosts n t0 l
	[ $# -eq 1 ] || die "usage: lab.sh powercut LABDIR"
	load_lab "$1"
	exec 8>"$LABDIR/.lock"
	flock 8
	hosts=$(cut -f1 "$LABDIR/hosts.tsv" | tr '\n' ' ')
	t0=$(now_ms)
	# shellcheck disable=SC2086 # list of host names
	kill_hosts KILL $hosts
	for n in $hosts; do discard_volatile "$n"; done
	# shellcheck disable=SC2086
	boot_hosts $hosts
	l=$(($(now_ms) - t0))
	einfo "powercut: every host up again in $((l / 1000)).$(printf '%03d' $((l % 1000))) s"
}

cmd_ip() {
	[ $# -eq 2 ] || die "usage: lab.sh ip LABDIR HOST"
	load_lab "$1"
	host_ip "$2"
}

cmd_down() {
	[ $# -eq 1 ] || die "usage: lab.sh down LABDIR"
	[ "$(id -u)" = 0 ] || die "the lab needs root"
	if [ ! -e "$1" ]; then
		einfo "down: $1 does not exist (already down?)"
		return 0
	fi
	load_lab "$1"
	lab_down "$ID" "$LABDIR"
}

cmd_gc() {
	local f id dir owner start k v ns p d
	[ "$(id -u)" = 0 ] || die "the lab needs root"
	mkdir -p "$REGISTRY"
	exec 9>"$REGISTRY/.gc.lock"
	flock 9
	for f in "$REGISTRY"/rl*; do
		[ -f "$f" ] || continue
		id=${f##*/} dir="" owner="" start=""
		while IFS='=' read -r k v; do
			case "$k" in dir) dir=$v ;; owner) owner=$v ;; start) start=$v ;; esac
		done <"$f"
		if [ -n "$owner" ] && [ -d "/proc/$owner" ] && [ "$(proc_start "$owner")" = "$start" ]; then
			continue
		fi
		einfo "gc: removing lab $id ($dir), owner $owner is gone"
		lab_down "$id" "$dir" || true
	done
	# namespaces and holders of labs nobody registered (crashed half-way)
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^rl[a-z0-9]{6}-' || true); do
		id=${ns%%-*}
		[ -f "$REGISTRY/$id" ] && continue
		einfo "gc: removing orphan namespace $ns"
		for p in $(ip netns pids "$ns" 2>/dev/null || true); do kill -KILL "$p" 2>/dev/null || true; done
		ip netns del "$ns" 2>/dev/null || true
	done
	for p in $(pgrep -f '^rccr-lab-holder:' || true); do
		id=$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | sed -n 's/^rccr-lab-holder:\(rl[a-z0-9]*\):.*/\1/p')
		if [ -z "$id" ] || [ -f "$REGISTRY/$id" ]; then continue; fi
		einfo "gc: killing orphan holder $p"
		kill -KILL "$p" 2>/dev/null || true
	done
	for d in /tmp/rccr-lab.*; do
		[ -d "$d" ] || continue
		if [ -f "$d/lab.env" ]; then
			id=$(sed -n 's/^ID=//p' "$d/lab.env")
			[ -n "$id" ] && [ -f "$REGISTRY/$id" ] && continue
		elif [ -z "$(find "$d" -maxdepth 0 -mmin +1)" ]; then
			continue # brand new, its lab.sh up may still be writing it
		fi
		einfo "gc: removing leftover $d"
		rm -rf "$d"
	done
}

cmd=${1:-help}
[ $# -gt 0 ] && shift
case "$cmd" in
up) cmd_up "$@" ;;
add) cmd_add "$@" ;;
exec) cmd_exec "$@" ;;
ssh) cmd_ssh "$@" ;;
loss) cmd_loss "$@" ;;
rekey) cmd_rekey "$@" ;;
relay) cmd_relay "$@" ;;
storage) cmd_storage "$@" ;;
reboot) cmd_reboot "$@" ;;
powercut) cmd_powercut "$@" ;;
ip) cmd_ip "$@" ;;
down) cmd_down "$@" ;;
gc) cmd_gc "$@" ;;
help | -h | --help) help ;;
*)
	help >&2
	die "unknown command '$cmd'"
	;;
esac
