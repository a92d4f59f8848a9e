#!/usr/bin/env bash
#---help---
# Usage: tests/run.sh [--quick] [--no-fuzz] [--install-only]
#
# Runs the whole RCCR test suite on a fresh Debian/Ubuntu machine: installs
# what it needs (apt packages, pip tools, rustup components and targets),
# then formatting, clippy, unit and integration tests (the virtual-LAN lab
# tests need root: run as root, or as a user with sudo), shell/workflow/
# Dockerfile lint, and the ARMv6 cross build run under qemu.
#
#   --quick          skip the ARMv6 cross build (~3 min of CPU)
#   --no-fuzz        skip the fuzz smoke (~3 min cold build, then ~10 s a target,
#                    two at a time)
#   --install-only   install what the tests need (a superset of the demo's), then stop
#
# The release builds (the VM tier's and the ARMv6 one), the VM tier's
# Debian layers and the fuzz build run niced in the background while the
# lab tests run, their log shown before the fuzz smoke (as a user with
# sudo, they run in the foreground after the lab tests instead).
#
# Environment:
#   RCCR_SKIP_INSTALL=1  do not install anything (a prepared machine)
#   RCCR_FUZZ_SECS=N     seconds each fuzz target runs in the smoke (default 10)
#---help---
set -euo pipefail

help() { sed -n '/^#---help---/,/^#---help---/p' "$0" | sed '1d;$d;s/^# \{0,1\}//'; }
die() { printf 'tests/run.sh: %s\n' "$*" >&2; exit 1; }
# Each stage's line says when it began, for finding where the time goes.
einfo() { printf '\n==> %s (%d s so far)\n' "$*" "$SECONDS" >&2; }

QUICK=0
FUZZ=1
INSTALL_ONLY=0
: "${RCCR_FUZZ_SECS:=10}"
for arg in "$@"; do
	case "$arg" in
	--quick) QUICK=1 ;;
	--no-fuzz) FUZZ=0 ;;
	--install-only) INSTALL_ONLY=1 ;;
	-h | --help) help; exit 0 ;;
	*) die "unknown argument: $arg (see --help)" ;;
	esac
done

cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null || die "not root and no sudo: run as root"
	SUDO="sudo"
	# Build as this user, run the test binaries (lab tests need root) under sudo.
	export CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER="sudo -E"
fi

# Tools the tests run: a C toolchain for the vendored OpenSSL, the lab (iproute2, nftables, dnsmasq, sshd, udhcpc
# from busybox), the remote scripts' shells (dash, busybox), image building
# (xorriso, isolinux, mtools, dosfstools, fdisk, fakeroot, xz), the swarm
# lab (docker.io, iptables, python3-venv for Ansible), storage on loop
# devices (e2fsprogs), signed downloads (gpg), the VM tier (mmdebstrap,
# arch-test for i386, qemu-system-*, qemu-utils: bookworm's, which
# qemu-system-x86 needs), and checks (file, qemu-user-static, shellcheck).
APT_PACKAGES="gcc libc6-dev make perl curl bsdextrautils iproute2 nftables dnsmasq-base openssh-server openssh-client busybox dash
iputils-ping bind9-dnsutils procps psmisc util-linux e2fsprogs file qemu-user-static shellcheck
python3-yaml python3-venv time xorriso isolinux mtools dosfstools fdisk fakeroot xz-utils
docker.io iptables gpg mmdebstrap arch-test qemu-system-x86 qemu-system-arm qemu-utils strace"
PIP_PACKAGES="cargo-zigbuild ziglang pyyaml"

install_pip() {
	einfo "pip install $PIP_PACKAGES"
	# shellcheck disable=SC2086
	python3 -m pip install -q --disable-pip-version-check $PIP_PACKAGES 2>/dev/null ||
		python3 -m pip install -q --disable-pip-version-check --break-system-packages $PIP_PACKAGES
}

install_rust() {
	command -v cargo >/dev/null || die "cargo not found: install a Rust toolchain with rustup first"
	einfo "rustup components and targets"
	rustup component add rustfmt clippy rust-src >/dev/null 2>&1
}

if [ "${RCCR_SKIP_INSTALL:-0}" != 1 ]; then
	# shellcheck disable=SC2086
	tests/demo-install.sh apt $APT_PACKAGES
	install_pip
	install_rust
	tests/tools.sh install
	# Ansible for the swarm tests: a venv outside /root, which lab hosts cannot see.
	$SUDO tests/swarm/ansible-venv.sh
