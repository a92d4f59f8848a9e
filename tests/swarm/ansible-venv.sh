#!/bin/bash
#---help---
# Usage: tests/swarm/ansible-venv.sh [DIR]
#
# Makes DIR (default /opt/rccr-ansible) a Python venv of Debian's
# /usr/bin/python3 with pinned ansible-core and ansible-lint from PyPI, for
# the swarm tests: lab hosts see /opt (through an overlay) but not /root, so
# a pyenv or ~/.local install is invisible inside them. Does nothing when
# DIR already holds these versions. Needs the python3-venv package.
#---help---
set -eu

DIR=${1:-/opt/rccr-ansible}
PINS="ansible-core==2.18.19 ansible-lint==26.10.1"
PYTHON=/usr/bin/python3

case "$DIR" in
-h | --help)
	sed -n '/^#---help---/,/^#---help---/{/^#---help---/d;s/^# \{0,1\}//;p;}' "$0"
	exit 0
	;;
esac
[ -x "$PYTHON" ] || { echo "ansible-venv.sh: no $PYTHON (apt-get install python3 python3-venv)" >&2; exit 1; }

mkdir -p "$(dirname "$DIR")"
exec 9>"$DIR.lock"
flock 9
if [ "$(cat "$DIR/.rccr-pins" 2>/dev/null)" = "$PINS" ] && [ -x "$DIR/bin/ansible-playbook" ]; then
	exit 0
fi
rm -rf "$DIR"
"$PYTHON" -m venv "$DIR"
# shellcheck disable=SC2086 # a list of requirements
"$DIR/bin/pip" install -q --disable-pip-version-check $PINS
echo "$PINS" >"$DIR/.rccr-pins"
