//! build-os-image.sh on Raspberry Pi media: image assembly against a
//! synthetic Pi release (partition table, FAT contents, boot flag,
//! config.txt).
#[path = "common/image.rs"]
mod image;

use image::*;
use std::fs;
use std::path::PathBuf;
use std::process::Command;

// ---------------------------------------------------------------------- IMG

/// A stand-in for alpine-rpi-*.tar.gz: firmware, config.txt with per-Pi
/// sections, kernel, initramfs, modloop, device trees, apks/.
fn synthetic_rpi(dir: &TempDir, config: &str, alpine_arch: &str) -> PathBuf {
    let rel = dir.path("rpi");
    write(&rel.join("config.txt"), config);
    write(
        &rel.join("cmdline.txt"),
        "modules=loop,squashfs,sd-mod,usb-storage quiet console=tty1\n",
    );
    for f in [
        "bootcode.bin",
        "start.elf",
        "fixup.dat",
        "bcm2708-rpi-zero.dtb",
        "bcm2708-rpi-b.dtb",
    ] {
        write(&rel.join(f), format!("firmware {f}"));
    }
    write(&rel.join("overlays/disable-bt.dtbo"), "overlay");
    for f in ["vmlinuz-rpi", "initramfs-rpi", "modloop-rpi"] {
        write(&rel.join("boot").join(f), format!("{f} bytes"));
    }
    write(&rel.join("apks/.boot_repository"), "");
    write(
        &rel.join(format!("apks/{alpine_arch}/APKINDEX.tar.gz")),
        "alpine's index",
    );
    write(&rel.join(".alpine-release"), "alpine-rpi-3.22.2 armhf\n");
    let tarball = dir.path("alpine-rpi-3.22.2-armhf.tar.gz");
    ok(Command::new("tar")
        .arg("-czf")
        .arg(&tarball)
        .arg("-C")
        .arg(&rel)
        .arg("."));
    tarball
}

const PI_ZERO_CONFIG: &str = "\
# do not modify this file as it will be overwritten on upgrade.
# create and/or modify usercfg.txt instead.
disable_splash=1
boot_delay=0
[pi0]
kernel=boot/vmlinuz-rpi
initramfs boot/initramfs-rpi
[pi1]
kernel=boot/vmlinuz-rpi
initramfs boot/initramfs-rpi
[all]
include usercfg.txt
";

fn img_tools(test: &str) -> bool {
    overlay_tools(test)
        && require(
            test,
            &[
                ("sfdisk", "fdisk"),
                ("mkfs.vfat", "dosfstools"),
                ("mcopy", "mtools"),
                ("xz", "xz-utils"),
            ],
        )
}

