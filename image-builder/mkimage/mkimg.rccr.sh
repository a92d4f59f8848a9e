# shellcheck shell=sh disable=SC2034,SC2153 # mkimage.sh sets ARCH and reads the rest
# RCCR's base ISO for the PC arches, a profile for Alpine's mkimage.sh
# (aports scripts/mkimage.sh loads mkimg.*.sh from ~/.mkimage; see
# image-builder/scripts/mkimage-base.sh, which installs it there). Both node
# types boot the same base: build-os-image.sh adds a node type's overlay
# and its packages (rccr-apks/) to it.
#
# It is Alpine's standard ISO (profile_standard, mkimg.standard.sh) with:
# - no apks/: rccr-apks/ carries exactly what a node type installs;
# - no xtables-addons: what Docker needs of netfilter is in linux-lts;
# - a modloop trimmed to image-builder/mkimage/modules (mkimage-base.sh
#   hooks trim-modules.sh into update-kernel; the firmware follows);
# - a serial console next to the screen, so that a headless machine or a
#   VM shows the kernel's messages and a login prompt on its serial port;
#   the last console= is /dev/console: the screen on a PC, where a
#   recycled PC's user looks, the serial port on aarch64, where many UEFI
#   machines have no screen.
# The boot loaders stay Alpine's: syslinux for BIOS on x86 and x86_64, and
# GRUB for UEFI (mkimg.base.sh, section_grub_efi: bootx64.efi, bootia32.efi
# on x86, bootaa64.efi on aarch64).

profile_rccr() {
	profile_standard
	profile_abbrev="rccr"
	title="RCCR base"
	desc="ReCyClusteR node base: linux-lts, trimmed modules, serial console."
	arch="x86 x86_64 aarch64"
	image_name="rccr-base"
	kernel_addons=
	apks=
	case "$ARCH" in
		x86 | x86_64)
			# The last console= is /dev/console: the initramfs and OpenRC
			# write there (among them rccr-persist's call to act when the
			# saved changes cannot be restored), so the screen comes last:
			# a PC node is read at its screen. The kernel's messages go to
			# both, and getty runs on both (initramfs-init.in,
			# setup_inittab_console reads /sys/class/tty/console/active),
			# so the serial port still shows the boot and a login prompt.
			kernel_cmdline="console=ttyS0,115200 console=tty0"
			syslinux_serial="0 115200"
			;;
		aarch64)
			# The serial port last, so /dev/console: many UEFI aarch64
			# machines (servers, SBCs, VMs) have no screen, and
			# OpenRC's output and the initramfs' prompts would reach no
			# one on tty0. Where there is a screen, it gets the kernel's
			# messages (rccr-persist's warnings among them: it writes
			# them to the kernel's log too) and a login prompt; where
			# there is no ttyAMA0, the kernel makes tty0 /dev/console.
			kernel_cmdline="console=tty0 console=ttyAMA0,115200"
			;;
	esac
}
