#!/usr/bin/env bash
#---help---
# Usage: benches/scan.sh
#
# Benchmarks rccr-scan on the virtual LAN (tests/lab/lab.sh); needs root.
# Prints figures, asserts nothing:
#   1. a /24 with TARGETS DHCP-named targets and the three decoys: RUNS
#      scans (median and spread of wall time, targets found, false
#      positives), then nmap -sn --system-dns and arp-scan --localnet on the
#      same LAN for comparison;
#   2. the same LAN with LOSS_PCT% frame loss (both directions) on one
#      target's port: in how many of LOSS_RUNS scans that target is found;
#   3. a /16 lab with only the lab hosts in it: one full sweep, wall time
#      and peak RSS (GNU time -v; the goal is 8 MiB at most).
#
# Installs nmap, arp-scan and time (apt) if missing, and builds the release
# binary unless RCCR_BIN names one.
#
# Environment (defaults in brackets):
#   RCCR_BIN    the rccr binary to measure [target/release/rccr, built]
#   TARGETS     DHCP targets on the /24 [30]
#   RUNS        timed scans on the /24 [10]
#   LOSS_PCT    frame loss on the lossy target's port [10]
#   LOSS_RUNS   scans with loss [50]
#   SUBNET24    the /24 lab's subnet [10.213.0.0/24]
#   SUBNET16    the /16 lab's subnet [10.214.0.0/16]
#   SCAN_ARGS   extra rccr-scan arguments for every run []
#---help---
set -eu

: "${TARGETS:=30}"
: "${RUNS:=10}"
: "${LOSS_PCT:=10}"
: "${LOSS_RUNS:=50}"
: "${SUBNET24:=10.213.0.0/24}"
: "${SUBNET16:=10.214.0.0/16}"
: "${SCAN_ARGS:=}"
APT_PACKAGES="nmap arp-scan time"

# shellcheck source=benches/lib.sh
. "$(dirname "$0")/lib.sh"
bench_start "$@"

missing=""
for pkg in $APT_PACKAGES; do
	dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
	einfo "apt-get install$missing"
	apt-get update -qq
	# shellcheck disable=SC2086 # a list of package names
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

rccr_bin
ssh-keygen -q -t ed25519 -N "" -C rccr-bench -f "$TMP/key"

# lab_up ARGS...: starts a lab, sets LABDIR
lab_up() {
	LABDIR=$("$LAB" up --owner $$ --pubkey "$TMP/key.pub" --privkey "$TMP/key" --bin "$RCCR_BIN" "$@" | tail -n 1)
	# shellcheck disable=SC2016 # expanded inside the host
	"$LAB" exec "$LABDIR" control sh -c 'ln -sf rccr "$(dirname "$(command -v rccr)")/rccr-scan"'
}

lab_down() {
	"$LAB" down "$LABDIR" >/dev/null
	LABDIR=""
}

in_control() { "$LAB" exec "$LABDIR" control "$@"; }

# median of the numbers on stdin
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# times_ms N CMD: runs CMD N times inside the control host, one wall time
# in milliseconds per line; CMD's output goes to ~/out.N in the host (its
# own /root).
times_ms() {
	# shellcheck disable=SC2016 # expanded inside the host
	in_control bash -c '
		n=$1; shift
		for i in $(seq "$n"); do
			t0=$(date +%s%N)
			"$@" >"out.$i" 2>"err.$i" || echo "run $i: exit $?" >&2
			t1=$(date +%s%N)
			echo $(((t1 - t0) / 1000000))
		done' bash "$@"
}

# ------------------------------------------------------------ 1. the /24
einfo "lab: $SUBNET24, $TARGETS targets and 3 decoys"
lab_up --subnet "$SUBNET24" --targets "$TARGETS" --decoys
awk -F'\t' '$2 == "target" { print $3 }' "$LABDIR/hosts.tsv" | sort >"$TMP/targets"
awk -F'\t' '{ print $3 }' "$LABDIR/hosts.tsv" | sort >"$TMP/lab-ips"