#[test]
fn pi_image_is_one_bootable_fat32_partition_holding_the_release_and_the_overlay() {
    if !img_tools("Pi image") {
        return;
    }
    let dir = TempDir::new("img");
    let inputs = Inputs::new(&dir);
    let base = synthetic_rpi(&dir, PI_ZERO_CONFIG, "armhf");
    let repo = synthetic_repo(&dir, "armhf");
    let out = build_os_image(
        &inputs,
        &dir,
        "armhf",
        "control",
        &base,
        &sha256(&base),
        repo.to_str().unwrap(),
    );
    assert!(out.status.success(), "{}", show(&out));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("[pi0] boots boot/vmlinuz-rpi with boot/initramfs-rpi"),
        "{stderr}"
    );
    assert!(stderr.contains("[pi1] boots boot/vmlinuz-rpi"), "{stderr}");
    ok(Command::new("sha256sum")
        .args(["-c", "SHA256SUMS"])
        .current_dir(dir.path("out")));
    let img = dir.path("pi.img");
    let raw = ok(Command::new("xz")
        .arg("-dc")
        .arg(dir.path("out/rccr-9.9.9-armhf-control.img.xz")));
    fs::write(&img, &raw.stdout).unwrap();

    // MBR with one bootable W95 FAT32 (LBA) partition from 1 MiB to the end.
    let json = text(&ok(Command::new("sfdisk").arg("--json").arg(&img)).stdout);
    let squeezed: String = json.split_whitespace().collect();
    assert!(squeezed.contains("\"label\":\"dos\""), "{json}");
    assert_eq!(squeezed.matches("\"node\":").count(), 1, "{json}");
    assert!(squeezed.contains("\"start\":2048,"), "{json}");
    assert!(squeezed.contains("\"type\":\"c\""), "{json}");
    assert!(squeezed.contains("\"bootable\":true"), "{json}");
    let size: u64 = squeezed
        .split("\"size\":")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        (2048 + size) * 512,
        fs::metadata(&img).unwrap().len(),
        "the partition does not fill the image"
    );
    let dump = text(&ok(Command::new("sfdisk").arg("--dump").arg(&img)).stdout);
    assert!(dump.contains("type=c, bootable"), "{dump}");

    // A FAT32 filesystem at the partition, holding everything.
    let part = format!("{}@@1M", img.display());
    let info = text(&ok(mtools("minfo").args(["-i", &part, "::"])).stdout);
    assert!(info.contains("FAT32"), "{info}");
    assert!(info.contains("RCCR-BOOT"), "{info}");
    let files = text(&ok(mtools("mdir").args(["-i", &part, "-/", "-b", "::/"])).stdout);
    for f in [
        "::/config.txt",
        "::/cmdline.txt",
        "::/usercfg.txt",
        "::/bootcode.bin",
        "::/start.elf",
        "::/fixup.dat",
        "::/bcm2708-rpi-zero.dtb",
        "::/overlays/disable-bt.dtbo",
        "::/boot/vmlinuz-rpi",
        "::/boot/initramfs-rpi",
        "::/boot/modloop-rpi",
        "::/apks/.boot_repository",
        "::/.alpine-release",
        "::/rccr.apkovl.tar.gz",
        "::/rccr-apks/.boot_repository",
        "::/rccr-apks/armhf/APKINDEX.tar.gz",
        "::/rccr-apks/armhf/openssh-server-10.0_p1-r9.apk",
    ] {
        assert!(
            files.lines().any(|l| l == f),
            "{f} not on the FAT:\n{files}"
        );
    }
    let get = |path: &str| {
        let to = dir.path("got");
        let _ = fs::remove_file(&to);
        ok(mtools("mcopy").args(["-n", "-i", &part, path]).arg(&to));
        fs::read(&to).unwrap()
    };
    assert_eq!(get("::/config.txt"), PI_ZERO_CONFIG.as_bytes());
    assert_eq!(get("::/boot/vmlinuz-rpi"), b"vmlinuz-rpi bytes");
    assert!(text(&get("::/usercfg.txt")).starts_with("# RCCR 9.9.9 (armhf control)"));
    let ovl = dir.path("ovl.tar.gz");
    fs::write(&ovl, get("::/rccr.apkovl.tar.gz")).unwrap();
    let list = listing(&ovl);
    assert_eq!(list["root/.ssh/id_rsa"].mode, "-rw-------");
    assert!(list.contains_key("etc/apk/keys/rccr-apks-test.rsa.pub"));
    let root = dir.path("x");
    extract(&ovl, &root);
    let lbu = fs::read_to_string(root.join("etc/lbu/lbu.conf")).unwrap();
    assert!(lbu.contains("\nLBU_MEDIA=mmcblk0p1\n"), "{lbu}");
}

#[test]
fn pi_image_refuses_a_release_that_cannot_boot_its_pis() {
    if !img_tools("Pi image refusals") {
        return;
    }
    let dir = TempDir::new("img-refuse");
    let inputs = Inputs::new(&dir);
    // A Pi 3-only config: the armhf image must boot a Pi Zero and a Pi 1.
    let pi3_only = "[pi3]\nkernel=boot/vmlinuz-rpi\ninitramfs boot/initramfs-rpi\n[all]\ninclude usercfg.txt\n";
    let base = synthetic_rpi(&dir, pi3_only, "armhf");
    let out = build_os_image(
        &inputs,
        &dir,
        "armhf",
        "target",
        &base,
        &sha256(&base),
        "none",
    );
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        text(&out.stderr).contains("names no kernel and initramfs for [pi0]"),
        "{}",
        show(&out)
    );

    // A kernel that config.txt names but the release lacks.
    let dir = TempDir::new("img-refuse-kernel");
    let missing = PI_ZERO_CONFIG.replace("kernel=boot/vmlinuz-rpi", "kernel=boot/vmlinuz-rpi2");
    let base = synthetic_rpi(&dir, &missing, "armhf");
    let out = build_os_image(
        &inputs,
        &dir,
        "armhf",
        "target",
        &base,
        &sha256(&base),
        "none",
    );
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        text(&out.stderr).contains("boots boot/vmlinuz-rpi2, which the release lacks"),
        "{}",
        show(&out)
    );

    // The repository must be for the image's arch.
    let dir = TempDir::new("img-refuse-repo");
    let base = synthetic_rpi(&dir, PI_ZERO_CONFIG, "armhf");
    let repo = synthetic_repo(&dir, "aarch64");
    let out = build_os_image(
        &inputs,
        &dir,
        "armhf",
        "target",
        &base,
        &sha256(&base),
        repo.to_str().unwrap(),
    );
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        text(&out.stderr).contains("packages for another arch"),
        "{}",
        show(&out)
    );
}