fi
[ "$INSTALL_ONLY" = 0 ] || exit 0

# ---- fuzz smoke ----------------------------------------------------------
# Every cargo-fuzz target under fuzz/ runs for RCCR_FUZZ_SECS seconds on
# the stable toolchain (RUSTC_BOOTSTRAP=1 lets it take the sanitizer flags).
# A crash fails the suite and names the input in fuzz/artifacts/. Longer
# runs and their figures: docs/security.md.

# Builds the fuzz targets (cargo fuzz build -O): in a subshell, so that its
# directory and environment stay its own. `cargo fuzz run` rebuilds unless
# it runs in the same environment: fuzz_env sets it for both.
fuzz_build() (
	fuzz_env
	cargo fuzz build -O
)

# Enters fuzz/ and sets the environment its builds and runs share.
fuzz_env() {
	cargo fuzz --version >/dev/null 2>&1 || cargo install --locked --quiet cargo-fuzz
	cd fuzz
	export RUSTC_BOOTSTRAP=1
	if [ -n "$FUZZ_OPENSSL" ]; then
		export OPENSSL_NO_VENDOR=1 OPENSSL_STATIC=1 OPENSSL_DIR="$FUZZ_OPENSSL"
	fi
}

# The OpenSSL the fuzz builds link, chosen once (after clippy), so that
# the background build and the smoke's agree: clippy built ssh2's vendored
# OpenSSL already, and linking that copy (the newest, where older builds
# linger) saves the fuzz build building its own (about 2 of its 4.5 min).
# Built at the dev profile's -O0, it slows only known_hosts' hashed names
# (HMAC-SHA1): a smoke. Empty: none yet, the fuzz build makes its own.
FUZZ_OPENSSL=
pick_fuzz_openssl() {
	local openssl
	for openssl in "$PWD"/target/debug/build/openssl-sys-*/out/openssl-build/install; do
		if [ -f "$openssl/lib/libcrypto.a" ] &&
			{ [ -z "$FUZZ_OPENSSL" ] || [ "$openssl/lib/libcrypto.a" -nt "$FUZZ_OPENSSL/lib/libcrypto.a" ]; }; then
			FUZZ_OPENSSL=$openssl
		fi
	done
}

fuzz_smoke() (
	local log_dir target running=0 jobs=2
	fuzz_build
	# The runs below in the build's environment: they build nothing again.
	fuzz_env
	log_dir=target/smoke-logs
	rm -rf "$log_dir"
	mkdir -p "$log_dir"
	# Two targets at a time (a fuzzer is one process on one core): the
	# smoke's share of the suite halves on the 2-core CI machine.
	for target in $(cargo fuzz list); do
		if [ "$running" -ge "$jobs" ]; then
			wait -n || true
			running=$((running - 1))
		fi
		fuzz_target "$target" "$log_dir" &
		running=$((running + 1))
	done
	wait || true
	# Reported in the targets' order, each with its own verdict.
	for target in $(cargo fuzz list); do
		if [ "$(cat "$log_dir/$target.rc" 2>/dev/null || echo none)" != 0 ]; then
			tail -n 60 "$log_dir/$target.log" >&2 || true
			die "fuzz target $target failed (full log: fuzz/$log_dir/$target.log)"
		fi
		printf '  %-16s %s\n' "$target" "$(grep -E '^#[0-9]+.*DONE' "$log_dir/$target.log" | tail -n 1)" >&2
	done
)

# Runs fuzz target $1 for RCCR_FUZZ_SECS seconds; its output goes to
# $2/$1.log and its exit status to $2/$1.rc.
fuzz_target() {
	local target=$1 log_dir=$2 corpora
	# New inputs go to the first folder (ignored by git); the tracked
	# seeds/ give a target an input past a gate the fuzzer cannot
	# guess in seconds (a checksum).
	corpora=("corpus/$target")
	mkdir -p "${corpora[0]}"
	if [ -d "seeds/$target" ]; then corpora+=("seeds/$target"); fi
	local rc=0
	cargo fuzz run -O "$target" "${corpora[@]}" -- -max_total_time="$RCCR_FUZZ_SECS" >"$log_dir/$target.log" 2>&1 || rc=$?
	echo "$rc" >"$log_dir/$target.rc"
}
# ---- end of fuzz smoke ---------------------------------------------------