# shellcheck disable=SC2086 # SCAN_ARGS is a list of words
times_ms "$RUNS" rccr-scan --json $SCAN_ARGS >"$TMP/rccr.ms"
found_min=$TARGETS fp_max=0
for i in $(seq "$RUNS"); do
	in_control cat "out.$i" >"$TMP/run.json"
	grep '"match": true' "$TMP/run.json" | sed 's/.*"ip": "\([0-9.]*\)".*/\1/' | sort >"$TMP/matched"
	grep -o '"ip": "[0-9.]*"' "$TMP/run.json" | sed 's/.*"\([0-9.]*\)"/\1/' | sort >"$TMP/seen"
	found=$(comm -12 "$TMP/targets" "$TMP/matched" | wc -l)
	# False positives: a match whose lab hostname lacks the filter, or an
	# address no lab host has (the imposter's name does contain it).
	fp=0
	while read -r ip; do
		name=$(awk -F'\t' -v ip="$ip" '$3 == ip { print $5 }' "$LABDIR/hosts.tsv")
		case "$name" in *[Rr][Ee][Cc][Yy][Cc][Ll][Uu][Ss][Tt][Ee][Rr]*) ;; *) fp=$((fp + 1)) ;; esac
	done <"$TMP/matched"
	fp=$((fp + $(comm -23 "$TMP/seen" "$TMP/lab-ips" | grep -vc "^${SUBNET24%.*}\.1$" || true)))
	[ "$found" -ge "$found_min" ] || found_min=$found
	[ "$fp" -le "$fp_max" ] || fp_max=$fp
done
rccr_med=$(median <"$TMP/rccr.ms")
rccr_min=$(sort -n "$TMP/rccr.ms" | head -1)
rccr_max=$(sort -n "$TMP/rccr.ms" | tail -1)

times_ms 3 nmap -sn --system-dns "$SUBNET24" >"$TMP/nmap.ms"
nmap_hosts=$(in_control grep -c "Host is up" out.1 || true)
times_ms 3 arp-scan -I eth0 --localnet >"$TMP/arpscan.ms"
arpscan_hosts=$(in_control grep -c "^[0-9]" out.1 || true)

# ------------------------------------------------------------ 2. loss
lossy=target-$(((TARGETS + 1) / 2))
lossy_ip=$(awk -F'\t' -v n="$lossy" '$1 == n { print $3 }' "$LABDIR/hosts.tsv")
einfo "$LOSS_PCT% frame loss on $lossy ($lossy_ip), $LOSS_RUNS scans"
"$LAB" loss "$LABDIR" "$lossy" "$LOSS_PCT"
# shellcheck disable=SC2086
times_ms "$LOSS_RUNS" rccr-scan --json --all $SCAN_ARGS >"$TMP/loss.ms"
# shellcheck disable=SC2016 # expanded inside the host
loss_found=$(in_control sh -c 'grep -l "\"ip\": \"$1\"" out.* | wc -l' sh "$lossy_ip")
loss_med=$(median <"$TMP/loss.ms")
lab_down

# ------------------------------------------------------------ 3. a /16
einfo "lab: $SUBNET16 with 10 targets and 3 decoys; one full sweep"
lab_up --subnet "$SUBNET16" --targets 10 --decoys
# shellcheck disable=SC2086
in_control /usr/bin/time -v rccr-scan --json --all $SCAN_ARGS >"$TMP/16.json" 2>"$TMP/16.time"
wall16=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$TMP/16.time")
rss16=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$TMP/16.time")
hosts16=$(grep -c '"ip"' "$TMP/16.json" || true)
expect16=$(wc -l <"$LABDIR/hosts.tsv") # every host but control, plus the router
lab_down

# ------------------------------------------------------------ figures
rss_ok="yes"
[ "$rss16" -le 8192 ] || rss_ok="NO"
cat <<EOF

rccr-scan benchmark ($(nproc) cores, load average now $(cut -d' ' -f1-3 /proc/loadavg); binary $(stat -c %s "$RCCR_BIN") bytes)

/24, $TARGETS targets + 3 decoys         median    min     max    found
  rccr-scan ($RUNS runs)                 ${rccr_med} ms  ${rccr_min} ms  ${rccr_max} ms  $found_min/$TARGETS targets in every run, max false positives $fp_max
  nmap -sn --system-dns (3 runs)       $(median <"$TMP/nmap.ms") ms                   $nmap_hosts hosts up
  arp-scan -I eth0 --localnet (3 runs) $(median <"$TMP/arpscan.ms") ms                   $arpscan_hosts hosts

$LOSS_PCT% frame loss on one target: found in $loss_found of $LOSS_RUNS runs (median $loss_med ms)

/16 sweep, only the lab hosts: $wall16 wall, $hosts16 hosts found (of $expect16), peak RSS $rss16 KiB (<= 8192: $rss_ok)
EOF
