#!/bin/sh
#---help---
# Usage: build-binaries.sh [options] [ARCH...]
#
# Builds the static (musl) rccr binaries for RCCR's architectures without
# Docker, with cargo-zigbuild, into $DIST_DIR/rccr-<arch>, then rewrites
# $DIST_DIR/SHA256SUMS and prints a size table (size-table.sh).
#
# Arches (default: all six):
#   x86_64       x86_64-unknown-linux-musl
#   x86          i686-unknown-linux-musl
#   aarch64      aarch64-unknown-linux-musl
#   rpi-aarch64  the aarch64 binary under its Raspberry Pi name
#   armv7        armv7-unknown-linux-musleabihf (Pi 2/3/4 32-bit)
#   armhf        arm-unknown-linux-musleabihf   (ARMv6: Pi 1, Pi Zero)
#
# Missing tools are installed (pip install cargo-zigbuild ziglang,
# rustup component add rust-src). Every target's std is built from rust-src
# with the release profile (-Zbuild-std, see STD_CARGO_ARGS): no prebuilt
# std is needed, not even for the two *-musleabihf targets.
#
# Options:
#   -c, --check        after building, check every binary: `file` must say
#                      statically linked and `--version` must run under the
#                      arch's qemu-user-static and name the right target
#   -n, --no-build     build nothing; use with --check on binaries in dist/
#   -e, --print-env T  print the environment (NAME=value lines, for
#                      $GITHUB_ENV) that this script builds Rust target T
#                      with, for builds by other means (cross), and exit;
#                      RCCR_STD_CARGO_ARGS holds the cargo arguments that
#                      build std from source (they need RUSTC_BOOTSTRAP=1
#                      on a stable toolchain, and rust-src)
#   -h, --help         show this help
#
# Called as `build-binaries.sh ./Configure ARG...`, it is the perl that the
# openssl-src crate runs OpenSSL's Configure with (OPENSSL_SRC_PERL, which
# builds set to this script): see openssl_configure.
#
# Environment:
#   DIST_DIR          where binaries go (default: <repo>/dist)
#   CARGO_TARGET_DIR  cargo's build directory (default: cargo's, <repo>/target)
#   RCCR_GIT_REV      revision --version prints (default: build.rs asks git)
#   RCCR_C_OPT        optimisation flag for the vendored C code (default: -Os)
#   RCCR_OPENSSL_TRIM 1 (default) or 0: configure OpenSSL without what
#                     libssh2 never uses (OPENSSL_NO_ALGS, OPENSSL_NO_MISC,
#                     OPENSSL_SLIM)
#   PIP               pip command used to install cargo-zigbuild (default: pip3)
# Builds set CFLAGS_<triple> and CARGO_TARGET_<TRIPLE>_RUSTFLAGS themselves
# (see --print-env), replacing values from the environment.
#---help---
set -eu

