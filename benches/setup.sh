#!/usr/bin/env bash
#---help---
# Usage: benches/setup.sh
#
# Benchmarks `rccr setup` on the virtual LAN (tests/lab/lab.sh); needs root.
# Prints figures (the goal: 10 nodes set up in at most 10 s, before any
# playbook); exits 1 only when a run did not adopt every target.
#
# For each run: a fresh lab with TARGETS DHCP targets (half of them named
# like a freshly flashed image, ReCyClusteR-Target, so they get renamed)
# plus the three decoys, then `rccr setup --yes --json --no-playbooks`
# inside the control under /usr/bin/time -v: wall time, peak RSS, and how
# many targets were adopted. A second, idempotent run is timed too.
#
# Environment (defaults in brackets):
#   RCCR_BIN   the rccr binary to measure [target/release/rccr, built]
#   TARGETS    targets per lab [10]
#   RUNS       labs (fresh setups) [3]
#---help---
set -eu

: "${TARGETS:=10}"
: "${RUNS:=3}"

# shellcheck source=benches/lib.sh
. "$(dirname "$0")/lib.sh"
bench_start "$@"
command -v /usr/bin/time >/dev/null || die "needs GNU time: apt-get install time"
rccr_bin
cp "$RCCR_BIN" "$TMP/rccr"
ssh-keygen -q -t rsa -b 4096 -N '' -C rccr-temporary-key -f "$TMP/temp"

# Runs setup inside the control: prints "wall_s rss_kib adopted".
timed_setup() {
	"$LAB" exec "$LABDIR" control /usr/bin/time -f '%e %M' -o /tmp/rccr-bench-time.$$ \
		rccr setup --yes --json --no-playbooks >"$TMP/out.json" 2>"$TMP/err" || true
	read -r wall rss <"/tmp/rccr-bench-time.$$"
	rm -f "/tmp/rccr-bench-time.$$"
	adopted=$(grep -c '"result": "adopted"' "$TMP/out.json" || true)
	already=$(grep -c '"result": "already adopted"' "$TMP/out.json" || true)
	echo "$wall $rss $adopted $already"
}

printf '\n| run | targets | setup wall s | peak RSS MiB | adopted | second run wall s | already adopted |\n|---:|---:|---:|---:|---:|---:|---:|\n' >"$TMP/table"
failed=0
for run in $(seq 1 "$RUNS"); do
	LABDIR=$("$LAB" up --owner $$ --targets "$TARGETS" --decoys \
		--pubkey "$TMP/temp.pub" --privkey "$TMP/temp" --bin "$TMP/rccr" | tail -n 1)
	# Half the targets carry the image's default name, as after flashing.
	for i in $(seq 1 2 "$TARGETS"); do
		"$LAB" exec "$LABDIR" "target-$i" sh -c \
			'hostname ReCyClusteR-Target && echo ReCyClusteR-Target >/etc/hostname'
	done
	read -r wall rss adopted _ <<EOF2
$(timed_setup)
EOF2
	read -r wall2 _ _ already <<EOF2
$(timed_setup)
EOF2
	if [ "$adopted" != "$TARGETS" ] || [ "$already" != "$TARGETS" ]; then
		failed=1
		einfo "run $run: adopted $adopted, then $already already adopted, of $TARGETS"
		cat "$TMP/err" >&2
	fi
	printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$run" "$TARGETS" "$wall" \
		"$(awk -v k="$rss" 'BEGIN { printf "%.1f", k / 1024 }')" "$adopted" "$wall2" "$already" >>"$TMP/table"
	"$LAB" down "$LABDIR" >/dev/null 2>&1 || true
	LABDIR=""
done
printf '# rccr setup on the virtual LAN, %s, %s cores, load %s\n' "$(date -u +%F)" "$(nproc)" \
	"$(cut -d' ' -f1-3 /proc/loadavg)"
"$TMP/rccr" --version
cat "$TMP/table"
exit "$failed"