# ---- builds in the background -------------------------------------------
# The VM tier's two release builds and Debian layers, the ARMv6 build and
# the fuzz build take about 12 min, mostly CPU. The lab tests spend much
# of their time waiting on timers and the network, so these run meanwhile,
# at the lowest priority (the lab keeps the CPU it asks for). Release
# binaries go to target/prepared-dist, not dist/, which some image tests
# read; the VM tier and the ARMv6 check then build incrementally (seconds)
# into dist/, as the fuzz smoke does its targets.
PREBUILD_LOG=target/prebuild.log
PREBUILD_PID=

prebuild() {
	DIST_DIR=$PWD/target/prepared-dist tests/vm.sh --prepare
	if [ "$QUICK" = 0 ]; then
		DIST_DIR=$PWD/target/prepared-dist image-builder/scripts/build-binaries.sh armhf
	fi
	# Only with an OpenSSL to link (pick_fuzz_openssl): else the smoke's
	# own build, which builds OpenSSL as well.
	if [ "$FUZZ" = 1 ] && [ -n "$FUZZ_OPENSSL" ]; then
		fuzz_build
	fi
}

# Makes this shell, and all it starts, give way to the lab: the lowest CPU
# and I/O priority, and the first the OOM killer takes (a build, which
# finish_prebuild then runs again in the foreground, not a lab host).
give_way() {
	renice -n 19 -p "$BASHPID" >/dev/null
	ionice -c 3 -p "$BASHPID" 2>/dev/null || true
	echo 1000 >"/proc/$BASHPID/oom_score_adj" 2>/dev/null || true
}

# Starts prebuild in the background, in a process group of its own (job
# control for this one job), which an exit stops whole (one bash sees: a
# SIGKILL of this script leaves it to finish by itself). Not as a
# user with sudo: a background job cannot answer sudo's password prompt,
# so there finish_prebuild runs it in the foreground.
start_prebuild() {
	[ -z "$SUDO" ] || return 0
	mkdir -p target
	set -m
	{
		give_way
		prebuild
	} </dev/null >"$PREBUILD_LOG" 2>&1 &
	PREBUILD_PID=$!
	set +m
	trap stop_prebuild EXIT
}

# Waits for the background builds; their log goes to the suite's output.
# Where they failed, they run once more in the foreground: incremental, so
# a real failure fails again, there to read, and one the lab's load caused
# (the OOM killer, say) does not fail the suite.
finish_prebuild() {
	local rc=0
	if [ -z "$PREBUILD_PID" ]; then
		einfo "release, VM layer and fuzz builds"
		(prebuild)
		return
	fi
	einfo "waiting for the builds in the background"
	wait "$PREBUILD_PID" || rc=$?
	stop_prebuild
	grep -vE '^ +(Compiling|Downloaded|Downloading|Finished|Fresh) ' "$PREBUILD_LOG" >&2 || true
	if [ "$rc" != 0 ]; then
		einfo "the builds in the background failed, exit $rc (log above): once more in the foreground"
		(prebuild)
	fi
}

# Stops what is left of the background builds' process group, and waits
# (30 s at most) until it is gone.
# shellcheck disable=SC2317 # run by the trap
stop_prebuild() {
	local waited=0
	[ -n "$PREBUILD_PID" ] || return 0
	kill -- -"$PREBUILD_PID" 2>/dev/null || true
	while kill -0 -- -"$PREBUILD_PID" 2>/dev/null && [ "$waited" -lt 30 ]; do
		sleep 1
		waited=$((waited + 1))
	done
	PREBUILD_PID=
}
# ---- end of builds in the background -------------------------------------

einfo "cargo fmt --check"
cargo fmt --all -- --check

einfo "cargo clippy -D warnings"
cargo clippy --all-targets --quiet -- -D warnings

pick_fuzz_openssl
start_prebuild

einfo "cargo test (unit, integration, virtual-LAN lab)"
# The lab's waits are watchdogs, not figures: two labs start at once here
# (four dockerds, twenty sshds), so give a loaded 2-core machine room.
LAB_TIMEOUT=${LAB_TIMEOUT:-120} cargo test --no-fail-fast

einfo "lint: shellcheck, actionlint, hadolint"
tests/tools.sh lint

finish_prebuild

if [ "$FUZZ" = 1 ]; then
	einfo "fuzz smoke: every target ${RCCR_FUZZ_SECS} s"
	fuzz_smoke
fi

einfo "VM tier: QEMU virtual machines on the virtual LAN (tests/vm.sh)"
tests/vm.sh

if [ "$QUICK" = 0 ]; then
	einfo "ARMv6 (Pi 1 / Zero) static build, run under qemu"
	image-builder/scripts/build-binaries.sh --check armhf
fi

einfo "all checks passed"