readonly BIN_NAME="rccr"
readonly SUMS_FILE="SHA256SUMS"
# Work around zig's compiler-rt lacking __atomic_is_lock_free on i686: OpenSSL
# then uses locks instead of the atomic builtins.
readonly I686_CFLAGS="-DBROKEN_CLANG_ATOMICS"
# With panic = "abort" nothing unwinds: no unwind tables (.eh_frame: 240 KB
# on x86_64, 520 KB on i686) for the C code or the crates we compile (std
# too, where it is built from source). Only RUST_BACKTRACE loses frames.
readonly NO_UNWIND_CFLAGS="-fno-asynchronous-unwind-tables -fno-unwind-tables"
readonly NO_UNWIND_RUSTFLAGS="-C force-unwind-tables=no"
# A panic names its file and line, not its column: one location record per
# line instead of per call site. x86_64 2,862,960 -> 2,860,800 bytes
# (2026-12-06; with no location at all, 2,830,384, but then a panic
# report says nothing of where). Unstable: RUSTC_BOOTSTRAP=1, as above.
# And a derived Debug prints its type's name alone (std's too: Option's
# is "Some"): only panics and tests print one, never rccr's output, whose
# `{:?}` are of strings and chars (manual impls). So never print a
# dependency's Display that is its derived Debug (ssh2::Error's code:
# rccr uses code() and message()). 1,792 bytes (2026-12-06).
readonly LOCATION_RUSTFLAGS="-Zlocation-detail=file,line -Zfmt-debug=shallow"
# std built from source with the release profile (opt-level z, no unwind
# tables) and std's own optimize_for_size feature, instead of rustup's
# prebuilt std (opt-level 3, unwind tables): x86_64 3,094,448 -> 2,638,528
# bytes (2026-12-03). Unstable cargo flags: RUSTC_BOOTSTRAP=1 on stable.
readonly STD_CARGO_ARGS="-Zbuild-std=std,panic_abort -Zbuild-std-features=optimize_for_size"
# OpenSSL parts that libssh2, our only OpenSSL user, never calls: each NAME
# becomes Configure's no-NAME (through the hook below), so they are neither
# built nor kept alive by the default provider's algorithm tables. libssh2
# reads the resulting OPENSSL_NO_* macros and stops offering 3DES, Blowfish,
# CAST, RC4, RIPEMD-160 and DSS. Keeps: AES (CTR/CBC/GCM), SHA-1/2, MD5,
# HMAC, ECDH/ECDSA on NIST P-curves, X25519/Ed25519, RSA. (libssh2 has
# its own ChaCha20-Poly1305, so OpenSSL's goes too; and it does the
# diffie-hellman-group* key exchanges with BN_mod_exp alone, so OpenSSL's
# DH and its FFC parameters go: about 80 KB on x86_64.)
readonly OPENSSL_NO_ALGS="aria,bf,blake2,camellia,cast,chacha,cmac,cmp,cms,ct,des,dh,dsa,ec2m,\
http,idea,lms,md4,mdc2,ml-dsa,ml-kem,ocb,ocsp,poly1305,rc2,rc4,rfc3779,rmd160,\
scrypt,seed,siphash,siv,slh-dsa,sm2,sm3,sm4,srp,ts,whirlpool"
# Also dropped: error strings and source file names in error records, the
# automatic openssl.cnf loading, TLS multi-block (TLS only), TLS parts
# that nothing links (they only cost build time), engines (libssh2 loads
# them only where OpenSSL has them) and the console UI (the prompt of a
# PEM passphrase; libssh2 passes its passphrase itself).
readonly OPENSSL_NO_MISC="err,filenames,autoload-config,multiblock,quic,dtls,psk,srtp,engine,ui-console"
# Assembly left out by editing the Makefile that Configure writes (there is
# no Configure option for it), see openssl_configure:
#   avx512    x86_64's AVX-512 AES-GCM and AVX-512/AVX-IFMA RSA code
#             (~730 KB): the AES-NI, AVX2 and generic paths remain, and the
#             CPUs of recycled PCs rarely have AVX-512 VAES/IFMA anyway
#   nistz256  the P-256 assembly with its 150 KB precomputed table: P-256
#             (ECDH and ECDSA) then runs on OpenSSL's generic code, slower
#             but still milliseconds; SSH prefers X25519/Ed25519 anyway
#   stitched  x86_64's AES-CBC-HMAC-SHA1/SHA256 "stitched" TLS ciphers
#             (~40 KB of assembly and glue, in libcrypto's legacy table
#             and the default provider's): libssh2 asks only for plain
#             AES-CBC/CTR/GCM (EVP_aes_*_cbc/ctr/gcm) and does its MACs
#             apart, so it never fetches AES-128-CBC-HMAC-SHA1
#   curve448  X448 and Ed448 (~45 KB of field arithmetic and tables):
#             libssh2 offers neither, so the six functions the rest of
#             libcrypto calls become stubs that fail (X448's public key
#             from a private one cannot: it gives zeros), and the linker
#             drops the rest; the default provider still lists both
readonly OPENSSL_SLIM="avx512,nistz256,stitched,curve448"

SCRIPT_DIR=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$SCRIPT_DIR/lib.sh"

: "${DIST_DIR:=$REPO_DIR/dist}"
: "${RCCR_C_OPT:=-Os}"
: "${RCCR_OPENSSL_TRIM:=1}"
: "${PIP:=pip3}"

# Rust target triple for an RCCR arch (base/arches, through lib.sh).
rust_target() {
	arch_info "$1"
	echo "$RUST_TARGET"
}

# How to run an arch's binary: the qemu-user-static command and its CPU.
# armv7 runs as a Cortex-A7 (Pi 2), armhf as the ARM1176 of a Pi 1/Zero.
qemu_cmd() {
	case "$1" in
		x86_64) echo "qemu-x86_64-static" ;;
		x86) echo "qemu-i386-static" ;;
		aarch64 | rpi-aarch64) echo "qemu-aarch64-static -cpu cortex-a53" ;;
		armv7) echo "qemu-arm-static -cpu cortex-a7" ;;
		armhf) echo "qemu-arm-static -cpu arm1176" ;;
		*) return 1 ;;
	esac
}

