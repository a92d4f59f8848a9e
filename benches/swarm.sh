#!/usr/bin/env bash
#---help---
# Usage: benches/swarm.sh [N...]
#
# Boot-ready nodes to a running service, on the virtual LAN
# (tests/lab/lab.sh) with a real dockerd on every target
# (tests/swarm/lab-docker.sh); needs root, docker.io, iptables and the
# Ansible venv of tests/swarm/ansible-venv.sh (made if missing).
#
# For each N (default: 3 5 10), two fresh labs of N targets, each holding
# the test image:
#   native     `rccr setup --yes --json`: adopt, rotate, and the cluster
#              engine's machine, swarm and service layers, until the
#              service `web` (N replicas, port 8080) runs on every node
#   reference  `rccr setup --yes --no-swarm` (adopt and rotate), then the
#              same layers as Ansible playbooks (benches/ansible/engine/,
#              the engine rccr had before), until the same service runs
#   Docker alone  no adoption, no SSH, no labels: `docker swarm init` on
#              target-1, the managers native made joining in turn, the
#              others at once, `docker service create` of the same service,
#              until it runs: the floor Docker itself sets on this machine
# Each is timed as a whole (wall time, peak RSS of rccr, and of Ansible's
# largest process), and rccr's phases come from its own report
# (`rccr setup: done in ...`). Prints a Markdown table; exits 1 when a run
# exited non-zero or did not end with the service running on every node.
# Three fresh labs per N; a run takes about 2 min for N=10.
#
# Environment (defaults in brackets):
#   RCCR_BIN   the rccr binary to measure [target/release/rccr, built]
#---help---
set -eu

help() { sed -n '/^#---help---/,/^#---help---/p' "$0" | sed '1d;$d;s/^# \{0,1\}//'; }
die() { printf 'benches/swarm.sh: %s\n' "$*" >&2; exit 1; }
einfo() { printf '==> %s\n' "$*" >&2; }

case "${1:-}" in
-h | --help) help; exit 0 ;;
esac
[ "$(id -u)" = 0 ] || die "needs root (network namespaces)"
command -v /usr/bin/time >/dev/null || die "needs GNU time: apt-get install time"
command -v dockerd >/dev/null || die "needs dockerd: apt-get install docker.io iptables"
SIZES=${*:-3 5 10}

cd "$(dirname "$0")/.."
REPO=$PWD
LAB="$REPO/tests/lab/lab.sh"
DOCKER_LAB="$REPO/tests/swarm/lab-docker.sh"
VENV=/opt/rccr-ansible
IMAGE=rccr-lab/web:1
LABDIR=""
TMP=$(mktemp -d)
# shellcheck disable=SC2317  # called by the trap
cleanup() {
	trap - EXIT HUP INT TERM
	lab_down
	rm -rf "$TMP"
}
# shellcheck disable=SC2317
lab_down() {
	[ -n "$LABDIR" ] || return 0
	bash "$DOCKER_LAB" clean "$LABDIR" >/dev/null 2>&1 || true
	"$LAB" down "$LABDIR" >/dev/null 2>&1 || true
	LABDIR=""
}
trap cleanup EXIT HUP INT TERM

if [ -z "${RCCR_BIN:-}" ]; then
	einfo "cargo build --release"
	cargo build --release --quiet
	RCCR_BIN=$REPO/target/release/rccr
fi
bash "$REPO/tests/swarm/ansible-venv.sh" "$VENV"
cp "$RCCR_BIN" "$TMP/rccr"
printf '#!/bin/sh\nexec %s/bin/ansible-playbook "$@"\n' "$VENV" >"$TMP/ansible-playbook"
chmod +x "$TMP/ansible-playbook"
ssh-keygen -q -t rsa -b 4096 -N '' -C rccr-temporary-key -f "$TMP/temp"

# in_control CMD...: runs CMD inside the lab's control host.
in_control() { "$LAB" exec "$LABDIR" control "$@"; }

# A fresh lab of $1 targets, each running dockerd and holding the image.
lab_up() {
	LABDIR=$("$LAB" up --owner $$ --targets "$1" \
		--pubkey "$TMP/temp.pub" --privkey "$TMP/temp" \
		--bin "$TMP/rccr" --bin "$TMP/ansible-playbook" | tail -n 1)
	hosts=$(seq -f 'target-%g' 1 "$1")
	# shellcheck disable=SC2086 # a list of hosts
	bash "$DOCKER_LAB" private-run "$LABDIR" control >/dev/null
	# shellcheck disable=SC2086
	bash "$DOCKER_LAB" start "$LABDIR" $hosts >/dev/null
	# shellcheck disable=SC2086
	bash "$DOCKER_LAB" image "$LABDIR" "$IMAGE" $hosts >/dev/null
	printf 'cluster:\n  name: bench\ncontainers:\n  - name: web\n    image: %s\n    replicas: %s\n    ports:\n      - "8080:80"\n' \
		"$IMAGE" "$1" | in_control sh -c 'cat > /root/cluster_config.yml'
}

# Whether `web` runs all $1 replicas, as target-1 (a manager) sees it.
service_runs() {
	[ "$("$LAB" exec "$LABDIR" target-1 docker service ls --format '{{.Name}} {{.Replicas}}' 2>/dev/null)" = "web $1/$1" ]
}

# Runs CMD... in the control under GNU time: prints "wall_s max_rss_kib
# exit_status" (a run that fails is timed too, and makes the bench fail).
timed() {
	in_control /usr/bin/time -f '%e %M %x' -o /tmp/rccr-bench-time "$@" >"$TMP/out" 2>"$TMP/err" || true
	in_control cat /tmp/rccr-bench-time | tail -n 1
}

