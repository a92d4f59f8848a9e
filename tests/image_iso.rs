//! build-os-image.sh on ISO media: remastering against a synthetic ISO
//! with El Torito BIOS and UEFI records and an isohybrid MBR/GPT.
#[path = "common/image.rs"]
mod image;

use image::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

// ---------------------------------------------------------------------- ISO

fn iso_tools(test: &str) -> bool {
    overlay_tools(test)
        && require(
            test,
            &[
                ("xorriso", "xorriso"),
                ("mkfs.vfat", "dosfstools"),
                ("mcopy", "mtools"),
                ("xz", "xz-utils"),
                (ISOHDPFX, "isolinux"),
                (ISOLINUX_BIN, "isolinux"),
            ],
        )
}

/// A small ISO shaped like Alpine's standard ISO: El Torito BIOS (isolinux)
/// and UEFI (a FAT efi.img) boot images, an isohybrid MBR and a GPT.
fn synthetic_iso(dir: &TempDir, mbr: &Path) -> PathBuf {
    let tree = dir.path("iso-tree");
    fs::create_dir_all(tree.join("boot/syslinux")).unwrap();
    fs::copy(ISOLINUX_BIN, tree.join("boot/syslinux/isolinux.bin")).unwrap();
    write(
        &tree.join("boot/syslinux/syslinux.cfg"),
        "DEFAULT lts\nLABEL lts\n  KERNEL /boot/vmlinuz-lts\n",
    );
    write(&tree.join("boot/vmlinuz-lts"), "kernel");
    write(&tree.join("boot/initramfs-lts"), "initramfs");
    write(&tree.join("boot/modloop-lts"), "modloop");
    write(&tree.join("apks/.boot_repository"), "");
    write(&tree.join("apks/x86_64/APKINDEX.tar.gz"), "alpine's index");
    write(
        &tree.join(".alpine-release"),
        "alpine-standard-3.22.2 x86_64\n",
    );
    let efi = tree.join("boot/grub/efi.img");
    fs::create_dir_all(efi.parent().unwrap()).unwrap();
    ok(Command::new("mkfs.vfat").arg("-C").arg(&efi).arg("1440"));
    let bootx64 = dir.path("BOOTX64.EFI");
    write(&bootx64, "fake EFI loader");
    ok(Command::new("mmd")
        .arg("-i")
        .arg(&efi)
        .args(["::/EFI", "::/EFI/BOOT"])
        .env("MTOOLS_SKIP_CHECK", "1"));
    ok(Command::new("mcopy")
        .arg("-i")
        .arg(&efi)
        .arg(&bootx64)
        .arg("::/EFI/BOOT/BOOTX64.EFI")
        .env("MTOOLS_SKIP_CHECK", "1"));
    let iso = dir.path("alpine-standard-3.22.2-x86_64.iso");
    ok(Command::new("xorriso")
        .args(["-as", "mkisofs", "-quiet", "-o"])
        .arg(&iso)
        .args([
            "-R",
            "-J",
            "-V",
            "alpine-std 3.22.2 x86_64",
            "-isohybrid-mbr",
        ])
        .arg(mbr)
        .args([
            "-b",
            "boot/syslinux/isolinux.bin",
            "-c",
            "boot/syslinux/boot.cat",
            "-no-emul-boot",
            "-boot-load-size",
            "4",
            "-boot-info-table",
            "-eltorito-alt-boot",
            "-e",
            "boot/grub/efi.img",
            "-no-emul-boot",
            "-isohybrid-gpt-basdat",
        ])
        .arg(&tree));
    iso
}

/// xorriso's view of an ISO's boot equipment.
fn boot_report(iso: &Path) -> String {
    let out = ok(Command::new("xorriso")
        .args(["-no_rc", "-indev"])
        .arg(iso)
        .args(["-report_el_torito", "plain", "-report_system_area", "plain"]));
    text(&out.stdout)
}

/// The lines of a report that name boot images and partition types, with
/// LBAs and sizes dropped (they move when files are added).
fn boot_shape(report: &str) -> Vec<String> {
    report
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if l.starts_with("El Torito boot img :") {
                Some(format!("eltorito {} {} {} {}", f[5], f[6], f[7], f[8]))
            } else if l.starts_with("El Torito img path :") {
                Some(format!("path {} {}", f[5], f[6]))
            } else if l.starts_with("System area summary:") {
                Some(l.to_string())
            } else if l.starts_with("MBR partition      :") {
                Some(format!("mbr {} {} {}", f[3], f[4], f[5]))
            } else if l.starts_with("GPT partition path :") {
                Some(format!("gpt {} {}", f[4], f[5]))
            } else {
                None
            }
        })
        .collect()
}

/// Whether an ISO 9660 image has a Joliet supplementary volume descriptor
/// (ECMA-119 8.5: type 2 from sector 16 on, escape sequence %/@, %/C or %/E
/// at byte 88).
fn has_joliet(iso: &Path) -> bool {
    let bytes = fs::read(iso).unwrap();
    for sector in 16.. {
        let d = &bytes[sector * 2048..(sector + 1) * 2048];
        assert_eq!(
            &d[1..6],
            b"CD001",
            "sector {sector}: not a volume descriptor"
        );
        match d[0] {
            255 => return false,
            2 if [b"%/@", b"%/C", b"%/E"].contains(&&d[88..91].try_into().unwrap()) => return true,
            _ => {}
        }
    }
    unreachable!()
}