# The C flags for a Rust target, as one NAME=value line: the cc crate reads
# CFLAGS_<triple with underscores> for OpenSSL, libssh2 and zlib alike, and
# openssl-src hands them on to OpenSSL's Configure. Because cc tells cargo to
# watch this variable, a change of flags or of the OpenSSL options (carried
# in the -DRCCR_OPENSSL_* words, which the C compilers ignore) rebuilds the
# C code.
cflags_env() {
	_flags="$RCCR_C_OPT $NO_UNWIND_CFLAGS"
	if [ "$RCCR_OPENSSL_TRIM" = 1 ]; then
		_flags="$_flags -DRCCR_OPENSSL_NO=$OPENSSL_NO_ALGS,$OPENSSL_NO_MISC"
		_flags="$_flags -DRCCR_OPENSSL_SLIM=$OPENSSL_SLIM"
	fi
	case "$1" in
		i686-*) _flags="$_flags $I686_CFLAGS" ;;
	esac
	printf 'CFLAGS_%s=%s\n' "$(echo "$1" | tr '-' '_')" "${_flags# }"
}

# The Rust flags for a target, as one NAME=value line. Builds by this script
# (zigbuild, mode "zig") also leave out rustc's own musl start files: zig
# brings its own, and build-std does not build rustc's.
rustflags_env() {
	_flags="$NO_UNWIND_RUSTFLAGS $LOCATION_RUSTFLAGS"
	if [ "${2:-}" = zig ]; then
		_flags="$_flags -C link-self-contained=no"
	fi
	printf 'CARGO_TARGET_%s_RUSTFLAGS=%s\n' "$(echo "$1" | tr 'a-z-' 'A-Z_')" "$_flags"
}

# openssl-src runs "$OPENSSL_SRC_PERL ./Configure ARG..." in OpenSSL's source
# tree. Pointed at this script, that lands in openssl_configure.
perl_env() {
	if [ "$RCCR_OPENSSL_TRIM" = 1 ]; then
		printf 'OPENSSL_SRC_PERL=%s\n' "$SCRIPT_DIR/$(basename -- "$0")"
	fi
}

# Runs Configure with no-NAME added for each NAME of a -DRCCR_OPENSSL_NO=
# word among its arguments, then edits the generated Makefile for each
# OPENSSL_SLIM item named in a -DRCCR_OPENSSL_SLIM= word.
openssl_configure() {
	_extra=''
	_slim=''
	for _arg in "$@"; do
		case "$_arg" in
			-DRCCR_OPENSSL_NO=*)
				for _name in $(echo "${_arg#*=}" | tr ',' ' '); do
					_extra="$_extra no-$_name"
				done
				;;
			-DRCCR_OPENSSL_SLIM=*) _slim=$(echo "${_arg#*=}" | tr ',' ' ') ;;
		esac
	done
	# shellcheck disable=SC2086 # one option per word
	perl "$@" $_extra || exit
	for _item in $_slim; do
		# shellcheck disable=SC2016 # make's $(CC) and sed's $, literally
		case "$_item" in
			curve448)
				# Configure has no option for it (no-ecx drops X25519 and
				# Ed25519 too): the files that define what the rest of
				# libcrypto calls are replaced in this copy of the source.
				write_curve448_stubs || die "cannot write the curve448 stubs"
				continue
				;;
			avx512)
				# The AVX-512 AES-GCM and RSA (AVX-512/AVX-IFMA) generators
				# emit stubs when `$CC -v` shows no assembler new enough;
				# "echo clang" shows none, yet its --version still says
				# clang, so the stubs keep GNU assembler syntax.
				_sed='s#CC="$(CC)" \($(PERL) [^ ]*/aes-gcm-avx512\.pl\)#CC="echo clang" \1#'
				_sed2='s#CC="$(CC)" \($(PERL) [^ ]*/rsaz-[0-9]k-avx[a-z0-9]*\.pl\)#CC="echo clang" \1#'
				;;
			nistz256)
				# Without ECP_NISTZ256_ASM, P-256 uses the generic code and
				# the linker drops the assembly and its 150 KB table.
				_sed='s# -DECP_NISTZ256_ASM # #g'
				_sed2='s# -DECP_NISTZ256_ASM$##'
				;;
			stitched)
				# Without AES_ASM in their own five files the stitched
				# ciphers compile to OpenSSL's build without AES assembly
				# (EVP_aes_*_cbc_hmac_sha*() return NULL, as on a CPU
				# without AES-NI, and the provider's capable checks say
				# 0), and the linker drops the aesni-sha1/aesni-sha256
				# assembly; AES itself keeps its assembly.
				_sed='/_aes_cbc_hmac_sha[0-9]*\.c$/s# -DAES_ASM # #'
				_sed2='/_aes_cbc_hmac_sha[0-9]*_hw\.c$/s# -DAES_ASM # #'
				;;
			*) die "unknown OpenSSL slimming item: $_item" ;;
		esac
		sed -e "$_sed" -e "$_sed2" Makefile >Makefile.rccr
		if cmp -s Makefile Makefile.rccr; then
			einfo "warning: OpenSSL Makefile has nothing to change for $_item"
		fi
		mv -f Makefile.rccr Makefile
	done
	exit 0
}

