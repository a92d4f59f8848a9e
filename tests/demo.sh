#!/usr/bin/env bash
#---help---
# Usage: tests/demo.sh [--targets N] [--no-install] [--keep]
#
# RCCR from booted nodes to a running swarm, on a virtual LAN of this
# machine (Debian 12 or Ubuntu 24.04 with rustup; root, or a user with
# sudo). It installs what it needs (tests/demo-install.sh), builds rccr,
# makes the images' temporary key pair, starts a LAN (a router with DHCP and
# DNS, a control node, N targets each running a real dockerd, three decoys),
# and on the control runs `rccr setup --yes`: adopt the targets, rotate the
# keys, form the swarm, start the sample service of its cluster_config.yml.
# Then, from the control as an operator would: `rccr status`, `docker node
# ls`, `docker service ls`, `ansible all -m ping`, plain `ssh`, and a request
# answered by the service on every target. It prints each step's wall time
# and the total, and tears everything down, also on failure or Ctrl-C.
#
#   --targets N    how many targets (default 3)
#   --no-install   skip tests/demo-install.sh (a prepared machine)
#   --keep         leave the LAN up at the end, to try the cluster by hand
#                  (`lab.sh exec LABDIR control`); prints how to remove it
#---help---
set -euo pipefail

help() { sed -n '/^#---help---/,/^#---help---/p' "$0" | sed '1d;$d;s/^# \{0,1\}//'; }
die() { printf 'tests/demo.sh: %s\n' "$*" >&2; exit 1; }

TARGETS=3
INSTALL=1
KEEP=0
while [ $# -gt 0 ]; do
	case "$1" in
	--targets) TARGETS=${2:?--targets needs a number}; shift 2 ;;
	--no-install) INSTALL=0; shift ;;
	--keep) KEEP=1; shift ;;
	-h | --help) help; exit 0 ;;
	*) die "unknown argument: $1 (see --help)" ;;
	esac
done
case "$TARGETS" in '' | *[!0-9]*) die "--targets needs a number" ;; esac
[ "$TARGETS" -ge 1 ] || die "--targets needs at least 1"

cd "$(dirname "$0")/.."
REPO=$PWD
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null || die "the virtual LAN needs root: run as root"
	SUDO=sudo
else
	SUDO=
fi

# The sample service: busybox's httpd (an image imported on each target,
# no registry), one replica per target, published in host mode on each
# node's own address (the lab's kernel has no IPVS for swarm's ingress).
readonly IMAGE=rccr-demo/web:1
readonly PORT=8080
readonly CONFIG="# The demo's cluster_config.yml (commented reference: cluster_config.yml)
cluster:
  name: demo
containers:
  - name: web
    image: $IMAGE
    replicas: $TARGETS
    publish: host
    ports:
      - \"$PORT:80\""

