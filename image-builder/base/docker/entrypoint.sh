#!/bin/sh
# Start of an RCCR node container (installed as
# /usr/libexec/rccr/docker-entrypoint; tini runs it as PID 1's child).
#
# 1. rccr-init: first-boot setup, as on the OS images (host keys, /root/.ssh
#    modes, /etc/issue; a container cannot rename itself, so Docker's
#    hostname stays: docker-compose.yml names the nodes).
# 2. Host keys are made now, at the first start, never in an image layer:
#    every container has its own. `ssh-keygen -A` only makes missing ones,
#    so it is a no-op after rccr-init and a fallback should rccr-init fail.
# 3. Targets start dockerd in the background when RCCR_DOCKERD is not "no";
#    it needs a privileged container (docker-compose.yml runs them so) and
#    logs to /var/log/dockerd.log.
# 4. sshd runs in the foreground: its exit ends the container. Arguments are
#    passed on to sshd.
set -eu

node_type=$(cat /etc/rccr/node-type 2>/dev/null || echo unknown)

if ! rccr-init; then
	echo "rccr-entrypoint: rccr-init failed; continuing with ssh-keygen -A" >&2
fi
ssh-keygen -A >/dev/null

if [ "$node_type" = target ] && [ "${RCCR_DOCKERD:-auto}" != no ]; then
	dockerd >/var/log/dockerd.log 2>&1 &
fi

exec /usr/sbin/sshd -D -e "$@"
