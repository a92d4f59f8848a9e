//! trim-modules.sh and image-builder/mkimage/modules, the trimmed modloop
//! of the PC ISOs, on a synthetic /lib/modules tree: what the list keeps,
//! the modules.dep closure, the $MOCK hook update-kernel calls, and a
//! comment for every group of the list.
#[path = "common/image.rs"]
mod image;

use image::*;
use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

const KVER: &str = "6.12.48-0-lts";

/// Modules of a linux-lts tree, as its modules.dep lists them (each
/// module, then what it needs).
const MODULES_DEP: &str = "\
kernel/drivers/ata/ahci.ko: kernel/drivers/ata/libahci.ko
kernel/drivers/ata/libahci.ko:
kernel/drivers/net/ethernet/realtek/r8169.ko: kernel/drivers/net/phy/libphy.ko
kernel/drivers/net/ethernet/intel/e1000e/e1000e.ko: kernel/drivers/ptp/ptp.ko
kernel/drivers/net/phy/libphy.ko:
kernel/drivers/ptp/ptp.ko: kernel/drivers/pps/pps_core.ko
kernel/drivers/pps/pps_core.ko:
kernel/drivers/net/wireless/intel/iwlwifi/iwlwifi.ko: kernel/net/wireless/cfg80211.ko
kernel/net/wireless/cfg80211.ko:
kernel/sound/core/snd.ko:
kernel/drivers/gpu/drm/i915/i915.ko: kernel/drivers/gpu/drm/drm.ko
kernel/drivers/gpu/drm/drm.ko:
kernel/drivers/gpu/drm/tiny/simpledrm.ko: kernel/drivers/gpu/drm/drm.ko
kernel/drivers/media/usb/uvc/uvcvideo.ko:
kernel/net/bridge/bridge.ko: kernel/net/802/stp.ko kernel/net/llc/llc.ko
kernel/net/802/stp.ko: kernel/net/llc/llc.ko
kernel/net/llc/llc.ko:
kernel/drivers/net/vxlan/vxlan.ko: kernel/net/ipv4/udp_tunnel.ko
kernel/net/ipv4/udp_tunnel.ko:
kernel/net/netfilter/ipvs/ip_vs.ko: kernel/net/netfilter/nf_conntrack.ko
kernel/net/netfilter/nf_conntrack.ko:
kernel/fs/overlayfs/overlay.ko:
kernel/fs/ext4/ext4.ko: kernel/fs/jbd2/jbd2.ko kernel/fs/mbcache.ko
kernel/fs/jbd2/jbd2.ko:
kernel/fs/mbcache.ko:
kernel/drivers/hid/usbhid/usbhid.ko: kernel/drivers/hid/hid.ko
kernel/drivers/hid/hid.ko:
kernel/drivers/bluetooth/btusb.ko:
kernel/drivers/thermal/intel/x86_pkg_temp_thermal.ko:
";

/// The modules of [`MODULES_DEP`], by path.
fn tree() -> impl Iterator<Item = &'static str> {
    MODULES_DEP.lines().map(|l| l.split(':').next().unwrap())
}

/// The tree under `dir/lib/modules/KVER`, with modules.dep unless `dep`
/// is false.
fn module_tree(dir: &TempDir, dep: bool) -> PathBuf {
    let root = dir.path(&format!("lib/modules/{KVER}"));
    for path in tree() {
        write(&root.join(path), format!("module {path}"));
    }
    write(&root.join("modules.order"), "");
    if dep {
        write(&root.join("modules.dep"), MODULES_DEP);
    }
    root
}

fn modules_in(root: &Path) -> BTreeSet<String> {
    let out = ok(Command::new("find")
        .arg(".")
        .args(["-name", "*.ko*", "-type", "f"])
        .current_dir(root));
    text(&out.stdout)
        .lines()
        .map(|l| l.trim_start_matches("./").to_string())
        .collect()
}

