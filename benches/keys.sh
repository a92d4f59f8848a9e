#!/usr/bin/env bash
#---help---
# Usage: benches/keys.sh [N...]
#
# Benchmarks `rccr keyrotate` against an Ansible rotation on the virtual LAN
# (tests/lab/lab.sh); needs root. Prints figures, asserts nothing about
# speed. For each N (default: 10 50 200):
#   1. a fresh lab with N static targets (lab.sh caps static addresses; past
#      the cap the rest are DHCP targets, and the script says so), all
#      accepting the temporary key (RSA 4096, ~/.ssh/id_rsa on the control);
#      `rccr keyrotate --host IP ... --yes --json` runs inside the control
#      host under /usr/bin/time -v: wall time, peak RSS, and when the last
#      node reached each phase (from rccr's progress lines); twice, on two
#      fresh labs: with the nodes' own rccr doing the node side (lab hosts
#      have rccr on PATH, as RCCR images do) and with RCCR_KEYS_NODE=script
#      (the POSIX sh node side of nodes without rccr);
#   2. a fresh lab of the same shape: benches/ansible/rotate.yml (add the
#      new key with ansible.posix.authorized_key, log in with it, remove the
#      temporary key with state=absent), ansible-playbook under
#      /usr/bin/time -v inside the control host, with the settings of
#      benches/ansible/ansible.cfg (forks 32 = rccr's --parallel,
#      host_key_checking False, pipelining True, ControlPersist 60s). Its
#      new Ed25519 key is made with ssh-keygen before the timed run.
# Each run is checked: exit 0 and, on every node, authorized_keys holds the
# new key and not the temporary one (the script exits 1 after the tables
# if a check failed). Then a table: N, wall times, peak RSS
# (GNU time's "maximum resident set size" is that of the largest single
# process among the command and the children it waited for: rccr is one
# process; for Ansible it is the largest of ansible-playbook and its forks,
# not their sum), and the speed-up (Ansible wall / rccr wall). A second
# table gives the CPU time the whole lab used during each run (control and
# nodes: rccr or Ansible, sshd, the nodes' shells and Python), counted by a
# cpuacct cgroup the script puts itself in, and the load average before
# each run: the lab shares the machine's cores, so wall times depend on
# whatever else runs there; CPU seconds much less.
#
# Installs what it needs if missing: apt packages time and python3-venv, and
# the PyPI package ansible (the community bundle, which has ansible.posix)
# into a venv made with Debian's /usr/bin/python3 at ANSIBLE_VENV (outside
# /root: the lab hosts have their own /root). Builds the release binary
# unless RCCR_BIN names one.
#
# Environment (defaults in brackets):
#   RCCR_BIN      the rccr binary to measure [target/release/rccr, built]
#   ANSIBLE_VENV  venv holding Ansible [/opt/rccr-bench/ansible]
#   ANSIBLE_PIP   pip requirement for it [ansible]
#   SUBNET        lab subnet; a /22 is used instead when N needs it
#                 [10.213.0.0/24]
#   LAB_TIMEOUT   lab.sh's wait bound in seconds [180]
#   KEEP_LOGS     directory to copy every run's logs into [none]
#---help---
set -euo pipefail

: "${ANSIBLE_VENV:=/opt/rccr-bench/ansible}"
: "${ANSIBLE_PIP:=ansible}"
: "${SUBNET:=10.213.0.0/24}"
: "${LAB_TIMEOUT:=180}"
: "${KEEP_LOGS:=}"
export LAB_TIMEOUT
APT_PACKAGES="time python3-venv"
PARALLEL=32 # rccr keyrotate's default --parallel; Ansible gets as many forks

help() { sed -n '/^#---help---/,/^#---help---/p' "$0" | sed '1d;$d;s/^# \{0,1\}//'; }
die() {
	printf 'benches/keys.sh: %s\n' "$*" >&2
	exit 1
}
einfo() { printf '==> %s\n' "$*" >&2; }

