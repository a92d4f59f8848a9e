# shellcheck shell=sh
# rccr setup, node side: give the node a new hostname that survives reboots.
# Run as: sh -c "$THIS" rccr NEWNAME. POSIX sh (busybox ash, dash).
# Writes /etc/hostname, renames the node in /etc/hosts and in the DHCP
# client's `hostname` option of /etc/network/interfaces (Alpine), sets the
# running hostname, and commits with lbu on diskless Alpine.
set -eu
new=$1
old=$(hostname)

# Installs stdin as $1 atomically; a bind-mounted file (containers, the test
# lab) cannot be renamed over, so it is rewritten in place instead.
install_file() {
	tmp="$1.rccr-tmp"
	cat >"$tmp"
	if ! mv -f "$tmp" "$1" 2>/dev/null; then
		cat "$tmp" >"$1"
		rm -f "$tmp"
	fi
}

printf '%s\n' "$new" | install_file /etc/hostname
if [ -f /etc/hosts ]; then
	awk -v old="$old" -v new="$new" '
		{ for (i = 2; i <= NF; i++) if ($i == old) { $i = new; seen = 1 } print }
		END { if (!seen) print "127.0.1.1\t" new }
	' /etc/hosts | install_file /etc/hosts
fi
if [ -f /etc/network/interfaces ] && grep -q "^[[:space:]]*hostname[[:space:]]" /etc/network/interfaces; then
	awk -v new="$new" '
		$1 == "hostname" { sub(/hostname[[:space:]].*/, "hostname " new) } { print }
	' /etc/network/interfaces | install_file /etc/network/interfaces
fi
hostname "$new"
if command -v lbu >/dev/null 2>&1; then
	lbu commit >/dev/null 2>&1 || echo "rccr: lbu commit failed: the new name may not survive a reboot" >&2
fi
echo "$new"
