#!/bin/sh
#---help---
# Usage: build-docker.sh [options] ARCH TYPE
#
# Builds the Docker image of an RCCR node with docker buildx, for ARCH's
# platform (image-builder/base/arches), from the stage TYPE of
# image-builder/base/Dockerfile with the repository as context
# (.dockerignore keeps it to what the Dockerfile copies). Tags:
#   IMAGE:VERSION-ARCH-TYPE and IMAGE:latest-ARCH-TYPE
#
# The node type's packages for ARCH (TYPE/packages, read by lib.sh) go in as
# the build argument RCCR_PACKAGES. The temporary key comes in as a
# BuildKit secret, never through the context:
# the control gets the private key, a target only the public key. Its SHA256
# fingerprint goes in as a build argument, which the Dockerfile checks and
# which makes a new key rebuild the key's layer.
#
#   ARCH  x86_64 | x86 | aarch64 | rpi-aarch64 | armv7 | armhf
#   TYPE  control | target
#
# Options:
#   -v, --version V  the version tag (default: Cargo.toml's)
#   --load           load the image into the local Docker (the default)
#   --push           push the tags instead (docker login first)
#   --no-latest      do not tag latest-ARCH-TYPE
#   --metadata FILE  write buildx's metadata (JSON; containerimage.digest is
#                    the pushed image's digest, which the release attests)
#   -n, --dry-run    print the docker command, run nothing
#   -h, --help       show this help
#
# Environment:
#   RCCR_IMAGE     the repository (default nananina0415/rccr)
#   RCCR_BIN       the static rccr for ARCH (default dist/rccr-ARCH; the
#                  Dockerfile copies dist/rccr-ARCH, so another path is
#                  copied there first)
#   RCCR_TEMP_KEY  the temporary private key (default .rccr/ssh_temp_key)
#   ALPINE_IMAGE   the base image (default: base/alpine.conf's, pinned by digest)
#   DOCKER         the docker command (default docker)
#---help---
set -eu

SCRIPT_DIR=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$SCRIPT_DIR/lib.sh"

: "${RCCR_IMAGE:=nananina0415/rccr}"
: "${RCCR_TEMP_KEY:=$REPO_DIR/.rccr/ssh_temp_key}"
: "${DOCKER:=docker}"

# fingerprint PUBKEY: its SHA256 fingerprint, as ssh-keygen -l prints it.
fingerprint() {
	ssh-keygen -l -E sha256 -f "$1" | cut -d ' ' -f 2
}

check_inputs() {
	if [ "$RCCR_BIN" != "$REPO_DIR/dist/rccr-$ARCH" ]; then
		[ -f "$RCCR_BIN" ] || die "$RCCR_BIN: missing"
		[ "$DRY_RUN" = 1 ] || cp -- "$RCCR_BIN" "$REPO_DIR/dist/rccr-$ARCH"
	else
		[ -f "$RCCR_BIN" ] || die "$RCCR_BIN: missing (build it: image-builder/scripts/build-binaries.sh $ARCH)"
	fi
	[ -f "$RCCR_TEMP_KEY.pub" ] || die "$RCCR_TEMP_KEY.pub: missing (make the pair: rccr keygen)"
	need ssh-keygen openssh-client
	KEY_FP=$(fingerprint "$RCCR_TEMP_KEY.pub") || die "$RCCR_TEMP_KEY.pub: not a public key"
	if [ "$TYPE" = control ]; then
		[ -f "$RCCR_TEMP_KEY" ] || die "$RCCR_TEMP_KEY: missing (make the pair: rccr keygen)"
		_private_fp=$(ssh-keygen -y -f "$RCCR_TEMP_KEY" | ssh-keygen -l -E sha256 -f - | cut -d ' ' -f 2) ||
			die "$RCCR_TEMP_KEY: not a private key"
		[ "$_private_fp" = "$KEY_FP" ] || die "$RCCR_TEMP_KEY and $RCCR_TEMP_KEY.pub are not one pair"
		[ -f "$REPO_DIR/cluster_config.yml" ] || die "cluster_config.yml: missing (the control image ships it)"
	fi
}

main() {
	VERSION=''
	OUTPUT=--load
	LATEST=1
	DRY_RUN=0
	METADATA=''
	while [ $# -gt 0 ]; do
		case "$1" in
			-v | --version) option_value VERSION "$@" && shift ;;
			--load | --push) OUTPUT=$1 ;;
			--no-latest) LATEST=0 ;;
			--metadata) option_value METADATA "$@" && shift ;;
			-n | --dry-run) DRY_RUN=1 ;;
			*) other_option "$1" || break ;;
		esac
		shift
	done
	[ "${1-}" != -- ] || shift
	arch_type_operands "$@"
	: "${RCCR_BIN:=$REPO_DIR/dist/rccr-$ARCH}"
	check_inputs
	[ "$DRY_RUN" = 1 ] || [ -f "$REPO_DIR/dist/THIRD-PARTY-NOTICES" ] ||
		die "dist/THIRD-PARTY-NOTICES: missing (make it: image-builder/scripts/third-party-notices.py)"

	set -- buildx build \
		--platform "$DOCKER_PLATFORM" \
		--file "$BUILDER_DIR/base/Dockerfile" \
		--target "$TYPE" \
		--build-arg "ALPINE_IMAGE=$ALPINE_IMAGE" \
		--build-arg "RCCR_ARCH=$ARCH" \
		--build-arg "RCCR_VERSION=$VERSION" \
		--build-arg "RCCR_PACKAGES=$(packages_of "$TYPE" "$ARCH" | tr '\n' ' ' | sed 's/ $//')" \
		--build-arg "RCCR_TEMP_KEY_FP=$KEY_FP"
	if [ "$TYPE" = control ]; then
		set -- "$@" --secret "id=rccr_temp_key,src=$RCCR_TEMP_KEY"
	else
		set -- "$@" --secret "id=rccr_temp_key_pub,src=$RCCR_TEMP_KEY.pub"
	fi
	set -- "$@" --tag "$RCCR_IMAGE:$VERSION-$ARCH-$TYPE"
	if [ "$LATEST" = 1 ]; then
		set -- "$@" --tag "$RCCR_IMAGE:latest-$ARCH-$TYPE"
	fi
	if [ -n "$METADATA" ]; then
		set -- "$@" --metadata-file "$METADATA"
	fi
	set -- "$@" "$OUTPUT" "$REPO_DIR"

	if [ "$DRY_RUN" = 1 ]; then
		printf '%s' "$DOCKER"
		printf ' %s' "$@"
		echo
		exit 0
	fi
	einfo "building $RCCR_IMAGE:$VERSION-$ARCH-$TYPE ($DOCKER_PLATFORM, key $KEY_FP)"
	"$DOCKER" "$@"
}

main "$@"