SIZES=()
for arg in "$@"; do
	case "$arg" in
	-h | --help)
		help
		exit 0
		;;
	'' | *[!0-9]* | 0) die "not a node count: '$arg' (see --help)" ;;
	*) SIZES+=("$arg") ;;
	esac
done
[ ${#SIZES[@]} -gt 0 ] || SIZES=(10 50 200)
[ "$(id -u)" = 0 ] || die "needs root (network namespaces)"

cd "$(dirname "$0")/.."
ROOT=$PWD
LAB="$ROOT/tests/lab/lab.sh"
LABDIR=""
TMP=$(mktemp -d /tmp/rccr-bench-keys.XXXXXX)

CGROOT=/sys/fs/cgroup/cpuacct
CG="" # this script's cpuacct cgroup: every lab process it starts is counted

cleanup() {
	local rc=$?
	trap - EXIT HUP INT TERM
	if [ -n "$LABDIR" ]; then
		"$LAB" down "$LABDIR" >/dev/null 2>&1 || einfo "lab.sh down $LABDIR failed"
	fi
	rm -rf "$TMP"
	if [ -n "$CG" ]; then
		echo $$ >"$CGROOT/cgroup.procs" 2>/dev/null || true
		rmdir "$CG" 2>/dev/null || true
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' HUP INT TERM

# ------------------------------------------------------------ installing

missing=()
for pkg in $APT_PACKAGES; do
	dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
	einfo "apt-get install ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PLAYBOOK="$ANSIBLE_VENV/bin/ansible-playbook"
ansible_ready() {
	[ -x "$PLAYBOOK" ] &&
		"$ANSIBLE_VENV/bin/python3" -c 'import ansible_collections.ansible.posix' 2>/dev/null
}
if ! ansible_ready; then
	einfo "venv $ANSIBLE_VENV (/usr/bin/python3) with pip install $ANSIBLE_PIP"
	mkdir -p "$(dirname "$ANSIBLE_VENV")"
	[ -x "$ANSIBLE_VENV/bin/pip" ] || /usr/bin/python3 -m venv "$ANSIBLE_VENV"
	"$ANSIBLE_VENV/bin/pip" install -q "$ANSIBLE_PIP"
	ansible_ready || die "$ANSIBLE_VENV has no ansible-playbook with ansible.posix"
fi
ANSIBLE_VERSION=$("$ANSIBLE_VENV/bin/pip" list 2>/dev/null | awk '$1 == "ansible" || $1 == "ansible-core" { printf "%s%s %s", sep, $1, $2; sep = ", " }')

if [ -z "${RCCR_BIN:-}" ]; then
	einfo "cargo build --release"
	cargo build --release --quiet
	RCCR_BIN="$ROOT/target/release/rccr"
fi
[ -x "$RCCR_BIN" ] || die "RCCR_BIN=$RCCR_BIN is not an executable"
cp "$RCCR_BIN" "$TMP/rccr"

einfo "temporary key: ssh-keygen -t rsa -b 4096"
ssh-keygen -q -t rsa -b 4096 -N '' -C rccr-temporary-key -f "$TMP/temp_key"
OLD_BLOB=$(awk '{ print $2 }' "$TMP/temp_key.pub")

if [ -f "$CGROOT/cpuacct.usage" ] && mkdir "$CGROOT/rccr-bench-keys.$$" 2>/dev/null; then
	CG=$CGROOT/rccr-bench-keys.$$
	echo $$ >"$CG/cgroup.procs" || CG=""
fi
[ -n "$CG" ] || einfo "no cpuacct cgroup (v1) at $CGROOT: no CPU seconds"

# cpu_ns: CPU time used so far by this script and everything it started
cpu_ns() { if [ -n "$CG" ]; then cat "$CG/cpuacct.usage"; else echo 0; fi; }
loadavg() { cut -d' ' -f1 /proc/loadavg; }

# ------------------------------------------------------------ the lab

STATIC_MAX="" # lab.sh's cap on static targets, once known
LAB_NOTE=""   # what a lab of the last size was made of

# lab_up N: a fresh lab with N targets (static ones up to lab.sh's cap);
# sets LABDIR and NODES (the targets' names), prints how long it took
lab_up() {
	local n=$1 statics dhcp subnet t0 err
	statics=$n
	[ -z "$STATIC_MAX" ] || [ "$n" -le "$STATIC_MAX" ] || statics=$STATIC_MAX
	dhcp=$((n - statics))
	subnet=$SUBNET
	# the control and DHCP targets lease .100 .. .254 of a /24
	[ $((dhcp + 1)) -le 155 ] || subnet=${SUBNET%/*}/22
	t0=$EPOCHREALTIME
	if ! LABDIR=$("$LAB" up --owner $$ --subnet "$subnet" --static "$statics" --targets "$dhcp" \
		--pubkey "$TMP/temp_key.pub" --privkey "$TMP/temp_key" --bin "$TMP/rccr" \
		2>"$TMP/lab-up.err" | tail -n 1) || [ ! -f "$LABDIR/hosts.tsv" ]; then
		LABDIR=""
		err=$(grep -o 'no static address left (at most [0-9]*)' "$TMP/lab-up.err" || true)
		if [ -n "$err" ] && [ -z "$STATIC_MAX" ]; then
			STATIC_MAX=$(tr -dc 0-9 <<<"$err")
			einfo "lab.sh: $err: the targets past $STATIC_MAX get DHCP addresses"
			lab_up "$n"
			return
		fi
		cat "$TMP/lab-up.err" >&2
		die "lab.sh up with $n targets failed"
	fi
	NODES=$(awk -F'\t' '$2 == "static" || $2 == "target" { print $1 }' "$LABDIR/hosts.tsv")
	[ "$(wc -l <<<"$NODES")" = "$n" ] || die "the lab has $(wc -l <<<"$NODES") targets, not $n"
	LAB_NOTE="$statics static"
	[ "$dhcp" = 0 ] || LAB_NOTE="$LAB_NOTE + $dhcp DHCP"
	LAB_NOTE="$LAB_NOTE targets, $subnet"
	einfo "lab up: $LAB_NOTE in $(secs_since "$t0") s"
}

lab_down() {
	if [ -n "$LABDIR" ] && ! "$LAB" down "$LABDIR" >/dev/null 2>"$TMP/lab-down.err"; then
		cat "$TMP/lab-down.err" >&2
		die "lab.sh down $LABDIR failed"
	fi
	LABDIR=""
}

in_control() { "$LAB" exec "$LABDIR" control "$@"; }
control_root() { echo "$LABDIR/hosts/control/root"; }
node_ips() { awk -F'\t' '$2 == "static" || $2 == "target" { print $3 }' "$LABDIR/hosts.tsv"; }

# secs_since EPOCHREALTIME: seconds since then, 2 decimals
secs_since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }'; }

# time_fields FILE: "wall_seconds peak_rss_kib" from a GNU time -v report
time_fields() {
	awk -F': ' '
		/Elapsed \(wall clock\) time/ {
			n = split($2, t, ":"); wall = 0
			for (i = 1; i <= n; i++) wall = wall * 60 + t[i]
		}
		/Maximum resident set size/ { rss = $2 }
		END { printf "%.2f %d\n", wall, rss }' "$1"
}

# check_nodes NEW_PUB_FILE: on every target, authorized_keys holds the new
# key and not the temporary one; prints how many nodes fail, 0 if none
check_nodes() {
	local new_blob bad=0 name ak
	new_blob=$(awk '{ print $2 }' "$1")
	for name in $NODES; do
		ak="$LABDIR/hosts/$name/root/.ssh/authorized_keys"
		if ! grep -qF -- "$new_blob" "$ak" 2>/dev/null || grep -qF -- "$OLD_BLOB" "$ak"; then
			bad=$((bad + 1))
			[ "$bad" -gt 3 ] || einfo "$name: authorized_keys not rotated: $(cut -c1-60 "$ak" 2>/dev/null | tr '\n' '|')"
		fi
	done
	echo "$bad"
}

keep_logs() {
	local tag=$1
	shift
	[ -n "$KEEP_LOGS" ] || return 0
	mkdir -p "$KEEP_LOGS/$tag"
	cp "$@" "$KEEP_LOGS/$tag/" 2>/dev/null || true
}

# ------------------------------------------------------------ rccr

# Runs inside the control host with rccr's arguments. Progress lines
# (stderr) get a timestamp; stdout is the JSON report.
# shellcheck disable=SC2016 # expanded inside the host
RCCR_RUN='
echo "$EPOCHREALTIME" >rccr.start
/usr/bin/time -v -o rccr.time rccr keyrotate "$@" 2>&1 >rccr.json |
	while IFS= read -r line; do printf "%s %s\n" "$EPOCHREALTIME" "$line"; done >rccr.log
echo "${PIPESTATUS[0]}" >rccr.rc
'

# phases FILE START: when the last node reached each phase, from stamped
# "T rccr keyrotate: NODE: PHASE" lines, seconds after START
phases() {
	awk -v t0="$2" '
		$2 == "rccr" && $3 == "keyrotate:" && NF == 5 {
			last[$5] = $1 - t0; count[$5]++
			if (!($5 in first)) first[$5] = $1 - t0
		}
		END {
			n = split("staged verified committed rotated", order, " ")
			for (i = 1; i <= n; i++) {
				p = order[i]
				if (p in last) printf "%s%s %d: %.2f..%.2f s", sep, p, count[p], first[p], last[p]
				sep = "; "
			}
			for (p in last) {
				if (p != "staged" && p != "verified" && p != "committed" && p != "rotated")
					printf "%s%s %d", sep, p, count[p]
			}
			print ""
		}' "$1"
}

# bench_rccr N SIDE: SIDE is RCCR_KEYS_NODE, auto (the nodes' own rccr, as
# on RCCR images) or script (remote.sh, as on nodes without rccr); the
# results are kept under the key N.SIDE
bench_rccr() {
	local n=$1 side=$2 ip args=() rc rotated bad fields cpu0 k=$1.$2
	lab_up "$n"
	for ip in $(node_ips); do args+=(--host "$ip"); done
	einfo "rccr keyrotate, $n nodes, node side: $side"
	R_LOAD[$k]=$(loadavg)
	cpu0=$(cpu_ns)
	in_control env RCCR_KEYS_NODE="$side" bash -c "$RCCR_RUN" bash "${args[@]}" --yes --json
	R_CPU[$k]=$(($(cpu_ns) - cpu0))
	rc=$(cat "$(control_root)/rccr.rc")
	fields=$(time_fields "$(control_root)/rccr.time")
	rotated=$(grep -c '"outcome": "rotated"' "$(control_root)/rccr.json" || true)
	if [ -f "$(control_root)/.ssh/id_ed25519.pub" ]; then
		bad=$(check_nodes "$(control_root)/.ssh/id_ed25519.pub")
	else
		bad=$n
	fi
	keep_logs "rccr-$k" "$(control_root)"/rccr.{start,json,log,time,rc}
	R_WALL[$k]=${fields% *}
	R_RSS[$k]=${fields#* }
	R_OK[$k]="exit $rc, $rotated/$n rotated, $((n - bad))/$n checked"
	R_PHASES[$k]=$(phases "$(control_root)/rccr.log" "$(cat "$(control_root)/rccr.start")")
	if [ "$rc" != 0 ] || [ "$rotated" != "$n" ] || [ "$bad" != 0 ]; then
		R_OK[$k]="FAILED: ${R_OK[$k]}"
		FAILED=1
		einfo "rccr failed at $n nodes: ${R_OK[$k]}; last lines:"
		tail -n 5 "$(control_root)/rccr.log" >&2 || true
		grep -v '"outcome": "rotated"' "$(control_root)/rccr.json" | head -n 5 >&2 || true
	fi
	einfo "rccr: ${R_WALL[$k]} s, $((R_RSS[$k] / 1024)) MiB, ${R_OK[$k]}"
	einfo "rccr phases (first..last node, seconds after start): ${R_PHASES[$k]}"
	lab_down
}

# ------------------------------------------------------------ Ansible

# shellcheck disable=SC2016 # expanded inside the host
ANSIBLE_RUN='
playbook=$1
set +e
/usr/bin/time -v -o ansible.time env ANSIBLE_CONFIG=/root/bench/ansible.cfg \
	"$playbook" -i bench/inventory.ini bench/rotate.yml \
	-e new_key=/root/.ssh/ansible_new_key -e old_pub=/root/.ssh/id_rsa.pub >ansible.log 2>&1
echo $? >ansible.rc
'

bench_ansible() {
	local n=$1 rc fields bad recap_bad cpu0
	lab_up "$n"
	mkdir -p "$(control_root)/bench"
	cp "$ROOT/benches/ansible/ansible.cfg" "$ROOT/benches/ansible/rotate.yml" "$(control_root)/bench/"
	{
		echo "[nodes]"
		node_ips
	} >"$(control_root)/bench/inventory.ini"
	in_control ssh-keygen -q -t ed25519 -N '' -C ansible-cluster-key -f /root/.ssh/ansible_new_key
	einfo "ansible-playbook rotate.yml, $n nodes, forks $PARALLEL"
	A_LOAD[n]=$(loadavg)
	cpu0=$(cpu_ns)
	in_control bash -c "$ANSIBLE_RUN" bash "$PLAYBOOK"
	A_CPU[n]=$(($(cpu_ns) - cpu0))
	rc=$(cat "$(control_root)/ansible.rc")
	fields=$(time_fields "$(control_root)/ansible.time")
	bad=$(check_nodes "$(control_root)/.ssh/ansible_new_key.pub")
	recap_bad=$(grep -cE ' (unreachable|failed)=[1-9]' "$(control_root)/ansible.log" || true)
	keep_logs "ansible-$n" "$(control_root)"/ansible.{log,time,rc}
	A_WALL[n]=${fields% *}
	A_RSS[n]=${fields#* }
	A_OK[n]="exit $rc, $((n - recap_bad))/$n ok in the recap, $((n - bad))/$n checked"
	if [ "$rc" != 0 ] || [ "$recap_bad" != 0 ] || [ "$bad" != 0 ]; then
		A_OK[n]="FAILED: ${A_OK[n]}"
		FAILED=1
		einfo "Ansible failed at $n nodes: ${A_OK[n]}; last lines:"
		grep -E 'fatal|UNREACHABLE|ERROR' "$(control_root)/ansible.log" | head -n 5 >&2 || true
	fi
	einfo "ansible: ${A_WALL[n]} s, $((A_RSS[n] / 1024)) MiB, ${A_OK[n]}"
	lab_down
}

# ------------------------------------------------------------ main

declare -A R_WALL R_RSS R_OK R_PHASES R_CPU R_LOAD
declare -a A_WALL A_RSS A_OK A_CPU A_LOAD
declare -A NOTE
FAILED=0
for n in "${SIZES[@]}"; do
	bench_rccr "$n" auto
	bench_rccr "$n" script
	NOTE[$n]=$LAB_NOTE
	bench_ansible "$n"
done

mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1f", a / b; else print "-" }'; }
cpu_s() { awk -v ns="$1" 'BEGIN { printf "%.1f", ns / 1e9 }'; }
per_node_ms() { awk -v s="$1" -v n="$2" 'BEGIN { printf "%.0f", s * 1000 / n }'; }
cpu_ms_per_node() { awk -v ns="$1" -v n="$2" 'BEGIN { printf "%.0f", ns / 1e6 / n }'; }

echo
echo "# rccr keyrotate vs Ansible (ansible.posix.authorized_key), $(date -u +%Y-%m-%d)"
echo "# machine: $(nproc) cores, $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)," \
	"$(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM," \
	"$(sed -n 's/^PRETTY_NAME="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' /etc/os-release), Linux $(uname -r)"
echo "# $("$TMP/rccr" --version 2>/dev/null | head -n 1), --parallel $PARALLEL; $ANSIBLE_VERSION, forks $PARALLEL, pipelining," \
	"host_key_checking off, ControlPersist 60s; $(ssh -V 2>&1)"
echo "# peak RSS: GNU time -v, the largest single process (Ansible: of ansible-playbook and its forks)"
echo
echo "rccr: the nodes run rccr's built-in node side (RCCR images); rccr, sh nodes: the POSIX sh"
echo "script instead (RCCR_KEYS_NODE=script, as on nodes without rccr)"
echo
echo "| N | rccr wall s | rccr peak RSS MiB | rccr, sh nodes wall s | ansible wall s | ansible peak RSS MiB | speed-up | speed-up, sh nodes |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|"
for n in "${SIZES[@]}"; do
	echo "| $n | ${R_WALL[$n.auto]} | $(mib "${R_RSS[$n.auto]}") | ${R_WALL[$n.script]} | ${A_WALL[n]} | $(mib "${A_RSS[n]}") |" \
		"$(ratio "${A_WALL[n]}" "${R_WALL[$n.auto]}")× | $(ratio "${A_WALL[n]}" "${R_WALL[$n.script]}")× |"
done
if [ -n "$CG" ]; then
	echo
	echo "| N | rccr lab CPU s | rccr, sh nodes lab CPU s | ansible lab CPU s | CPU ratio | CPU ratio, sh nodes | load avg before rccr / sh / ansible |"
	echo "|---:|---:|---:|---:|---:|---:|---:|"
	for n in "${SIZES[@]}"; do
		echo "| $n | $(cpu_s "${R_CPU[$n.auto]}") | $(cpu_s "${R_CPU[$n.script]}") | $(cpu_s "${A_CPU[n]}") |" \
			"$(ratio "${A_CPU[n]}" "${R_CPU[$n.auto]}")× | $(ratio "${A_CPU[n]}" "${R_CPU[$n.script]}")× |" \
			"${R_LOAD[$n.auto]} / ${R_LOAD[$n.script]} / ${A_LOAD[n]} |"
	done
fi
echo
for n in "${SIZES[@]}"; do
	echo "N=$n (${NOTE[$n]}): rccr ${R_OK[$n.auto]}, $(per_node_ms "${R_WALL[$n.auto]}" "$n") ms/node" \
		"(lab CPU $(cpu_ms_per_node "${R_CPU[$n.auto]}" "$n") ms/node);" \
		"rccr, sh nodes ${R_OK[$n.script]}, $(per_node_ms "${R_WALL[$n.script]}" "$n") ms/node;" \
		"Ansible ${A_OK[n]}, $(per_node_ms "${A_WALL[n]}" "$n") ms/node"
	echo "  rccr phases (first..last node, s after start): ${R_PHASES[$n.auto]}"
done
# Growth: how much longer the largest run took than the smallest, against
# how many more nodes it had (below the node ratio: less than linear).
if [ "${#SIZES[@]}" -gt 1 ]; then
	lo=${SIZES[0]} hi=${SIZES[-1]}
	echo "growth $lo -> $hi nodes (x$(ratio "$hi" "$lo")): rccr wall x$(ratio "${R_WALL[$hi.auto]}" "${R_WALL[$lo.auto]}")," \
		"rccr, sh nodes x$(ratio "${R_WALL[$hi.script]}" "${R_WALL[$lo.script]}"), Ansible x$(ratio "${A_WALL[hi]}" "${A_WALL[lo]}")"
fi
[ "$FAILED" = 0 ] || die "a rotation failed (see FAILED above)"
