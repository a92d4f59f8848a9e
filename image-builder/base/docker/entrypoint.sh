#!/bin/sh
# Start of an RCCR node container (installed as
# /usr/libexec/rccr/docker-entrypoint; tini runs it as PID 1's child).
#
# 1. rccr-init: first-boot setup, as on the OS images (host keys, /root/.ssh
#    modes, /etc/issue; a container cannot rename itself, so Docker's
#    hostname stays: docker-compose.yml names the nodes).
# 2. Host keys are made now, at the first start, never in an image layer:
#    every container has its own. `ssh-keygen -A` only makes missing ones:
#    after rccr-init's Ed25519 key, the RSA and ECDSA keys; all three
#    should rccr-init fail.
# 3. Targets start dockerd in the background when RCCR_DOCKERD is not "no";
#    it needs a privileged container (docker-compose.yml runs them so) and
#    logs to /var/log/dockerd.log. On a cgroup v2 host the cgroup tree is
#    made nestable first, as Docker's own docker:dind image does.
# 4. sshd runs in the foreground: its exit ends the container. Arguments are
#    passed on to sshd.
#
# Environment (tests): RCCR_NODE_TYPE_FILE (/etc/rccr/node-type),
# CGROUP_ROOT (/sys/fs/cgroup), DOCKERD_LOG (/var/log/dockerd.log),
# SSHD (/usr/sbin/sshd).
set -eu

: "${RCCR_NODE_TYPE_FILE:=/etc/rccr/node-type}"
: "${CGROUP_ROOT:=/sys/fs/cgroup}"
: "${DOCKERD_LOG:=/var/log/dockerd.log}"
: "${SSHD:=/usr/sbin/sshd}"

warn() {
	echo "rccr-entrypoint: $*" >&2
}

# cgroup v2 nesting, the step of moby's hack/dind ("cgroup v2: enable
# nesting") that docker:dind runs before dockerd: a cgroup that hands
# controllers to children may hold no process itself (writing
# cgroup.subtree_control fails with EBUSY), so every process of the
# container's root cgroup moves to init/, one PID per write (a process gone
# meanwhile is no error); then every available controller is enabled for
# the children. Without it dockerd's containers get no memory or CPU
# controller, or do not start.
nest_cgroups() {
	[ -f "$CGROUP_ROOT/cgroup.controllers" ] || return 0 # cgroup v1: nothing to do
	_controllers=$(cat "$CGROUP_ROOT/cgroup.controllers")
	[ -n "$_controllers" ] || return 0
	if ! mkdir -p "$CGROUP_ROOT/init" 2>/dev/null; then
		warn "cannot write $CGROUP_ROOT (not privileged?): containers may not start"
		return 0
	fi
	xargs -rn1 <"$CGROUP_ROOT/cgroup.procs" >"$CGROUP_ROOT/init/cgroup.procs" 2>/dev/null || :
	echo "$_controllers" | sed -e 's/ / +/g' -e 's/^/+/' >"$CGROUP_ROOT/cgroup.subtree_control" ||
		warn "cannot enable the cgroup controllers ($_controllers) for dockerd's containers"
}

node_type=$(cat "$RCCR_NODE_TYPE_FILE" 2>/dev/null || echo unknown)

if ! rccr-init; then
	warn "rccr-init failed; continuing with ssh-keygen -A"
fi
ssh-keygen -A >/dev/null

if [ "$node_type" = target ] && [ "${RCCR_DOCKERD:-auto}" != no ]; then
	nest_cgroups
	dockerd >"$DOCKERD_LOG" 2>&1 &
fi

exec "$SSHD" -D -e "$@"