#[test]
fn the_list_keeps_network_disks_input_and_docker_with_what_they_need() {
    let dir = TempDir::new("modules");
    let root = module_tree(&dir, true);
    let list = repo().join("image-builder/mkimage/modules");
    let out = ok(Command::new(script("trim-modules.sh"))
        .arg(&list)
        .arg(&root));
    assert!(
        text(&out.stderr).contains("kept 23 of 29 modules"),
        "{}",
        show(&out)
    );
    let kept = modules_in(&root);
    let dropped: BTreeSet<String> = tree()
        .filter(|p| !kept.contains(*p))
        .map(String::from)
        .collect();
    assert_eq!(
        dropped,
        [
            "kernel/drivers/bluetooth/btusb.ko",
            "kernel/drivers/gpu/drm/i915/i915.ko",
            "kernel/drivers/media/usb/uvc/uvcvideo.ko",
            "kernel/drivers/net/wireless/intel/iwlwifi/iwlwifi.ko",
            "kernel/net/wireless/cfg80211.ko",
            "kernel/sound/core/snd.ko",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
        "kept {kept:?}"
    );
    // Needed by kept modules, though the list names no such directory.
    for needed in [
        "kernel/drivers/ptp/ptp.ko",
        "kernel/drivers/pps/pps_core.ko",
        "kernel/drivers/gpu/drm/drm.ko",
        "kernel/fs/jbd2/jbd2.ko",
    ] {
        assert!(kept.contains(needed), "{needed} dropped");
    }
    // `rccr status` reads /sys/class/thermal: an Intel CPU's sensor.
    assert!(kept.contains("kernel/drivers/thermal/intel/x86_pkg_temp_thermal.ko"));
    assert!(
        !root.join("kernel/sound").exists(),
        "empty directories stay"
    );
    assert!(root.join("modules.dep").is_file());
}

#[test]
fn a_dry_run_changes_nothing_and_a_tree_without_modules_dep_is_refused() {
    let dir = TempDir::new("modules-dry");
    let root = module_tree(&dir, true);
    let list = dir.path("list");
    write(&list, "# bridges\nkernel/net/bridge/\n");
    let out = ok(Command::new(script("trim-modules.sh"))
        .arg("--dry-run")
        .arg(&list)
        .arg(&root));
    let plan = text(&out.stdout);
    assert_has(&plan, "keep kernel/net/bridge/bridge.ko\n");
    assert_has(&plan, "keep kernel/net/llc/llc.ko\n");
    assert_has(&plan, "drop kernel/fs/ext4/ext4.ko\n");
    assert_eq!(plan.lines().count(), tree().count());
    assert_eq!(modules_in(&root).len(), tree().count());

    let dir = TempDir::new("modules-nodep");
    let root = module_tree(&dir, false);
    let out = Command::new(script("trim-modules.sh"))
        .arg(&list)
        .arg(&root)
        .output()
        .unwrap();
    assert_exit(&out, 1, "modules.dep: missing");
    assert_eq!(modules_in(&root).len(), tree().count());
}

#[test]
fn as_update_kernels_mock_it_trims_between_two_depmod_runs() {
    let dir = TempDir::new("modules-mock");
    let root = module_tree(&dir, false);
    let dep = dir.path("modules.dep.full");
    write(&dep, MODULES_DEP);
    // depmod: writes modules.dep and logs how many modules it saw.
    let depmod = dir.path("bin/depmod");
    let log = dir.path("depmod.log");
    write(
        &depmod,
        format!(
            "#!/bin/sh\n[ \"$1\" = -b ] || exit 9\nd=\"$2/lib/modules/$3\"\ncp '{}' \"$d/modules.dep\"\nfind \"$d\" -name '*.ko*' | wc -l >>'{}'\n",
            dep.display(),
            log.display()
        ),
    );
    let mkinitfs = dir.path("bin/mkinitfs");
    write(
        &mkinitfs,
        format!("#!/bin/sh\necho \"mkinitfs $*\" >>'{}'\n", log.display()),
    );
    for f in [&depmod, &mkinitfs] {
        fs::set_permissions(f, fs::Permissions::from_mode(0o755)).unwrap();
    }
    let list = dir.path("list");
    write(&list, "# disks\nkernel/drivers/ata\n");
    let run = |args: &[&str]| {
        Command::new(script("trim-modules.sh"))
            .args(args)
            .env("RCCR_MODULES", &list)
            .env("DEPMOD", &depmod)
            .env(
                "PATH",
                format!("{}:/usr/bin:/bin", dir.path("bin").display()),
            )
            .output()
            .unwrap()
    };
    let out = run(&["depmod", "-b", &dir.0.display().to_string(), KVER]);
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(
        modules_in(&root),
        [
            "kernel/drivers/ata/ahci.ko",
            "kernel/drivers/ata/libahci.ko"
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    );
    // update-kernel's other $MOCK call passes through.
    let out = run(&["mkinitfs", "-q", "-b", "/x", KVER]);
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(
        fs::read_to_string(&log).unwrap(),
        format!("{}\n2\nmkinitfs -q -b /x {KVER}\n", tree().count())
    );
}

#[test]
fn every_group_of_the_module_list_says_why() {
    let list = fs::read_to_string(repo().join("image-builder/mkimage/modules")).unwrap();
    let mut groups = 0;
    for block in list.split("\n\n") {
        let lines: Vec<&str> = block.lines().filter(|l| !l.is_empty()).collect();
        let paths: Vec<&&str> = lines.iter().filter(|l| !l.starts_with('#')).collect();
        if paths.is_empty() {
            continue;
        }
        groups += 1;
        assert!(
            lines[0].starts_with("# "),
            "a group without a comment: {block}"
        );
        for p in paths {
            assert!(
                p.starts_with("kernel/") && !p.contains(' '),
                "not a module path: {p}"
            );
        }
    }
    assert!(groups >= 7, "{groups} groups");
}

/// What mkimg.rccr.sh's profile sets for an arch, with mkimage's own
/// profile_standard stood in by what aports' mkimg.standard.sh and
/// mkimg.base.sh set (profile_base: kernel_flavors, initfs_cmdline,
/// modloop_sign, grub_mod, apks; profile_standard: kernel_addons, apks).
fn profile_for(arch: &str) -> std::collections::BTreeMap<String, String> {
    let program = format!(
        "profile_base() {{ kernel_flavors=lts; initfs_cmdline='modules=loop,squashfs,sd-mod,usb-storage quiet'; \
         modloop_sign=yes; grub_mod='all_video disk part_gpt'; apks='alpine-base busybox openssh'; }}\n\
         profile_standard() {{ profile_base; profile_abbrev=std; image_ext=iso; output_format=iso; \
         kernel_addons=xtables-addons; apks=\"$apks iw wpa_supplicant\"; }}\n\
         ARCH={arch}\n. '{}'\nprofile_rccr\n\
         for v in arch apks kernel_addons kernel_flavors kernel_cmdline syslinux_serial grub_mod modloop_sign image_name output_format; do \
         eval \"printf '%s=%s\\n' $v \\\"\\${{$v-}}\\\"\"; done",
        repo().join("image-builder/mkimage/mkimg.rccr.sh").display()
    );
    let out = ok(Command::new("sh").arg("-c").arg(program));
    text(&out.stdout)
        .lines()
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap();
            (k.to_string(), v.to_string())
        })
        .collect()
}