# ---- step timing -----------------------------------------------------------
# EPOCHREALTIME is "seconds.micros" (a comma in some locales): digits only.
now_ms() { echo $((${EPOCHREALTIME//[!0-9]/} / 1000)); }
START_MS=$(now_ms)
STEP_NAME=""
STEP_MS=0
TIMES=()
end_step() {
	[ -n "$STEP_NAME" ] || return 0
	local ms=$(($(now_ms) - STEP_MS))
	TIMES+=("$(printf '%6d.%01d s  %s' $((ms / 1000)) $((ms % 1000 / 100)) "$STEP_NAME")")
	printf '    (%d.%01d s)\n' $((ms / 1000)) $((ms % 1000 / 100))
	STEP_NAME=""
}
step() {
	end_step
	STEP_NAME=$*
	STEP_MS=$(now_ms)
	printf '\n\033[1m==> %s\033[0m\n' "$*"
}
summary() {
	local total=$(($(now_ms) - START_MS))
	printf '\n\033[1m==> Wall time per step\033[0m\n'
	printf '%s\n' "${TIMES[@]}"
	printf '%6d.%01d s  total\n' $((total / 1000)) $((total % 1000 / 100))
}

# ---- teardown --------------------------------------------------------------
WORK=""
LAB=""
cleanup() {
	local rc=$?
	trap - EXIT HUP INT TERM
	if [ -n "$LAB" ] && [ "$KEEP" = 1 ]; then
		printf '\nThe LAN stays up (--keep). Its control node: %s\n' "$SUDO tests/lab/lab.sh exec $LAB control"
		printf 'To remove it: %s; %s\n' "$SUDO tests/swarm/lab-docker.sh clean $LAB" "$SUDO tests/lab/lab.sh down $LAB"
	elif [ -n "$LAB" ]; then
		step "Tearing the virtual LAN down (engines and containers first)"
		$SUDO "$REPO/tests/swarm/lab-docker.sh" clean "$LAB" || true
		$SUDO "$REPO/tests/lab/lab.sh" down "$LAB" || true
	fi
	[ -z "$WORK" ] || rm -rf "$WORK"
	end_step
	summary
	if [ "$rc" = 0 ]; then
		printf '\033[1m==> Done: a running swarm, its service answering on every target\033[0m\n'
	else
		printf '\033[1m==> FAILED (exit %s)\033[0m\n' "$rc" >&2
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' HUP INT TERM

if [ "$INSTALL" = 1 ]; then
	step "Installing what the demo needs (tests/demo-install.sh)"
	tests/demo-install.sh
fi

step "Building rccr (release profile)"
cargo build --release --quiet
WORK=$(mktemp -d /tmp/rccr-demo.XXXXXX)
chmod 755 "$WORK"
cp target/release/rccr "$WORK/rccr"
"$WORK/rccr" --version

step "Making the temporary key pair, as an image build does (rccr keygen)"
"$WORK/rccr" keygen -f "$WORK/ssh_temp_key"

# Ansible on the control, as the control image has it, for the operator's
# own playbooks (rccr forms the swarm without it). The venv's programs
# name their interpreter by absolute path, which lab hosts see under /opt.
ANSIBLE_BIN=${RCCR_ANSIBLE_VENV:-/opt/rccr-ansible}/bin
[ -x "$ANSIBLE_BIN/ansible" ] || die "no $ANSIBLE_BIN/ansible: run tests/demo-install.sh"
step "Starting the virtual LAN: router (dnsmasq), control (rccr, Ansible, docker CLI), $TARGETS targets, 3 decoys"
# A kept LAN outlives this script: owned by PID 1, `lab.sh gc` leaves it.
owner=$$
[ "$KEEP" = 0 ] || owner=1
LAB=$($SUDO tests/lab/lab.sh up --owner "$owner" --targets "$TARGETS" --decoys \
	--pubkey "$WORK/ssh_temp_key.pub" --privkey "$WORK/ssh_temp_key" --bin "$WORK/rccr" \
	--bin "$ANSIBLE_BIN/ansible" --bin "$ANSIBLE_BIN/ansible-playbook" | tail -n 1)
column -t -s "$(printf '\t')" "$LAB/hosts.tsv"
on_control() { $SUDO "$REPO/tests/lab/lab.sh" exec "$LAB" control "$@"; }
TARGET_HOSTS=$(awk -F '\t' '$2 == "target" { print $1 }' "$LAB/hosts.tsv")
TARGET_IPS=$(awk -F '\t' '$2 == "target" { print $3 }' "$LAB/hosts.tsv")

step "Starting a real dockerd on each target, and importing the service's image"
# shellcheck disable=SC2086 # a list of host names
{
	$SUDO tests/swarm/lab-docker.sh private-run "$LAB" control
	$SUDO tests/swarm/lab-docker.sh start "$LAB" $TARGET_HOSTS
	$SUDO tests/swarm/lab-docker.sh image "$LAB" "$IMAGE" $TARGET_HOSTS
}
for host in $TARGET_HOSTS; do
	printf '  %s: dockerd %s\n' "$host" \
		"$($SUDO tests/lab/lab.sh exec "$LAB" "$host" docker version --format '{{.Server.Version}}')"
done

step "On the control node: ./cluster_config.yml"
printf '%s\n' "$CONFIG" | on_control sh -c 'cat >cluster_config.yml'
on_control cat cluster_config.yml

step "On the control node: rccr setup --dry-run (what setup would do; changes nothing)"
on_control rccr setup --dry-run

step "On the control node: rccr setup --yes (adopt, rotate keys, form the swarm, run the service)"
on_control rccr setup --yes

step "On the control node: rccr status"
on_control rccr status

step "On the control node: docker node ls; docker service ls; docker service ps web (docker context 'rccr', no flags)"
on_control docker context ls
on_control docker node ls
on_control docker service ls
on_control docker service ps web

step "On the control node: ansible all -m ping (no -i: ~/.ansible.cfg names rccr's inventory)"
on_control ansible all -m ping -o

step "On the control node: plain 'ssh root@target hostname' works, the temporary key nowhere"
failed=0
for ip in $TARGET_IPS; do
	name=$(on_control ssh "root@$ip" hostname </dev/null) || failed=1
	if on_control ssh -o BatchMode=yes -o IdentitiesOnly=yes -i /root/.rccr/temp_key \
		-o StrictHostKeyChecking=yes "root@$ip" true 2>/dev/null; then
		echo "  $ip ($name): TEMPORARY KEY STILL ACCEPTED"
		failed=1
	else
		echo "  $ip: ssh root@$ip hostname -> $name; temporary key refused"
	fi
done
[ "$failed" = 0 ] || die "the temporary key is still accepted, or ssh failed"

step "On the control node: the service answers on every target (http://TARGET:$PORT/)"
for ip in $TARGET_IPS; do
	# The task may still be binding its port when setup returns: a few tries.
	answer=""
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		answer=$(on_control curl -fsS --max-time 3 "http://$ip:$PORT/" 2>/dev/null) && break
		sleep 0.5
	done
	[ -n "$answer" ] || failed=1
	printf '  http://%s:%s/ -> %s\n' "$ip" "$PORT" "${answer:-NO ANSWER}"
done
if [ "$failed" != 0 ]; then
	# Host mode is what makes a node answer without IPVS: show the spec's.
	on_control docker service inspect --format 'web ports: {{json .Endpoint.Ports}}' web >&2 || true
	die "the service did not answer on every target"
fi
end_step
