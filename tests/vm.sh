#!/bin/bash
#---help---
# Usage: tests/vm.sh [--arch aarch64] [--no-build] [--prepare] [-- TEST_FILTER...]
#
# Runs the VM tier (docs/vm-tier.md): QEMU virtual machines booting Debian
# stand-ins of the target image on the virtual LAN of tests/lab/lab.sh.
#   1. the Debian layer of each arch's image (tests/vm/image.sh debian),
#      in the background, while
#   2. the static musl rccr of each arch builds
#      (image-builder/scripts/build-binaries.sh; incremental);
#   3. each arch's image (tests/vm/image.sh path; cached under
#      RCCR_VM_CACHE, so a second run finds them in a second);
#   4. the tests of tests/vm_tier.rs (cargo test --test vm_tier, which a
#      plain `cargo test` lists as ignored);
#   5. image.sh prune.
# Prints the time of each step; the tests print their figures as
# "vm-tier: ..." lines.
#
#   --arch aarch64  also boot an arm64 node (qemu-system-aarch64 -M virt,
#                   software emulation) and join it to the same swarm. Slow:
#                   not part of tests/run.sh. Building its image registers
#                   qemu-user-static's aarch64 binfmt entry if missing.
#   --no-build      use dist/rccr-ARCH as they are
#   --prepare       steps 1 and 2 (1 with --no-build), then stop:
#                   tests/run.sh runs this in the background (niced,
#                   DIST_DIR aside) while the lab tests run, so that its
#                   later full run finds them done
#   TEST_FILTER     passed to the test binary (default: every test)
#
# Needs root (or sudo) and what tests/run.sh installs (qemu-system-x86, qemu-utils,
# mmdebstrap, arch-test, fakeroot; qemu-system-arm for --arch aarch64).
#---help---
set -euo pipefail

help() { sed -n '/^#---help---/,/^#---help---/{/^#---help---/d;s/^# \{0,1\}//;p;}' "$0"; }
die() {
	printf 'tests/vm.sh: error: %s\n' "$*" >&2
	exit 1
}
einfo() { printf 'tests/vm.sh: %s\n' "$*" >&2; }

ARCHES="x86_64 x86"
BUILD=1
PREPARE=0
FILTER=()
while [ $# -gt 0 ]; do
	case "$1" in
	--arch)
		[ "${2:-}" = aarch64 ] || die "--arch: only aarch64 is optional (x86_64 and x86 always run)"
		ARCHES="$ARCHES aarch64"
		shift
		;;
	--no-build) BUILD=0 ;;
	--prepare) PREPARE=1 ;;
	-h | --help)
		help
		exit 0
		;;
	--)
		shift
		FILTER=("$@")
		break
		;;
	*) die "unknown argument: $1 (see --help)" ;;
	esac
	shift
done

cd "$(dirname "$0")/.."
# As tests/run.sh does: build as this user, run what needs root under sudo.
SUDO=""
if [ "$(id -u)" != 0 ]; then
	command -v sudo >/dev/null || die "the VM tier needs root (network namespaces, tap devices, mmdebstrap), or sudo"
	SUDO="sudo -E"
	export CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER="sudo -E"
fi

DEBIAN_PIDS=()
# shellcheck disable=SC2317 # run by the trap
cleanup() {
	trap - EXIT HUP INT TERM
	local pid
	for pid in "${DEBIAN_PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
}
trap cleanup EXIT HUP INT TERM

started=$SECONDS
step() {
	einfo "$1 ($((SECONDS - started)) s so far)"
}

step "Debian layers of: $ARCHES"
for arch in $ARCHES; do
	$SUDO bash tests/vm/image.sh debian "$arch" >/dev/null &
	DEBIAN_PIDS+=($!)
done
if [ "$BUILD" = 1 ]; then
	step "static rccr for: $ARCHES"
	# shellcheck disable=SC2086 # a list of arches
	image-builder/scripts/build-binaries.sh $ARCHES
fi
for pid in "${DEBIAN_PIDS[@]}"; do
	wait "$pid" || die "a Debian layer failed (see above)"
done
DEBIAN_PIDS=()
if [ "$PREPARE" = 1 ]; then
	step "prepared"
	exit 0
fi
for arch in $ARCHES; do
	step "image of $arch"
	$SUDO bash tests/vm/image.sh path "$arch" >/dev/null
done

step "tests/vm_tier.rs"
rc=0
RCCR_VM_ARCHES="$ARCHES" cargo test --test vm_tier -- --ignored --test-threads=1 --nocapture \
	"${FILTER[@]}" || rc=$?
$SUDO bash tests/vm/image.sh prune
step "done, exit $rc"
exit "$rc"
