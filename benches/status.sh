#!/usr/bin/env bash
#---help---
# Usage: benches/status.sh
#
# Benchmarks `rccr status` on the virtual LAN (tests/lab/lab.sh); needs root.
# Prints figures; exits 1 only when a run did not see every node healthy.
#
# A lab of NODES targets, each with a real sshd that authorizes the cluster
# key (and not the temporary key, as after rccr setup). The control has the
# cluster key, rccr's kept copy of the temporary key (RSA 4096, as the images
# ship) and an inventory of every target with its pinned host key, so each
# node costs what it costs for real: TCP, SSH handshake and host key check,
# the temporary key tried and refused, the cluster key accepted, one probe
# command. The `docker` command on the nodes is a stub answering like an
# active swarm worker: 200 real engines do not fit on this machine, and a
# node runs its own `docker info` on its own CPU, not the control's.
#
# For each --parallel in PARALLELS: RUNS timed runs of `rccr status --json`
# inside the control (after one warm-up run): each run's wall time, the
# median, and how many nodes answered healthy.
#
# Builds the release binary unless RCCR_BIN names one.
#
# Environment (defaults in brackets):
#   RCCR_BIN    the rccr binary to measure [target/release/rccr, built]
#   NODES       targets in the lab [200]
#   RUNS        timed runs per --parallel [5]
#   PARALLELS   --parallel values to measure [64 128 256]
#   SUBNET      the lab's subnet, big enough for NODES DHCP leases [10.215.0.0/22]
#---help---
set -eu

: "${NODES:=200}"
: "${RUNS:=5}"
: "${PARALLELS:=64 128 256}"
: "${SUBNET:=10.215.0.0/22}"

# shellcheck source=benches/lib.sh
. "$(dirname "$0")/lib.sh"
bench_start "$@"
rccr_bin

einfo "keys: temporary (RSA 4096) and cluster (Ed25519)"
ssh-keygen -q -t rsa -b 4096 -N '' -C rccr-temporary-key -f "$TMP/temp_key"
ssh-keygen -q -t ed25519 -N '' -C rccr-cluster-key -f "$TMP/id_ed25519"

mkdir -p "$TMP/stub"
cat >"$TMP/stub/docker" <<'EOF'
#!/bin/sh
# benches/status.sh: the docker CLI of an active swarm worker, without an
# engine: answers the `docker info --format` template of rccr status
case "$1 $2 $3" in
"info --format rccr-docker up|{{.ServerVersion}}|{{.Swarm.LocalNodeState}}|{{.Swarm.ControlAvailable}}|{{if .Swarm.Cluster}}{{.Swarm.Cluster.ID}}{{end}}|{{.Swarm.NodeID}}|{{.Swarm.Error}}")
	echo 'rccr-docker up|24.0.7|active|false|||'
	;;
*)
	echo "docker stub: $*: not supported" >&2
	exit 1
	;;
esac
EOF
chmod 755 "$TMP/stub/docker"

einfo "lab: $NODES targets on $SUBNET"
LABDIR=$(bash "$LAB" up --owner $$ --targets "$NODES" --subnet "$SUBNET" \
	--pubkey "$TMP/id_ed25519.pub" --bin "$RCCR_BIN" --bin "$TMP/stub/docker" | tail -1)
[ -d "$LABDIR" ] || die "lab.sh up printed no LABDIR"

# The control after rccr setup: the cluster key, rccr's kept temporary key,
# and the inventory with every target's pinned host key.
CTL=$LABDIR/hosts/control/root
install -m 600 "$TMP/id_ed25519" "$CTL/.ssh/id_ed25519"
install -m 644 "$TMP/id_ed25519.pub" "$CTL/.ssh/id_ed25519.pub"
install -d -m 700 "$CTL/.rccr"
install -m 600 "$TMP/temp_key" "$CTL/.rccr/temp_key"
install -m 600 "$TMP/temp_key.pub" "$CTL/.rccr/temp_key.pub"
{
	printf '# rccr inventory: ip\tmac\thostname\trole\tarch\thost-key (written by benches/status.sh)\n'
	while IFS=$'\t' read -r name kind ip mac hostname; do
		case "$kind" in
		control) printf '%s\t%s\t%s\tcontrol\t%s\t-\n' "$ip" "$mac" "$hostname" "$(uname -m)" ;;
		target)
			fp=$(ssh-keygen -l -f "$LABDIR/hosts/$name/ssh_host_ed25519_key.pub" | awk '{print $2}')
			printf '%s\t%s\t%s\ttarget\t%s\t%s\n' "$ip" "$mac" "$hostname" "$(uname -m)" "$fp"
			;;
		esac
	done <"$LABDIR/hosts.tsv"
} >"$CTL/.rccr/nodes"
chmod 600 "$CTL/.rccr/nodes"
total=$(($(grep -vc '^#' "$CTL/.rccr/nodes")))

# One run inside the control: prints "MILLISECONDS HEALTHY EXIT".
run_once() {
	# shellcheck disable=SC2016 # expanded inside the control
	bash "$LAB" exec "$LABDIR" control sh -c '
		start=$(date +%s%N)
		rccr status --json --parallel "$1" >/tmp/rccr-status.json 2>/tmp/rccr-status.err
		rc=$?
		end=$(date +%s%N)
		echo "$(((end - start) / 1000000)) $(grep -c "\"healthy\": true" /tmp/rccr-status.json) $rc"
	' sh "$1"
}

failed=0
printf '\nrccr status on %s nodes (%s targets + the control), %s cores\n' "$total" "$NODES" "$(nproc)"
printf '%-10s %-40s %-10s %s\n' "--parallel" "runs (ms)" "median" "healthy"
for parallel in $PARALLELS; do
	run_once "$parallel" >/dev/null # warm-up: page cache, ARP
	times=""
	healthy_min=$total
	for ((i = 0; i < RUNS; i++)); do
		read -r ms healthy rc <<<"$(run_once "$parallel")"
		times="$times $ms"
		[ "$healthy" -ge "$healthy_min" ] || healthy_min=$healthy
		if [ "$rc" != 0 ] || [ "$healthy" != "$total" ]; then failed=1; fi
	done
	median=$(tr ' ' '\n' <<<"$times" | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR + 1) / 2)]}')
	printf '%-10s %-40s %-10s %s/%s\n' "$parallel" "${times# }" "${median} ms" "$healthy_min" "$total"
done
if [ "$failed" = 1 ]; then
	echo "not every node answered healthy in every run; last errors:" >&2
	bash "$LAB" exec "$LABDIR" control sh -c 'cat /tmp/rccr-status.err; grep -v "\"healthy\": true" /tmp/rccr-status.json | head -5' >&2
	exit 1
fi