#[test]
fn the_mkimage_profile_is_alpines_standard_iso_without_packages_with_a_serial_console() {
    let source = fs::read_to_string(repo().join("image-builder/mkimage/mkimg.rccr.sh")).unwrap();
    // mkimage.sh finds profiles with sed -n 's/^profile_\(.*\)() {$/\1/p'.
    assert!(source.lines().any(|l| l == "profile_rccr() {"), "{source}");
    let iso_arches: Vec<String> = fs::read_to_string(repo().join("image-builder/base/arches"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && l.split_whitespace().nth(4) == Some("iso"))
        .map(|l| l.split_whitespace().nth(1).unwrap().to_string())
        .collect();
    let check_iso = fs::read_to_string(script("mkimage-base.sh")).unwrap();
    for arch in &iso_arches {
        let p = profile_for(arch);
        let mut listed: Vec<&str> = p["arch"].split(' ').collect();
        listed.sort();
        let mut want: Vec<&str> = iso_arches.iter().map(String::as_str).collect();
        want.sort();
        assert_eq!(listed, want, "{arch}");
        assert_eq!(p["apks"], "", "{arch}: no apks/, rccr-apks/ instead");
        assert_eq!(p["kernel_addons"], "", "{arch}");
        assert_eq!(p["kernel_flavors"], "lts", "{arch}");
        assert_eq!(p["modloop_sign"], "yes", "{arch}");
        // GRUB for UEFI stays (x86: bootia32.efi, the 32-bit UEFI boot).
        assert!(!p["grub_mod"].is_empty(), "{arch}");
        assert_eq!(p["image_name"], "rccr-base", "{arch}");
        assert_eq!(p["output_format"], "iso", "{arch}");
        // The last console= is /dev/console, where the initramfs and OpenRC
        // (rccr-persist's warnings among them) write: on a PC the screen,
        // where its user looks; on aarch64 the serial port, since many
        // UEFI aarch64 machines have no screen.
        let (arm, serial, consoles) = if arch.starts_with("x86") {
            (
                "x86 | x86_64)",
                "ttyS0",
                "console=ttyS0,115200 console=tty0",
            )
        } else {
            ("*)", "ttyAMA0", "console=tty0 console=ttyAMA0,115200")
        };
        assert_eq!(p["kernel_cmdline"], consoles, "{arch}: {p:?}");
        // mkimage-base.sh checks the built ISO's boot configurations for
        // the same order, in the arm of its case on ALPINE_ARCH that this
        // arch takes.
        assert_has(
            &check_iso,
            &format!("\t\t{arm}\n\t\t\t_console={serial}\n\t\t\t_consoles=\"{consoles}\"\n"),
        );
        assert_eq!(
            p["syslinux_serial"],
            if arch.starts_with("x86") {
                "0 115200"
            } else {
                ""
            },
            "{arch}"
        );
    }
    assert_eq!(iso_arches.len(), 3);
}