# Replaces, in OpenSSL's source tree (the current directory, openssl-src's
# copy), the two curve448 files that define the functions the rest of
# libcrypto calls with stubs that fail: the others are then linked by
# nothing.
write_curve448_stubs() {
	_dir=crypto/ec/curve448
	[ -f "$_dir/curve448.c" ] && [ -f "$_dir/eddsa.c" ] || return 1
	_head='/* RCCR: X448 and Ed448 left out (libssh2 uses neither); every call fails. */
#include <string.h>
#include "crypto/ecx.h"'
	cat >"$_dir/curve448.c" <<-EOF || return 1
		$_head
		int ossl_x448(uint8_t out[56], const uint8_t priv[56], const uint8_t peer[56])
		{ (void)priv; (void)peer; memset(out, 0, 56); return 0; }
		void ossl_x448_public_from_private(uint8_t out[56], const uint8_t priv[56])
		{ (void)priv; memset(out, 0, 56); }
	EOF
	cat >"$_dir/eddsa.c" <<-EOF
		$_head
		int ossl_ed448_public_from_private(OSSL_LIB_CTX *ctx, uint8_t out[57],
		    const uint8_t priv[57], const char *propq)
		{ (void)ctx; (void)priv; (void)propq; memset(out, 0, 57); return 0; }
		int ossl_ed448_sign(OSSL_LIB_CTX *ctx, uint8_t *sig, const uint8_t *msg, size_t len,
		    const uint8_t pub[57], const uint8_t priv[57], const uint8_t *context,
		    size_t context_len, const uint8_t phflag, const char *propq)
		{ (void)ctx; (void)sig; (void)msg; (void)len; (void)pub; (void)priv; (void)context;
		  (void)context_len; (void)phflag; (void)propq; return 0; }
		int ossl_ed448_verify(OSSL_LIB_CTX *ctx, const uint8_t *msg, size_t len,
		    const uint8_t sig[114], const uint8_t pub[57], const uint8_t *context,
		    size_t context_len, const uint8_t phflag, const char *propq)
		{ (void)ctx; (void)msg; (void)len; (void)sig; (void)pub; (void)context;
		  (void)context_len; (void)phflag; (void)propq; return 0; }
		int ossl_ed448_pubkey_verify(const uint8_t *pub, size_t len)
		{ (void)pub; (void)len; return 0; }
	EOF
}

ensure_zigbuild() {
	if ! have cargo-zigbuild; then
		einfo "installing cargo-zigbuild and ziglang with $PIP"
		$PIP install --quiet cargo-zigbuild ziglang || die "cannot install cargo-zigbuild"
	fi
	# cargo-zigbuild finds zig on PATH or as the ziglang Python module.
	if ! have zig && ! python3 -c 'import ziglang' >/dev/null 2>&1; then
		einfo "installing ziglang with $PIP"
		$PIP install --quiet ziglang || die "cannot install ziglang"
	fi
}

# build-std compiles std from rustup's rust-src component.
ensure_rust_src() {
	if [ ! -d "$(rustc --print sysroot)/lib/rustlib/src/rust/library/std" ]; then
		einfo "rustup component add rust-src"
		rustup component add rust-src >&2 || die "cannot install rust-src"
	fi
}

