//! base/os/persist.sh, the boot-time choice of where lbu saves.
#[path = "common/image.rs"]
mod image;

use image::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output};

// ---------------------------------------------------------------- persist

fn persist(dir: &TempDir, mounts: &str, findfs: &str, arg: &str) -> Output {
    write(&dir.path("proc-mounts"), mounts);
    let stub = dir.path("findfs");
    write(&stub, format!("#!/bin/sh\n{findfs}\n"));
    fs::set_permissions(&stub, fs::Permissions::from_mode(0o755)).unwrap();
    Command::new(repo().join("image-builder/base/os/persist.sh"))
        .arg(arg)
        .env("ROOT", dir.path("root"))
        .env("PROC_MOUNTS", dir.path("proc-mounts"))
        .env("FINDFS", &stub)
        .output()
        .unwrap()
}

#[test]
fn persist_uses_a_writable_boot_medium() {
    let dir = TempDir::new("persist-pi");
    fs::create_dir_all(dir.path("root/media/mmcblk0p1/rccr-apks")).unwrap();
    write(
        &dir.path("root/etc/lbu/lbu.conf"),
        "LBU_MEDIA=\nDELETEOLDCONFIGS=yes\n",
    );
    let mounts = "tmpfs / tmpfs rw 0 0\n/dev/mmcblk0p1 /media/mmcblk0p1 vfat ro,relatime 0 0\n";
    let out = persist(&dir, mounts, "exit 1", "media");
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(text(&out.stdout), "mmcblk0p1\n");
    let out = persist(&dir, mounts, "exit 1", "boot");
    assert!(out.status.success(), "{}", show(&out));
    let conf = fs::read_to_string(dir.path("root/etc/lbu/lbu.conf")).unwrap();
    assert_eq!(conf, "LBU_MEDIA=mmcblk0p1\nDELETEOLDCONFIGS=yes\n");
}

#[test]
fn persist_restores_the_saved_overlay_when_the_boot_medium_is_an_iso() {
    let dir = TempDir::new("persist-iso");
    fs::create_dir_all(dir.path("root/media/cdrom/rccr-apks")).unwrap();
    write(&dir.path("root/etc/hostname"), "ReCyClusteR-Target\n");
    // What lbu commit saved on the RCCR partition: a rotated key.
    let saved = dir.path("saved");
    write(&saved.join("etc/hostname"), "ReCyClusteR-Target-4c0001\n");
    write(
        &saved.join("root/.ssh/authorized_keys"),
        "ssh-ed25519 AAAA rotated\n",
    );
    fs::create_dir_all(dir.path("root/media/vdb1")).unwrap();
    ok(Command::new("tar")
        .arg("-czf")
        .arg(dir.path("root/media/vdb1/ReCyClusteR-Target-4c0001.apkovl.tar.gz"))
        .arg("-C")
        .arg(&saved)
        .args(["etc", "root"]));
    let mounts = "tmpfs / tmpfs rw 0 0\n/dev/sr0 /media/cdrom iso9660 ro 0 0\n/dev/vdb1 /media/vdb1 vfat ro 0 0\n";
    let out = persist(&dir, mounts, "echo /dev/vdb1", "boot");
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        text(&out.stderr).contains("restoring the saved overlay"),
        "{}",
        show(&out)
    );
    assert_eq!(
        fs::read_to_string(dir.path("root/root/.ssh/authorized_keys")).unwrap(),
        "ssh-ed25519 AAAA rotated\n"
    );
    assert_eq!(
        fs::read_to_string(dir.path("root/etc/hostname")).unwrap(),
        "ReCyClusteR-Target-4c0001\n"
    );
    let conf = fs::read_to_string(dir.path("root/etc/lbu/lbu.conf")).unwrap();
    assert!(
        conf.contains("LBU_MEDIA=vdb1\n") && conf.contains("DELETEOLDCONFIGS=yes\n"),
        "{conf}"
    );

    // Nowhere to save: a warning, and the boot goes on.
    let dir = TempDir::new("persist-none");
    fs::create_dir_all(dir.path("root/media/cdrom/rccr-apks")).unwrap();
    let out = persist(
        &dir,
        "/dev/sr0 /media/cdrom iso9660 ro 0 0\n",
        "exit 1",
        "boot",
    );
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        text(&out.stderr).contains("changes are lost at reboot"),
        "{}",
        show(&out)
    );
    let out = persist(
        &dir,
        "/dev/sr0 /media/cdrom iso9660 ro 0 0\n",
        "exit 1",
        "media",
    );
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
}