fn iso_file(iso: &Path, path: &str, to: &Path) -> Vec<u8> {
    ok(Command::new("xorriso")
        .args(["-no_rc", "-osirrox", "on", "-indev"])
        .arg(iso)
        .args(["-extract", path])
        .arg(to));
    fs::read(to).unwrap()
}

#[test]
fn iso_remaster_keeps_bios_and_uefi_boot_records_and_adds_the_overlay() {
    let (dir, inputs) = or_skip!(inputs_when(iso_tools("ISO remaster"), "iso"));
    let base = synthetic_iso(&dir, Path::new(ISOHDPFX));
    let base_report = boot_report(&base);
    assert!(
        base_report.contains("MBR isohybrid"),
        "the synthetic ISO is not isohybrid:\n{base_report}"
    );
    let repo = synthetic_repo(&dir, "x86_64");

    let out = build_os_image(&inputs, &dir, "x86_64", "target", &base, &repo, &[]);
    assert!(out.status.success(), "{}", show(&out));
    let xz = dir.path("out/rccr-9.9.9-x86_64-target.iso.xz");
    assert!(xz.exists(), "{}", show(&out));
    ok(Command::new("sha256sum")
        .args(["-c", "SHA256SUMS"])
        .current_dir(dir.path("out")));
    let iso = dir.path("out.iso");
    let raw = ok(Command::new("xz").arg("-dc").arg(&xz));
    fs::write(&iso, &raw.stdout).unwrap();

    // The same boot equipment: BIOS and UEFI El Torito images, the
    // isohybrid MBR (partition 1 bootable, 2 the EFI system partition) and
    // the GPT.
    // Joliet (long names on Windows) kept, as the base ISO has it.
    assert!(has_joliet(&base), "the synthetic ISO has no Joliet tree");
    assert!(has_joliet(&iso), "the remaster dropped Joliet");

    let report = boot_report(&iso);
    let shape = boot_shape(&report);
    assert_eq!(
        shape,
        boot_shape(&base_report),
        "boot records changed:\n{report}"
    );
    for record in [
        "eltorito 1 BIOS y none",
        "eltorito 2 UEFI y none",
        "path 1 /boot/syslinux/isolinux.bin",
        "path 2 /boot/grub/efi.img",
    ] {
        assert!(shape.iter().any(|l| l == record), "{record}:\n{report}");
    }
    assert!(
        shape
            .iter()
            .any(|l| l.contains("MBR isohybrid") && l.contains("GPT")),
        "{report}"
    );

    // The overlay at the media root, byte for byte the reproducible one.
    let ours = dir.path("ovl.tar.gz");
    overlay(&inputs, &dir, "target", "x86_64", &ours);
    let on_iso = iso_file(&iso, "/rccr.apkovl.tar.gz", &dir.path("extracted.tar.gz"));
    // The ISO's overlay was built with the repository's signing key added.
    let list = listing(&dir.path("extracted.tar.gz"));
    assert!(
        list.contains_key("etc/apk/keys/rccr-apks-test.rsa.pub"),
        "{:?}",
        list.keys()
    );
    assert!(list.contains_key("root/.ssh/authorized_keys"));
    assert!(!on_iso.is_empty());
    // The package repository and Alpine's own files, untouched.
    for (i, (path, content)) in [
        ("/rccr-apks/x86_64/APKINDEX.tar.gz", &b"our index"[..]),
        ("/rccr-apks/.boot_repository", b""),
        ("/apks/x86_64/APKINDEX.tar.gz", b"alpine's index"),
        ("/.alpine-release", b"alpine-standard-3.22.2 x86_64\n"),
    ]
    .into_iter()
    .enumerate()
    {
        let to = dir.path(&format!("untouched-{i}"));
        assert_eq!(iso_file(&iso, path, &to), content, "{path}");
    }
    let ls = ok(Command::new("xorriso")
        .args(["-no_rc", "-indev"])
        .arg(&iso)
        .args(["-lsl", "/rccr.apkovl.tar.gz"]));
    let ls = text(&ls.stdout);
    assert!(
        ls.contains("-rw-r--r--") && ls.contains(" 0        0 "),
        "{ls}"
    );
}

#[test]
fn iso_remaster_refuses_a_wrong_checksum_and_changed_boot_records() {
    let (dir, inputs) = or_skip!(inputs_when(iso_tools("ISO refusals"), "iso-refuse"));
    let base = synthetic_iso(&dir, Path::new(ISOHDPFX));
    let zeros = "0".repeat(64);
    let out = build_os_image(
        &inputs,
        &dir,
        "x86_64",
        "control",
        &base,
        "none",
        &[("RCCR_BASE_MEDIA_SHA256", &zeros)],
    );
    assert_exit(&out, 1, "refusing to use it");
    assert!(!dir.path("out").exists(), "an output appeared");

    // An MBR that xorriso does not recognise as isohybrid cannot be
    // replayed as it was: the build must say so rather than ship it.
    let dir2 = TempDir::new("iso-refuse-mbr");
    let mbr = dir2.path("zero-mbr.bin");
    write(&mbr, [0u8; 432]);
    let odd = synthetic_iso(&dir2, &mbr);
    let out = build_os_image(&inputs, &dir2, "x86_64", "target", &odd, "none", &[]);
    assert_exit(&out, 1, "lost or changed boot records");
}