# build_target TRIPLE: runs cargo zigbuild; the binary ends up in
# $CARGO_TARGET_DIR/TRIPLE/release/rccr.
build_target() {
	_triple=$1
	ensure_rust_src
	_cflags=$(cflags_env "$_triple")
	_rustflags=$(rustflags_env "$_triple" zig)
	_perl=$(perl_env)
	_started=$(date +%s)
	einfo "building $_triple (std from source) with ${_cflags%%=*}='${_cflags#*=}'"
	# shellcheck disable=SC2086 # STD_CARGO_ARGS is a list of arguments
	env "$_cflags" "$_rustflags" ${_perl:+"$_perl"} RUSTC_BOOTSTRAP=1 \
		cargo zigbuild --manifest-path "$REPO_DIR/Cargo.toml" --locked \
		--release --target "$_triple" --bin "$BIN_NAME" $STD_CARGO_ARGS
	einfo "built $_triple in $(($(date +%s) - _started)) s"
}

# check_binary ARCH FILE: static, runs under qemu, reports the right target.
check_binary() {
	_arch=$1
	_file=$2
	_triple=$(rust_target "$_arch")
	[ -f "$_file" ] || die "$_file: missing (build $_arch first)"
	_what=$(file -b "$_file")
	case "$_what" in
		*"statically linked"* | *"static-pie linked"*) ;;
		*) die "$_file: not static: $_what" ;;
	esac
	_qemu=$(qemu_cmd "$_arch")
	have "${_qemu%% *}" || die "${_qemu%% *} not found (apt-get install qemu-user-static)"
	# shellcheck disable=SC2086 # the command carries its -cpu option
	_version=$($_qemu "$_file" --version 2>&1) || die "$_file: '$_qemu $_file --version' failed: $_version"
	case "$_version" in
		*"($_triple,"*) ;;
		*) die "$_file: --version names the wrong target: $_version" ;;
	esac
	einfo "ok $_arch: $_version (${_what%%,*}, static, $_qemu)"
}

write_sums() {
	(
		cd "$DIST_DIR"
		set -- "$BIN_NAME"-*
		[ -e "$1" ] || exit 0
		sha256sum -- "$@" >"$SUMS_FILE.tmp"
		mv -- "$SUMS_FILE.tmp" "$SUMS_FILE"
	)
}

main() {
	# Called by openssl-src as its perl (see perl_env).
	if [ "${1:-}" = ./Configure ]; then
		openssl_configure "$@"
	fi
	do_build=1
	do_check=0
	while [ $# -gt 0 ]; do
		case "$1" in
			-c | --check) do_check=1 ;;
			-n | --no-build) do_build=0 ;;
			-e | --print-env)
				[ $# -ge 2 ] || die "--print-env needs a Rust target"
				cflags_env "$2"
				rustflags_env "$2"
				perl_env
				printf 'RCCR_STD_CARGO_ARGS=%s\n' "$STD_CARGO_ARGS"
				exit 0
				;;
			*) other_option "$1" || break ;;
		esac
		shift
	done
	[ "${1-}" != -- ] || shift
	# shellcheck disable=SC2046 # a list of words
	[ $# -gt 0 ] || set -- $(all_arches)
	for arch in "$@"; do
		arch_info "$arch"
	done

	target_dir=${CARGO_TARGET_DIR:-$REPO_DIR/target}
	start_work

	if [ "$do_build" = 1 ]; then
		have cargo || die "cargo not found (install Rust with rustup)"
		have rustup || die "rustup not found"
		ensure_zigbuild
		mkdir -p "$DIST_DIR"
		built=''
		for arch in "$@"; do
			triple=$(rust_target "$arch")
			case " $built " in
				*" $triple "*) ;;
				*)
					build_target "$triple"
					built="$built $triple"
					;;
			esac
			# Copy through a temporary file so dist/ never holds half a binary.
			cp -- "$target_dir/$triple/release/$BIN_NAME" "$TMP_DIR/$BIN_NAME-$arch"
			mv -f -- "$TMP_DIR/$BIN_NAME-$arch" "$DIST_DIR/$BIN_NAME-$arch"
		done
		write_sums
		einfo "wrote $DIST_DIR/$SUMS_FILE"
	fi

	if [ "$do_check" = 1 ]; then
		for arch in "$@"; do
			check_binary "$arch" "$DIST_DIR/$BIN_NAME-$arch"
		done
	fi

	files=''
	for arch in "$@"; do
		[ -f "$DIST_DIR/$BIN_NAME-$arch" ] && files="$files $DIST_DIR/$BIN_NAME-$arch"
	done
	# The table reports; being over budget is not a build failure.
	# shellcheck disable=SC2086 # paths come from DIST_DIR and arch names
	"$SCRIPT_DIR/size-table.sh" $files || einfo "some binaries are over the size budget"
	DONE=1
}

main "$@"