# succeeded WHAT STATUS: fails the bench, showing the run's errors, unless
# STATUS is 0.
succeeded() {
	[ "$2" = 0 ] && return 0
	failed=1
	einfo "$1 exited $2"
	tail -n 20 "$TMP/err" >&2
}

# now: the wall clock in seconds, with fractions.
now() { date +%s.%N; }

# docker_alone N MANAGERS: the same swarm and service with the docker
# command on the targets themselves; prints "seconds init+managers+workers
# service".
docker_alone() {
	local n=$1 managers=$2 ip tm tw t0 t1 t2 i
	ip=$("$LAB" ip "$LABDIR" target-1)
	t0=$(now)
	"$LAB" exec "$LABDIR" target-1 docker swarm init --advertise-addr "$ip" >/dev/null
	tm=$("$LAB" exec "$LABDIR" target-1 docker swarm join-token -q manager)
	tw=$("$LAB" exec "$LABDIR" target-1 docker swarm join-token -q worker)
	for i in $(seq 2 "$managers"); do
		"$LAB" exec "$LABDIR" "target-$i" docker swarm join --token "$tm" "$ip:2377" >/dev/null
	done
	for i in $(seq "$((managers + 1))" "$n"); do
		"$LAB" exec "$LABDIR" "target-$i" docker swarm join --token "$tw" "$ip:2377" >/dev/null &
	done
	wait
	t1=$(now)
	"$LAB" exec "$LABDIR" target-1 docker service create --detach --name web --replicas "$n" \
		--publish 8080:80 --no-resolve-image "$IMAGE" >/dev/null
	until service_runs "$n"; do sleep 0.1; done
	t2=$(now)
	awk -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN { printf "%.2f %.2f %.2f\n", c - a, b - a, c - b }'
}

# The extra vars and Ansible settings of the reference playbooks.
reference_files() {
	in_control sh -c 'mkdir -p /root/ref && cat > /root/ref/vars.json' <<EOF
{"rccr_cluster_name": "bench", "rccr_remove_missing": false, "rccr_containers": [
  {"name": "web", "image": "$IMAGE", "replicas": $1, "constraints": [],
   "publish": ["published=8080,target=80,protocol=tcp"]}]}
EOF
	in_control sh -c 'cat > /root/ref/ansible.cfg' <<'EOF'
[defaults]
forks = 64
host_key_checking = True
interpreter_python = /usr/bin/python3
retry_files_enabled = False
[ssh_connection]
pipelining = True
ssh_args = -o ControlMaster=auto -o ControlPersist=60s -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=/root/.ssh/known_hosts
EOF
	tar -C "$REPO/benches/ansible/engine" -cf - . | in_control tar -C /root/ref -xf -
}

failed=0
printf '| N | native s | native phases | rccr peak RSS MiB | reference s (rotate + playbooks) | Ansible peak RSS MiB | speed-up | Docker alone s (swarm + service) |\n|---:|---:|---|---:|---:|---:|---:|---:|\n' >"$TMP/table"
for n in $SIZES; do
	einfo "N=$n: native"
	lab_up "$n"
	read -r native rss status <<EOF2
$(timed rccr setup --yes --json)
EOF2
	succeeded "N=$n native: rccr setup" "$status"
	phases=$(sed -n 's/^rccr setup: done in [0-9.]* s (\(.*\))$/\1/p' "$TMP/err")
	service_runs "$n" || { failed=1; einfo "N=$n native: web is not running on every node"; cat "$TMP/err" >&2; }
	managers=$("$LAB" exec "$LABDIR" target-1 docker node ls --filter role=manager -q | wc -l)
	lab_down

	einfo "N=$n: Docker alone ($managers managers)"
	lab_up "$n"
	read -r alone alone_swarm alone_service <<EOF2
$(docker_alone "$n" "$managers")
EOF2
	lab_down

	einfo "N=$n: reference (rotation, then the playbooks)"
	lab_up "$n"
	read -r rotate _ status <<EOF2
$(timed rccr setup --yes --no-swarm)
EOF2
	succeeded "N=$n reference: rccr setup --no-swarm" "$status"
	reference_files "$n"
	read -r playbooks arss status <<EOF2
$(timed env ANSIBLE_CONFIG=/root/ref/ansible.cfg ansible-playbook -i /root/.rccr/inventory.ini -e @/root/ref/vars.json /root/ref/site.yml)
EOF2
	succeeded "N=$n reference: ansible-playbook" "$status"
	service_runs "$n" || { failed=1; einfo "N=$n reference: web is not running on every node"; tail -n 30 "$TMP/out" >&2; }
	lab_down

	printf '| %s | %s | %s | %s | %s (%s + %s) | %s | %s | %s |\n' "$n" "$native" "$phases" \
		"$(awk -v k="$rss" 'BEGIN { printf "%.1f", k / 1024 }')" \
		"$(awk -v a="$rotate" -v b="$playbooks" 'BEGIN { printf "%.2f", a + b }')" "$rotate" "$playbooks" \
		"$(awk -v k="$arss" 'BEGIN { printf "%.1f", k / 1024 }')" \
		"$(awk -v a="$rotate" -v b="$playbooks" -v c="$native" 'BEGIN { printf "%.1fx", (a + b) / c }')" \
		"$alone ($alone_swarm + $alone_service)" >>"$TMP/table"
done
printf '# boot-ready nodes to a running service, %s, %s cores, load %s\n' "$(date -u +%F)" "$(nproc)" \
	"$(cut -d' ' -f1-3 /proc/loadavg)"
"$TMP/rccr" --version
cat "$TMP/table"
exit "$failed"
